/**
 * Test accuracy of the weight-rounding settings (nearest, GPTQ, GPTQ act-order, GPFQ, group
 * scales) at a few widths, each model calibrated once (the table, with the layer-input
 * moments, is reused by every setting).
 *
 *   npx tsx scripts/quant/rounding-accuracy.ts [MODELS...] [--widths 3/3,4/4,2/8] [--rows N] [--calib-size N] [--per-tensor]
 *
 * Defaults: models/wordnet8-disc.onnx and models/wordnet8-gen.onnx, whole test split (use
 * --rows for the generative model: it scores every class), 512 balanced calibration rows.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { quantizeModel, type QuantizeOptions } from "../../src/pipeline/quantize-file.ts";
import { accuracy, markdown, pct, predictions, scratchDir, testSet } from "./common.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    widths: { type: "string", default: "3/3,4/4,2/8" },
    rows: { type: "string" },
    "calib-size": { type: "string", default: "512" },
    "per-tensor": { type: "boolean", default: false },
  },
});
const models = positionals.length ? positionals : ["models/wordnet8-disc.onnx", "models/wordnet8-gen.onnx"];
const widths = values.widths.split(",").map((w) => w.split("/").map(Number) as [number, number]);
const granularity = values["per-tensor"] ? "per-tensor" : "per-channel";
const SETTINGS: [string, Partial<QuantizeOptions>][] = [
  ["nearest", { rounding: "nearest" }],
  ["gptq", { rounding: "gptq" }],
  ["gptq act-order", { rounding: "gptq", actOrder: true }],
  ["gpfq", { rounding: "gpfq" }],
  ["gpfq act-order", { rounding: "gpfq", actOrder: true }],
  ...(granularity === "per-channel"
    ? ([
        // 32 divides every zoo input width (the generative LSTM reads 128 + 32 = 160).
        ["nearest g32", { rounding: "nearest", groupSize: 32 }],
        ["gptq g32", { rounding: "gptq", groupSize: 32 }],
        ["gptq act-order g32", { rounding: "gptq", actOrder: true, groupSize: 32 }],
      ] as [string, Partial<QuantizeOptions>][])
    : []),
];
const dir = scratchDir("ptq-rounding-");
const table: (string | number)[][] = [];

for (const path of models) {
  const name = path.split("/").pop()!.replace(/\.onnx$/, "");
  const set = testSet(path, values.rows ? Number(values.rows) : undefined);
  const calib = join(dir, `${name}.calib.json`);
  await quantizeModel({ model: path, out: join(dir, `${name}.seed.onnx`), bits: 8, calib: "balanced", calibSize: Number(values["calib-size"]), rounding: "gptq", saveCalibTable: calib, granularity });
  const float = pct(accuracy(set.labels, await predictions(path, set)));
  for (const [wbits, abits] of widths) {
    const row: (string | number)[] = [name, float, `W${wbits}A${abits}`];
    for (const [, opts] of SETTINGS) {
      const out = join(dir, `${name}.variant.onnx`);
      await quantizeModel({ model: path, out, bits: wbits, wbits, abits, calib: "balanced", calibTable: calib, saveCalibTable: false, granularity, ...opts });
      row.push(pct(accuracy(set.labels, await predictions(out, set))));
    }
    table.push(row);
    console.error(row.join(" "));
  }
}
console.log(`test accuracy in % (${values.rows ? `${values.rows} test rows` : "whole test split"}), ${granularity} weights, ${values["calib-size"]} balanced calibration rows\n`);
console.log(markdown(["model", "float", "widths", ...SETTINGS.map(([s]) => s)], table));
