/**
 * The study's calibration-balance comparison rerun with a recipe (default `study`): each model
 * calibrated on balanced rows and on class 0 only, at each width, through `runStudy` (cached
 * in OUT, so a rerun only prints). Prints per model and width the two accuracies, the
 * difference (balanced minus classes:0) with its 95% paired-bootstrap interval, McNemar's
 * test (Holm-adjusted over the comparisons) and the study's verdict on the claim that
 * imbalance hurts the generative model more.
 *
 *   npx tsx scripts/quant/balance.ts [MODELS...] [--recipe study] [--bits 3,4] [--rows 1000] [--out DIR] [--jobs 2]
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { StudyResults } from "../../src/study/aggregate.ts";
import { runStudy } from "../../src/study/study.ts";
import { markdown, scratchDir } from "./common.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    recipe: { type: "string", default: "study" },
    bits: { type: "string", default: "3,4" },
    rows: { type: "string", default: "1000" },
    out: { type: "string" },
    jobs: { type: "string", default: "2" },
  },
});
const models = positionals.length ? positionals : ["models/wordnet8-disc.onnx", "models/wordnet8-gen.onnx"];
const out = values.out ?? scratchDir("ptq-balance-");
await runStudy({
  models,
  recipe: values.recipe,
  bits: values.bits.split(",").map(Number),
  calib: ["balanced", "classes:0"],
  noise: [],
  rows: Number(values.rows),
  out,
  jobs: Number(values.jobs),
  threads: 1,
  onLog: (line) => console.error(line),
});
const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as StudyResults;
const pct = (x: number) => (100 * x).toFixed(2);
const rows = results.calibration_comparisons.map((c) => [
  c.model,
  c.kind,
  c.bits,
  pct(c.accuracy_reference),
  pct(c.accuracy),
  `${pct(c.difference)} [${pct(c.ci[0])}, ${pct(c.ci[1])}]`,
  `${c.mcnemar.b}/${c.mcnemar.c}`,
  c.mcnemar.p_value.toPrecision(3),
  c.mcnemar.p_holm.toPrecision(3),
]);
const cells = results.cells.map((c) => [c.model, c.bits, c.calib, pct(c.float_accuracy), pct(c.accuracy), `${pct(c.drop)} [${pct(c.drop_ci[0])}, ${pct(c.drop_ci[1])}]`]);
console.log(`recipe ${values.recipe}, ${values.rows === "0" ? "whole test split" : `${values.rows} test rows`}, study output in ${values.out ?? "a scratch directory (--out DIR keeps it)"}\n`);
console.log(markdown(["model", "bits", "calibration", "float", "quantized", "drop [95% CI]"], cells));
console.log("");
console.log(markdown(["model", "kind", "bits", "balanced", "classes:0", "balanced - classes:0 [95% CI]", "McNemar b/c", "p", "p (Holm)"], rows));
const finding = results.findings.find((f) => f.id === "calibration");
if (finding) console.log(`\n${finding.claim}: ${finding.verdict}. ${finding.summary}`);
