#!/usr/bin/env node
// Scores prepared batches of token ids with onnxruntime and writes the scores to a file:
// `node scripts/arm64/worker.mjs CONFIG.json OUT.json [cpu|wasm]`.
//
// `ptq-onnx parity` runs this same script natively (the host's node) and under qemu-user with
// the arm64 node from `npm run arm64:setup`, so both sides feed identical tensors through
// identical code. Plain JavaScript with onnxruntime-node as its only dependency (no tsx: it
// would be compiled under emulation, slowly); onnxruntime-node loads the binding of the
// running node's architecture (bin/napi-v*/linux/arm64 under emulation).
//
// CONFIG (written by src/parity/parity.ts):
//   {"model": PATH, "threads": N, "output": NAME, "rows": N,
//    "inputs": {"ids": NAME, "idsType": "int64"|"int32", "lengths": NAME|null, "lengthsType": ...},
//    "batches": [{"rows": [row indices], "t": T, "ids": [B*T ids, row-major], "lengths": [B]}]}
// OUT: {"arch", "node", "ort", "classes", "scores": [[float32 scores as numbers] per row], "load_ms", "run_ms"},
//   or, when onnxruntime cannot load or run the model, {"arch", "node", "ort", "stage": "load"|"run", "error": one line}
import { intTensor } from "../lib/int-tensor.mjs";
import { errorLine, loadRuntime } from "../lib/ort-runtime.mjs";
import { readFileSync, renameSync, writeFileSync } from "node:fs";

const [configFile, outFile, runtime = "cpu"] = process.argv.slice(2);
if (!configFile || !outFile) {
  process.stderr.write("usage: node worker.mjs CONFIG.json OUT.json [cpu|wasm]\n");
  process.exit(2);
}
const cfg = JSON.parse(readFileSync(configFile, "utf8"));
const { ort, options, version } = await loadRuntime(runtime, cfg.threads);
const arch = runtime === "wasm" ? "wasm32" : process.arch;

function writeOut(result) {
  const tmp = `${outFile}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ arch, node: process.version, ort: version, ...result }));
  renameSync(tmp, outFile);
}

const t0 = performance.now();
let session;
try {
  session = await ort.InferenceSession.create(cfg.model, options);
} catch (err) {
  writeOut({ stage: "load", error: errorLine(err) });
  process.exit(0);
}
const t1 = performance.now();

const scores = new Array(cfg.rows).fill(null);
let classes = -1;
for (const batch of cfg.batches) {
  const b = batch.rows.length;
  const feeds = { [cfg.inputs.ids]: intTensor(ort, cfg.inputs.idsType, batch.ids, [b, batch.t]) };
  if (cfg.inputs.lengths) feeds[cfg.inputs.lengths] = intTensor(ort, cfg.inputs.lengthsType, batch.lengths, [b]);
  let result;
  try {
    result = await session.run(feeds, [cfg.output]);
  } catch (err) {
    writeOut({ stage: "run", error: errorLine(err) });
    process.exit(0);
  }
  const out = result[cfg.output];
  if (out.type !== "float32" || out.dims.length !== 2 || out.dims[0] !== b) {
    throw new Error(`output ${cfg.output} is ${out.type} [${out.dims.join(", ")}], expected float32 [${b}, classes]`);
  }
  const k = out.dims[1];
  classes = k;
  batch.rows.forEach((row, j) => {
    scores[row] = Array.from(out.data.subarray(j * k, (j + 1) * k));
  });
}
const t2 = performance.now();
await session.release();

const missing = scores.findIndex((s) => s === null);
if (missing >= 0) throw new Error(`row ${missing} was in no batch`);
writeOut({ classes, scores, load_ms: t1 - t0, run_ms: t2 - t1 });
