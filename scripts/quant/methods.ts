/**
 * Issue 15's rounding comparison: for each real layer of the zoo models (LSTM W and R per
 * direction, the head), the layer output error E‖(W - Q(W))x‖² / E‖Wx‖² on the calibration
 * inputs, for round-to-nearest, GPTQ, GPTQ with act-order and GPFQ (plain and act-order), at
 * 2, 3 and 4 bits.
 *
 *   npx tsx scripts/quant/methods.ts [MODELS...] [--calib-size N] [--bits 2,3,4] [--per-tensor] [--dampening D] [--holdout-seed S]
 *
 * Defaults: models/wordnet8-disc.onnx and models/wordnet8-gen.onnx, 512 balanced calibration
 * rows (seed 0), per-channel scales, GPTQ dampening 0.01. GPFQ works from GPTQ's moments (x̃ = x): the calibration
 * table holds no cross moments with a quantized model's inputs yet. With --holdout-seed, the
 * error is measured on the moments of a second calibration sample drawn with that seed
 * (out of sample; the two samples of the validation split may share rows).
 */
import { parseArgs } from "node:util";
import { markdown, scratchDir } from "./common.ts";
import { layerProblems, METHODS, relativeOutputError, roundLayer } from "./layers.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    "calib-size": { type: "string", default: "512" },
    bits: { type: "string", default: "2,3,4" },
    "per-tensor": { type: "boolean", default: false },
    dampening: { type: "string", default: "0.01" },
    "holdout-seed": { type: "string" },
  },
});
const models = positionals.length ? positionals : ["models/wordnet8-disc.onnx", "models/wordnet8-gen.onnx"];
const bitsList = values.bits.split(",").map(Number);
const perChannel = !values["per-tensor"];
const dampening = Number(values.dampening);
const dir = scratchDir("ptq-methods-");

console.log(`layer output error E|(W - Q(W))x|^2 / E|Wx|^2 in %, ${perChannel ? "per-channel" : "per-tensor"} scales, ${values["calib-size"]} calibration rows, GPTQ dampening ${dampening}\n`);
for (const model of models) {
  const problems = await layerProblems(model, dir, Number(values["calib-size"]));
  const holdout = values["holdout-seed"] === undefined ? null : await layerProblems(model, dir, Number(values["calib-size"]), Number(values["holdout-seed"]));
  const rows: (string | number)[][] = [];
  for (const p of problems) {
    for (const bits of bitsList) {
      const on = holdout?.find((h) => h.name === p.name) ?? p;
      const errors = METHODS.map((m) => relativeOutputError(p, roundLayer(p, m, bits, perChannel, dampening), on));
      rows.push([`${p.name} (${p.kind}, ${p.rows}x${p.cols})`, bits, ...errors.map((e) => (100 * e).toFixed(3))]);
    }
  }
  console.log(`## ${model}\n`);
  console.log(markdown(["layer", "bits", ...METHODS], rows));
  console.log("");
}
