/** The shape of `ptq-onnx stats compare`'s report, and its defaults. */
import type { HistogramJSON } from "../calibrate/histogram.ts";
import type { PairedBootstrapResult } from "../stats/bootstrap.ts";
import type { Summary } from "../stats/describe.ts";
import type { TestResult } from "../stats/types.ts";
import type { HistogramDistance } from "./histograms.ts";
import type { QuantizationMeta } from "../pipeline/stamp.ts";

export type { QuantizationMeta };

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
