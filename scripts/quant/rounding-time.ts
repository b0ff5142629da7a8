/**
 * Wall time of `quantizeModel` (calibration included, no evaluation) with each rounding on
 * the same command, run side by side in one process: nearest, gptq, gpfq, in rotating order
 * over a few rounds, so that a busy machine's load falls on all of them alike. Prints the
 * median seconds of each and its ratio to nearest (issue 15's target: at most 3x).
 *
 *   npx tsx scripts/quant/rounding-time.ts [MODEL] [--bits 3] [--rounds 3] [--calib-size 512] [--extra '{"weightClip":"mse"}']
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { quantizeModel, type QuantizeOptions } from "../../src/pipeline/quantize-file.ts";
import type { Rounding } from "../../src/passes/policy.ts";
import { markdown, scratchDir } from "./common.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    bits: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    "calib-size": { type: "string", default: "512" },
    extra: { type: "string", default: "{}" },
  },
});
const model = positionals[0] ?? "models/wordnet8-disc.onnx";
const extra = JSON.parse(values.extra) as Partial<QuantizeOptions>;
const roundings: Rounding[] = ["nearest", "gptq", "gpfq"];
const times = new Map<Rounding, number[]>(roundings.map((r) => [r, []]));
const dir = scratchDir("ptq-rounding-time-");

for (let round = 0; round < Number(values.rounds); round++) {
  // Rotate the order each round: nearest first, then second, ...
  const order = roundings.map((_, i) => roundings[(i + round) % roundings.length]);
  for (const rounding of order) {
    const start = process.hrtime.bigint();
    await quantizeModel({ model, out: join(dir, `${rounding}.onnx`), bits: Number(values.bits), calib: "balanced", calibSize: Number(values["calib-size"]), rounding, ...extra });
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    times.get(rounding)!.push(s);
    console.error(`round ${round + 1} ${rounding}: ${s.toFixed(1)} s`);
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const base = median(times.get("nearest")!);
console.log(`quantizeModel wall time (calibration included), ${model}, ${values.bits} bits, ${values["calib-size"]} calibration rows, extra ${JSON.stringify(extra)}, median of ${values.rounds} rounds\n`);
console.log(markdown(["rounding", "seconds (each round)", "median", "x nearest"], roundings.map((r) => [r, times.get(r)!.map((t) => t.toFixed(1)).join(", "), median(times.get(r)!).toFixed(1), (median(times.get(r)!) / base).toFixed(2)])));
