/**
 * The low-bit accuracy table (issue 15): test accuracy of each method at a few widths, per
 * model, with the drop from float; each model calibrated once (a table with the layer-input
 * moments and means, so every method reuses it), then each setting realized from it.
 *
 *   npx tsx scripts/quant/lowbit.ts [MODELS...] [--widths 3/3,4/4,2/8] [--methods a,b,...] [--rows N] [--calib-size N] [--observer SPEC]
 *
 * Defaults: models/wordnet8-disc.onnx, whole test split (use --rows for generative models:
 * they score every class), 512 balanced calibration rows, the methods in METHODS below.
 * `--methods list` prints the method names. Progress goes to stderr, the table to stdout.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { quantizeModel, type QuantizeOptions } from "../../src/pipeline/quantize-file.ts";
import { RECIPE_PRESETS } from "../../src/pipeline/presets.ts";
import { accuracy, markdown, predictions, scratchDir, testSet } from "./common.ts";

/** Each method as the QuantizeOptions it sets (on top of the width and the shared table). */
export const METHODS: Record<string, Partial<QuantizeOptions>> = {
  nearest: { rounding: "nearest" },
  "nearest mse-clip": { rounding: "nearest", weightClip: "mse" },
  "nearest mse-clip bc": { rounding: "nearest", weightClip: "mse", biasCorrection: true },
  gptq: { rounding: "gptq" },
  "gptq mse-clip": { rounding: "gptq", weightClip: "mse" },
  "gptq mse-clip bc": { rounding: "gptq", weightClip: "mse", biasCorrection: true },
  "gptq mse-clip act-order": { rounding: "gptq", weightClip: "mse", actOrder: true },
  "gptq mse-clip g32": { rounding: "gptq", weightClip: "mse", groupSize: 32 },
  "gptq mse-clip act-order g32": { rounding: "gptq", weightClip: "mse", actOrder: true, groupSize: 32 },
  gpfq: { rounding: "gpfq" },
  "gpfq mse-clip": { rounding: "gpfq", weightClip: "mse" },
  "act mse": { rounding: "nearest", observer: "mse" },
  "gptq mse-clip act mse": { rounding: "gptq", weightClip: "mse", observer: "mse" },
  "gptq mse-clip act entropy": { rounding: "gptq", weightClip: "mse", observer: "entropy" },
  "gptq mse-clip act p99.9": { rounding: "gptq", weightClip: "mse", observer: "percentile:99.9" },
  "gptq mse-clip act-order act entropy": { rounding: "gptq", weightClip: "mse", actOrder: true, observer: "entropy" },
  "gptq mse-clip bc act entropy": { rounding: "gptq", weightClip: "mse", biasCorrection: true, observer: "entropy" },
  "nearest act entropy": { rounding: "nearest", observer: "entropy" },
  "gpfq mse-clip act entropy": { rounding: "gpfq", weightClip: "mse", observer: "entropy" },
  // --gather-pass-through: the embedding's output stays the table's codes (no second rounding).
  "nearest gpt": { rounding: "nearest", gatherPassThrough: true },
  "gptq gpt": { rounding: "gptq", gatherPassThrough: true },
  "gptq mse-clip gpt": { rounding: "gptq", weightClip: "mse", gatherPassThrough: true },
  "gptq act p99.9 gpt": { rounding: "gptq", observer: "percentile:99.9", gatherPassThrough: true },
  "gptq mse-clip act p99.9 gpt": { rounding: "gptq", weightClip: "mse", observer: "percentile:99.9", gatherPassThrough: true },
  "gptq mse-clip act entropy gpt": { rounding: "gptq", weightClip: "mse", observer: "entropy", gatherPassThrough: true },
  "gptq mse-clip act-order act p99.9 gpt": { rounding: "gptq", weightClip: "mse", actOrder: true, observer: "percentile:99.9", gatherPassThrough: true },
  // --embedding-gptq: the table's rows rounded against the LSTM's W (H = Wᵀ W).
  "gptq eg": { rounding: "gptq", embeddingGptq: true },
  "gptq eg gpt": { rounding: "gptq", embeddingGptq: true, gatherPassThrough: true },
  "gptq mse-clip eg": { rounding: "gptq", weightClip: "mse", embeddingGptq: true },
  "gptq mse-clip eg gpt": { rounding: "gptq", weightClip: "mse", embeddingGptq: true, gatherPassThrough: true },
  "gptq mse-clip act p99.9 eg": { rounding: "gptq", weightClip: "mse", observer: "percentile:99.9", embeddingGptq: true },
  "gptq mse-clip act p99.9 eg gpt": { rounding: "gptq", weightClip: "mse", observer: "percentile:99.9", embeddingGptq: true, gatherPassThrough: true },
  "gptq act p99.9 eg gpt": { rounding: "gptq", observer: "percentile:99.9", embeddingGptq: true, gatherPassThrough: true },
  "gptq mse-clip act-order act p99.9 eg gpt": { rounding: "gptq", weightClip: "mse", actOrder: true, observer: "percentile:99.9", embeddingGptq: true, gatherPassThrough: true },
  "gptq mse-clip asym eg": { rounding: "gptq", weightClip: "mse", weightSymmetric: false, embeddingGptq: true },
  "gptq mse-clip asym eg gpt": { rounding: "gptq", weightClip: "mse", weightSymmetric: false, embeddingGptq: true, gatherPassThrough: true },
  "gptq mse-clip asym g32 eg": { rounding: "gptq", weightClip: "mse", weightSymmetric: false, groupSize: 32, embeddingGptq: true },
  "gptq mse-clip act-order asym eg gpt": { rounding: "gptq", weightClip: "mse", actOrder: true, weightSymmetric: false, embeddingGptq: true, gatherPassThrough: true },
  "gptq mse-clip asym g32 eg gpt": { rounding: "gptq", weightClip: "mse", weightSymmetric: false, groupSize: 32, embeddingGptq: true, gatherPassThrough: true },
  "gptq mse-clip asym g64 eg gpt": { rounding: "gptq", weightClip: "mse", weightSymmetric: false, groupSize: 64, embeddingGptq: true, gatherPassThrough: true },
  "gptq mse-clip act-order asym g32 eg gpt": { rounding: "gptq", weightClip: "mse", actOrder: true, weightSymmetric: false, groupSize: 32, embeddingGptq: true, gatherPassThrough: true },
  "gptq mse-clip act-order act p99.9 asym eg gpt": { rounding: "gptq", weightClip: "mse", actOrder: true, observer: "percentile:99.9", weightSymmetric: false, embeddingGptq: true, gatherPassThrough: true },
  "gptq mse-clip act-order act p99.9 asym gpt": { rounding: "gptq", weightClip: "mse", actOrder: true, observer: "percentile:99.9", weightSymmetric: false, gatherPassThrough: true },
  // The `best` preset, and it less one setting at a time (leave-one-out).
  best: RECIPE_PRESETS.best.settings as Partial<QuantizeOptions>,
  // Exact embedding equalization before calibration (its own table: calibration must see the equalized model).
  "best + equalize": { ...(RECIPE_PRESETS.best.settings as Partial<QuantizeOptions>), equalize: true },
  "best - gather-pass-through": { rounding: "gptq", weightClip: "mse", actOrder: true, observer: "percentile:99.9", weightSymmetric: false, embeddingGptq: true },
  "best - embedding-gptq": { rounding: "gptq", weightClip: "mse", actOrder: true, observer: "percentile:99.9", weightSymmetric: false, gatherPassThrough: true },
  "best - act-order": { rounding: "gptq", weightClip: "mse", observer: "percentile:99.9", weightSymmetric: false, embeddingGptq: true, gatherPassThrough: true },
  "best - asym": { rounding: "gptq", weightClip: "mse", actOrder: true, observer: "percentile:99.9", embeddingGptq: true, gatherPassThrough: true },
  // Diagnostic for the generative models: the label embedding (read by /Expand_1) left at 8 bits.
  "best - gpt label-w8": { rounding: "gptq", weightClip: "mse", actOrder: true, observer: "percentile:99.9", weightSymmetric: false, embeddingGptq: true, byNode: { "/Expand_1": { wbits: 8 } } },
  // The same with --gather-pass-through, i.e. `best` with only the label embedding at 8 bits.
  "best label-w8": { ...(RECIPE_PRESETS.best.settings as Partial<QuantizeOptions>), byNode: { "/Expand_1": { wbits: 8 } } },
  // 2-bit weights: group scales, asymmetric codes (4 levels, not 3) and act-order on the clipped grid.
  "gptq mse-clip asym": { rounding: "gptq", weightClip: "mse", weightSymmetric: false },
  "gptq mse-clip g64": { rounding: "gptq", weightClip: "mse", groupSize: 64 },
  "gptq mse-clip asym g32": { rounding: "gptq", weightClip: "mse", weightSymmetric: false, groupSize: 32 },
  "gptq mse-clip asym g64": { rounding: "gptq", weightClip: "mse", weightSymmetric: false, groupSize: 64 },
  "gptq mse-clip act-order asym": { rounding: "gptq", weightClip: "mse", actOrder: true, weightSymmetric: false },
  "gptq mse-clip act-order asym g32": { rounding: "gptq", weightClip: "mse", actOrder: true, weightSymmetric: false, groupSize: 32 },
  "gptq mse-clip act-order g32 act p99.9": { rounding: "gptq", weightClip: "mse", actOrder: true, groupSize: 32, observer: "percentile:99.9" },
  "nearest mse-clip asym g32": { rounding: "nearest", weightClip: "mse", weightSymmetric: false, groupSize: 32 },
};
const DEFAULT_METHODS = ["nearest", "nearest mse-clip", "gptq", "gptq mse-clip", "gptq mse-clip bc", "gpfq mse-clip", "gptq mse-clip act p99.9", "gptq mse-clip act entropy"];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    widths: { type: "string", default: "3/3,4/4,2/8" },
    methods: { type: "string", default: DEFAULT_METHODS.join(",") },
    rows: { type: "string" },
    "calib-size": { type: "string", default: "512" },
    observer: { type: "string", default: "percentile:99.99" },
  },
});
if (values.methods === "list") {
  console.log(Object.keys(METHODS).join("\n"));
  process.exit(0);
}
const methods = values.methods.split(",");
for (const m of methods) if (!METHODS[m]) throw new Error(`unknown method '${m}' (--methods list)`);
const models = positionals.length ? positionals : ["models/wordnet8-disc.onnx"];
const widths = values.widths.split(",").map((w) => w.split("/").map(Number) as [number, number]);
const dir = scratchDir("ptq-lowbit-");
const rows: (string | number)[][] = [];
const f1 = (x: number): string => (100 * x).toFixed(2);

for (const path of models) {
  const name = path.split("/").pop()!.replace(/\.onnx$/, "");
  const set = testSet(path, values.rows ? Number(values.rows) : undefined);
  // One table for every method (GPTQ's moments and bias correction's means, histogram observer
  // state), and one more for the methods that equalize: their float model, so their ranges, differ.
  const tables = new Map<boolean, string>();
  const tableFor = async (equalize: boolean): Promise<string> => {
    let calib = tables.get(equalize);
    if (calib) return calib;
    calib = join(dir, `${name}${equalize ? ".eq" : ""}.calib.json`);
    await quantizeModel({ model: path, out: join(dir, `${name}.seed.onnx`), bits: 8, calib: "balanced", calibSize: Number(values["calib-size"]), observer: values.observer, rounding: "gptq", biasCorrection: true, equalize, saveCalibTable: calib });
    tables.set(equalize, calib);
    return calib;
  };
  const float = accuracy(set.labels, await predictions(path, set));
  console.error(`${name} float: ${f1(float)}`);
  for (const [wbits, abits] of widths) {
    const row: (string | number)[] = [name, f1(float), `W${wbits}A${abits}`];
    for (const m of methods) {
      const out = join(dir, `${name}.variant.onnx`);
      const calib = await tableFor(METHODS[m].equalize ?? false);
      await quantizeModel({ model: path, out, bits: wbits, wbits, abits, calib: "balanced", calibTable: calib, saveCalibTable: false, ...METHODS[m] });
      const acc = accuracy(set.labels, await predictions(out, set));
      row.push(`${f1(acc)} (${(100 * (acc - float)).toFixed(2)})`);
      console.error(`${name} W${wbits}A${abits} ${m}: ${f1(acc)}`);
    }
    rows.push(row);
  }
}
console.log(`test accuracy in % (drop from float in points), ${values.rows ? `${values.rows} test rows` : "whole test split"}, ${values["calib-size"]} balanced calibration rows, activation observer ${values.observer} unless the method names one\n`);
console.log(markdown(["model", "float", "widths", ...methods], rows));
