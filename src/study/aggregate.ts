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
import type { ModelKind, Plan, StudySettings } from "./plan.ts";
import type { CellFile, CompareSummary } from "./tasks.ts";
import { CellData, correctness, mean } from "./cell-data.ts";
import { findings } from "./findings.ts";

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

/** One pair's sensitivity difference pooled over the claim's conditions. */
export interface Pooled {
  pair: { discriminative: string; generative: string };
  conditions: number;
  /** Mean over conditions of generative minus discriminative (fractions). */
  difference: number;
  /** 95% paired-bootstrap interval over test rows of that mean (null: not scored on the same rows). */
  ci: [number, number] | null;
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

// ------------------------------------------------------------------------------- results

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
