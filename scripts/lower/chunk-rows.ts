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
import { benchInputs, makeBatches } from "../../src/eval/bench.ts";

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const chunks = opt("--chunks", "0,16,64,256,1024").split(",").map(Number);
const batch = Number(opt("--batch", "32"));
const runs = Number(opt("--runs", "5"));
const floatFile = opt("--float", "");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const opts: ort.InferenceSession.SessionOptions = { executionProviders: ["cpu"], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all", logSeverityLevel: 3 };

for (const path of args) {
  const variants: { name: string; session: ort.InferenceSession }[] = [];
  if (floatFile) variants.push({ name: "float", session: await ort.InferenceSession.create(floatFile, opts) });
  for (const c of chunks) {
    const model = loadModel(path);
    lowerModel(model, { chunkRows: c });
    variants.push({ name: `chunk ${c || "off"}`, session: await ort.InferenceSession.create(serializeModel(model), opts) });
  }
  const inputs = benchInputs(loadModel(path), {});
  const [b] = makeBatches(inputs.rows, batch, 1, inputs.padId, 0);
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor("int64", BigInt64Array.from(b.ids.map(BigInt)), [b.b, b.t]),
    lengths: new ort.Tensor("int64", BigInt64Array.from(b.lengths.map(BigInt)), [b.b]),
  };
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
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await v.session.run(feeds);
      wall[i].push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu[i].push((c.user + c.system) / 1000);
    }
  }
  const base = floatFile ? 0 : 0;
  console.log(`${path}: batch ${b.b} x ${b.t} tokens, ${runs} interleaved runs, median ms per run (ratio to ${variants[base].name})`);
  for (const [i, v] of variants.entries()) {
    const w = median(wall[i]);
    const c = median(cpu[i]);
    console.log(`  ${v.name.padEnd(12)} wall ${w.toFixed(1).padStart(8)} (${(w / median(wall[base])).toFixed(2)})  cpu ${c.toFixed(1).padStart(8)} (${(c / median(cpu[base])).toFixed(2)})`);
  }
  for (const v of variants) await v.session.release();
}
