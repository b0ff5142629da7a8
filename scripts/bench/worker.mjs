#!/usr/bin/env node
// One benchmark measurement in a process of its own, so that peak memory belongs to one model
// and one setting: `node scripts/bench/worker.mjs CONFIG.json` prints one JSON line.
//
// Plain JavaScript with onnxruntime-node as its only dependency (no tsx, nothing
// platform-specific), so it runs as is on an ARM board. CONFIG (written by `ptq-onnx bench`):
//   {"model": PATH, "threads": N, "warmup": N, "runs": N, "output": NAME,
//    "inputs": {"ids": NAME, "idsType": "int64"|"int32", "lengths": NAME|null, "lengthsType": ...},
//    "batches": [{"b": B, "t": T, "ids": [B*T ids, row-major], "lengths": [B]}]}
// Runs cycle through the batches; warm-up runs come first and are not timed.
import { intTensor } from "../lib/int-tensor.mjs";
import { createSession } from "../lib/session.mjs";
import { readFileSync } from "node:fs";

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: node worker.mjs CONFIG.json\n");
  process.exit(2);
}
const cfg = JSON.parse(readFileSync(file, "utf8"));
const ort = await import("onnxruntime-node");


const feeds = cfg.batches.map((batch) => {
  const f = { [cfg.inputs.ids]: intTensor(ort, cfg.inputs.idsType, batch.ids, [batch.b, batch.t]) };
  if (cfg.inputs.lengths) f[cfg.inputs.lengths] = intTensor(ort, cfg.inputs.lengthsType, batch.lengths, [batch.b]);
  return { feeds: f, rows: batch.b, tokens: batch.lengths.reduce((a, b) => a + b, 0) };
});
cfg.batches = null;

const kb = 1024;
const baselineRss = process.resourceUsage().maxRSS * kb;
const t0 = process.hrtime.bigint();
const session = await createSession(ort, cfg.model, {
  intraOpNumThreads: cfg.threads,
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "all",
});
const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

let next = 0;
async function runOnce() {
  const f = feeds[next];
  next = (next + 1) % feeds.length;
  const start = process.hrtime.bigint();
  await session.run(f.feeds, [cfg.output]);
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, rows: f.rows, tokens: f.tokens };
}

for (let i = 0; i < cfg.warmup; i++) await runOnce();
const latencies = [];
let rows = 0;
let tokens = 0;
for (let i = 0; i < cfg.runs; i++) {
  const r = await runOnce();
  latencies.push(r.ms);
  rows += r.rows;
  tokens += r.tokens;
}
const peakRss = process.resourceUsage().maxRSS * kb;
await session.release();
process.stdout.write(
  JSON.stringify({ latencies_ms: latencies, rows, tokens, load_ms: loadMs, baseline_rss_bytes: baselineRss, peak_rss_bytes: peakRss }) + "\n",
);
