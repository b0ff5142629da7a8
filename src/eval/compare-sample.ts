/**
 * A float model and its quantization scored on the same fixed sample of labelled rows: the
 * accuracy check `quantize` prints. The sample is eval's `--rows N` sample, so
 * `ptq-onnx eval OUT --rows N --reference FLOAT` reproduces the figures.
 */
import type { Model } from "../graph/index.ts";
import { compareScores, defaultBatch, defaultThreads, loadEvalData, metricsFor, type EvalData } from "./evaluate.ts";
import { predictScores } from "./predict.ts";

export const DEFAULT_SAMPLE_ROWS = 300;

export interface SampleComparison {
  /** Rows scored (fewer than asked when the data has fewer). */
  rows: number;
  /** The data: a file, or `zoo:NAME/test`. */
  source: string;
  float_accuracy: number;
  quantized_accuracy: number;
  /** Fraction of rows whose top-1 class is the float model's. */
  agreement: number;
  /** Mean KL(softmax(float) || softmax(quantized)) over rows, in nats. */
  mean_kl: number;
}

export interface SampleOptions {
  /** A labelled JSONL file; else the zoo test split named in the model's metadata. */
  data?: string;
  tokenizer?: string;
  rows?: number;
}

export interface ScoreOptions {
  batch?: number;
  threads?: number;
  /** Progress of each model's scoring, with which model it is. */
  onProgress?: (which: "float" | "quantized", done: number, total: number) => void;
}

/** Whether there are test rows to compare on without being told of a file. */
export function hasTestData(model: Model, data: string | undefined): boolean {
  return data !== undefined || model.metadata.has("ptq-onnx.dataset");
}

/** The fixed sample, loaded (and checked) before the long work that it will judge. */
export function loadSample(float: Model, opts: SampleOptions = {}): EvalData {
  return loadEvalData(float, { data: opts.data, tokenizer: opts.tokenizer, rows: opts.rows ?? DEFAULT_SAMPLE_ROWS });
}

/**
 * Scores the sample with both models, given as bytes (nothing is written), and compares
 * them; `float` supplies the batch rule and the file named in errors.
 */
export async function compareOnSample(data: EvalData, float: { model: Model; bytes: Uint8Array }, quantized: Uint8Array, opts: ScoreOptions = {}): Promise<SampleComparison> {
  const run = { batch: opts.batch ?? defaultBatch(float.model, data.tokenizer, data.labelNames), padId: data.padId, intraOpThreads: opts.threads ?? defaultThreads() };
  const progress = (which: "float" | "quantized") => (opts.onProgress ? (d: number, t: number) => opts.onProgress!(which, d, t) : undefined);
  const f = await predictScores(float.bytes, data.ids, { ...run, onProgress: progress("float"), file: float.model.path });
  const q = await predictScores(quantized, data.ids, { ...run, onProgress: progress("quantized"), file: `${float.model.path} (quantized)` });
  const fm = metricsFor(data.labels, f, data.labelNames, data.source);
  const qm = metricsFor(data.labels, q, data.labelNames, data.source);
  const { agreement, mean_kl } = compareScores(f.scores, q.scores, f.predictions, q.predictions);
  return { rows: data.ids.length, source: data.source, float_accuracy: fm.accuracy, quantized_accuracy: qm.accuracy, agreement, mean_kl };
}
