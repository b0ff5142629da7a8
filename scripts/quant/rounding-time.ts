/**
 * Wall time of `quantizeModel` (calibration included, no evaluation) with each rounding on
 * the same command, run side by side in one process: nearest, gptq, gpfq, in rotating order
 * over a few rounds, so that a busy machine's load falls on all of them alike. Prints the
 * median seconds of each and its ratio to nearest (issue 15's target: at most 3x). An untimed
 * nearest run comes first (`--warmup 1`): the process's one-time costs (loading the modules,
 * building the data set, starting onnxruntime) would otherwise fall on whichever rounding ran
 * first. The load average is printed with the figures: on a shared machine it moves them.
 *
 *   npx tsx scripts/quant/rounding-time.ts [MODEL] [--bits 3] [--rounds 3] [--warmup 1] [--calib-size 512] [--extra '{"weightClip":"mse"}']
 */
import { loadavg } from "node:os";
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
    warmup: { type: "string", default: "1" },
    "calib-size": { type: "string", default: "512" },
    extra: { type: "string", default: "{}" },
  },
});
const model = positionals[0] ?? "models/wordnet8-disc.onnx";
const extra = JSON.parse(values.extra) as Partial<QuantizeOptions>;
const roundings: Rounding[] = ["nearest", "gptq", "gpfq"];
const times = new Map<Rounding, number[]>(roundings.map((r) => [r, []]));
const dir = scratchDir("ptq-rounding-time-");

const load = () => loadavg().map((l) => l.toFixed(1)).join(" ");
const loads = [load()];
const run = (rounding: Rounding) =>
  quantizeModel({ model, out: join(dir, `${rounding}.onnx`), bits: Number(values.bits), calib: "balanced", calibSize: Number(values["calib-size"]), rounding, ...extra });
for (let k = 0; k < Number(values.warmup); k++) await run("nearest");
for (let round = 0; round < Number(values.rounds); round++) {
  // Rotate the order each round: nearest first, then second, ...
  const order = roundings.map((_, i) => roundings[(i + round) % roundings.length]);
  for (const rounding of order) {
    const start = process.hrtime.bigint();
    await run(rounding);
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    times.get(rounding)!.push(s);
    console.error(`round ${round + 1} ${rounding}: ${s.toFixed(1)} s`);
  }
  loads.push(load());
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const base = median(times.get("nearest")!);
console.log(`quantizeModel wall time (calibration included), ${model}, ${values.bits} bits, ${values["calib-size"]} calibration rows, extra ${JSON.stringify(extra)}, median of ${values.rounds} rounds after ${values.warmup} untimed warm-up run(s); load average (1, 5, 15 min) at the start and after each round: ${loads.join("; ")}\n`);
console.log(markdown(["rounding", "seconds (each round)", "median", "x nearest"], roundings.map((r) => [r, times.get(r)!.map((t) => t.toFixed(1)).join(", "), median(times.get(r)!).toFixed(1), (median(times.get(r)!) / base).toFixed(2)])));
