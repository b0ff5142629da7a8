/**
 * Calibration memory check: quantizes the same model with N and 10N calibration rows, each in
 * its own process, and prints the peak resident memory of both. Observers and statistics are
 * streaming (fixed-size histograms), so the peak should not grow with the number of rows.
 *
 *   npx tsx scripts/calibrate/memory.ts [MODEL] [--size N] [--observer SPEC] [--data FILE] [--bits 8] [--extra JSON]
 *
 * Defaults: models/wordnet8-gen.onnx, N = 128, percentile:99.99, 8 bits. `--extra` adds quantize
 * options (the study recipe with GPFQ's layer-by-layer passes:
 * '{"granularity":"per-tensor","lstmInternals":true,"weightClip":"mse","rounding":"gpfq"}').
 * Prints one JSON line per run.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    size: { type: "string", default: "128" },
    observer: { type: "string", default: "percentile:99.99" },
    data: { type: "string" },
    bits: { type: "string", default: "8" },
    extra: { type: "string", default: "{}" },
  },
});
const model = resolve(positionals[0] ?? "models/wordnet8-gen.onnx");
const base = Number(values.size);
const dir = mkdtempSync(join(tmpdir(), "ptq-calib-mem-"));
const quantizeUrl = new URL("../../src/pipeline/quantize-file.ts", import.meta.url).href;

const results: { size: number; peak_rss_mib: number; seconds: number }[] = [];
for (const size of [base, base * 10]) {
  // A child per run, so each peak is its own; the child reports its maxRSS as it ends.
  const code = `
    const { quantizeModel } = await import(${JSON.stringify(quantizeUrl)});
    const t0 = performance.now();
    await quantizeModel(${JSON.stringify({ model, out: join(dir, `q${size}.onnx`), bits: Number(values.bits), calib: "natural", calibSize: size, observer: values.observer, data: values.data, saveCalibTable: false, ...JSON.parse(values.extra) })});
    console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, maxrss_kib: process.resourceUsage().maxRSS }));
  `;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { encoding: "utf8", cwd: resolve(import.meta.dirname, "../..") });
  if (r.status !== 0) {
    console.error(r.stderr);
    process.exit(1);
  }
  const m = JSON.parse(r.stdout.trim().split("\n").pop()!);
  results.push({ size, peak_rss_mib: Math.round(m.maxrss_kib / 1024), seconds: Math.round(m.seconds * 10) / 10 });
  console.log(JSON.stringify({ model, observer: values.observer, bits: Number(values.bits), extra: JSON.parse(values.extra), ...results.at(-1) }));
}
const growth = results[1].peak_rss_mib / results[0].peak_rss_mib - 1;
console.log(`peak memory growth for 10x the calibration rows: ${(growth * 100).toFixed(1)}% (target: at most 20%)`);
