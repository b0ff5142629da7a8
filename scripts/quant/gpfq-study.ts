/**
 * The `study` recipe (per-tensor weights, LSTM internals, GPFQ, MSE weight clipping, mse
 * activation ranges, W=A bits) with GPFQ's two forms side by side: x̃ = x (the float model's
 * second moments alone, `--gpfq-inputs float`) and the quantized model's layer inputs with the
 * cross moments, recorded layer by layer (`quantized`, the default); round-to-nearest on the
 * same grid for reference. One calibration per model (512 balanced rows) serves every row.
 *
 *   npx tsx scripts/quant/gpfq-study.ts [MODELS...] [--bits 4,3] [--rows N] [--calib-size 512] [--observer mse]
 *
 * Prints test accuracy (whole split, or a fixed sample of --rows) with the drop from float,
 * and the seconds the layer-by-layer recording took.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { findRoles, loadModel, saveModel } from "../../src/graph/index.ts";
import { loadLabelledData } from "../../src/data/resolve.ts";
import { makePolicy, type PolicyOptions } from "../../src/passes/index.ts";
import { calibrate, plan, realize, recordGpfq } from "../../src/pipeline/index.ts";
import { numClasses } from "../../src/pipeline/quantize-file.ts";
import { accuracy, markdown, predictions, scratchDir, testSet } from "./common.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { bits: { type: "string", default: "4,3" }, rows: { type: "string" }, "calib-size": { type: "string", default: "512" }, observer: { type: "string", default: "mse" } },
});
const models = positionals.length ? positionals : ["models/wordnet8-disc.onnx"];
const dir = scratchDir("ptq-gpfq-study-");
const f2 = (x: number) => (100 * x).toFixed(2);
const out: (string | number)[][] = [];
const study: PolicyOptions = { granularity: "per-tensor", lstmInternals: true, weightClip: "mse" };
const observer = values.observer;

for (const path of models) {
  const name = path.split("/").pop()!.replace(/\.onnx$/, "");
  const source = loadModel(path);
  const set = testSet(path, values.rows ? Number(values.rows) : undefined);
  const float = accuracy(set.labels, await predictions(path, set));
  const exclude = [findRoles(source).scores.name];
  const data = loadLabelledData(source, { split: "val" });
  const classes = numClasses(source, data.labels);
  const size = Number(values["calib-size"]);
  const seedPlan = plan(source, makePolicy({ ...study, bits: 8, rounding: "gpfq", exclude }));
  const { table } = await calibrate(seedPlan, data, { mode: "balanced", size, seed: 0, observer, numClasses: classes, modelFile: path, modelSha256: "-" });
  console.error(`${name} float ${f2(float)} (${set.ids.length} rows)`);
  for (const bits of values.bits.split(",").map(Number)) {
    const row: (string | number)[] = [name, f2(float), `W${bits}A${bits}`];
    const score = async (label: string, m: ReturnType<typeof realize>["model"]) => {
      const file = join(dir, `${name}.onnx`);
      saveModel(m, file);
      const acc = accuracy(set.labels, await predictions(file, set));
      console.error(`${name} W${bits}A${bits} ${label}: ${f2(acc)}`);
      row.push(`${f2(acc)} (${(100 * (acc - float)).toFixed(2)})`);
    };
    await score("nearest", realize(plan(source, makePolicy({ ...study, bits, exclude })), table, { observer }).model);
    await score("gpfq x~=x", realize(plan(source, makePolicy({ ...study, bits, rounding: "gpfq", gpfqInputs: "float", exclude })), table, { observer }).model);
    const p = plan(source, makePolicy({ ...study, bits, rounding: "gpfq", exclude }));
    const t0 = performance.now();
    const withCross = await recordGpfq(p, table, data, { observer, numClasses: classes });
    const seconds = (performance.now() - t0) / 1000;
    await score("gpfq cross", realize(p, withCross, { observer }).model);
    row.push(seconds.toFixed(0));
    out.push(row);
  }
}
console.log(`study recipe (per-tensor, LSTM internals, MSE weight clip, ${observer} ranges), ${values.rows ? `${values.rows} test rows` : "whole test split"}, ${values["calib-size"]} balanced calibration rows; accuracy in % (drop in points)\n`);
console.log(markdown(["model", "float", "widths", "nearest", "gpfq x̃ = x", "gpfq cross moments", "recording s"], out));
