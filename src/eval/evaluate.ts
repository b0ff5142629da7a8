/**
 * Evaluation of a classifier on labelled data, clean or under noise: the pieces the `eval`
 * and `robustness` commands share.
 */
import { createHash } from "node:crypto";
import { availableParallelism } from "node:os";
import type { InferenceSession } from "onnxruntime-node";
import type { SplitName } from "../data/dataset.ts";
import { embeddingRows, loadLabelledData, modelTokenizer, type LabelledIds } from "../data/resolve.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { InputError, loadModel, serializeModel, type Model } from "../graph/index.ts";
import { classificationReport, type ClassMetrics, type Metrics } from "./metrics.ts";
import { activeStages, addGaussianNoise, applyTokenNoise, tokenNoiseContext, type GaussInsertion, type NoiseStage, type TokenNoiseContext } from "./noise.ts";
import { openSession, predictScores, type PredictResult } from "./predict.ts";
import { seededRng } from "../data/random.ts";

/** Labelled rows ready to score, with what noise needs. */
export interface EvalData extends LabelledIds {
  tokenizer: Tokenizer | undefined;
  noise: TokenNoiseContext;
  padId: number;
}

export interface DataSelection {
  /** A JSONL file; else the zoo data set named in the model's metadata. */
  data?: string;
  tokenizer?: string;
  /** Zoo split when no file is given (default "test"). */
  split?: SplitName;
  /**
   * Keep N rows: a fixed random sample (the same for every model, noise and seed; in data
   * order), since data files and zoo splits are often grouped by class.
   */
  rows?: number;
  /** Leave out rows whose label is not a class of the model, with a warning on stderr. */
  skipBadLabels?: boolean;
}

/** sha256 of rows as fed, in the form loadLabelledData hashes them. */
function rowsSha256(ids: number[][], labels: number[]): string {
  const hash = createHash("sha256");
  for (let i = 0; i < ids.length; i++) hash.update(`${labels[i]}:${ids[i].join(",")}\n`);
  return hash.digest("hex");
}

/** Indices of a fixed random sample of `k` of `n` rows, ascending; undefined for all rows. */
export function sampleRows(n: number, k: number | undefined): number[] | undefined {
  if (k === undefined || k >= n) return undefined;
  const rng = seededRng(0x5eed);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + rng.nextInt(n - i);
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, k).sort((a, b) => a - b);
}

export function loadEvalData(model: Model, sel: DataSelection): EvalData {
  const d = loadLabelledData(model, { data: sel.data, tokenizer: sel.tokenizer, split: sel.split ?? "test", skipBadLabels: sel.skipBadLabels });
  const tokenizer = modelTokenizer(model, sel.tokenizer);
  const pick = sampleRows(d.ids.length, sel.rows);
  const ids = pick ? pick.map((i) => d.ids[i]) : d.ids;
  return {
    ids,
    labels: pick ? pick.map((i) => d.labels[i]) : d.labels,
    texts: pick ? pick.map((i) => d.texts[i]) : d.texts,
    labelNames: d.labelNames,
    source: d.source,
    lines: pick && d.lines ? pick.map((i) => d.lines![i]) : d.lines,
    sha256: pick ? rowsSha256(ids, pick.map((i) => d.labels[i])) : d.sha256,
    tokenizer,
    noise: tokenNoiseContext(tokenizer, embeddingRows(model), ids),
    padId: tokenizer?.spec.pad_id ?? 0,
  };
}

/** The noisy token ids of the data (the rows' own arrays when no token stage is active). */
export function noisyIds(data: EvalData, stages: readonly NoiseStage[], seed: number): number[][] {
  return applyTokenNoise(
    data.ids.map((ids, i) => ({ ids, text: data.texts[i] })),
    stages,
    seed,
    data.noise,
  );
}

export interface RunOptions {
  /** Rows per onnxruntime run (default 64). */
  batch?: number;
  /** onnxruntime intra-op threads (default: the cores this process may use). */
  threads?: number;
}

export const DEFAULT_BATCH = 64;

/**
 * The batch size `eval` uses unless told: the zoo manifest's rule (scripts/zoo/finalize.ts),
 * so that eval reproduces its accuracies bit for bit. Discriminative models: 256 rows.
 * Generative ones: as many rows as keep the graph's [batch x classes x seq x vocab]
 * log-softmax near 50 M floats (larger batches only page-fault more). Others: 64.
 */
export function defaultBatch(model: Model, tokenizer: Tokenizer | undefined, labelNames: string[] | undefined): number {
  const kind = model.metadata.get("ptq-onnx.kind");
  if (kind === "discriminative") return 256;
  if (kind === "generative" && tokenizer && labelNames) {
    return Math.max(1, Math.floor(50e6 / (labelNames.length * tokenizer.spec.max_len * tokenizer.vocabSize)));
  }
  return DEFAULT_BATCH;
}

export function defaultThreads(): number {
  return availableParallelism();
}

/**
 * Scores rows with one model file. The clean session is created once and reused; each call
 * with an active `gauss` stage scores a rewritten copy of the model in a session of its own
 * (so that RandomNormalLike starts its stream afresh and the result depends only on the seed,
 * the rows and the batch size).
 */
export class ModelRunner {
  readonly path: string;
  readonly model: Model;
  private readonly batch: number;
  private readonly threads: number;
  private readonly padId: number;
  private readonly onProgress?: (done: number, total: number) => void;
  private clean?: InferenceSession;

  constructor(path: string, model: Model, opts: RunOptions & { padId?: number; onProgress?: (done: number, total: number) => void } = {}) {
    this.path = path;
    this.model = model;
    this.batch = opts.batch ?? DEFAULT_BATCH;
    this.threads = opts.threads ?? defaultThreads();
    this.padId = opts.padId ?? 0;
    this.onProgress = opts.onProgress;
  }

  async score(ids: number[][], stages: readonly NoiseStage[] = [], seed = 0): Promise<{ result: PredictResult; gauss: GaussInsertion[] }> {
    const gaussStages = activeStages(stages).filter((s) => s.kind === "gauss");
    const opts = { batch: this.batch, padId: this.padId, onProgress: this.onProgress, file: this.path };
    if (gaussStages.length === 0) {
      this.clean ??= await openSession(this.path, { intraOpThreads: this.threads, file: this.path });
      return { result: await predictScores(this.clean, ids, opts), gauss: [] };
    }
    const copy = loadModel(this.path);
    const gauss = gaussStages.flatMap((s) => addGaussianNoise(copy, s, seed));
    const result = await predictScores(serializeModel(copy), ids, { ...opts, intraOpThreads: this.threads, file: this.path });
    return { result, gauss };
  }

  async release(): Promise<void> {
    await this.clean?.release();
    this.clean = undefined;
  }
}

export interface NamedClassMetrics extends ClassMetrics {
  /** The class name from the model's labels, when it has them. */
  name?: string;
}

export interface EvalMetrics extends Metrics {
  per_class: NamedClassMetrics[];
}

/**
 * Metrics over the model's classes (the width of its scores), with class names when known.
 * `file` is the model (named when its labels and scores disagree), `data` where the rows came
 * from (named, with the line, for a label outside the scores).
 */
export function metricsFor(labels: readonly number[], result: PredictResult, labelNames: string[] | undefined, file?: string, data?: Pick<LabelledIds, "source" | "lines">): EvalMetrics {
  const k = result.classes;
  if (labelNames && labelNames.length !== k) {
    throw new InputError(`the model names ${labelNames.length} classes (ptq-onnx.labels) but outputs ${k} scores`, file);
  }
  const bad = labels.findIndex((l) => l >= k);
  if (bad >= 0) {
    const place = data?.lines ? `line ${data.lines[bad]}` : `row ${bad + 1}`;
    throw new InputError(`${place}: label ${labels[bad]} is outside the model's ${k} classes`, data?.source ?? file);
  }
  const m = classificationReport(labels, result.predictions, k);
  return { ...m, per_class: m.per_class.map((c) => (labelNames ? { ...c, name: labelNames[c.label] } : c)) };
}

/** log-softmax in float64, stable for large scores. */
function logSoftmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i] - lse;
  return out;
}

export interface Agreement {
  /** Fraction of rows whose top-1 class is the reference's. */
  agreement: number;
  /** Mean over rows of KL(softmax(reference) || softmax(scores)), in nats. */
  mean_kl: number;
}

/** Top-1 agreement and mean KL divergence between two sets of scores for the same rows. */
export function compareScores(reference: readonly ArrayLike<number>[], scores: readonly ArrayLike<number>[], refPredictions: readonly number[], predictions: readonly number[]): Agreement {
  if (reference.length !== scores.length) throw new Error(`compareScores: ${reference.length} reference rows, ${scores.length} rows`);
  const n = reference.length;
  if (n === 0) return { agreement: 0, mean_kl: 0 };
  let same = 0;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    if (refPredictions[i] === predictions[i]) same++;
    const p = logSoftmax(reference[i]);
    const q = logSoftmax(scores[i]);
    let d = 0;
    for (let j = 0; j < p.length; j++) {
      const pj = Math.exp(p[j]);
      if (pj > 0) d += pj * (p[j] - q[j]);
    }
    // Rounding can leave a tiny negative for identical distributions.
    kl += Math.max(0, d);
  }
  return { agreement: same / n, mean_kl: kl / n };
}

/** Mean, sample standard deviation (n - 1; 0 for one value), min and max. */
export function spread(values: readonly number[]): { mean: number; std: number; min: number; max: number } {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, min: NaN, max: NaN };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const ss = values.reduce((a, b) => a + (b - mean) * (b - mean), 0);
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, min: Math.min(...values), max: Math.max(...values) };
}
