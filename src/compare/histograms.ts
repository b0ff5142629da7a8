/**
 * Distances between two calibration histograms (calibrate/histogram.ts's JSON form), for the
 * activation profiles of a comparison.
 */
import { GrowingHistogram, type HistogramJSON } from "../calibrate/histogram.ts";

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
