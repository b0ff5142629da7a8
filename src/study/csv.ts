/** results.csv: one row per finished cell (float baselines too), with the float baseline and the options. */
import type { StudyResults } from "./aggregate.ts";

function field(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "number" ? (Number.isFinite(v) ? String(v) : "") : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function resultsCsv(r: StudyResults): string {
  const s = r.settings;
  const noiseCols = s.noise.flatMap(({ kind, levels }) => levels.map((level) => `${kind}:${level}`));
  const header = [
    "cell", "model", "kind", "type", "bits", "calib", "calib_seed", "reference_calib", "observer", "lstm_internals", "rounding", "granularity",
    "calib_size", "calib_per_class", "test_rows", "test_data", "noise_seeds",
    "float_accuracy", "accuracy", "drop", "drop_ci_low", "drop_ci_high", "mcnemar_statistic", "mcnemar_p", "mcnemar_p_holm", "mcnemar_method",
    "float_macro_f1", "macro_f1", "float_bytes", "bytes",
    ...noiseCols.flatMap((c) => [`float_accuracy_${c}`, `accuracy_${c}`, `accuracy_std_${c}`, `noise_drop_${c}`]),
  ];
  const rows: unknown[][] = [header];
  const modelInfo = new Map(r.models.map((m) => [m.name, m]));
  const common = (model: string) => {
    const m = modelInfo.get(model)!;
    return { rows: m.test.n, data: m.test.source };
  };
  for (const f of r.float) {
    const c = common(f.model);
    const noise = new Map(f.noise.map((p) => [`${p.kind}:${p.level}`, p]));
    rows.push([
      f.cell, f.model, f.kind, "float", "", "", "", s.reference_calib, "", "", "", "",
      "", "", c.rows, c.data, s.seeds.length,
      f.accuracy, f.accuracy, 0, "", "", "", "", "", "",
      f.macro_f1, f.macro_f1, "", "",
      ...noiseCols.flatMap((k): unknown[] => {
        const p = noise.get(k);
        return p ? [p.accuracy.mean, p.accuracy.mean, p.accuracy.std, p.noise_drop] : ["", "", "", ""];
      }),
    ]);
  }
  for (const x of r.cells) {
    const c = common(x.model);
    const noise = new Map(x.noise.map((p) => [`${p.kind}:${p.level}`, p]));
    rows.push([
      x.cell, x.model, x.kind, "quantized", x.bits, x.calib, x.calib_seed, s.reference_calib, x.calibration.observer, s.lstm_internals, s.rounding, s.granularity,
      x.calibration.size, x.calibration.per_class.join("/"), c.rows, c.data, s.seeds.length,
      x.float_accuracy, x.accuracy, x.drop, x.drop_ci[0], x.drop_ci[1], x.mcnemar.statistic, x.mcnemar.p_value, x.mcnemar.p_holm, x.mcnemar.method,
      x.float_macro_f1, x.macro_f1, x.bytes.float, x.bytes.quantized,
      ...noiseCols.flatMap((k): unknown[] => {
        const p = noise.get(k);
        return p ? [p.float_accuracy ?? "", p.accuracy.mean, p.accuracy.std, p.noise_drop] : ["", "", "", ""];
      }),
    ]);
  }
  return rows.map((row) => row.map(field).join(",")).join("\n") + "\n";
}
