/**
 * Prints a study's key tables as markdown, from its results.json: accuracy (%) per model,
 * calibration and bit width with the drop from float, and the three findings with their numbers.
 *
 *   npx tsx scripts/study/summary.ts OUT_DIR
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { StudyResults } from "../../src/study/aggregate.ts";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: npx tsx scripts/study/summary.ts OUT_DIR");
  process.exit(2);
}
const r = JSON.parse(readFileSync(join(dir, "results.json"), "utf8")) as StudyResults;
const run = (() => {
  try {
    return JSON.parse(readFileSync(join(dir, "run.json"), "utf8"));
  } catch {
    return undefined;
  }
})();
const pct = (x: number) => (100 * x).toFixed(2);
const pts = (x: number) => (x >= 0 ? "+" : "-") + Math.abs(100 * x).toFixed(2);
const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
const s = r.settings;

const out: string[] = [];
out.push(
  `Test rows: ${r.models.map((m) => `${m.name} ${m.test.n}`).join(", ")}${s.rows ? ` (fixed sample of ${s.rows})` : " (all)"}; ` +
    `calibration ${s.calib_size} rows, observer ${s.observer}; noise ${s.noise.map((n) => `${n.kind} ${n.levels.join("/")}`).join(", ") || "none"} x ${s.seeds.length} seeds; ` +
    `${r.cells_total - r.missing.length}/${r.cells_total} cells${run ? `; wall ${(run.wall_seconds / 60).toFixed(1)} min (last run, ${run.jobs} jobs x ${run.threads} threads)` : ""}.`,
  "",
);
out.push(line(["model", "calibration", "float", ...s.bits.map((b) => `${b} bits`)]));
out.push(line(["---", "---", "---", ...s.bits.map(() => "---")]));
for (const m of r.models) {
  const fl = r.float.find((f) => f.model === m.name);
  for (const calib of s.calib) {
    const row: string[] = [`${m.name} (${m.kind === "generative" ? "gen" : m.kind === "discriminative" ? "disc" : "?"})`, calib, fl ? pct(fl.accuracy) : "-"];
    for (const b of s.bits) {
      const cs = r.cells.filter((c) => c.model === m.name && c.calib === calib && c.bits === b);
      if (!cs.length) row.push("-");
      else {
        const c = cs[0];
        row.push(`${pct(c.accuracy)} (${pts(-c.drop)} [${pts(-c.drop_ci[1])}, ${pts(-c.drop_ci[0])}])`);
      }
    }
    out.push(line(row));
  }
}
out.push("", "Accuracy in %; in brackets the change from float in points with its 95% paired-bootstrap interval.", "");
for (const f of r.findings) {
  out.push(`- **${f.claim}**: ${f.verdict}. ${f.summary}.`);
  for (const p of f.pooled) out.push(`  - pooled over ${p.conditions} conditions (${p.pair.discriminative} vs ${p.pair.generative}): gen - disc ${pts(p.difference)}${p.ci ? ` [${pts(p.ci[0])}, ${pts(p.ci[1])}]` : ""}`);
  for (const c of f.conditions) {
    out.push(`  - ${c.label}: disc ${pct(c.discriminative)}, gen ${pct(c.generative)}, gen - disc ${pts(c.difference)}${c.ci ? ` [${pts(c.ci[0])}, ${pts(c.ci[1])}]` : ""}`);
  }
}
const noise = r.float.flatMap((f) => f.noise.map((p) => `${f.model} ${p.kind}:${p.level} ${pct(p.accuracy.mean)} (clean ${pct(f.accuracy)})`));
if (noise.length) out.push("", `Float models under noise: ${noise.join("; ")}.`);
console.log(out.join("\n"));
