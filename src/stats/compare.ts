/**
 * Comparing two quantizations A and B of one float model (for example balanced against
 * class-imbalanced calibration at the same bit width), in the manner of the study behind
 * ptq-onnx, which tests whether imbalanced calibration leaves weights less well adapted:
 *
 * - weights: per quantized layer, the distribution of the quantization error (dequantized
 *   minus float weight; needs the float model), of the scales and of the zero points, with
 *   Mann-Whitney U and two-sample KS tests on the error distributions and a Wilcoxon
 *   signed-rank test on the paired per-channel scales, each Holm-adjusted across layers;
 * - activations: the ranges each model's QuantizeLinear/DequantizeLinear pairs encode;
 * - activation profiles: per tensor and per class, from the calibration tables found beside
 *   the models, summary statistics and histograms compared between the two calibration sets;
 * - predictions: McNemar's test and seeded paired-bootstrap intervals on the test set.
 */
import { existsSync } from "node:fs";
import { type HistogramJSON } from "../calibrate/histogram.ts";
import type { StatsJSON } from "../calibrate/stats.ts";
import { readCalibrationTable, serializeCalibrationTable, sha256Bytes, sha256File, type CalibrationTable } from "../calibrate/table.ts";
import { loadLabelledData, modelLabels, modelTokenizer } from "../data/resolve.ts";
import { defaultBatch, sampleRows } from "../eval/evaluate.ts";
import { predictScores } from "../eval/predict.ts";
import { DataType, InputError, loadModel, validateModel, type Graph, type Model, type Node, type Value } from "../graph/index.ts";
import { PassManager, makePolicy, preparationPasses } from "../passes/index.ts";
import { pairedBootstrap, type PairedBootstrapResult } from "./bootstrap.ts";
import { hashString, histogramDistance, pick, subsampleIndices, summarize, type HistogramDistance, type Summary } from "./describe.ts";
import { holm } from "./holm.ts";
import { ks2samp } from "./ks.ts";
import { mannWhitneyU } from "./mannwhitney.ts";
import { mcnemar } from "./mcnemar.ts";
import type { TestResult } from "./types.ts";
import { wilcoxon } from "./wilcoxon.ts";

export const NOT_SAME_FLOAT = "models that are not two quantizations of the same float model";
/** Largest sample per layer fed to the rank tests; larger layers are subsampled. */
export const DEFAULT_MAX_SAMPLE = 10000;
export const DEFAULT_RESAMPLES = 10000;
export const DEFAULT_TOP = 5;

export interface CompareOptions {
  a: string;
  b: string;
  /** The float model both were quantized from; needed for the quantization error. */
  float?: string;
  /** Test data (JSONL); default the zoo test split named by the models' metadata. */
  data?: string;
  tokenizer?: string;
  /** Calibration tables; default `MODEL.calib.json` beside each model when its hash matches. */
  calibA?: string;
  calibB?: string;
  /** Score the test set and compare predictions (default true). */
  predictions?: boolean;
  /** Keep a fixed random sample of N test rows (the same sample `eval --rows N` takes). */
  rows?: number;
  batch?: number;
  threads?: number;
  /** Seed for the bootstrap and the subsamples (default 0). */
  seed?: number;
  resamples?: number;
  maxSample?: number;
  /** How many layers/tensors to list as differing most (default 5). */
  top?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

/** The `ptq-onnx.quantization` metadata quantize writes. */
export interface QuantizationMeta {
  float_sha256: string;
  wbits: number;
  abits: number;
  granularity: "per-channel" | "per-tensor";
  lstm_internals: boolean;
  pack_int4: boolean;
  calib: string;
  calib_size: number;
  seed: number;
  observer: string;
  calib_sha256: string;
}

/** A test that ran (with its Holm-adjusted p-value) or one that could not run, and why. */
export type Outcome =
  | (Omit<TestResult, "method"> & { method: string; p_holm: number; skipped?: undefined })
  | { test: TestResult["test"]; skipped: string; p_value: null; p_holm: null };

export interface ErrorSummary extends Summary {
  /** 10 log10(sum w^2 / sum e^2): signal-to-quantization-noise ratio in dB (null when e = 0). */
  sqnr_db: number | null;
}

export interface LayerComparison {
  name: string;
  shape: number[];
  elements: number;
  /** Storage type of the codes and channel axis of the scales (null: per-tensor). */
  a: { code_type: string; axis: number | null; channels: number };
  b: { code_type: string; axis: number | null; channels: number };
  /** Fraction of elements whose dequantized value differs between A and B. */
  changed_fraction: number;
  /** Quantization error (dequantized minus float), when the float model was given. */
  error_a: ErrorSummary | null;
  error_b: ErrorSummary | null;
  scales_a: Summary;
  scales_b: Summary;
  zero_points_a: Summary;
  zero_points_b: Summary;
  /** Whether every scale / zero point is equal in A and B. */
  scales_equal: boolean;
  zero_points_equal: boolean;
  tests: { error_mann_whitney: Outcome; error_ks: Outcome; scales_wilcoxon: Outcome };
  /** KS D of the error distributions when tested, else |rank-biserial| of the scales. */
  effect: number;
}

export interface ActivationRange {
  scale: number;
  zero_point: number;
  bits: number;
  /** The clip range the Q/DQ pair encodes: [(qmin - zp) * scale, (qmax - zp) * scale]. */
  range: [number, number];
}

export interface ActivationComparison {
  name: string;
  a: ActivationRange;
  b: ActivationRange;
  /** log2(scale_b / scale_a): positive when B's range is wider. */
  log2_scale_ratio: number;
  min_diff: number;
  max_diff: number;
}

export interface StatsSummary {
  count: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
}

export interface ClassProfile {
  class: number;
  label?: string;
  count_a: number;
  count_b: number;
  a: StatsSummary | null;
  b: StatsSummary | null;
  /** A's class-c histogram against B's class-c histogram (null unless both saw the class). */
  distance: HistogramDistance | null;
  /** Each table's class-c histogram against that table's pooled histogram. */
  from_pooled_a: HistogramDistance | null;
  from_pooled_b: HistogramDistance | null;
  histogram_a: HistogramJSON | null;
  histogram_b: HistogramJSON | null;
}

export interface TensorProfile {
  name: string;
  a: StatsSummary;
  b: StatsSummary;
  distance: HistogramDistance | null;
  min_diff: number | null;
  max_diff: number | null;
  /** (max_b - min_b) / (max_a - min_a). */
  width_ratio: number | null;
  histogram_a: HistogramJSON;
  histogram_b: HistogramJSON;
  per_class: ClassProfile[];
}

export interface PredictionComparison {
  data: string;
  data_sha256: string;
  n: number;
  accuracy_a: number;
  accuracy_b: number;
  macro_f1_a: number;
  macro_f1_b: number;
  mcnemar: TestResult;
  /** Differences are A minus B. */
  bootstrap: { accuracy: PairedBootstrapResult; macro_f1: PairedBootstrapResult };
}

export interface ModelInfo {
  file: string;
  sha256: string;
  quantization: QuantizationMeta;
  calibration_table: string | null;
}

export interface CompareReport {
  a: ModelInfo;
  b: ModelInfo;
  float: { file: string; sha256: string } | null;
  float_sha256: string;
  weights: {
    layers: LayerComparison[];
    /** Weights quantized in only one of the two models. */
    only_in_a: string[];
    only_in_b: string[];
    error_tests: string;
    /** Layer names, largest effect first. */
    most_different: { name: string; effect: number; changed_fraction: number }[];
    method: string;
  };
  activations: {
    tensors: ActivationComparison[];
    only_in_a: string[];
    only_in_b: string[];
    /** Wilcoxon signed-rank on log scale_b - log scale_a across tensors (do B's ranges differ systematically?); effect > 0: B wider. */
    scales_wilcoxon: Outcome;
    wider_in_b: number;
    narrower_in_b: number;
    most_different: { name: string; log2_scale_ratio: number }[];
  };
  profiles: {
    status: string;
    composition_a: number[] | null;
    composition_b: number[] | null;
    mode_a: string | null;
    mode_b: string | null;
    tensors: TensorProfile[];
    most_different: { name: string; ks_distance: number; wasserstein: number }[];
    method: string;
  };
  predictions: PredictionComparison | { skipped: string };
  notes: string[];
}

// ---------------------------------------------------------------------------------------
// models and metadata

function loadChecked(path: string): Model {
  const model = loadModel(path);
  const problems = validateModel(model);
  if (problems.length) throw new InputError(problems[0], path);
  return model;
}

/** The model's `ptq-onnx.quantization` metadata; InputError naming the file when absent or malformed. */
export function quantizationMeta(model: Model, file: string): QuantizationMeta {
  const raw = model.metadata.get("ptq-onnx.quantization");
  if (!raw) {
    throw new InputError(
      "has no ptq-onnx.quantization metadata (not written by ptq-onnx quantize), so nothing shows it is a quantization of the same float model as the other; stats compare needs two",
      file,
    );
  }
  let meta: unknown;
  try {
    meta = JSON.parse(raw);
  } catch {
    throw new InputError("metadata ptq-onnx.quantization is not valid JSON", file);
  }
  const m = meta as Partial<QuantizationMeta>;
  if (typeof m !== "object" || m === null || typeof m.float_sha256 !== "string" || !/^[0-9a-f]{64}$/.test(m.float_sha256)) {
    throw new InputError("metadata ptq-onnx.quantization has no float_sha256", file);
  }
  return m as QuantizationMeta;
}

/**
 * Checks that A and B were quantized from the same float model (and from `float` when
 * given); throws InputError saying they are not otherwise.
 */
export function checkSameFloat(a: { file: string; meta: QuantizationMeta }, b: { file: string; meta: QuantizationMeta }, float?: { file: string; sha256: string }): void {
  if (a.meta.float_sha256 !== b.meta.float_sha256) {
    throw new InputError(
      `${a.file} and ${b.file} are ${NOT_SAME_FLOAT}: their float_sha256 differ (${a.meta.float_sha256.slice(0, 12)}... vs ${b.meta.float_sha256.slice(0, 12)}...)`,
    );
  }
  if (float && float.sha256 !== a.meta.float_sha256) {
    throw new InputError(
      `${a.file} and ${b.file} are ${NOT_SAME_FLOAT} ${float.file}: they were quantized from float model sha256 ${a.meta.float_sha256.slice(0, 12)}..., ` +
        `but ${float.file} has sha256 ${float.sha256.slice(0, 12)}...`,
    );
  }
}

/** The calibration table beside a model (`X.calib.json` for `X.onnx`), when its hash is the model's. */
function findTable(file: string, meta: QuantizationMeta, given: string | undefined, notes: string[], which: string): { path: string; table: CalibrationTable } | null {
  const path = given ?? (file.endsWith(".onnx") ? file.slice(0, -5) : file) + ".calib.json";
  if (!given && !existsSync(path)) return null;
  const table = readCalibrationTable(path);
  const hash = sha256Bytes(serializeCalibrationTable(table));
  if (meta.calib_sha256 && hash !== meta.calib_sha256) {
    if (given) throw new InputError(`is not the calibration table ${file} was quantized with (its sha256 ${hash.slice(0, 12)}... is not calib_sha256 ${meta.calib_sha256.slice(0, 12)}...)`, path);
    notes.push(`${path} was not used for ${which}: it is not the table the model was quantized with (sha256 mismatch)`);
    return null;
  }
  return { path, table };
}

// ---------------------------------------------------------------------------------------
// weights

interface QuantWeight {
  name: string;
  dims: number[];
  codeType: string;
  codes: Float64Array;
  scales: Float64Array;
  zeroPoints: Float64Array;
  axis: number | null;
}

function allGraphs(model: Model): Graph[] {
  const out: Graph[] = [model.graph];
  for (const n of model.allNodes()) for (const subs of n.subgraphs.values()) out.push(...subs);
  return out;
}

const CODE_TYPES = new Set<number>([DataType.INT8, DataType.UINT8, DataType.INT4, DataType.UINT4, DataType.INT16, DataType.UINT16]);

/**
 * Every weight ptq-onnx quantized: an integer initializer `<w>_quantized` with `<w>_scale`
 * (and `<w>_zero_point`, else zero) beside it, read by a DequantizeLinear (whose `axis`
 * gives the channel axis of per-channel scales) or, for an embedding table whose rows are
 * gathered before dequantizing, by a Gather (per-row scales).
 */
export function quantizedWeights(model: Model): Map<string, QuantWeight> {
  const out = new Map<string, QuantWeight>();
  for (const g of allGraphs(model)) {
    const inits = new Map(g.initializers.map((v) => [v.name, v]));
    for (const v of g.initializers) {
      if (!v.name.endsWith("_quantized")) continue;
      const t = v.initializer!;
      if (!CODE_TYPES.has(t.dataType)) continue;
      const name = v.name.slice(0, -"_quantized".length);
      const scaleV = inits.get(`${name}_scale`);
      if (!scaleV) continue;
      const dq = v.consumers.find((n) => n.opType === "DequantizeLinear" && n.inputs[0] === v);
      const gather = v.consumers.find((n) => n.opType === "Gather" && n.inputs[0] === v);
      if (!dq && !gather) continue;
      const scales = scaleV.initializer!.toNumbers();
      const sDims = scaleV.initializer!.dims;
      if (sDims.length > 1) continue; // blocked quantization: not written by ptq-onnx
      let axis: number | null = null;
      if (sDims.length === 1) {
        axis = dq ? dq.getInt("axis", 1) : 0;
        if (axis < 0) axis += t.dims.length;
        if (t.dims[axis] !== scales.length) continue;
      }
      const zpV = inits.get(`${name}_zero_point`) ?? (dq?.inputs[2] ?? undefined);
      const zeroPoints = zpV?.initializer ? zpV.initializer.toNumbers() : new Float64Array(scales.length);
      out.set(name, { name, dims: [...t.dims], codeType: typeName(t.dataType), codes: t.toNumbers(), scales, zeroPoints, axis });
    }
  }
  return out;
}

function typeName(dt: number): string {
  return ({ [DataType.INT8]: "int8", [DataType.UINT8]: "uint8", [DataType.INT4]: "int4", [DataType.UINT4]: "uint4", [DataType.INT16]: "int16", [DataType.UINT16]: "uint16" } as Record<number, string>)[dt] ?? String(dt);
}

/** The float32 values the DequantizeLinear produces: fround((code - zp) * scale), per channel. */
export function dequantize(w: QuantWeight): Float64Array {
  const n = w.codes.length;
  const out = new Float64Array(n);
  if (w.axis === null) {
    const s = w.scales[0];
    const z = w.zeroPoints[0] ?? 0;
    for (let i = 0; i < n; i++) out[i] = Math.fround((w.codes[i] - z) * s);
    return out;
  }
  let stride = 1;
  for (let d = w.axis + 1; d < w.dims.length; d++) stride *= w.dims[d];
  const channels = w.dims[w.axis];
  for (let i = 0; i < n; i++) {
    const c = Math.floor(i / stride) % channels;
    out[i] = Math.fround((w.codes[i] - w.zeroPoints[c]) * w.scales[c]);
  }
  return out;
}

function errorSummary(deq: Float64Array, float: Float64Array): { errors: Float64Array; summary: ErrorSummary } {
  const errors = new Float64Array(deq.length);
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < deq.length; i++) {
    errors[i] = deq[i] - float[i];
    signal += float[i] * float[i];
    noise += errors[i] * errors[i];
  }
  return { errors, summary: { ...summarize(errors), sqnr_db: noise > 0 ? 10 * Math.log10(signal / noise) : null } };
}

function arraysEqual(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function ran(r: TestResult, method = r.method as string): Outcome {
  return { ...r, method, p_holm: NaN };
}

function skipped(test: TestResult["test"], why: string): Outcome {
  return { test, skipped: why, p_value: null, p_holm: null };
}

/** Fills p_holm in each family (tests that ran), in place. */
function holmFamily(outcomes: Outcome[]): void {
  const idx = outcomes.map((o, i) => (o.skipped === undefined ? i : -1)).filter((i) => i >= 0);
  const adjusted = holm(idx.map((i) => outcomes[i].p_value as number));
  idx.forEach((i, k) => ((outcomes[i] as { p_holm: number }).p_holm = adjusted[k]));
}

/** Float weights by name, from the float model prepared as `meta` was (LSTM decomposition renames and transposes W and R). */
function floatWeights(floatFile: string, meta: QuantizationMeta, names: Iterable<string>): Map<string, Float64Array> {
  const model = loadChecked(floatFile);
  const policy = makePolicy({ wbits: meta.wbits, abits: meta.abits, granularity: meta.granularity, lstmInternals: meta.lstm_internals, packInt4: meta.pack_int4 });
  new PassManager(preparationPasses(model, policy)).run(model);
  const byName = new Map<string, Value>();
  for (const g of allGraphs(model)) for (const v of g.initializers) byName.set(v.name, v);
  const out = new Map<string, Float64Array>();
  for (const name of names) {
    const v = byName.get(name);
    if (v?.initializer && v.initializer.dataType === DataType.FLOAT) out.set(name, v.initializer.toNumbers());
  }
  return out;
}

function compareWeights(
  ma: Model,
  mb: Model,
  meta: { a: QuantizationMeta; b: QuantizationMeta },
  floatFile: string | undefined,
  opts: { seed: number; maxSample: number; top: number },
  notes: string[],
): CompareReport["weights"] {
  const qa = quantizedWeights(ma);
  const qb = quantizedWeights(mb);
  const names = [...qa.keys()].filter((n) => qb.has(n)).sort();
  let floatA: Map<string, Float64Array> | null = null;
  let floatB: Map<string, Float64Array> | null = null;
  if (floatFile) {
    floatA = floatWeights(floatFile, meta.a, names);
    const samePrep = meta.a.lstm_internals === meta.b.lstm_internals && meta.a.pack_int4 === meta.b.pack_int4;
    floatB = samePrep ? floatA : floatWeights(floatFile, meta.b, names);
  }
  const layers: LayerComparison[] = [];
  for (const name of names) {
    const a = qa.get(name)!;
    const b = qb.get(name)!;
    if (!arraysEqual(a.dims, b.dims)) {
      notes.push(`weight ${name} has shape [${a.dims}] in A but [${b.dims}] in B: not compared`);
      continue;
    }
    const da = dequantize(a);
    const db = dequantize(b);
    let changed = 0;
    for (let i = 0; i < da.length; i++) if (da[i] !== db[i]) changed++;
    const fa = floatA?.get(name);
    const fb = floatB?.get(name);
    let errA: ReturnType<typeof errorSummary> | null = null;
    let errB: ReturnType<typeof errorSummary> | null = null;
    if (fa && fb && fa.length === da.length && fb.length === db.length) {
      errA = errorSummary(da, fa);
      errB = errorSummary(db, fb);
    } else if (floatFile) {
      notes.push(`weight ${name}: no float weight of that name and shape in ${floatFile}; its error was not tested`);
    }

    let mw: Outcome;
    let ks: Outcome;
    if (errA && errB) {
      const n = errA.errors.length;
      const idx = subsampleIndices(n, opts.maxSample, (opts.seed ^ hashString(name)) >>> 0);
      const sub = idx.length < n;
      const xa = sub ? pick(errA.errors, idx) : errA.errors;
      const xb = sub ? pick(errB.errors, idx) : errB.errors;
      const note = sub ? `, on a deterministic subsample of ${idx.length} of ${n} elements (the same positions in A and B; seed ${opts.seed})` : "";
      const rm = mannWhitneyU(xa, xb);
      const rk = ks2samp(xa, xb);
      mw = ran(rm, rm.method + note);
      ks = ran(rk, rk.method + note);
    } else {
      const why = floatFile ? "no matching float weight" : "needs the float model (--float)";
      mw = skipped("mann_whitney_u", why);
      ks = skipped("ks_2samp", why);
    }

    let sw: Outcome;
    const scalesEqual = arraysEqual(a.scales, b.scales);
    if (a.scales.length !== b.scales.length || a.axis !== b.axis) sw = skipped("wilcoxon", "A and B use different scale granularity");
    else if (a.scales.length < 2) sw = skipped("wilcoxon", "per-tensor scale: one pair, nothing to rank");
    else if (scalesEqual) sw = skipped("wilcoxon", "every per-channel scale is equal in A and B");
    else sw = ran(wilcoxon(b.scales, a.scales)); // B - A: effect > 0 when B's scales are larger

    const effect = ks.skipped === undefined ? ks.statistic : sw.skipped === undefined ? Math.abs(sw.effect_size) : 0;
    layers.push({
      name,
      shape: a.dims,
      elements: da.length,
      a: { code_type: a.codeType, axis: a.axis, channels: a.scales.length },
      b: { code_type: b.codeType, axis: b.axis, channels: b.scales.length },
      changed_fraction: changed / da.length,
      error_a: errA?.summary ?? null,
      error_b: errB?.summary ?? null,
      scales_a: summarize(a.scales),
      scales_b: summarize(b.scales),
      zero_points_a: summarize(a.zeroPoints),
      zero_points_b: summarize(b.zeroPoints),
      scales_equal: scalesEqual,
      zero_points_equal: arraysEqual(a.zeroPoints, b.zeroPoints),
      tests: { error_mann_whitney: mw, error_ks: ks, scales_wilcoxon: sw },
      effect,
    });
  }
  holmFamily(layers.map((l) => l.tests.error_mann_whitney));
  holmFamily(layers.map((l) => l.tests.error_ks));
  holmFamily(layers.map((l) => l.tests.scales_wilcoxon));
  const ranked = [...layers].sort((x, y) => y.effect - x.effect || y.changed_fraction - x.changed_fraction || (x.name < y.name ? -1 : 1));
  const tested = layers.filter((l) => l.tests.error_ks.skipped === undefined).length;
  return {
    layers,
    only_in_a: [...qa.keys()].filter((n) => !qb.has(n)).sort(),
    only_in_b: [...qb.keys()].filter((n) => !qa.has(n)).sort(),
    error_tests: floatFile ? `ran on ${tested} of ${layers.length} layers` : "skipped: the quantization error needs the float model (--float)",
    most_different: ranked.slice(0, opts.top).map((l) => ({ name: l.name, effect: l.effect, changed_fraction: l.changed_fraction })),
    method:
      "Per layer, the quantization errors e = dequantized - float of A and of B are compared with Mann-Whitney U and two-sample KS " +
      `(scipy 1.10 defaults; layers over ${opts.maxSample} elements are subsampled at the same positions in A and B), and the per-channel ` +
      "scales of A and B with the Wilcoxon signed-rank test (pairs: channels). Each test is Holm-adjusted across layers (p_holm). " +
      "The elements of a weight tensor are not independent draws, so read the p-values as a measure of how separated the two " +
      "distributions are rather than as exact error rates. Layers are ranked by the KS statistic D of their errors (else |rank-biserial| of the scales).",
  };
}

// ---------------------------------------------------------------------------------------
// activations (from the models' Q/DQ pairs)

function scalarOf(v: Value | null | undefined): number | undefined {
  const t = v?.initializer;
  if (!t || t.size !== 1) return undefined;
  return t.toNumbers()[0];
}

/** Each activation's QuantizeLinear (+Clip) parameters, by the quantized value's name. */
export function activationRanges(model: Model): Map<string, ActivationRange> {
  const out = new Map<string, ActivationRange>();
  for (const node of model.allNodes()) {
    if (node.opType !== "QuantizeLinear" || node.domain) continue;
    const value = node.inputs[0];
    if (!value || value.initializer) continue;
    const scale = scalarOf(node.inputs[1]);
    if (scale === undefined) continue;
    const zpV = node.inputs[2];
    const zp = scalarOf(zpV) ?? 0;
    const signed = zpV?.initializer ? zpV.initializer.dataType === DataType.INT8 : false;
    let qmin = signed ? -128 : 0;
    let qmax = signed ? 127 : 255;
    const clip: Node | undefined = node.outputs[0]?.consumers.find((n) => n.opType === "Clip");
    if (clip) {
      qmin = scalarOf(clip.inputs[1]) ?? qmin;
      qmax = scalarOf(clip.inputs[2]) ?? qmax;
    }
    const bits = Math.ceil(Math.log2(qmax - qmin + 1));
    out.set(value.name, { scale, zero_point: zp, bits, range: [(qmin - zp) * scale, (qmax - zp) * scale] });
  }
  return out;
}

function compareActivations(ma: Model, mb: Model, top: number): CompareReport["activations"] {
  const ra = activationRanges(ma);
  const rb = activationRanges(mb);
  const names = [...ra.keys()].filter((n) => rb.has(n)).sort();
  const tensors: ActivationComparison[] = names.map((name) => {
    const a = ra.get(name)!;
    const b = rb.get(name)!;
    return { name, a, b, log2_scale_ratio: Math.log2(b.scale / a.scale), min_diff: b.range[0] - a.range[0], max_diff: b.range[1] - a.range[1] };
  });
  let test: Outcome;
  const la = tensors.map((t) => Math.log(t.a.scale));
  const lb = tensors.map((t) => Math.log(t.b.scale));
  if (tensors.length === 0) test = skipped("wilcoxon", "no quantized activation in both models");
  else if (arraysEqual(la, lb)) test = skipped("wilcoxon", "every activation scale is equal in A and B");
  else test = ran(wilcoxon(lb, la)); // B - A: a positive effect means B's ranges are wider
  if (test.skipped === undefined) test.p_holm = test.p_value; // a family of one
  return {
    tensors,
    only_in_a: [...ra.keys()].filter((n) => !rb.has(n)).sort(),
    only_in_b: [...rb.keys()].filter((n) => !ra.has(n)).sort(),
    scales_wilcoxon: test,
    wider_in_b: tensors.filter((t) => t.log2_scale_ratio > 0).length,
    narrower_in_b: tensors.filter((t) => t.log2_scale_ratio < 0).length,
    most_different: [...tensors]
      .sort((x, y) => Math.abs(y.log2_scale_ratio) - Math.abs(x.log2_scale_ratio) || (x.name < y.name ? -1 : 1))
      .slice(0, top)
      .map((t) => ({ name: t.name, log2_scale_ratio: t.log2_scale_ratio })),
  };
}

// ---------------------------------------------------------------------------------------
// activation profiles (from the calibration tables)

function statsSummary(s: StatsJSON | undefined): StatsSummary | null {
  if (!s) return null;
  return { count: s.count, min: s.min, max: s.max, mean: s.mean, std: s.std };
}

export function compareProfiles(ta: CalibrationTable, tb: CalibrationTable, labels: string[] | undefined, top: number): Omit<CompareReport["profiles"], "status"> {
  const names = Object.keys(ta.tensors).filter((n) => tb.tensors[n]).sort();
  const tensors: TensorProfile[] = names.map((name) => {
    const ea = ta.tensors[name];
    const eb = tb.tensors[name];
    const what = `calibration histogram of ${name}`;
    const classes = Math.max(ea.per_class.length, eb.per_class.length);
    const per_class: ClassProfile[] = [];
    for (let c = 0; c < classes; c++) {
      const sa = ea.per_class[c];
      const sb = eb.per_class[c];
      const ca = sa?.count ?? 0;
      const cb = sb?.count ?? 0;
      per_class.push({
        class: c,
        ...(labels?.[c] !== undefined ? { label: labels[c] } : {}),
        count_a: ca,
        count_b: cb,
        a: ca > 0 ? statsSummary(sa) : null,
        b: cb > 0 ? statsSummary(sb) : null,
        distance: ca > 0 && cb > 0 ? histogramDistance(sa.histogram, sb.histogram, `${what}, class ${c}`) : null,
        from_pooled_a: ca > 0 ? histogramDistance(sa.histogram, ea.stats.histogram, `${what}, class ${c}`) : null,
        from_pooled_b: cb > 0 ? histogramDistance(sb.histogram, eb.stats.histogram, `${what}, class ${c}`) : null,
        histogram_a: ca > 0 ? sa.histogram : null,
        histogram_b: cb > 0 ? sb.histogram : null,
      });
    }
    const a = ea.stats;
    const b = eb.stats;
    const both = a.count > 0 && b.count > 0;
    const wa = both ? a.max! - a.min! : 0;
    return {
      name,
      a: statsSummary(a)!,
      b: statsSummary(b)!,
      distance: both ? histogramDistance(a.histogram, b.histogram, what) : null,
      min_diff: both ? b.min! - a.min! : null,
      max_diff: both ? b.max! - a.max! : null,
      width_ratio: both && wa > 0 ? (b.max! - b.min!) / wa : null,
      histogram_a: a.histogram,
      histogram_b: b.histogram,
      per_class,
    };
  });
  return {
    composition_a: ta.composition.per_class,
    composition_b: tb.composition.per_class,
    mode_a: ta.options.mode,
    mode_b: tb.options.mode,
    tensors,
    most_different: tensors
      .filter((t) => t.distance)
      .sort((x, y) => y.distance!.ks_distance - x.distance!.ks_distance || (x.name < y.name ? -1 : 1))
      .slice(0, top)
      .map((t) => ({ name: t.name, ks_distance: t.distance!.ks_distance, wasserstein: t.distance!.wasserstein })),
    method:
      "From the calibration tables: per tensor (pooled and per class) count, min, max, mean, std and the 64-bin histogram of every " +
      "value observed. A's and B's histograms are compared by the KS distance sup|F_a - F_b| and the Wasserstein-1 distance of " +
      "their binned CDFs (values spread evenly within a bin). No p-values: the values are activations of a few hundred rows, " +
      "strongly dependent within a row, so a test that counts each value as a draw would be meaningless. from_pooled_a/b: each " +
      "class against its own table's pooled histogram.",
  };
}

// ---------------------------------------------------------------------------------------
// predictions

async function comparePredictions(opts: CompareOptions, ma: Model, seed: number, resamples: number): Promise<PredictionComparison> {
  const data = loadLabelledData(ma, { data: opts.data, tokenizer: opts.tokenizer, split: "test" });
  const pickRows = sampleRows(data.ids.length, opts.rows);
  const ids = pickRows ? pickRows.map((i) => data.ids[i]) : data.ids;
  const labels = pickRows ? pickRows.map((i) => data.labels[i]) : data.labels;
  const tokenizer = modelTokenizer(ma, opts.tokenizer);
  const batch = opts.batch ?? defaultBatch(ma, tokenizer, data.labelNames);
  const padId = tokenizer?.spec.pad_id ?? 0;
  const run = async (file: string, which: string) => {
    try {
      return await predictScores(file, ids, {
        batch,
        padId,
        intraOpThreads: opts.threads,
        onProgress: opts.onProgress ? (d, t) => opts.onProgress!(`scoring ${which}`, d, t) : undefined,
      });
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(`cannot score the test rows: ${(err as Error).message}`, file);
    }
  };
  const pa = await run(opts.a, "A");
  const pb = await run(opts.b, "B");
  const correctA = labels.map((y, i) => pa.predictions[i] === y);
  const correctB = labels.map((y, i) => pb.predictions[i] === y);
  const acc = pairedBootstrap(labels, pa.predictions, pb.predictions, { metric: "accuracy", seed, resamples });
  const f1 = pairedBootstrap(labels, pa.predictions, pb.predictions, { metric: "macro_f1", seed, resamples });
  return {
    data: data.source,
    data_sha256: data.sha256,
    n: labels.length,
    accuracy_a: acc.metric_a,
    accuracy_b: acc.metric_b,
    macro_f1_a: f1.metric_a,
    macro_f1_b: f1.metric_b,
    mcnemar: mcnemar(correctA, correctB),
    bootstrap: { accuracy: acc, macro_f1: f1 },
  };
}

// ---------------------------------------------------------------------------------------

function intOpt(v: number | undefined, name: string, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < min) throw new InputError(`${name} must be an integer of at least ${min}, got ${v}`);
  return v;
}

/** Everything `ptq-onnx stats compare` reports. Throws InputError for bad input. */
export async function compareModels(opts: CompareOptions): Promise<CompareReport> {
  const seed = intOpt(opts.seed, "--seed", 0, 0);
  const resamples = intOpt(opts.resamples, "--resamples", DEFAULT_RESAMPLES, 1);
  const maxSample = intOpt(opts.maxSample, "--max-sample", DEFAULT_MAX_SAMPLE, 8);
  const top = intOpt(opts.top, "--top", DEFAULT_TOP, 1);
  intOpt(opts.rows, "--rows", 1, 1);
  const ma = loadChecked(opts.a);
  const mb = loadChecked(opts.b);
  const metaA = quantizationMeta(ma, opts.a);
  const metaB = quantizationMeta(mb, opts.b);
  let float: { file: string; sha256: string } | null = null;
  if (opts.float) {
    if (!existsSync(opts.float)) throw new InputError("no such file", opts.float);
    float = { file: opts.float, sha256: sha256File(opts.float) };
  }
  checkSameFloat({ file: opts.a, meta: metaA }, { file: opts.b, meta: metaB }, float ?? undefined);
  const notes: string[] = [];

  const weights = compareWeights(ma, mb, { a: metaA, b: metaB }, opts.float, { seed, maxSample, top }, notes);
  const activations = compareActivations(ma, mb, top);

  const tableA = findTable(opts.a, metaA, opts.calibA, notes, "A");
  const tableB = findTable(opts.b, metaB, opts.calibB, notes, "B");
  let profiles: CompareReport["profiles"];
  if (tableA && tableB) {
    profiles = { status: `from ${tableA.path} and ${tableB.path}`, ...compareProfiles(tableA.table, tableB.table, modelLabels(ma), top) };
  } else {
    const missing = [!tableA ? opts.a : null, !tableB ? opts.b : null].filter(Boolean).join(" and ");
    profiles = {
      status: `skipped: no calibration table found beside ${missing} (quantize writes MODEL.calib.json; or give --calib-a/--calib-b)`,
      composition_a: tableA?.table.composition.per_class ?? null,
      composition_b: tableB?.table.composition.per_class ?? null,
      mode_a: metaA.calib ?? null,
      mode_b: metaB.calib ?? null,
      tensors: [],
      most_different: [],
      method: "",
    };
  }

  let predictions: CompareReport["predictions"];
  if (opts.predictions === false) predictions = { skipped: "not asked for (--no-predictions)" };
  else if (!opts.data && !ma.metadata.get("ptq-onnx.dataset")) predictions = { skipped: "no --data given and the models name no zoo data set (metadata ptq-onnx.dataset)" };
  else predictions = await comparePredictions(opts, ma, seed, resamples);

  return {
    a: { file: opts.a, sha256: sha256File(opts.a), quantization: metaA, calibration_table: tableA?.path ?? null },
    b: { file: opts.b, sha256: sha256File(opts.b), quantization: metaB, calibration_table: tableB?.path ?? null },
    float,
    float_sha256: metaA.float_sha256,
    weights,
    activations,
    profiles,
    predictions,
    notes,
  };
}
