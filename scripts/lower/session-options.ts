// Which onnxruntime session options change a lowered model's per-run cost at batch 1: each
// model under each option set, interleaved in rounds (so load from other jobs falls on all
// alike), 1 thread, on the first seeded batch of zoo test rows (as profile-ops.ts). Prints the
// median wall and CPU ms per run of each (model, options) over the rounds, and each option
// set's CPU ratio to the first set (the `ptq-onnx bench` worker's options).
//
// The first model is the reference of a "CPU x first model" column (give the float model first).
//
//   npx tsx scripts/lower/session-options.ts MODEL... [--batch 1] [--runs 200] [--rounds 5] [--sets N]
//
// --sets 1: only the bench worker's options (a side-by-side CPU-time comparison of models).
import * as ort from "onnxruntime-node";
import { loadModel } from "../../src/graph/index.ts";
import { firstBenchBatch, median, takeOption, timeRuns } from "./common.ts";

const args = process.argv.slice(2);
const batch = Number(takeOption(args, "--batch", "1"));
const runs = Number(takeOption(args, "--runs", "200"));
const rounds = Number(takeOption(args, "--rounds", "5"));
const nSets = Number(takeOption(args, "--sets", "6"));

const base: ort.InferenceSession.SessionOptions = { executionProviders: ["cpu"], intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all", logSeverityLevel: 4 };
const SETS: [string, ort.InferenceSession.SessionOptions][] = [
  ["bench (all)", base],
  ["extended", { ...base, graphOptimizationLevel: "extended" }],
  ["basic", { ...base, graphOptimizationLevel: "basic" }],
  ["no arena", { ...base, enableCpuMemArena: false }],
  ["no mem pattern", { ...base, enableMemPattern: false }],
  ["no spinning", { ...base, extra: { session: { intra_op: { allow_spinning: "0" } } } }],
];

const cases: { name: string; set: string; session: ort.InferenceSession; feeds: Record<string, ort.Tensor>; wall: number[]; cpu: number[] }[] = [];
for (const path of args) {
  const { feeds } = firstBenchBatch(loadModel(path), batch);
  for (const [set, o] of SETS.slice(0, nSets)) {
    const session = await ort.InferenceSession.create(path, o);
    for (let i = 0; i < 20; i++) await session.run(feeds);
    cases.push({ name: path, set, session, feeds, wall: [], cpu: [] });
  }
}
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    const t = await timeRuns(c.session, c.feeds, runs);
    c.wall.push(t.wall);
    c.cpu.push(t.cpu);
  }
}
const first = median(cases[0].cpu);
for (const path of args) {
  const mine = cases.filter((c) => c.name === path);
  const ref = median(mine[0].cpu);
  console.log(`${path}: batch ${batch}, ${runs} runs x ${rounds} rounds`);
  for (const c of mine) console.log(`  ${c.set.padEnd(16)} wall ${median(c.wall).toFixed(3)} ms  CPU ${median(c.cpu).toFixed(3)} ms  CPU ratio ${(median(c.cpu) / ref).toFixed(2)}  CPU x first model ${(median(c.cpu) / first).toFixed(2)}`);
}
for (const c of cases) await c.session.release();
