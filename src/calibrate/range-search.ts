/**
 * The searches behind the histogram observers' ranges (observers.ts): the MSE-optimal clip
 * range by coarse then fine search over fractions of the data's range, TensorRT's KL
 * threshold, and exact quantiles by selection for batch-percentile. Pure functions of
 * histogram bins or arrays.
 */
import { dequantize, intRange, paramsFromRange, quantize, type IntFormat } from "../quant/math.ts";
import type { HistogramBins } from "./histogram.ts";

/** Candidate fractions of the full range in the coarse searches. */
export const MSE_STEPS = 128;
/** Candidates on each side of the coarse optimum in the fine search. */
export const MSE_FINE_STEPS = 16;

/**
 * Expected squared error of fake-quantizing the histogram's data with the params of [lo, hi],
 * per value. Each bin's values are taken as evenly spread over its (clipped) interval, and
 * the error is integrated exactly over it: the interval is cut at the quantizer's decision
 * boundaries and each piece contributes the integral of (x - level)^2.
 */
export function histogramMse(bins: HistogramBins, lo: number, hi: number, format: IntFormat, symmetric: boolean): number {
  const p = paramsFromRange(lo, hi, format, symmetric);
  let err = 0;
  let n = 0;
  for (let i = 0; i < bins.count.length; i++) {
    const a = bins.lo[i];
    const b = bins.hi[i];
    const c = bins.count[i];
    n += c;
    if (!(b > a)) {
      const d = a - dequantize(quantize(a, p, format), p);
      err += c * d * d;
      continue;
    }
    const density = c / (b - a);
    const qa = quantize(a, p, format);
    const qb = quantize(b, p, format);
    let u = a;
    let sum = 0;
    for (let q = qa; q <= qb; q++) {
      let v = q < qb ? (q - p.zeroPoint + 0.5) * p.scale : b;
      if (v > b) v = b;
      if (v < u) v = u;
      const level = dequantize(q, p);
      const du = u - level;
      const dv = v - level;
      sum += dv * dv * dv - du * du * du;
      u = v;
    }
    err += (density * sum) / 3;
  }
  return n > 0 ? err / n : 0;
}

/**
 * E[(g(x) - g(fakeQuantize(x)))^2] over a histogram, for a function g that reads the quantized
 * tensor (Tanh): each bin's mass spread over SUBSAMPLES points evenly inside it (midpoints of
 * equal parts), since g's slope varies inside a quantization step. Same search as histogramMse.
 */
export function histogramMseThrough(bins: HistogramBins, lo: number, hi: number, format: IntFormat, symmetric: boolean, g: (x: number) => number): number {
  const p = paramsFromRange(lo, hi, format, symmetric);
  let err = 0;
  let n = 0;
  for (let i = 0; i < bins.count.length; i++) {
    const a = bins.lo[i];
    const b = bins.hi[i];
    const c = bins.count[i];
    n += c;
    const parts = b > a ? SUBSAMPLES : 1;
    for (let k = 0; k < parts; k++) {
      const x = parts === 1 ? a : a + ((k + 0.5) * (b - a)) / parts;
      const d = g(x) - g(dequantize(quantize(x, p, format), p));
      err += (c / parts) * d * d;
    }
  }
  return n > 0 ? err / n : 0;
}

const SUBSAMPLES = 8;

export function searchCoarse(cost: (f: number) => number): number {
  let best = Infinity;
  let bestF = 1;
  for (let k = MSE_STEPS; k >= 1; k--) {
    const f = k / MSE_STEPS;
    const c = cost(f);
    if (c < best) {
      best = c;
      bestF = f;
    }
  }
  return bestF;
}

export function searchFine(cost: (f: number) => number, center: number): number {
  let best = cost(center);
  let bestF = center;
  const step = 1 / (MSE_STEPS * MSE_FINE_STEPS);
  for (let k = MSE_FINE_STEPS; k >= -MSE_FINE_STEPS; k--) {
    const f = center + k * step;
    if (k === 0 || f <= 0 || f > 1) continue;
    const c = cost(f);
    if (c < best || (c === best && f > bestF)) {
      best = c;
      bestF = f;
    }
  }
  return bestF;
}

/**
 * The number of quantization levels available to |x|: 2^(bits-1) for a symmetric grid
 * (floor((qmax - qmin) / 2) + 1 codes from zero to the top), all 2^bits codes when the
 * data has one sign and the quantizer is asymmetric.
 */
export function entropyLevels(format: IntFormat, oneSigned: boolean): number {
  const { qmin, qmax } = intRange(format);
  return oneSigned ? qmax - qmin + 1 : Math.floor((qmax - qmin) / 2) + 1;
}

/**
 * TensorRT's entropy calibration (Migacz, "8-bit Inference with TensorRT", 2017; the same
 * as pytorch-quantization's compute_amax_entropy with stride 1): for each candidate
 * threshold of i bins (i from `levels` to all bins), the reference distribution P is bins
 * [0, i) with the mass beyond added to bin i-1; the candidate Q merges bins [0, i) into
 * `levels` groups (bin j to group floor(j * levels / i)) and spreads each group's mass
 * evenly over its non-empty bins; the threshold minimising KL(P || Q) wins (the largest
 * on ties). Returns the number of bins i.
 */
export function klThresholdBins(counts: ArrayLike<number>, levels: number): number {
  const nb = counts.length;
  if (nb <= levels) return nb;
  let total = 0;
  for (let j = 0; j < nb; j++) total += counts[j];
  if (total === 0) return nb;
  const groupSum = new Float64Array(levels);
  const groupNonZero = new Float64Array(levels);
  let best = Infinity;
  let bestI = nb;
  let inside = 0;
  for (let j = 0; j < levels - 1; j++) inside += counts[j];
  for (let i = levels; i <= nb; i++) {
    inside += counts[i - 1];
    const outliers = total - inside;
    groupSum.fill(0);
    groupNonZero.fill(0);
    for (let j = 0; j < i; j++) {
      const c = counts[j];
      if (c === 0) continue;
      const g = Math.floor((j * levels) / i);
      groupSum[g] += c;
      groupNonZero[g] += 1;
    }
    // KL(P || Q) with P = counts (+ outliers at i-1) / total and Q = spread counts / inside.
    let kl = 0;
    for (let j = 0; j < i; j++) {
      const pc = j === i - 1 ? counts[j] + outliers : counts[j];
      if (pc === 0) continue;
      const c = counts[j];
      if (c === 0) {
        kl = Infinity;
        break;
      }
      const g = Math.floor((j * levels) / i);
      const qc = groupSum[g] / groupNonZero[g];
      const pj = pc / total;
      kl += pj * Math.log(pj / (qc / inside));
    }
    if (kl <= best) {
      best = kl;
      bestI = i;
    }
  }
  return bestI;
}

/**
 * Exact q-quantile with numpy's linear interpolation, by selection instead of sorting
 * (O(n)): `a` is reordered.
 */
export function selectQuantile(a: Float64Array, q: number): number {
  const n = a.length;
  const r = q * (n - 1);
  const k = Math.floor(r);
  const frac = r - k;
  quickselect(a, k, 0, n - 1);
  const v = a[k];
  if (frac === 0) return v;
  // After selection everything past k is >= a[k]: the next order statistic is their minimum.
  let next = Infinity;
  for (let i = k + 1; i < n; i++) if (a[i] < next) next = a[i];
  return v + frac * (next - v);
}

/**
 * Floyd and Rivest's SELECT (CACM 18(3), 1975): moves the k-th smallest of a[left..right]
 * to a[k], smaller values before it and larger ones after.
 */
function quickselect(a: Float64Array, k: number, left: number, right: number): void {
  while (right > left) {
    if (right - left > 600) {
      // Recurse on a sample around k to choose a pivot close to the answer.
      const n = right - left + 1;
      const m = k - left + 1;
      const z = Math.log(n);
      const s = 0.5 * Math.exp((2 * z) / 3);
      const sd = 0.5 * Math.sqrt((z * s * (n - s)) / n) * (m - n / 2 < 0 ? -1 : 1);
      const newLeft = Math.max(left, Math.floor(k - (m * s) / n + sd));
      const newRight = Math.min(right, Math.floor(k + ((n - m) * s) / n + sd));
      quickselect(a, k, newLeft, newRight);
    }
    const t = a[k];
    let i = left;
    let j = right;
    swap(a, left, k);
    if (a[right] > t) swap(a, left, right);
    while (i < j) {
      swap(a, i, j);
      i++;
      j--;
      while (a[i] < t) i++;
      while (a[j] > t) j--;
    }
    if (a[left] === t) swap(a, left, j);
    else {
      j++;
      swap(a, j, right);
    }
    if (j <= k) left = j + 1;
    if (k <= j) right = j - 1;
  }
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/** The symmetric range [-t, t]. */
export function symmetricRange(t: number): [number, number] {
  return [t === 0 ? 0 : -t, t];
}
