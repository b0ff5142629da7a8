// Chunk sizes for a generative scorer's projection (lowerModel's chunkRows): lowers each Q/DQ
// model once per chunk size (0: all rows at once), checks every variant's scores against the
// unchunked one on the batch, then times them interleaved in one process (each run of each
// variant in turn, so a shared machine's load falls on all alike) and prints, per variant,
// the median wall and CPU ms per run and the ratio to the unchunked form.
//
//   npx tsx scripts/lower/chunk-rows.ts MODEL.qdq.onnx... [--chunks 0,16,64,256,1024] [--batch 32] [--runs 5] [--float FLOAT.onnx]
import * as ort from "onnxruntime-node";
import { loadModel, serializeModel } from "../../src/graph/index.ts";
import { lowerModel } from "../../src/lower/index.ts";
import { firstBenchBatch, median, takeOption, timeRuns } from "./common.ts";

const args = process.argv.slice(2);
const chunks = takeOption(args, "--chunks", "0,16,64,256,1024").split(",").map(Number);
const batch = Number(takeOption(args, "--batch", "32"));
const runs = Number(takeOption(args, "--runs", "5"));
const floatFile = takeOption(args, "--float", "");
const opts: ort.InferenceSession.SessionOptions = { executionProviders: ["cpu"], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all", logSeverityLevel: 3 };

for (const path of args) {
  const variants: { name: string; session: ort.InferenceSession }[] = [];
  if (floatFile) variants.push({ name: "float", session: await ort.InferenceSession.create(floatFile, opts) });
  for (const c of chunks) {
    const model = loadModel(path);
    lowerModel(model, { chunkRows: c });
    variants.push({ name: `chunk ${c || "off"}`, session: await ort.InferenceSession.create(serializeModel(model), opts) });
  }
  const { rows, steps, feeds } = firstBenchBatch(loadModel(path), batch);
  const outName = variants[0].session.outputNames[0];
  const ref = floatFile ? null : ((await variants[0].session.run(feeds))[outName].data as Float32Array);
  const wall = variants.map(() => [] as number[]);
  const cpu = variants.map(() => [] as number[]);
  for (const v of variants) {
    const out = (await v.session.run(feeds))[outName].data as Float32Array; // warm-up
    if (ref && v.name !== "float") {
      let maxDiff = 0;
      for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i] - ref[i]));
      console.log(`${path} ${v.name}: largest score difference to the first variant ${maxDiff}`);
    }
  }
  for (let r = 0; r < runs; r++) {
    for (const [i, v] of variants.entries()) {
      const t = await timeRuns(v.session, feeds, 1);
      wall[i].push(t.wall);
      cpu[i].push(t.cpu);
    }
  }
  // The first variant (float with --float, else the unchunked form) is the reference.
  const base = 0;
  console.log(`${path}: batch ${rows} x ${steps} tokens, ${runs} interleaved runs, median ms per run (ratio to ${variants[base].name})`);
  for (const [i, v] of variants.entries()) {
    const w = median(wall[i]);
    const c = median(cpu[i]);
    console.log(`  ${v.name.padEnd(12)} wall ${w.toFixed(1).padStart(8)} (${(w / median(wall[base])).toFixed(2)})  cpu ${c.toFixed(1).padStart(8)} (${(c / median(cpu[base])).toFixed(2)})`);
  }
  for (const v of variants) await v.session.release();
}
