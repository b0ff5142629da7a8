// Lowering choices, measured: lowers each Q/DQ model once per option set (lowerModel's
// LowerOptions as JSON), checks every variant's scores against the first on the batch, then
// times them interleaved in rounds (each variant in turn, so a shared machine's load falls on
// all alike), 1 thread, on the first seeded batch of zoo test rows (as `ptq-onnx bench`), and
// prints per variant the median wall and CPU ms per run over the rounds and the ratios to the
// first row (the float model with --float, else the first variant).
//
//   npx tsx scripts/lower/variants.ts MODEL.qdq.onnx... --variant 'NAME={"lookup":"mul"}'... [--float FLOAT.onnx]
//       [--batch 1,32] [--runs 200] [--rounds 5]
//
// --runs N: runs per variant per round at batch 1 (batch 32 takes N/20, at least 3).
import * as ort from "onnxruntime-node";
import { loadModel, serializeModel } from "../../src/graph/index.ts";
import { lowerModel, type LowerOptions } from "../../src/lower/index.ts";
import { firstBenchBatch, median, takeOption, timeRuns } from "./common.ts";

const args = process.argv.slice(2);
const variants: [string, LowerOptions][] = [];
for (let i = args.indexOf("--variant"); i >= 0; i = args.indexOf("--variant")) {
  const spec = args[i + 1];
  const eq = spec.indexOf("=");
  variants.push([spec.slice(0, eq), JSON.parse(spec.slice(eq + 1)) as LowerOptions]);
  args.splice(i, 2);
}
if (!variants.length) variants.push(["default", {}]);
const floatFile = takeOption(args, "--float", "");
const batches = takeOption(args, "--batch", "1,32").split(",").map(Number);
const runs = Number(takeOption(args, "--runs", "200"));
const rounds = Number(takeOption(args, "--rounds", "5"));
const opts: ort.InferenceSession.SessionOptions = { executionProviders: ["cpu"], intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all", logSeverityLevel: 3 };

for (const path of args) {
  const sessions: { name: string; session: ort.InferenceSession }[] = [];
  if (floatFile) sessions.push({ name: "float", session: await ort.InferenceSession.create(floatFile, opts) });
  for (const [name, o] of variants) {
    const model = loadModel(path);
    lowerModel(model, o);
    sessions.push({ name, session: await ort.InferenceSession.create(serializeModel(model), opts) });
  }
  for (const batch of batches) {
    const { rows, steps, feeds } = firstBenchBatch(loadModel(path), batch);
    const n = batch === 1 ? runs : Math.max(3, Math.round(runs / 20));
    const outName = sessions[0].session.outputNames[0];
    let ref: Float32Array | null = null;
    for (const s of sessions) {
      for (let i = 0; i < 5; i++) await s.session.run(feeds); // warm-up
      if (s.name === "float") continue;
      const out = (await s.session.run(feeds))[outName].data as Float32Array;
      if (!ref) ref = out;
      let maxDiff = 0;
      for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i] - ref[i]));
      console.log(`${path} batch ${rows}: ${s.name}: largest score difference to the first variant ${maxDiff}`);
    }
    const wall = sessions.map(() => [] as number[]);
    const cpu = sessions.map(() => [] as number[]);
    for (let r = 0; r < rounds; r++) {
      for (const [i, s] of sessions.entries()) {
        const t = await timeRuns(s.session, feeds, n);
        wall[i].push(t.wall);
        cpu[i].push(t.cpu);
      }
    }
    console.log(`${path}: batch ${rows} x ${steps} tokens, ${n} runs x ${rounds} interleaved rounds, median ms per run (ratio to ${sessions[0].name}), load ${(await import("node:os")).loadavg()[0].toFixed(1)}`);
    for (const [i, s] of sessions.entries()) {
      const w = median(wall[i]);
      const c = median(cpu[i]);
      console.log(`  ${s.name.padEnd(16)} wall ${w.toFixed(3).padStart(9)} (${(w / median(wall[0])).toFixed(2)})  cpu ${c.toFixed(3).padStart(9)} (${(c / median(cpu[0])).toFixed(2)})`);
    }
  }
  for (const s of sessions) await s.session.release();
}
