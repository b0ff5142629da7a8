#!/usr/bin/env node
// Runs a list of small models on one runtime and writes every output, or the error that stopped
// the model: `node scripts/wasm/run-models.mjs cpu|wasm JOBS.json OUT.json [LEVEL]`
// (LEVEL: onnxruntime's graph optimization level, default "all").
//
// scripts/wasm/probe-ops.ts runs it once with onnxruntime-node and once with onnxruntime-web,
// each in its own process (both packages register a "cpu" backend in onnxruntime-common, so
// they are not loaded side by side).
//
// JOBS: [{"name", "model": PATH, "feeds"?: {NAME: {"type", "dims", "data": [numbers]}}}]; a job
//   without feeds only loads the model (src/parity/wasm.ts uses that to find the node that fails)
// OUT:  {"runtime", "version", "results": [{"name", "ok", "error"?, "outputs"?: {NAME: {"type", "dims", "data"}}}]}
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { errorLine, loadRuntime } from "../lib/ort-runtime.mjs";

const [kind, jobsFile, outFile, level = "all"] = process.argv.slice(2);
if (!kind || !jobsFile || !outFile) {
  process.stderr.write("usage: node run-models.mjs cpu|wasm JOBS.json OUT.json [LEVEL]\n");
  process.exit(2);
}
const { ort, options, version } = await loadRuntime(kind, 1, level);
const ARRAYS = { float32: Float32Array, int32: Int32Array, int8: Int8Array, uint8: Uint8Array };

function tensor(spec) {
  if (spec.type === "int64") return new ort.Tensor("int64", BigInt64Array.from(spec.data, (v) => BigInt(v)), spec.dims);
  const Array_ = ARRAYS[spec.type];
  if (!Array_) throw new Error(`feed type ${spec.type} is not supported here`);
  return new ort.Tensor(spec.type, Array_.from(spec.data), spec.dims);
}

const results = [];
for (const job of JSON.parse(readFileSync(jobsFile, "utf8"))) {
  let session;
  try {
    session = await ort.InferenceSession.create(job.model, options);
    if (!job.feeds) {
      results.push({ name: job.name, ok: true });
      continue;
    }
    const feeds = Object.fromEntries(Object.entries(job.feeds).map(([name, spec]) => [name, tensor(spec)]));
    const out = await session.run(feeds);
    const outputs = {};
    for (const [name, t] of Object.entries(out)) outputs[name] = { type: t.type, dims: [...t.dims], data: Array.from(t.data, Number) };
    results.push({ name: job.name, ok: true, outputs });
  } catch (err) {
    results.push({ name: job.name, ok: false, error: errorLine(err) });
  } finally {
    await session?.release();
  }
}
const tmp = `${outFile}.tmp-${process.pid}`;
writeFileSync(tmp, JSON.stringify({ runtime: kind, version, results }));
renameSync(tmp, outFile);
