/**
 * Summary statistics of one tensor over a calibration run, overall and per class: count,
 * min, max, mean, standard deviation and a 64-bin histogram, in bounded memory.
 *
 * Mean and variance are merged batch by batch with Chan et al.'s parallel algorithm: each
 * batch's mean and sum of squared deviations come from two passes over the batch (exact
 * for a batch), then merge into the running totals, which stays accurate for data with a
 * large mean and a small spread (no E[x^2] - E[x]^2 cancellation). The std is the
 * population standard deviation (divided by n). Non-finite values are counted apart and
 * left out of everything else.
 */
import { GrowingHistogram, type HistogramJSON } from "./histogram.ts";

export const DEFAULT_STATS_BINS = 64;

export interface StatsJSON {
  count: number;
  /** NaN and infinite values seen (left out of the other fields). */
  nonfinite: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
  histogram: HistogramJSON;
}

export interface TensorStatsJSON {
  stats: StatsJSON;
  per_class: StatsJSON[];
}

/** Running count, min, max, mean, M2 and histogram of a stream of values. */
export class Accumulator {
  count = 0;
  nonfinite = 0;
  min = Infinity;
  max = -Infinity;
  mean = 0;
  /** Sum of squared deviations from the mean. */
  m2 = 0;
  readonly histogram: GrowingHistogram;

  constructor(bins = DEFAULT_STATS_BINS) {
    this.histogram = new GrowingHistogram(bins);
  }

  observe(values: ArrayLike<number>): void {
    let n = 0;
    let sum = 0;
    let lo = Infinity;
    let hi = -Infinity;
    // Sum deviations from the batch's first value, so a large common offset costs no precision.
    let shift = NaN;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) {
        this.nonfinite++;
        continue;
      }
      if (n === 0) shift = v;
      n++;
      sum += v - shift;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (n === 0) return;
    const mean = shift + sum / n;
    let m2 = 0;
    let corr = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) continue;
      const d = v - mean;
      m2 += d * d;
      corr += d;
    }
    // Corrected two-pass (Chan, Golub & LeVeque): removes the error of the rounded mean.
    m2 -= (corr * corr) / n;
    this.merge(n, mean, Math.max(m2, 0));
    if (lo < this.min) this.min = lo;
    if (hi > this.max) this.max = hi;
    this.histogram.extend(lo, hi);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) continue;
      this.histogram.addInExtent(v);
    }
  }

  /** Chan et al.'s update: merges a batch of nb values with mean `mb` and M2 `m2b`. */
  private merge(nb: number, mb: number, m2b: number): void {
    const na = this.count;
    const n = na + nb;
    const delta = mb - this.mean;
    this.mean = na === 0 ? mb : this.mean + (delta * nb) / n;
    this.m2 += m2b + ((delta * delta * na) / n) * nb;
    this.count = n;
  }

  get variance(): number {
    return this.count > 0 ? this.m2 / this.count : NaN;
  }

  get std(): number {
    return Math.sqrt(this.variance);
  }

  toJSON(): StatsJSON {
    const empty = this.count === 0;
    return {
      count: this.count,
      nonfinite: this.nonfinite,
      min: empty ? null : this.min,
      max: empty ? null : this.max,
      mean: empty ? null : this.mean,
      std: empty ? null : this.std,
      histogram: this.histogram.toJSON(),
    };
  }
}

/** Statistics of one tensor, overall and per class of the calibration rows. */
export class TensorStats {
  readonly overall: Accumulator;
  readonly perClass: Accumulator[] = [];
  private readonly bins: number;

  /** `numClasses` sizes the per-class list up front (classes never observed report count 0). */
  constructor(opts: { numClasses?: number; bins?: number } = {}) {
    this.bins = opts.bins ?? DEFAULT_STATS_BINS;
    this.overall = new Accumulator(this.bins);
    const c = opts.numClasses ?? 0;
    if (!Number.isInteger(c) || c < 0) throw new RangeError(`numClasses must be an integer >= 0, got ${c}`);
    for (let i = 0; i < c; i++) this.perClass.push(new Accumulator(this.bins));
  }

  /** Adds values of the tensor; with `classIndex`, they also count for that class. */
  observe(values: Float32Array | ArrayLike<number>, classIndex?: number): void {
    this.overall.observe(values);
    if (classIndex === undefined) return;
    if (!Number.isInteger(classIndex) || classIndex < 0) throw new RangeError(`class index must be an integer >= 0, got ${classIndex}`);
    while (this.perClass.length <= classIndex) this.perClass.push(new Accumulator(this.bins));
    this.perClass[classIndex].observe(values);
  }

  get count(): number {
    return this.overall.count;
  }

  toJSON(): TensorStatsJSON {
    return { stats: this.overall.toJSON(), per_class: this.perClass.map((a) => a.toJSON()) };
  }
}
