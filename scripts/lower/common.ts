// What the scripts in scripts/lower share: their option parser, the first seeded batch of a
// model's zoo test rows (as `ptq-onnx bench` builds it), and timing a session's runs in wall
// and CPU time (on a shared machine the wall clock also counts other processes' turns).
import * as ort from "onnxruntime-node";
import { benchInputs, makeBatches, type WorkerBatch } from "../../src/eval/bench.ts";
import type { Model } from "../../src/graph/index.ts";

/** Takes `--name VALUE` out of `args` (so what is left are the model paths), or the default. */
export function takeOption(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}

/** The upper median (no averaging of the middle pair). */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A classifier's feeds for one of bench's batches: its ids and lengths as int64. */
export function batchFeeds(b: WorkerBatch): Record<string, ort.Tensor> {
  return {
    input_ids: new ort.Tensor("int64", BigInt64Array.from(b.ids.map(BigInt)), [b.b, b.t]),
    lengths: new ort.Tensor("int64", BigInt64Array.from(b.lengths.map(BigInt)), [b.b]),
  };
}

/** The first of bench's seeded batches of `batch` zoo test rows, as onnxruntime feeds. */
export function firstBenchBatch(model: Model, batch: number): { rows: number; steps: number; feeds: Record<string, ort.Tensor> } {
  const inputs = benchInputs(model, {});
  const [b] = makeBatches(inputs.rows, batch, 1, inputs.padId, 0);
  return { rows: b.b, steps: b.t, feeds: batchFeeds(b) };
}

/** Runs `session` `runs` times, on `feeds` or on each of a list in turn; the mean wall and CPU ms per run. */
export async function timeRuns(session: ort.InferenceSession, feeds: Record<string, ort.Tensor> | Record<string, ort.Tensor>[], runs: number): Promise<{ wall: number; cpu: number }> {
  const list = Array.isArray(feeds) ? feeds : [feeds];
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) await session.run(list[i % list.length]);
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / runs, cpu: (c.user + c.system) / 1000 / runs };
}
