import { InputError } from "../errors.ts";
import { Xoshiro128 } from "./random.ts";
import { requireNonEmpty, requireSameLength } from "./validate.ts";

const TEST = "pairedBootstrap";

export type Label = number | string;
export type BootstrapMetric = "accuracy" | "macro_f1";

export interface PairedBootstrapOptions {
  /** Metric compared between the two prediction sets (default 'accuracy'). */
  metric?: BootstrapMetric;
  /** Number of bootstrap resamples (default 10000). */
  resamples?: number;
  /** PRNG seed; the same seed and inputs give the same interval (default 0). */
  seed?: number;
  /** Two-sided confidence level of the percentile interval, in (0, 1) (default 0.95). */
  confidence?: number;
}

export interface PairedBootstrapResult {
  metric: BootstrapMetric;
  /** metric(predA) - metric(predB) on the full data. */
  observed: number;
  metric_a: number;
  metric_b: number;
  /** Percentile interval of the resampled differences. */
  ci_low: number;
  ci_high: number;
  confidence: number;
  resamples: number;
  seed: number;
  /** Number of items. */
  n: number;
}

/**
 * Paired bootstrap of the difference in a classification metric between two models scored
 * on the same items: each resample draws n item indices with replacement and applies them
 * to both prediction sets, so the interval reflects the correlation between the models.
 *
 * macro_f1 follows scikit-learn's f1_score(average='macro'): the mean F1 over the labels
 * that occur in the (resampled) true labels or that model's predictions, with F1 = 0 for a
 * label that has no true positives.
 *
 * The interval is the percentile interval, with quantiles interpolated linearly between
 * order statistics (numpy's default quantile method).
 */
export function pairedBootstrap(
  yTrue: ArrayLike<Label>,
  predA: ArrayLike<Label>,
  predB: ArrayLike<Label>,
  options: PairedBootstrapOptions = {},
): PairedBootstrapResult {
  const metric = options.metric ?? "accuracy";
  const resamples = options.resamples ?? 10000;
  const seed = options.seed ?? 0;
  const confidence = options.confidence ?? 0.95;
  if (metric !== "accuracy" && metric !== "macro_f1") {
    throw new InputError(`${TEST}: metric must be 'accuracy' or 'macro_f1' (got ${String(metric)})`);
  }
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new InputError(`${TEST}: resamples must be a positive integer (got ${resamples})`);
  }
  if (!Number.isInteger(seed)) throw new InputError(`${TEST}: seed must be an integer (got ${seed})`);
  if (typeof confidence !== "number" || !(confidence > 0 && confidence < 1)) {
    throw new InputError(`${TEST}: confidence must be in (0, 1) (got ${confidence})`);
  }

  const labelIndex = new Map<Label, number>();
  const encode = (values: ArrayLike<Label>, name: string): Int32Array => {
    if (values === null || typeof values !== "object" || typeof values.length !== "number") {
      throw new InputError(`${TEST}: ${name} must be an array of labels`);
    }
    const out = new Int32Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!(typeof v === "string" || (typeof v === "number" && Number.isFinite(v)))) {
        throw new InputError(`${TEST}: ${name}[${i}] must be a string or a finite number (got ${String(v)})`);
      }
      let k = labelIndex.get(v);
      if (k === undefined) {
        k = labelIndex.size;
        labelIndex.set(v, k);
      }
      out[i] = k;
    }
    return out;
  };
  const t = encode(yTrue, "yTrue");
  const a = encode(predA, "predA");
  const b = encode(predB, "predB");
  requireSameLength(Array.from(t), Array.from(a), TEST);
  requireSameLength(Array.from(t), Array.from(b), TEST);
  requireNonEmpty(Array.from(t), "yTrue", TEST);

  const n = t.length;
  const scorer = metric === "accuracy" ? accuracy : macroF1Scorer(labelIndex.size);
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const metricA = scorer(t, a, all);
  const metricB = scorer(t, b, all);

  const rng = new Xoshiro128(seed);
  const diffs = new Float64Array(resamples);
  const idx = new Int32Array(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) idx[i] = rng.nextInt(n);
    diffs[r] = scorer(t, a, idx) - scorer(t, b, idx);
  }
  diffs.sort();
  const alpha = 1 - confidence;
  return {
    metric,
    observed: metricA - metricB,
    metric_a: metricA,
    metric_b: metricB,
    ci_low: quantileSorted(diffs, alpha / 2),
    ci_high: quantileSorted(diffs, 1 - alpha / 2),
    confidence,
    resamples,
    seed,
    n,
  };
}

type Scorer = (truth: Int32Array, pred: Int32Array, idx: Int32Array) => number;

function accuracy(truth: Int32Array, pred: Int32Array, idx: Int32Array): number {
  let hits = 0;
  for (let k = 0; k < idx.length; k++) if (truth[idx[k]] === pred[idx[k]]) hits++;
  return hits / idx.length;
}

function macroF1Scorer(nLabels: number): Scorer {
  const tp = new Int32Array(nLabels);
  const fp = new Int32Array(nLabels);
  const fn = new Int32Array(nLabels);
  return (truth, pred, idx) => {
    tp.fill(0);
    fp.fill(0);
    fn.fill(0);
    for (let k = 0; k < idx.length; k++) {
      const y = truth[idx[k]];
      const p = pred[idx[k]];
      if (y === p) tp[y]++;
      else {
        fp[p]++;
        fn[y]++;
      }
    }
    let sum = 0;
    let present = 0;
    for (let c = 0; c < nLabels; c++) {
      const denom = 2 * tp[c] + fp[c] + fn[c];
      if (denom === 0) continue; // label absent from both truth and predictions
      present++;
      sum += (2 * tp[c]) / denom;
    }
    return sum / present;
  };
}

/** Quantile q of ascending-sorted values, interpolating linearly (numpy 'linear'). */
export function quantileSorted(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * Mean of per-row values and its percentile interval over `resamples` bootstrap resamples of
 * the rows (seeded; numpy's linear quantiles).
 */
export function bootstrapMean(values: Float64Array, resamples: number, seed = 0, confidence = 0.95): { mean: number; ci: [number, number] } {
  const n = values.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  const rng = new Xoshiro128(seed);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[rng.nextInt(n)];
    means[r] = s / n;
  }
  means.sort();
  const q = (p: number) => quantileSorted(means, p);
  const alpha = 1 - confidence;
  return { mean: sum / n, ci: [q(alpha / 2), q(1 - alpha / 2)] };
}

export type BootResult = { mean: number; ci: [number, number] };

/**
 * Many bootstrap means at once: statistics over the same number of rows share one stream of
 * resampled row indices (the stream `bootstrapMean` and the library's `pairedBootstrap` draw
 * with the same seed), so each index is drawn once for all of them. Results equal
 * `bootstrapMean`'s for each vector on its own.
 */
export class BootstrapBatch {
  private readonly jobs: { values: Float64Array; done: (r: BootResult) => void }[] = [];

  constructor(
    readonly resamples: number,
    readonly seed = 0,
    readonly confidence = 0.95,
  ) {}

  add(values: Float64Array, done: (r: BootResult) => void): void {
    this.jobs.push({ values, done });
  }

  run(): void {
    const byN = new Map<number, typeof this.jobs>();
    for (const j of this.jobs) {
      const n = j.values.length;
      if (!byN.has(n)) byN.set(n, []);
      byN.get(n)!.push(j);
    }
    const R = this.resamples;
    const alpha = 1 - this.confidence;
    for (const [n, jobs] of byN) {
      const K = jobs.length;
      // Row-major [row][job] so that each drawn row's values are adjacent.
      const m = new Float64Array(n * K);
      jobs.forEach((j, k) => j.values.forEach((v, i) => (m[i * K + k] = v)));
      const means = jobs.map(() => new Float64Array(R));
      const acc = new Float64Array(K);
      const rng = new Xoshiro128(this.seed);
      for (let r = 0; r < R; r++) {
        acc.fill(0);
        for (let i = 0; i < n; i++) {
          const base = rng.nextInt(n) * K;
          for (let k = 0; k < K; k++) acc[k] += m[base + k];
        }
        for (let k = 0; k < K; k++) means[k][r] = acc[k] / n;
      }
      jobs.forEach((j, k) => {
        const sorted = means[k].sort();
        const q = (p: number) => quantileSorted(sorted, p);
        let sum = 0;
        for (let i = 0; i < n; i++) sum += j.values[i];
        j.done({ mean: sum / n, ci: [q(alpha / 2), q(1 - alpha / 2)] });
      });
    }
    this.jobs.length = 0;
  }
}
