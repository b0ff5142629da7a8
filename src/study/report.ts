/**
 * report.html: one self-contained file (inline CSS and SVG, no scripts, no network) that opens
 * from disk: the findings, the key accuracy table, accuracy against bit width, robustness
 * curves, drops from float with intervals, the statistical tests and the run's settings.
 */
import type { CalibrationComparison, CellSummary, Finding, StudyResults } from "./aggregate.ts";
import { esc, linePlot, PALETTE, whiskerPlot, type Series } from "./svg.ts";

export interface RunInfo {
  /** Seconds of each finished cell (from its file), by cell hash. */
  cellSeconds: Record<string, number>;
  /** This run (absent for a merge). */
  run?: { wall_seconds: number; jobs: number; threads: number; shard: string | null; computed: number; cached: number; calibrations: number; quantizations?: number };
  merged_from?: string[];
}

const pct = (x: number | undefined | null) => (x === undefined || x === null || !Number.isFinite(x) ? "–" : (100 * x).toFixed(2));
const signed = (x: number) => (x >= 0 ? "+" : "−") + Math.abs(100 * x).toFixed(2);
const pval = (p: number | null | undefined) => (p === null || p === undefined || !Number.isFinite(p) ? "–" : p < 1e-4 ? p.toExponential(1) : p.toFixed(4));
const ci = (c: [number, number] | null) => (c ? `[${(100 * c[0]).toFixed(2)}, ${(100 * c[1]).toFixed(2)}]` : "–");

export function table(header: string[], rows: (string | number)[][], cls = ""): string {
  const th = header.map((h) => `<th>${esc(h)}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${typeof c === "number" ? c : c}</td>`).join("")}</tr>`).join("\n");
  return `<table class="${cls}"><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

export const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f4f4f4}td{white-space:nowrap}td:first-child,th:first-child{text-align:left}.left td,.left th{text-align:left;white-space:normal}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plots svg{border:1px solid #eee}
.verdict{font-weight:bold;padding:1px 6px;border-radius:3px}.holds{background:#d9f2d9}.reversed{background:#f8d7d7}.not-shown,.not-testable{background:#eee}
.note{color:#555;font-size:13px}code{background:#f4f4f4;padding:0 3px}
`;

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    if (!m.has(k)) m.set(k, []);
    m.get(k)!.push(x);
  }
  return m;
}

/** Mean over calibration seeds of the cells of one (model, bits, calib). */
function meanOver(cells: CellSummary[], f: (c: CellSummary) => number): number {
  return cells.reduce((a, c) => a + f(c), 0) / cells.length;
}

function findingsSection(findings: Finding[]): string {
  const out: string[] = [`<h2 id="findings">Findings</h2>`];
  out.push(`<p class="note">Each claim compares a generative and a discriminative model scored on the same test rows: for every condition, the generative model's sensitivity minus the discriminative one's, in accuracy points, with a 95% paired-bootstrap interval over test rows. The verdict rests on that difference averaged over all the claim's conditions (one interval, bootstrapped over rows, per model pair): <b>holds</b> when it lies above 0, <b>reversed</b> when below 0, <b>not shown</b> otherwise. Per-condition intervals are descriptive (not adjusted for their number).</p>`);
  for (const f of findings) {
    const cls = f.verdict.replace(/ /g, "-");
    out.push(`<h3>${esc(f.claim)}: <span class="verdict ${cls}" data-verdict="${esc(f.verdict)}">${esc(f.verdict)}</span></h3>`);
    out.push(`<p>${esc(f.summary)}</p>`);
    if (f.conditions.length) {
      out.push(
        table(
          ["condition", "pair", "discriminative", "generative", "gen − disc", "95% interval"],
          f.conditions.map((c) => [esc(c.label), esc(`${c.pair.discriminative} / ${c.pair.generative}`), pct(c.discriminative), pct(c.generative), signed(c.difference), ci(c.ci)]),
        ),
      );
    }
  }
  return out.join("\n");
}

function keyTable(r: StudyResults): string {
  const bits = r.settings.bits;
  const rows: (string | number)[][] = [];
  const floatOf = new Map(r.float.map((f) => [f.model, f]));
  for (const m of r.models) {
    const fl = floatOf.get(m.name);
    for (const calib of r.settings.calib) {
      const row: (string | number)[] = [esc(m.name), m.kind, esc(calib), pct(fl?.accuracy)];
      for (const b of bits) {
        const cs = r.cells.filter((c) => c.model === m.name && c.calib === calib && c.bits === b);
        if (!cs.length) row.push("–");
        else {
          const acc = meanOver(cs, (c) => c.accuracy);
          const drop = meanOver(cs, (c) => c.drop);
          row.push(`${pct(acc)} <small>(${signed(-drop)})</small>`);
        }
      }
      rows.push(row);
    }
  }
  return table(["model", "kind", "calibration", "float", ...bits.map((b) => `${b} bits`)], rows);
}

function accuracyPlots(r: StudyResults): string {
  const out: string[] = [];
  const floatOf = new Map(r.float.map((f) => [f.model, f]));
  const ticks = r.settings.bits.map((b) => ({ value: b, label: String(b) }));
  for (const m of r.models) {
    const series: Series[] = r.settings.calib.map((calib, i) => {
      const byBits = groupBy(r.cells.filter((c) => c.model === m.name && c.calib === calib), (c) => String(c.bits));
      return {
        name: calib,
        color: PALETTE[i % PALETTE.length],
        points: [...byBits.values()].map((cs) => {
          const fa = cs[0].float_accuracy;
          return { x: cs[0].bits, y: 100 * meanOver(cs, (c) => c.accuracy), lo: 100 * (fa - meanOver(cs, (c) => c.drop_ci[1])), hi: 100 * (fa - meanOver(cs, (c) => c.drop_ci[0])) };
        }),
      };
    });
    const fl = floatOf.get(m.name);
    out.push(
      linePlot({
        id: "accuracy-vs-bits",
        title: `${m.name} (${m.kind}): accuracy vs bit width`,
        xLabel: "bit width (weights and activations)",
        yLabel: "test accuracy (%)",
        categorical: true,
        xTicks: ticks,
        series,
        hlines: fl ? [{ y: 100 * fl.accuracy, label: `float ${pct(fl.accuracy)}` }] : [],
        attrs: { "data-model": m.name, "data-kind": m.kind },
      }),
    );
  }
  // Drops by model kind, reference calibration.
  const ref = r.settings.reference_calib;
  const kinds = r.models.map((m, i) => ({
    name: `${m.name} (${m.kind})`,
    color: PALETTE[i % PALETTE.length],
    dashed: m.kind === "discriminative",
    points: [...groupBy(r.cells.filter((c) => c.model === m.name && c.calib === ref), (c) => String(c.bits)).values()].map((cs) => ({
      x: cs[0].bits,
      y: 100 * meanOver(cs, (c) => c.drop),
      lo: 100 * meanOver(cs, (c) => c.drop_ci[0]),
      hi: 100 * meanOver(cs, (c) => c.drop_ci[1]),
    })),
  }));
  out.push(
    linePlot({
      id: "drop-vs-bits",
      title: `Drop from float by model kind (${ref} calibration)`,
      xLabel: "bit width",
      yLabel: "accuracy drop (points)",
      categorical: true,
      xTicks: ticks,
      series: kinds,
      hlines: [{ y: 0, label: "no drop" }],
    }),
  );
  return `<div class="plots">${out.join("\n")}</div>`;
}

function robustnessPlots(r: StudyResults): string {
  const out: string[] = [];
  const ref = r.settings.reference_calib;
  const floatOf = new Map(r.float.map((f) => [f.model, f]));
  for (const m of r.models) {
    for (const { kind, levels } of r.settings.noise) {
      const series: Series[] = [];
      const fl = floatOf.get(m.name);
      if (fl) {
        series.push({
          name: "float",
          color: "#000",
          dashed: true,
          band: true,
          points: [
            { x: 0, y: 100 * fl.accuracy, lo: 100 * fl.accuracy, hi: 100 * fl.accuracy },
            ...fl.noise.filter((p) => p.kind === kind).map((p) => ({ x: p.level, y: 100 * p.accuracy.mean, lo: 100 * (p.accuracy.mean - p.accuracy.std), hi: 100 * (p.accuracy.mean + p.accuracy.std) })),
          ],
        });
      }
      r.settings.bits.forEach((b, i) => {
        const cs = r.cells.filter((c) => c.model === m.name && c.calib === ref && c.bits === b);
        if (!cs.length) return;
        const clean = 100 * meanOver(cs, (c) => c.accuracy);
        const pts = [{ x: 0, y: clean, lo: clean, hi: clean }];
        for (const level of levels) {
          const ps = cs.map((c) => c.noise.find((p) => p.kind === kind && p.level === level)).filter((p) => p !== undefined);
          if (!ps.length) continue;
          const mean = ps.reduce((a, p) => a + p.accuracy.mean, 0) / ps.length;
          const std = ps.reduce((a, p) => a + p.accuracy.std, 0) / ps.length;
          pts.push({ x: level, y: 100 * mean, lo: 100 * (mean - std), hi: 100 * (mean + std) });
        }
        series.push({ name: `${b} bits`, color: PALETTE[i % PALETTE.length], band: true, points: pts });
      });
      out.push(
        linePlot({
          id: "robustness",
          title: `${m.name} (${m.kind}): accuracy under ${kind} noise`,
          xLabel: `${kind} noise level`,
          yLabel: "test accuracy (%), mean ± std over seeds",
          xTicks: [0, ...levels].map((v) => ({ value: v, label: String(v) })),
          series,
          attrs: { "data-model": m.name, "data-kind": m.kind, "data-noise": kind },
        }),
      );
    }
  }
  return `<div class="plots">${out.join("\n")}</div>`;
}

function dropPlots(r: StudyResults): string {
  const colorOf = new Map(r.models.map((m, i) => [m.name, PALETTE[i % PALETTE.length]]));
  const seeds = r.settings.calib_seeds.length > 1;
  const out = [
    whiskerPlot({
      id: "drops-ci",
      title: "Accuracy drop from float, 95% paired-bootstrap intervals",
      xLabel: "float minus quantized accuracy (points)",
      rows: r.cells.map((c) => ({
        label: `${c.model} ${c.bits}b ${c.calib}${seeds ? ` s${c.calib_seed}` : ""}`,
        value: 100 * c.drop,
        lo: 100 * c.drop_ci[0],
        hi: 100 * c.drop_ci[1],
        color: colorOf.get(c.model),
      })),
    }),
  ];
  if (r.calibration_comparisons.length) {
    out.push(
      whiskerPlot({
        id: "calibration-ci",
        title: `Accuracy lost against ${r.settings.reference_calib} calibration, 95% intervals`,
        xLabel: `${r.settings.reference_calib} minus this calibration's accuracy (points)`,
        rows: r.calibration_comparisons.map((c) => ({
          label: `${c.model} ${c.bits}b ${c.calib}${seeds ? ` s${c.calib_seed}` : ""}`,
          value: 100 * c.difference,
          lo: 100 * c.ci[0],
          hi: 100 * c.ci[1],
          color: colorOf.get(c.model),
        })),
      }),
    );
  }
  return `<div class="plots">${out.join("\n")}</div>`;
}

function testsTables(r: StudyResults): string {
  const out: string[] = [];
  out.push(`<h3>Quantized against float (McNemar, Holm-adjusted over ${r.cells.length} cells; paired bootstrap, ${r.settings.resamples} resamples)</h3>`);
  out.push(
    table(
      ["model", "bits", "calibration", "seed", "float %", "accuracy %", "drop (points)", "95% interval", "b (float only)", "c (quant only)", "McNemar stat", "p", "p (Holm)", "method"],
      r.cells.map((c) => [esc(c.model), c.bits, esc(c.calib), c.calib_seed, pct(c.float_accuracy), pct(c.accuracy), (100 * c.drop).toFixed(2), ci(c.drop_ci), c.mcnemar.b, c.mcnemar.c, c.mcnemar.statistic.toFixed(3), pval(c.mcnemar.p_value), pval(c.mcnemar.p_holm), c.mcnemar.method]),
      "tests",
    ),
  );
  if (r.calibration_comparisons.length) {
    out.push(`<h3>Calibration modes against ${esc(r.settings.reference_calib)} (McNemar, Holm-adjusted; activation ranges from <code>stats compare</code>)</h3>`);
    out.push(
      table(
        ["model", "bits", "calibration", "seed", `${r.settings.reference_calib} %`, "accuracy %", "difference (points)", "95% interval", "McNemar p", "p (Holm)", "ranges wider / narrower", "Wilcoxon log-scale p", "weights changed"],
        r.calibration_comparisons.map((c: CalibrationComparison) => [
          esc(c.model),
          c.bits,
          esc(c.calib),
          c.calib_seed,
          pct(c.accuracy_reference),
          pct(c.accuracy),
          (100 * c.difference).toFixed(2),
          ci(c.ci),
          pval(c.mcnemar.p_value),
          pval(c.mcnemar.p_holm),
          c.compare ? `${c.compare.activations.wider_in_b} / ${c.compare.activations.narrower_in_b} of ${c.compare.activations.tensors}` : "–",
          c.compare ? pval(c.compare.activations.scales_wilcoxon.p_value) : "–",
          c.compare ? `${(100 * c.compare.weights.max_changed_fraction).toFixed(1)}%` : "–",
        ]),
        "tests",
      ),
    );
  }
  return out.join("\n");
}

function robustnessTable(r: StudyResults): string {
  const rows: (string | number)[][] = [];
  for (const f of r.float) {
    for (const p of f.noise) rows.push([esc(f.model), "float", "–", `${p.kind}:${p.level}`, pct(f.accuracy), `${pct(p.accuracy.mean)} ± ${pct(p.accuracy.std)}`, (100 * p.noise_drop).toFixed(2), "–"]);
  }
  for (const c of r.cells) {
    if (c.calib !== r.settings.reference_calib) continue;
    for (const p of c.noise) {
      rows.push([esc(c.model), `${c.bits} bits`, esc(c.calib), `${p.kind}:${p.level}`, pct(c.accuracy), `${pct(p.accuracy.mean)} ± ${pct(p.accuracy.std)}`, (100 * p.noise_drop).toFixed(2), p.drop_vs_float === undefined ? "–" : (100 * p.drop_vs_float).toFixed(2)]);
    }
  }
  return table(["model", "variant", "calibration", "noise", "clean %", "noisy % (mean ± std)", "lost to noise (points)", "drop vs float under noise"], rows);
}

function settingsSection(r: StudyResults, info: RunInfo): string {
  const s = r.settings;
  const rows: [string, string][] = [
    ["bit widths", s.bits.join(", ")],
    ["calibration modes", `${s.calib.join(", ")} (reference: ${s.reference_calib})`],
    ["calibration", `${s.calib_size} rows from ${r.models.map((m) => m.calib_data.source).filter((v, i, a) => a.indexOf(v) === i).join(", ")}; seeds ${s.calib_seeds.join(", ")}`],
    ["observer", s.observer],
    ["quantization", `weights ${s.granularity}, activations asymmetric per tensor, rounding ${s.rounding}${s.weight_clip ? `, weight clip ${s.weight_clip}` : ""}${s.bias_correction ? ", bias-corrected" : ""}${s.act_order ? ", act-order" : ""}${s.weight_symmetric === false ? ", asymmetric weights" : ""}${s.embedding_gptq ? ", embedding GPTQ-rounded against the LSTM's W" : ""}${s.gather_pass_through ? ", embedding rows read as the table's codes" : ""}${s.equalize !== undefined ? `, embedding equalized (alpha ${s.equalize})` : ""}, LSTM ${s.lstm_internals ? "decomposed, internals quantized" : "op kept"}${s.recipe ? ` (recipe ${s.recipe})` : ""}`],
    ["noise", s.noise.map((n) => `${n.kind}: ${n.levels.join(", ")}`).join("; ") || "none"],
    ["noise seeds", s.seeds.join(", ")],
    ["test rows", s.rows === null ? "all" : `a fixed random sample of ${s.rows} (all when fewer)`],
    ["bootstrap resamples", String(s.resamples)],
    ["grid", s.quick ? "quick" : "full"],
    ["code version", r.code_version],
  ];
  const out = [`<h2 id="settings">Run settings</h2>`, table(["setting", "value"], rows.map(([k, v]) => [esc(k), esc(v)]), "left")];
  out.push(
    table(
      ["model", "kind", "file", "sha256", "classes", "test data", "test rows", "batch"],
      r.models.map((m) => [esc(m.name), `${m.kind} <small>(${esc(m.kind_source)})</small>`, esc(m.file), `<code>${m.sha256.slice(0, 12)}</code>`, m.classes, esc(m.test.source), m.test.n, m.batch]),
      "left",
    ),
  );
  const secs = Object.values(info.cellSeconds);
  const cellTotal = secs.reduce((a, b) => a + b, 0);
  const runRows: [string, string][] = [["cells", `${r.cells_total - r.missing.length} of ${r.cells_total} finished; ${secs.length} cell files, ${(cellTotal / 60).toFixed(1)} min of cell time in all`]];
  if (info.run) {
    runRows.push(["this run", `${info.run.computed} cells computed, ${info.run.cached} cached, ${info.run.calibrations} calibrations${info.run.quantizations !== undefined ? `, ${info.run.quantizations} quantizations` : ""}; ${info.run.jobs} job(s) x ${info.run.threads} onnxruntime thread(s)${info.run.shard ? `, shard ${info.run.shard}` : ""}; wall ${(info.run.wall_seconds / 60).toFixed(1)} min`]);
  }
  if (info.merged_from) runRows.push(["merged from", info.merged_from.join(", ")]);
  out.push(table(["run", ""], runRows.map(([k, v]) => [esc(k), esc(v)]), "left"));
  return out.join("\n");
}

export function renderReport(r: StudyResults, info: RunInfo): string {
  const status = r.complete
    ? `all ${r.cells_total} cells finished`
    : `<b>incomplete</b>: ${r.missing.length} of ${r.cells_total} cells missing (rerun the same command, or merge the other shards)`;
  const body = [
    `<h1>ptq-onnx study: ${esc(r.models.map((m) => m.name).join(", "))}</h1>`,
    `<p class="note">${status}. Accuracy in %, drops and differences in points. Test rows: ${r.models.map((m) => `${esc(m.name)} ${m.test.n}`).join(", ")}.</p>`,
    findingsSection(r.findings),
    `<h2 id="accuracy">Accuracy by bit width and calibration (drop from float in brackets)</h2>`,
    keyTable(r),
    accuracyPlots(r),
    `<h2 id="robustness">Robustness under noise</h2>`,
    robustnessPlots(r),
    robustnessTable(r),
    `<h2 id="drops">Drops from float with confidence intervals</h2>`,
    dropPlots(r),
    `<h2 id="tests">Statistical tests</h2>`,
    testsTables(r),
    settingsSection(r, info),
  ];
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ptq-onnx study</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${CSS}</style></head>
<body>
${body.join("\n")}
</body></html>
`;
}
