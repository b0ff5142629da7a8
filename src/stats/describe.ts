/**
 * Descriptive helpers for comparing two quantizations: summaries of a sample, deterministic
 * subsampling, and distances between binned distributions (calibration histograms).
 */
import { GrowingHistogram, type HistogramJSON } from "../calibrate/histogram.ts";
import { Xoshiro128 } from "./random.ts";

export interface Summary {
  n: number;
  mean: number;
  std: number;
  min: number;
  median: number;
  max: number;
  mean_abs: number;
  rms: number;
}

/** n, mean, population std, min, median, max, mean |x| and root mean square of a sample. */
export function summarize(values: ArrayLike<number>): Summary {
  const n = values.length;
  if (n === 0) return { n: 0, mean: NaN, std: NaN, min: NaN, median: NaN, max: NaN, mean_abs: NaN, rms: NaN };
  let sum = 0;
  let sumAbs = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    sum += v;
    sumAbs += Math.abs(v);
    sumSq += v * v;
  }
  const mean = sum / n;
  let m2 = 0;
  for (let i = 0; i < n; i++) m2 += (values[i] - mean) ** 2;
  const sorted = Float64Array.from(values).sort();
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return { n, mean, std: Math.sqrt(m2 / n), min: sorted[0], median, max: sorted[n - 1], mean_abs: sumAbs / n, rms: Math.sqrt(sumSq / n) };
}

/** FNV-1a hash of a string, for deriving a per-item seed from a name. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * `k` distinct indices of [0, n), ascending, drawn uniformly by a partial Fisher-Yates
 * shuffle seeded by `seed`; all indices when k >= n. The same (n, k, seed) always gives the
 * same indices, so two samples of one shape can be cut at the same positions.
 */
export function subsampleIndices(n: number, k: number, seed: number): Uint32Array {
  if (k >= n) return Uint32Array.from({ length: n }, (_, i) => i);
  const rng = new Xoshiro128(seed);
  // Sparse Fisher-Yates: only the swapped positions are stored, so memory is O(k).
  const swapped = new Map<number, number>();
  const out = new Uint32Array(k);
  for (let i = 0; i < k; i++) {
    const j = i + rng.nextInt(n - i);
    const vi = swapped.get(i) ?? i;
    const vj = swapped.get(j) ?? j;
    out[i] = vj;
    swapped.set(j, vi);
  }
  return out.sort();
}

export function pick(values: ArrayLike<number>, idx: Uint32Array): Float64Array {
  const out = new Float64Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = values[idx[i]];
  return out;
}

/**
 * A histogram as a piecewise-linear CDF: each non-empty bin's count spread evenly over its
 * (clipped) extent; a zero-width bin is a point mass.
 */
class BinnedCdf {
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  readonly count: Float64Array;
  readonly total: number;

  constructor(h: HistogramJSON, what: string) {
    const bins = GrowingHistogram.fromJSON(h, what).nonEmptyBins();
    this.lo = bins.lo;
    this.hi = bins.hi;
    this.count = bins.count;
    this.total = bins.count.reduce((a, b) => a + b, 0);
  }

  /** P(X <= x) (right: true) or P(X < x) (right: false). */
  at(x: number, right: boolean): number {
    let c = 0;
    for (let i = 0; i < this.lo.length; i++) {
      const a = this.lo[i];
      const b = this.hi[i];
      if (b > a) {
        if (x >= b) c += this.count[i];
        else if (x > a) c += (this.count[i] * (x - a)) / (b - a);
      } else if (right ? a <= x : a < x) {
        c += this.count[i];
      }
    }
    return c / this.total;
  }

  edges(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.lo.length; i++) out.push(this.lo[i], this.hi[i]);
    return out;
  }
}

export interface HistogramDistance {
  /** sup |F_a - F_b| of the binned CDFs (values spread evenly within each bin), in [0, 1]. */
  ks_distance: number;
  /** Wasserstein-1 (earth mover's) distance: the integral of |F_a - F_b|, in the tensor's units. */
  wasserstein: number;
}

/**
 * Distances between two calibration histograms. Both CDFs are piecewise linear between
 * the union of their bin edges, so the supremum is attained at an edge (left or right
 * limit) and the integral is exact on each piece. Null when either histogram is empty.
 */
export function histogramDistance(a: HistogramJSON, b: HistogramJSON, what = "histogram"): HistogramDistance | null {
  const fa = new BinnedCdf(a, `${what} (a)`);
  const fb = new BinnedCdf(b, `${what} (b)`);
  if (fa.total === 0 || fb.total === 0) return null;
  const xs = [...new Set([...fa.edges(), ...fb.edges()])].sort((u, v) => u - v);
  let ks = 0;
  let w1 = 0;
  let prevX = NaN;
  let prevD = 0;
  for (const x of xs) {
    const left = fa.at(x, false) - fb.at(x, false);
    const right = fa.at(x, true) - fb.at(x, true);
    ks = Math.max(ks, Math.abs(left), Math.abs(right));
    if (!Number.isNaN(prevX)) w1 += integrateAbsLinear(prevD, left, x - prevX);
    prevX = x;
    prevD = right;
  }
  return { ks_distance: Math.min(1, ks), wasserstein: w1 };
}

/** Integral over [0, h] of |d0 + (d1 - d0) t / h|. */
function integrateAbsLinear(d0: number, d1: number, h: number): number {
  if (h <= 0) return 0;
  if (d0 * d1 >= 0) return (h * (Math.abs(d0) + Math.abs(d1))) / 2;
  // The line crosses zero at t0 = h * |d0| / (|d0| + |d1|): two triangles.
  const s = Math.abs(d0) + Math.abs(d1);
  return (h * (d0 * d0 + d1 * d1)) / (2 * s);
}
