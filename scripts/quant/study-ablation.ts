/**
 * Where the `study` recipe (per-tensor weights, LSTM internals, MSE weight clipping, mse
 * activation ranges, W=A bits) loses its accuracy: the model is realized from one calibration
 * with every planned tensor quantized, then again with one tensor (or one group) left float;
 * what a tensor gives back when left float is what quantizing it costs. Weights are rounded to
 * nearest here (GPFQ's moments belong to one setting, so they would have to be re-recorded for
 * every variant); the README compares nearest and GPFQ on the whole recipe.
 *
 *   npx tsx scripts/quant/study-ablation.ts [MODEL] [--bits 4] [--rows 1500] [--calib-size 512] [--observer mse] [--observers entropy,percentile:99.9,minmax]
 *
 * Prints test accuracy (a fixed sample of --rows, 0 for the whole split) per variant with its
 * drop from float and the points it recovers against the fully quantized model. With
 * `--observers`, every tensor quantized again with each of those observers' ranges: for all
 * activations, and for the LSTM's cell state alone (the rest from --observer), re-evaluated
 * from the same calibration's histograms.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { findRoles, loadModel, saveModel } from "../../src/graph/index.ts";
import { loadLabelledData } from "../../src/data/resolve.ts";
import { makePolicy } from "../../src/passes/index.ts";
import { calibrate, plan, realize, RealizeMemo, type QuantPlan } from "../../src/pipeline/index.ts";
import { numClasses } from "../../src/pipeline/quantize-file.ts";
import { accuracy, markdown, predictions, scratchDir, testSet } from "./common.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { bits: { type: "string", default: "4" }, rows: { type: "string", default: "1500" }, "calib-size": { type: "string", default: "512" }, observer: { type: "string", default: "mse" }, observers: { type: "string", default: "" } },
});
const path = positionals[0] ?? "models/wordnet8-disc.onnx";
const bits = Number(values.bits);
const observer = values.observer;
const dir = scratchDir("ptq-study-ablation-");
const source = loadModel(path);
const rows = Number(values.rows);
const set = testSet(path, rows > 0 ? rows : undefined);
const float = accuracy(set.labels, await predictions(path, set));
const data = loadLabelledData(source, { split: "val" });
const classes = numClasses(source, data.labels);
const full = plan(source, makePolicy({ granularity: "per-tensor", lstmInternals: true, weightClip: "mse", bits, exclude: [findRoles(source).scores.name] }));
const { table } = await calibrate(full, data, { mode: "balanced", size: Number(values["calib-size"]), seed: 0, observer, numClasses: classes, modelFile: path, modelSha256: "-" });

// Every variant reads the full plan's ranges and nearest codes (the same for each tensor it keeps).
const shared = new RealizeMemo();
realize(full, table, { observer, memo: shared });
const score = async (p: QuantPlan, ranges = shared.ranges): Promise<number> => {
  const memo = new RealizeMemo().bind(p, table, observer);
  memo.ranges = ranges;
  memo.nearest = shared.nearest;
  const file = join(dir, "variant.onnx");
  saveModel(realize(p, table, { observer, memo }).model, file);
  return accuracy(set.labels, await predictions(file, set));
};
const without = (name: string, drop: (n: string) => boolean): [string, QuantPlan] => [
  name,
  { ...full, weights: full.weights.filter((w) => !drop(w.value.name)), activations: full.activations.filter((a) => !drop(a.value.name)) },
];
const internals = new Set(full.internals.map((v) => v.name));
const weights = new Set(full.weights.map((w) => w.value.name));
const variants: [string, QuantPlan][] = [
  ["(every tensor quantized)", full],
  without("all weights float", (n) => weights.has(n)),
  without("all activations float", (n) => !weights.has(n)),
  without("LSTM internals float", (n) => internals.has(n)),
  ...[...full.weights.map((w) => w.value.name), ...full.activations.map((a) => a.value.name)].map((n) => without(n, (m) => m === n)),
];
const f2 = (x: number) => (100 * x).toFixed(2);
const out: (string | number)[][] = [];
let all = 0;
for (const [name, p] of variants) {
  const acc = await score(p);
  if (p === full) all = acc;
  console.error(`${name}: ${f2(acc)}`);
  out.push([name, f2(acc), (100 * (acc - float)).toFixed(2), p === full ? "" : (100 * (acc - all)).toFixed(2)]);
}
// Other observers' ranges from the same histograms: for every activation, and for the cell state alone.
const cells = new Set(full.internals.filter((v) => v.name.endsWith("/c")).map((v) => v.name));
for (const other of values.observers.split(",").filter(Boolean)) {
  const memo = new RealizeMemo();
  realize(full, table, { observer: other, memo });
  const mixed = new Map([...shared.ranges!].map(([name, r]) => [name, cells.has(name) ? (memo.ranges!.get(name) ?? r) : r]));
  for (const [label, ranges] of [[`(every tensor) ranges from ${other}`, memo.ranges!], [`(every tensor) cell state's range from ${other}`, mixed]] as const) {
    const acc = await score(full, ranges);
    console.error(`${label}: ${f2(acc)}`);
    out.push([label, f2(acc), (100 * (acc - float)).toFixed(2), (100 * (acc - all)).toFixed(2)]);
  }
}
const show = (r?: [number, number]) => (r ? `[${r[0].toPrecision(3)}, ${r[1].toPrecision(3)}]` : "float");
console.error(`cell state ranges (${observer}): ${[...cells].map((c) => `${c} ${show(shared.ranges!.get(c))}`).join(", ")}`);
console.log(`${path}, study recipe W${bits}A${bits} with round-to-nearest weights, observer ${observer}, ${rows > 0 ? `${set.ids.length} test rows` : "whole test split"}; float ${f2(float)}\n`);
console.log(markdown(["left float", "accuracy %", "drop from float", "recovered vs all quantized"], out));
