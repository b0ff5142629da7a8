/**
 * Issue 5's table: test-accuracy drop from float (in points) at 8, 6, 5, 4 and 3 bits for each
 * model, calibration mode and observer. One calibration per (model, mode) serves minmax,
 * percentile, mse and entropy (they share histogram state); batch-percentile calibrates on its own.
 *
 *   npx tsx scripts/quant/calibration-grid.ts [MODELS...] [--rows N] [--bits 8,6,5,4,3]
 *       [--calib balanced,natural,classes:0] [--observers minmax,percentile:99.99,mse,entropy,batch-percentile:99.99]
 *
 * Defaults: the WordNet-8 zoo models, 1000 seeded test rows (the whole split with --rows 0).
 * Prints progress on stderr and a markdown table plus JSON rows on stdout.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { accuracy, markdown, predictions, scratchDir, testSet } from "./common.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rows: { type: "string", default: "1000" },
    bits: { type: "string", default: "8,6,5,4,3" },
    calib: { type: "string", default: "balanced,natural,classes:0" },
    observers: { type: "string", default: "minmax,percentile:99.99,mse,entropy,batch-percentile:99.99" },
    "lstm-internals": { type: "boolean", default: false },
  },
});
const models = positionals.length ? positionals : ["models/wordnet8-disc.onnx", "models/wordnet8-gen.onnx"];
const bitsList = values.bits.split(",").map(Number);
const modes = values.calib.split(",");
const observers = values.observers.split(",");
const dir = scratchDir("ptq-calib-grid-");
const started = performance.now();
const results: { model: string; mode: string; observer: string; float: number; accuracy: Record<number, number> }[] = [];

/** Calibrates once (the 8-bit model it also writes is discarded) and returns the table's path. */
async function calibrationTable(path: string, name: string, mode: string, observer: string): Promise<string> {
  const table = join(dir, `${name}.${mode}.${observer}.calib.json`.replace(/[^a-z0-9.\-]/gi, "_"));
  await quantizeModel({ model: path, out: join(dir, "calibration-only.onnx"), bits: 8, calib: mode, observer, lstmInternals: values["lstm-internals"], saveCalibTable: table });
  return table;
}

for (const path of models) {
  const name = path.split("/").pop()!.replace(/\.onnx$/, "");
  const set = testSet(path, Number(values.rows) || undefined);
  const floatAcc = accuracy(set.labels, await predictions(path, set));
  for (const mode of modes) {
    const tables = new Map<string, string>();
    for (const observer of observers) {
      // Histogram observers share one table; minmax reads any; batch-percentile needs its own.
      const key = observer.startsWith("batch-percentile") ? observer : "percentile:99.99";
      if (!tables.has(key)) tables.set(key, await calibrationTable(path, name, mode, key));
      const row = { model: name, mode, observer, float: floatAcc, accuracy: {} as Record<number, number> };
      for (const bits of bitsList) {
        const out = join(dir, `${name}.${bits}.onnx`);
        await quantizeModel({ model: path, out, bits, calib: mode, observer, lstmInternals: values["lstm-internals"], calibTable: tables.get(key) });
        row.accuracy[bits] = accuracy(set.labels, await predictions(out, set));
        const drop = (100 * (floatAcc - row.accuracy[bits])).toFixed(2);
        console.error(`[${((performance.now() - started) / 1000).toFixed(0)}s] ${name} ${mode} ${observer} ${bits} bits: drop ${drop} points`);
      }
      results.push(row);
    }
  }
}

console.log(`test rows: ${values.rows === "0" ? "all" : `${values.rows} (seeded sample)`}; calibration 512 validation rows; wall ${((performance.now() - started) / 60000).toFixed(1)} min\n`);
console.log(
  markdown(
    ["model", "float %", "calibration", "observer", ...bitsList.map((b) => `drop @${b}`)],
    results.map((r) => [r.model, (100 * r.float).toFixed(2), r.mode, r.observer, ...bitsList.map((b) => (100 * (r.float - r.accuracy[b])).toFixed(2))]),
  ),
);
console.log("\n" + JSON.stringify(results));
