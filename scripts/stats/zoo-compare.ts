/**
 * The study's "insufficient weight adaptation" question on the zoo: for each model, at each
 * bit width, quantize with balanced calibration and with calibration from class 0 only,
 * compare the two with `stats compare` (weights, activation ranges and profiles, test
 * predictions) and print the table of test statistics and p-values.
 *
 *   npx tsx scripts/stats/zoo-compare.ts [--models models/wordnet8-gen.onnx,models/wordnet8-disc.onnx]
 *       [--bits 3,4,8] [--recipe default|study|gptq|study-gptq] [--calib-size 512] [--calib-data FILE] [--data FILE]
 *       [--rows N] [--resamples N] [--out DIR] [--threads N] [--batch N]
 *
 * Recipes: `default` is ptq-onnx's (per-channel weights, percentile:99.99 activation ranges,
 * LSTM op kept whole with quantized inputs); `study` is the study's plain recipe as
 * FINDINGS.md simulates it (per-tensor weights, mean of per-batch 99.99th percentiles, the
 * LSTM's gates, cell and hidden state re-quantized every step); `gptq` and `study-gptq` add
 * error-compensating rounding, which makes the weights depend on the calibration data.
 * Each model is calibrated once per calibration mode; the table serves every bit width.
 * Models, tables and one JSON report per comparison go to DIR (default out/stats/zoo-compare);
 * a model already there with the same settings is reused.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { quantizeModel, type QuantizeOptions } from "../../src/pipeline/quantize-file.ts";
import { sha256File } from "../../src/calibrate/table.ts";
import { loadModel } from "../../src/graph/index.ts";
import { compareModels, type CompareReport, type Outcome } from "../../src/compare/compare.ts";

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "models/wordnet8-gen.onnx,models/wordnet8-disc.onnx" },
    bits: { type: "string", default: "3,4,8" },
    recipe: { type: "string", default: "default" },
    "calib-size": { type: "string", default: "512" },
    "calib-data": { type: "string" },
    data: { type: "string" },
    rows: { type: "string" },
    resamples: { type: "string", default: "10000" },
    threads: { type: "string" },
    batch: { type: "string" },
    out: { type: "string", default: "out/stats/zoo-compare" },
  },
});

const models = values.models!.split(",").filter(Boolean);
const bitsList = values.bits!.split(",").map(Number);
const recipe = values.recipe!;
const RECIPES: Record<string, Partial<QuantizeOptions>> = {
  default: {},
  study: { granularity: "per-tensor", lstmInternals: true, observer: "batch-percentile:99.99" },
  // With GPTQ the weights depend on the calibration data, as with the study's GPFQ.
  gptq: { rounding: "gptq" },
  "study-gptq": { granularity: "per-tensor", lstmInternals: true, observer: "batch-percentile:99.99", rounding: "gptq" },
};
if (!RECIPES[recipe]) throw new Error(`--recipe must be one of ${Object.keys(RECIPES).join(", ")}, got ${recipe}`);
const calibSize = Number(values["calib-size"]);
const rows = values.rows ? Number(values.rows) : undefined;
const threads = values.threads ? Number(values.threads) : undefined;
const batch = values.batch ? Number(values.batch) : undefined;
const resamples = Number(values.resamples);
const outDir = join(values.out!, recipe);
mkdirSync(outDir, { recursive: true });

const recipeOptions = RECIPES[recipe];
const MODES = [
  { mode: "balanced", tag: "balanced" },
  { mode: "classes:0", tag: "class0" },
] as const;

const log = (msg: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function sameSettings(file: string, bits: number, mode: string): boolean {
  if (!existsSync(file)) return false;
  const meta = JSON.parse(loadModel(file).metadata.get("ptq-onnx.quantization") ?? "{}");
  return meta.wbits === bits && meta.calib === mode && meta.calib_size === calibSize && meta.lstm_internals === Boolean(recipeOptions.lstmInternals) && (meta.rounding ?? "nearest") === (recipeOptions.rounding ?? "nearest");
}

interface Row {
  model: string;
  kind: string;
  bits: number;
  /** The float model's test accuracy from the zoo manifest (default test split only). */
  floatAccuracy: number | null;
  report: CompareReport;
}

/** The float test accuracy models/manifest.json records for this exact file, if any. */
function manifestAccuracy(model: string): number | null {
  const path = join(dirname(model), "manifest.json");
  if (values.data || rows || !existsSync(path)) return null;
  const sha = sha256File(model);
  const entry = (JSON.parse(readFileSync(path, "utf8")).models ?? []).find((m: { sha256?: string }) => m.sha256 === sha);
  return typeof entry?.test?.accuracy === "number" ? entry.test.accuracy : null;
}

const results: Row[] = [];
for (const model of models) {
  if (!existsSync(model)) {
    log(`${model}: not there, skipped`);
    continue;
  }
  const name = basename(model, ".onnx");
  const kind = loadModel(model).metadata.get("ptq-onnx.kind") ?? "?";
  const floatAccuracy = manifestAccuracy(model);
  const tables = new Map<string, string>();
  for (const bits of bitsList) {
    const files: Record<string, string> = {};
    for (const { mode, tag } of MODES) {
      const out = join(outDir, `${name}.q${bits}.${tag}.onnx`);
      const table = join(outDir, `${name}.${tag}.calib.json`);
      files[tag] = out;
      if (sameSettings(out, bits, mode) && existsSync(table)) {
        tables.set(tag, table);
        continue;
      }
      const t0 = Date.now();
      const reuse = tables.get(tag) ?? (existsSync(table) ? table : undefined);
      await quantizeModel({
        model,
        out,
        bits,
        calib: mode,
        calibSize,
        data: values["calib-data"],
        ...recipeOptions,
        ...(reuse ? { calibTable: reuse } : { saveCalibTable: table }),
      });
      tables.set(tag, table);
      log(`${name} ${bits} bits ${mode}: quantized in ${((Date.now() - t0) / 1000).toFixed(0)} s${reuse ? " (calibration table reused)" : ""}`);
    }
    const t0 = Date.now();
    const report = await compareModels({
      a: files.balanced,
      b: files.class0,
      float: model,
      calibA: tables.get("balanced"),
      calibB: tables.get("class0"),
      data: values.data,
      rows,
      threads,
      batch,
      resamples,
    });
    writeFileSync(join(outDir, `${name}.q${bits}.compare.json`), JSON.stringify(report, null, 2) + "\n");
    log(`${name} ${bits} bits: compared in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    results.push({ model: name, kind, bits, floatAccuracy, report });
  }
}

// ---------------------------------------------------------------------------------------
// the table

const f = (x: number | null | undefined, digits = 4): string => (x === null || x === undefined || Number.isNaN(x) ? "-" : x.toFixed(digits));
// A p-value of exactly 0 is one below the smallest double (the statistic's tail underflowed).
const p = (x: number | null | undefined): string => (x === null || x === undefined || Number.isNaN(x) ? "-" : x === 0 ? "<1e-300" : x < 1e-4 ? x.toExponential(1) : x.toFixed(4));
const ranTests = (os: Outcome[]) => os.filter((o): o is Extract<Outcome, { skipped?: undefined }> => o.skipped === undefined);
const minOf = (xs: number[]) => (xs.length ? Math.min(...xs) : NaN);
const maxOf = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd());
}

console.log(`\nBalanced (A) against classes:0 (B) calibration, recipe "${recipe}", ${calibSize} calibration rows${rows ? `, ${rows} test rows` : ""}\n`);
console.log("Weights (per layer: Mann-Whitney U and KS on the quantization errors, Wilcoxon on paired per-channel scales; Holm across layers)");
const weightRows = [["model", "bits", "layers", "changed", "MWU U (max |r|)", "min p_holm", "KS D max", "min p_holm", "scales Wilcoxon", "min p_holm"]];
for (const r of results) {
  const L = r.report.weights.layers;
  const mw = ranTests(L.map((l) => l.tests.error_mann_whitney));
  const ks = ranTests(L.map((l) => l.tests.error_ks));
  const sw = ranTests(L.map((l) => l.tests.scales_wilcoxon));
  const biggestMw = mw.sort((x, y) => Math.abs(y.effect_size) - Math.abs(x.effect_size))[0];
  weightRows.push([
    `${r.model}`,
    String(r.bits),
    String(L.length),
    f(maxOf(L.map((l) => l.changed_fraction))),
    biggestMw ? `${biggestMw.statistic.toExponential(4)} (${f(Math.abs(biggestMw.effect_size))})` : "-",
    p(minOf(mw.map((o) => o.p_holm))),
    f(maxOf(ks.map((o) => o.statistic))),
    p(minOf(ks.map((o) => o.p_holm))),
    sw.length ? `${sw.length} tested` : L.every((l) => l.scales_equal) ? "all equal" : "-",
    p(minOf(sw.map((o) => o.p_holm))),
  ]);
}
printTable(weightRows);

console.log("\nActivation ranges (Q/DQ scales; Wilcoxon signed-rank on log scale B - log scale A across tensors) and calibration profiles");
const actRows = [["model", "bits", "tensors", "B wider/narrower", "median |log2 B/A|", "Wilcoxon W", "p", "r (B wider > 0)", "profile KS mean", "max"]];
for (const r of results) {
  const a = r.report.activations;
  const w = a.scales_wilcoxon;
  const prof = r.report.profiles.tensors.map((t) => t.distance?.ks_distance ?? NaN).filter((x) => !Number.isNaN(x));
  actRows.push([
    r.model,
    String(r.bits),
    String(a.tensors.length),
    `${a.wider_in_b}/${a.narrower_in_b}`,
    f(median(a.tensors.map((t) => Math.abs(t.log2_scale_ratio)))),
    w.skipped === undefined ? f(w.statistic, 1) : "-",
    w.skipped === undefined ? p(w.p_value) : w.skipped,
    w.skipped === undefined ? f(w.effect_size, 3) : "-",
    f(prof.reduce((s, x) => s + x, 0) / prof.length),
    f(maxOf(prof)),
  ]);
}
printTable(actRows);

console.log("\nTest-set predictions (McNemar; paired bootstrap of accuracy A - B, 95% CI)");
const predRows = [["model", "bits", "n", "float acc", "acc A", "acc B", "A - B [95% CI]", "McNemar stat", "p", "method", "macro-F1 A - B [95% CI]"]];
for (const r of results) {
  const pr = r.report.predictions;
  if ("skipped" in pr) {
    predRows.push([r.model, String(r.bits), "-", f(r.floatAccuracy), "-", "-", pr.skipped, "-", "-", "-", "-"]);
    continue;
  }
  const ba = pr.bootstrap.accuracy;
  const bf = pr.bootstrap.macro_f1;
  predRows.push([
    r.model,
    String(r.bits),
    String(pr.n),
    f(r.floatAccuracy),
    f(pr.accuracy_a),
    f(pr.accuracy_b),
    `${f(ba.observed)} [${f(ba.ci_low)}, ${f(ba.ci_high)}]`,
    f(pr.mcnemar.statistic, 3),
    p(pr.mcnemar.p_value),
    pr.mcnemar.method,
    `${f(bf.observed)} [${f(bf.ci_low)}, ${f(bf.ci_high)}]`,
  ]);
}
printTable(predRows);
writeFileSync(
  join(outDir, "summary.json"),
  JSON.stringify(
    results.map((r) => ({ model: r.model, kind: r.kind, bits: r.bits, file: join(outDir, `${r.model}.q${r.bits}.compare.json`) })),
    null,
    2,
  ) + "\n",
);
