/**
 * From the plan and its cell files to the study's results: per cell the drop from float with a
 * paired-bootstrap interval and McNemar's test (Holm-adjusted across cells), calibration modes
 * against the reference calibration, robustness under noise, and the three findings
 * (generative against discriminative sensitivity to bit width, calibration balance and noise).
 *
 * Everything here is a pure function of the plan and the cells' results (not of timings, the
 * output folder, jobs or shards), so two shards merged give the same bytes as one run.
 */
import { spread } from "../eval/evaluate.ts";
import { BootstrapBatch, holm, mcnemar } from "../stats/index.ts";
import { decodeLabels, type CellSpec, type ModelKind, type Plan, type PlanModel, type StudySettings } from "./plan.ts";
import type { CellFile, CompareSummary } from "./tasks.ts";

export const RESULTS_FORMAT = "ptq-onnx.study.results";

type Spread = { mean: number; std: number; min: number; max: number };

export interface McNemarSummary {
  statistic: number;
  p_value: number;
  p_holm: number;
  method: string;
  /** Rows the first model got right and the second wrong, and the reverse. */
  b: number;
  c: number;
}

export interface NoisePoint {
  kind: string;
  level: number;
  accuracy: Spread;
  macro_f1: Spread;
  /** Mean over seeds of the float model's accuracy at this level (quantized cells). */
  float_accuracy?: number;
  /** Clean accuracy minus the mean noisy accuracy of the same model. */
  noise_drop: number;
  /** Mean over seeds of float noisy accuracy minus this cell's noisy accuracy (quantized cells). */
  drop_vs_float?: number;
}

export interface FloatResult {
  model: string;
  kind: ModelKind;
  cell: string;
  accuracy: number;
  macro_f1: number;
  noise: NoisePoint[];
}

export interface CellSummary {
  cell: string;
  model: string;
  kind: ModelKind;
  bits: number;
  calib: string;
  calib_seed: number;
  float_accuracy: number;
  float_macro_f1: number;
  accuracy: number;
  macro_f1: number;
  /** float minus quantized accuracy, with its 95% paired-bootstrap interval (fractions). */
  drop: number;
  drop_ci: [number, number];
  /** Float (first) against quantized (second). */
  mcnemar: McNemarSummary;
  noise: NoisePoint[];
  bytes: { float: number; quantized: number };
  calibration: { size: number; per_class: number[]; observer: string };
}

export interface CalibrationComparison {
  model: string;
  kind: ModelKind;
  bits: number;
  calib: string;
  reference: string;
  calib_seed: number;
  accuracy_reference: number;
  accuracy: number;
  /** Reference minus this mode's accuracy (positive: the mode costs accuracy), with its 95% interval. */
  difference: number;
  ci: [number, number];
  /** Reference (first) against this mode (second). */
  mcnemar: McNemarSummary;
  compare: CompareSummary | null;
}

export interface FindingCondition {
  label: string;
  pair: { discriminative: string; generative: string };
  /** The sensitivity measure of each model in this condition (fractions). */
  discriminative: number;
  generative: number;
  /** generative minus discriminative, with its 95% paired-bootstrap interval over test rows. */
  difference: number;
  ci: [number, number] | null;
}

export type Verdict = "holds" | "reversed" | "not shown" | "not testable";

export interface Finding {
  id: "bits" | "calibration" | "noise";
  claim: string;
  measure: string;
  verdict: Verdict;
  /** Mean over pairs of the pooled difference (generative minus discriminative, fractions). */
  mean_difference: number | null;
  /** Per (discriminative, generative) pair: the difference averaged over conditions, with its interval; the verdict's basis. */
  pooled: Pooled[];
  /** Conditions whose interval lies above 0 (generative more sensitive) and below 0. */
  significant_more: number;
  significant_less: number;
  summary: string;
  conditions: FindingCondition[];
}

export interface StudyResults {
  format: typeof RESULTS_FORMAT;
  version: 1;
  code_version: string;
  settings: StudySettings;
  models: ModelInfo[];
  complete: boolean;
  cells_total: number;
  missing: { cell: string; model: string; type: string; bits: number | null; calib: string | null; calib_seed: number | null }[];
  float: FloatResult[];
  cells: CellSummary[];
  calibration_comparisons: CalibrationComparison[];
  findings: Finding[];
}

export interface ModelInfo {
  name: string;
  file: string;
  sha256: string;
  kind: ModelKind;
  kind_source: string;
  labels: string[] | null;
  classes: number;
  dataset: string | null;
  batch: number;
  test: { source: string; sha256: string; n: number };
  calib_data: { source: string; sha256: string };
}

// ------------------------------------------------------------------------------- helpers

function correctness(labels: Int32Array, predictions: Int32Array): Uint8Array {
  const out = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) out[i] = labels[i] === predictions[i] ? 1 : 0;
  return out;
}

function mcnemarSummary(a: Uint8Array, b: Uint8Array): Omit<McNemarSummary, "p_holm"> & { p_holm: number } {
  const ra = Array.from(a, (x) => x === 1);
  const rb = Array.from(b, (x) => x === 1);
  const r = mcnemar(ra, rb);
  let nb = 0;
  let nc = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && !b[i]) nb++;
    else if (!a[i] && b[i]) nc++;
  }
  return { statistic: r.statistic, p_value: r.p_value, p_holm: NaN, method: r.method, b: nb, c: nc };
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

const pts = (x: number) => (100 * x).toFixed(2);

// ------------------------------------------------------------------------------- results

/** Per model: decoded labels and, per cell, decoded clean and noisy predictions. */
class CellData {
  readonly labels: Int32Array[];
  private readonly cache = new Map<string, { clean: Uint8Array; noisy: Map<string, Uint8Array[]> }>();

  constructor(
    readonly plan: Plan,
    readonly cells: Map<string, CellFile>,
  ) {
    this.labels = plan.models.map((m) => decodeLabels(m.test.labels, m.classes));
  }

  get(spec: CellSpec): { clean: Uint8Array; noisy: Map<string, Uint8Array[]> } | undefined {
    const file = this.cells.get(spec.hash);
    if (!file) return undefined;
    let d = this.cache.get(spec.hash);
    if (!d) {
      const m = this.plan.models[spec.model];
      const labels = this.labels[spec.model];
      const noisy = new Map<string, Uint8Array[]>();
      for (const p of file.result.noise) noisy.set(`${p.kind}:${p.level}`, p.runs.map((r) => correctness(labels, decodeLabels(r.predictions, m.classes))));
      d = { clean: correctness(labels, decodeLabels(file.result.predictions, m.classes)), noisy };
      this.cache.set(spec.hash, d);
    }
    return d;
  }

  predictions(spec: CellSpec): Int32Array {
    return decodeLabels(this.cells.get(spec.hash)!.result.predictions, this.plan.models[spec.model].classes);
  }
}

function noisePoints(file: CellFile, floatFile?: CellFile): NoisePoint[] {
  return file.result.noise.map((p) => {
    const acc = p.runs.map((r) => r.accuracy);
    const point: NoisePoint = {
      kind: p.kind,
      level: p.level,
      accuracy: spread(acc),
      macro_f1: spread(p.runs.map((r) => r.macro_f1)),
      noise_drop: file.result.accuracy - mean(acc),
    };
    const fp = floatFile?.result.noise.find((q) => q.kind === p.kind && q.level === p.level);
    if (fp) {
      const fAcc = fp.runs.map((r) => r.accuracy);
      point.float_accuracy = mean(fAcc);
      point.drop_vs_float = mean(fp.runs.map((r, i) => r.accuracy - (p.runs[i]?.accuracy ?? NaN)));
    }
    return point;
  });
}

/** Builds the results from the plan and whichever of its cells are there. */
export function aggregate(plan: Plan, cells: Map<string, CellFile>): StudyResults {
  const s = plan.settings;
  const data = new CellData(plan, cells);
  const batch = new BootstrapBatch(s.resamples, 0);
  const floatSpec = new Map(plan.cells.filter((c) => c.type === "float").map((c) => [c.model, c]));
  const quantSpecs = plan.cells.filter((c) => c.type === "quant");
  const name = (i: number) => plan.models[i].name;
  const kind = (i: number) => plan.models[i].kind;

  const float: FloatResult[] = [];
  for (const m of plan.models) {
    const spec = floatSpec.get(m.index)!;
    const f = cells.get(spec.hash);
    if (!f) continue;
    float.push({ model: m.name, kind: m.kind, cell: spec.hash, accuracy: f.result.accuracy, macro_f1: f.result.macro_f1, noise: noisePoints(f) });
  }

  // Quantized cells against their float model.
  const cellSummaries: CellSummary[] = [];
  for (const spec of quantSpecs) {
    const f = cells.get(spec.hash);
    const fs = floatSpec.get(spec.model)!;
    const ff = cells.get(fs.hash);
    if (!f || !ff) continue;
    const q = f.result.quantize!;
    const summary: CellSummary = {
      cell: spec.hash,
      model: name(spec.model),
      kind: kind(spec.model),
      bits: spec.bits!,
      calib: spec.calib!,
      calib_seed: spec.calib_seed!,
      float_accuracy: ff.result.accuracy,
      float_macro_f1: ff.result.macro_f1,
      accuracy: f.result.accuracy,
      macro_f1: f.result.macro_f1,
      drop: NaN,
      drop_ci: [NaN, NaN],
      mcnemar: mcnemarSummary(data.get(fs)!.clean, data.get(spec)!.clean),
      noise: noisePoints(f, ff),
      bytes: { float: q.bytes.input, quantized: q.bytes.output },
      calibration: { size: q.calibration.size, per_class: q.calibration.per_class, observer: q.calibration.observer },
    };
    // The paired bootstrap of the accuracy difference: the mean of per-row correctness differences.
    batch.add(diffRows(data.get(fs)!.clean, data.get(spec)!.clean), (b) => {
      summary.drop = b.mean;
      summary.drop_ci = b.ci;
    });
    cellSummaries.push(summary);
  }
  const holmCells = holm(cellSummaries.map((c) => c.mcnemar.p_value));
  cellSummaries.forEach((c, i) => (c.mcnemar.p_holm = holmCells[i]));

  // Calibration modes against the reference calibration, at the same bits and seed.
  const findQuant = (model: number, bits: number, calib: string, seed: number) =>
    quantSpecs.find((c) => c.model === model && c.bits === bits && c.calib === calib && c.calib_seed === seed);
  const comparisons: CalibrationComparison[] = [];
  for (const spec of quantSpecs) {
    if (spec.calib === s.reference_calib) continue;
    const ref = findQuant(spec.model, spec.bits!, s.reference_calib, spec.calib_seed!);
    const f = cells.get(spec.hash);
    const rf = ref && cells.get(ref.hash);
    if (!f || !ref || !rf) continue;
    const cmp: CalibrationComparison = {
      model: name(spec.model),
      kind: kind(spec.model),
      bits: spec.bits!,
      calib: spec.calib!,
      reference: s.reference_calib,
      calib_seed: spec.calib_seed!,
      accuracy_reference: rf.result.accuracy,
      accuracy: f.result.accuracy,
      difference: NaN,
      ci: [NaN, NaN],
      mcnemar: mcnemarSummary(data.get(ref)!.clean, data.get(spec)!.clean),
      compare: f.result.compare,
    };
    batch.add(diffRows(data.get(ref)!.clean, data.get(spec)!.clean), (b) => {
      cmp.difference = b.mean;
      cmp.ci = b.ci;
    });
    comparisons.push(cmp);
  }
  const holmCmp = holm(comparisons.map((c) => c.mcnemar.p_value));
  comparisons.forEach((c, i) => (c.mcnemar.p_holm = holmCmp[i]));

  const finishFindings = findings(plan, data, batch);
  batch.run();

  const missing = plan.cells
    .filter((c) => !cells.has(c.hash))
    .map((c) => ({ cell: c.hash, model: name(c.model), type: c.type, bits: c.bits, calib: c.calib, calib_seed: c.calib_seed }));

  return {
    format: RESULTS_FORMAT,
    version: 1,
    code_version: plan.code_version,
    settings: s,
    models: plan.models.map((m) => ({
      name: m.name,
      file: m.file,
      sha256: m.sha256,
      kind: m.kind,
      kind_source: m.kind_source,
      labels: m.labels,
      classes: m.classes,
      dataset: m.dataset,
      batch: m.batch,
      test: { source: m.test.source, sha256: m.test.sha256, n: m.test.n },
      calib_data: m.calib_data,
    })),
    complete: missing.length === 0,
    cells_total: plan.cells.length,
    missing,
    float,
    cells: cellSummaries,
    calibration_comparisons: comparisons,
    findings: finishFindings(),
  };
}

// ------------------------------------------------------------------------------- findings

/** a - b per row, as floats (for the bootstrap). */
function diffRows(a: Uint8Array, b: Uint8Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] - b[i];
  return out;
}

/** Mean correctness per row over cells (e.g. calibration seeds) or runs (noise seeds). */
function meanRows(rows: Uint8Array[]): Float64Array {
  const out = new Float64Array(rows[0].length);
  for (const r of rows) for (let i = 0; i < r.length; i++) out[i] += r[i];
  for (let i = 0; i < out.length; i++) out[i] /= rows.length;
  return out;
}

function rowMean(v: Float64Array): number {
  let s = 0;
  for (const x of v) s += x;
  return s / v.length;
}

const sub = (a: Float64Array, b: Float64Array) => a.map((x, i) => x - b[i]);

/** One pair's sensitivity difference pooled over the claim's conditions. */
export interface Pooled {
  pair: { discriminative: string; generative: string };
  conditions: number;
  /** Mean over conditions of generative minus discriminative (fractions). */
  difference: number;
  /** 95% paired-bootstrap interval over test rows of that mean (null: not scored on the same rows). */
  ci: [number, number] | null;
}

/**
 * The verdict from each pair's pooled difference: `holds` when every pooled interval lies
 * above 0, `reversed` when every one lies below 0, `not shown` otherwise. Pairs not scored on
 * the same rows have no interval and count only when no pair has one (by the sign of the mean).
 */
export function verdictOf(pooled: Pooled[]): Verdict {
  if (pooled.length === 0) return "not testable";
  const withCi = pooled.filter((p) => p.ci);
  if (withCi.length) {
    if (withCi.every((p) => p.ci![0] > 0)) return "holds";
    if (withCi.every((p) => p.ci![1] < 0)) return "reversed";
    return "not shown";
  }
  if (pooled.every((p) => p.difference > 0)) return "holds";
  if (pooled.every((p) => p.difference < 0)) return "reversed";
  return "not shown";
}

/** Sets up the findings' bootstraps in `batch`; the returned function builds them once it ran. */
function findings(plan: Plan, data: CellData, batch: BootstrapBatch): () => Finding[] {
  const s = plan.settings;
  const models = plan.models;
  const disc = models.filter((m) => m.kind === "discriminative");
  const gen = models.filter((m) => m.kind === "generative");
  // Pairs scored on the same test rows can be compared row by row.
  const pairs: { d: PlanModel; g: PlanModel; paired: boolean }[] = [];
  for (const d of disc) for (const g of gen) pairs.push({ d, g, paired: d.test.sha256 === g.test.sha256 });

  const floatOf = (m: PlanModel) => plan.cells.find((c) => c.type === "float" && c.model === m.index)!;
  const quantOf = (m: PlanModel, bits: number, calib: string) =>
    plan.cells.filter((c) => c.type === "quant" && c.model === m.index && c.bits === bits && c.calib === calib);
  /** Clean correctness averaged over calibration seeds; undefined when a cell is missing. */
  const clean = (specs: CellSpec[]): Float64Array | undefined => {
    const rows = specs.map((c) => data.get(c)?.clean);
    return rows.length && rows.every(Boolean) ? meanRows(rows as Uint8Array[]) : undefined;
  };
  const noisy = (specs: CellSpec[], key: string): Float64Array | undefined => {
    const rows = specs.flatMap((c) => data.get(c)?.noisy.get(key) ?? [undefined]);
    return rows.length && rows.every(Boolean) ? meanRows(rows as Uint8Array[]) : undefined;
  };

  /** Per-row differences of each paired condition, pooled per pair for the verdict. */
  const rowsOf = new Map<FindingCondition, Float64Array>();
  const condition = (label: string, pair: (typeof pairs)[number], dv: Float64Array, gv: Float64Array): FindingCondition => {
    const dm = rowMean(dv);
    const gm = rowMean(gv);
    const diff = sub(gv, dv);
    const c: FindingCondition = { label, pair: { discriminative: pair.d.name, generative: pair.g.name }, discriminative: dm, generative: gm, difference: gm - dm, ci: null };
    if (pair.paired) {
      rowsOf.set(c, diff);
      batch.add(diff, (b) => (c.ci = b.ci));
    }
    return c;
  };
  const pool = (conds: FindingCondition[]): Pooled[] =>
    pairs.flatMap((p): Pooled[] => {
      const mine = conds.filter((c) => c.pair.discriminative === p.d.name && c.pair.generative === p.g.name);
      if (!mine.length) return [];
      const pair = { discriminative: p.d.name, generative: p.g.name };
      if (!p.paired) return [{ pair, conditions: mine.length, difference: mean(mine.map((c) => c.difference)), ci: null }];
      const avg = new Float64Array(rowsOf.get(mine[0])!.length);
      for (const c of mine) rowsOf.get(c)!.forEach((x, i) => (avg[i] += x / mine.length));
      const pooled: Pooled = { pair, conditions: mine.length, difference: NaN, ci: null };
      batch.add(avg, (b) => {
        pooled.difference = b.mean;
        pooled.ci = b.ci;
      });
      return [pooled];
    });

  // 1. bit width: drop from float at each bit width, reference calibration.
  const bitsConds: FindingCondition[] = [];
  for (const p of pairs) {
    const fd = clean([floatOf(p.d)]);
    const fg = clean([floatOf(p.g)]);
    for (const bits of s.bits) {
      const qd = clean(quantOf(p.d, bits, s.reference_calib));
      const qg = clean(quantOf(p.g, bits, s.reference_calib));
      if (!fd || !fg || !qd || !qg) continue;
      bitsConds.push(condition(`${bits} bits`, p, sub(fd, qd), sub(fg, qg)));
    }
  }

  // 2. calibration balance: reference calibration minus each other mode, same bit width.
  const calibConds: FindingCondition[] = [];
  for (const p of pairs) {
    for (const mode of s.calib.filter((c) => c !== s.reference_calib)) {
      for (const bits of s.bits) {
        const rd = clean(quantOf(p.d, bits, s.reference_calib));
        const rg = clean(quantOf(p.g, bits, s.reference_calib));
        const md = clean(quantOf(p.d, bits, mode));
        const mg = clean(quantOf(p.g, bits, mode));
        if (!rd || !rg || !md || !mg) continue;
        calibConds.push(condition(`${bits} bits, ${mode}`, p, sub(rd, md), sub(rg, mg)));
      }
    }
  }

  // 3. noise: clean minus noisy accuracy of the same model (float, and each bit width).
  const noiseConds: FindingCondition[] = [];
  for (const p of pairs) {
    const variants: { label: string; d: CellSpec[]; g: CellSpec[] }[] = [
      { label: "float", d: [floatOf(p.d)], g: [floatOf(p.g)] },
      ...s.bits.map((bits) => ({ label: `${bits} bits`, d: quantOf(p.d, bits, s.reference_calib), g: quantOf(p.g, bits, s.reference_calib) })),
    ];
    for (const { kind, levels } of s.noise) {
      for (const level of levels) {
        const key = `${kind}:${level}`;
        for (const v of variants) {
          const cd = clean(v.d);
          const cg = clean(v.g);
          const nd = noisy(v.d, key);
          const ng = noisy(v.g, key);
          if (!cd || !cg || !nd || !ng) continue;
          noiseConds.push(condition(`${v.label}, ${key}`, p, sub(cd, nd), sub(cg, ng)));
        }
      }
    }
  }

  const make = (id: Finding["id"], claim: string, measure: string, conds: FindingCondition[], pooled: Pooled[]): Finding => {
    const verdict = verdictOf(pooled);
    const more = conds.filter((c) => c.ci && c.ci[0] > 0).length;
    const less = conds.filter((c) => c.ci && c.ci[1] < 0).length;
    const meanDiff = pooled.length ? mean(pooled.map((p) => p.difference)) : null;
    let summary: string;
    if (verdict === "not testable") {
      summary = pairs.length === 0
        ? "needs a discriminative and a generative model (ptq-onnx.kind metadata, --kinds, or disc/gen in the file name)"
        : "no condition has all its cells yet";
    } else {
      const n = conds.length;
      const where = (c: FindingCondition) => `${c.label}${pairs.length > 1 ? ` (${c.pair.discriminative} vs ${c.pair.generative})` : ""}`;
      const top = [...conds].sort((a, b) => Math.abs(b.difference) - Math.abs(a.difference))[0];
      const pooledText = pooled
        .map((p) => `${pts(p.difference)} points${p.ci ? ` [${pts(p.ci[0])}, ${pts(p.ci[1])}]` : " (not scored on the same rows: no interval)"}${pairs.length > 1 ? ` for ${p.pair.discriminative} vs ${p.pair.generative}` : ""}`)
        .join("; ");
      summary =
        `generative minus discriminative ${measure}, averaged over ${n} condition${n > 1 ? "s" : ""}: ${pooledText}; ` +
        `per condition, the interval lies above 0 in ${more} and below 0 in ${less}; largest: ${pts(top.difference)} at ${where(top)} ` +
        `(generative ${pts(top.generative)}, discriminative ${pts(top.discriminative)})`;
    }
    return { id, claim, measure, verdict, mean_difference: meanDiff, pooled, significant_more: more, significant_less: less, summary, conditions: conds };
  };

  const pooled = [pool(bitsConds), pool(calibConds), pool(noiseConds)];
  return () => [
    make("bits", "generative classifiers are more sensitive than discriminative ones to the bit width", `accuracy drop from float (${s.reference_calib} calibration)`, bitsConds, pooled[0]),
    make("calibration", "generative classifiers are more sensitive than discriminative ones to calibration balance", `accuracy lost by each other calibration mode against ${s.reference_calib}`, calibConds, pooled[1]),
    make("noise", "generative classifiers are more sensitive than discriminative ones to input noise", "accuracy lost to noise (clean minus noisy, same model)", noiseConds, pooled[2]),
  ];
}
