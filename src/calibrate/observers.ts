/**
 * Streaming activation observers: they see a tensor's values batch by batch, in bounded
 * memory, and give the clip range the quantizer should use for a given integer format.
 *
 * | spec | state | range |
 * | --- | --- | --- |
 * | `minmax` | min, max | [min, max]; symmetric: [-m, m], m = max(|min|, |max|) |
 * | `percentile:P` | histograms of x and of abs(x) | symmetric: [-t, t], t = P-th percentile of abs(x); asymmetric: [(100-P)-th, P-th] percentile of x |
 * | `mse` | histograms of x and of abs(x) | the clip range minimising E[(x - fakeQuantize(x))^2], from the histogram of x |
 * | `entropy` | histograms of x and of abs(x) | TensorRT's KL-divergence threshold t on the histogram of abs(x) |
 * | `batch-percentile:P` | per-batch sums | the mean over batches of each batch's exact percentiles (Brevitas) |
 *
 * Symmetric ranges are returned as [-t, t]. Percentiles interpolate linearly between order
 * statistics (numpy's default); for asymmetric ranges P >= 50 is the meaningful side (a
 * smaller P gives the same two percentiles, in order). Histogram percentiles are within one
 * bin width of the exact ones. Non-finite values are skipped. `percentile`, `mse` and
 * `entropy` keep the same state (two histograms of 2048 bins each, see histogram.ts), so a
 * calibration table made with one of them can be re-evaluated with any of the three.
 * `batch-percentile` holds only the open batch's values (exact percentiles by selection,
 * O(n)) and, across batches, three running sums.
 */
import { InputError } from "../graph/errors.ts";
import { dequantize, intRange, paramsFromRange, quantize, type IntFormat } from "../quant/math.ts";
import { GrowingHistogram, type HistogramBins, type HistogramJSON } from "./histogram.ts";

export interface Observer {
  /** The canonical spec of the observer (`percentile:99.99`, `mse`, ...). */
  readonly spec: string;
  /** Finite values observed so far. */
  readonly count: number;
  observe(values: Float32Array | ArrayLike<number>): void;
  /** Closes a calibration batch (only `batch-percentile` cares). */
  endBatch?(): void;
  /**
   * The clip range [lo, hi] for this format. [0, 0] when nothing was observed. The
   * quantizer passes it to paramsFromRange(lo, hi, format, symmetric).
   */
  range(format: IntFormat, symmetric: boolean): [number, number];
  /** Everything needed to recompute `range` for any format later (JSON-safe). */
  state(): ObserverState;
}

export interface ObserverFactory {
  readonly spec: string;
  readonly kind: ObserverKind;
  create(): Observer;
  /** An observer rebuilt from a stored state (throws InputError when it does not fit this spec). */
  restore(state: unknown): Observer;
}

export type ObserverKind = "minmax" | "percentile" | "mse" | "entropy" | "batch-percentile";

export interface MinMaxState {
  kind: "minmax";
  count: number;
  min: number | null;
  max: number | null;
}

export interface HistogramState {
  kind: "histogram";
  count: number;
  min: number | null;
  max: number | null;
  hist: HistogramJSON;
  abs_hist: HistogramJSON;
}

export interface BatchPercentileState {
  kind: "batch-percentile";
  p: number;
  count: number;
  min: number | null;
  max: number | null;
  batches: number;
  /** Sums over batches of the (100-P)-th and P-th percentiles of x and the P-th of |x|. */
  sum_low: number;
  sum_high: number;
  sum_abs: number;
}

export type ObserverState = (MinMaxState | HistogramState | BatchPercentileState) & { spec: string };

export const OBSERVER_NAMES = "minmax, percentile:P, mse, entropy, batch-percentile:P (P in (0, 100], e.g. percentile:99.99)";

export const DEFAULT_HISTOGRAM_BINS = 2048;

export interface ObserverOptions {
  /** Bins of each histogram (default 2048). */
  bins?: number;
}

/** Parses an `--observer` spec. Throws InputError listing the valid names. */
export function parseObserver(spec: string, opts: ObserverOptions = {}): ObserverFactory {
  const bins = opts.bins ?? DEFAULT_HISTOGRAM_BINS;
  const s = spec.trim();
  const colon = s.indexOf(":");
  const name = colon < 0 ? s : s.slice(0, colon);
  const arg = colon < 0 ? null : s.slice(colon + 1).trim();
  const noArg = (): void => {
    if (arg !== null) throw new InputError(`observer '${spec}' takes no argument; valid observers: ${OBSERVER_NAMES}`);
  };
  const percent = (): number => {
    const p = arg === null || arg === "" ? NaN : Number(arg);
    if (!(p > 0 && p <= 100)) {
      throw new InputError(`observer '${spec}': P must be a number in (0, 100]; valid observers: ${OBSERVER_NAMES}`);
    }
    return p;
  };
  switch (name) {
    case "minmax":
      noArg();
      return factory("minmax", "minmax", () => new MinMaxObserver(), (st) => MinMaxObserver.restore(st));
    case "mse":
      noArg();
      return histogramFactory("mse", "mse", bins, (h, f, sym) => mseRange(h, f, sym));
    case "entropy":
      noArg();
      return histogramFactory("entropy", "entropy", bins, (h, f, sym) => entropyRange(h, f, sym));
    case "percentile": {
      const p = percent();
      return histogramFactory("percentile", `percentile:${p}`, bins, (h, _f, sym) => percentileRange(h, p, sym));
    }
    case "batch-percentile": {
      const p = percent();
      const sp = `batch-percentile:${p}`;
      return factory("batch-percentile", sp, () => new BatchPercentileObserver(p), (st) => BatchPercentileObserver.restore(st, p));
    }
    default:
      throw new InputError(`unknown observer '${spec}'; valid observers: ${OBSERVER_NAMES}`);
  }
}

function factory(kind: ObserverKind, spec: string, create: () => Observer, restore: (st: Record<string, unknown>) => Observer): ObserverFactory {
  return {
    kind,
    spec,
    create,
    restore(state: unknown): Observer {
      return restore(stateObject(state));
    },
  };
}

function histogramFactory(kind: ObserverKind, spec: string, bins: number, rule: RangeRule): ObserverFactory {
  return factory(
    kind,
    spec,
    () => new HistogramObserver(spec, rule, bins),
    (st) => HistogramObserver.restore(st, spec, rule),
  );
}

// ---------------------------------------------------------------------------------------
// minmax

class MinMaxObserver implements Observer {
  readonly spec = "minmax";
  count = 0;
  private lo = Infinity;
  private hi = -Infinity;

  observe(values: Float32Array | ArrayLike<number>): void {
    let lo = this.lo;
    let hi = this.hi;
    let n = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      n++;
    }
    this.lo = lo;
    this.hi = hi;
    this.count += n;
  }

  range(format: IntFormat, symmetric: boolean): [number, number] {
    intRange(format);
    if (this.count === 0) return [0, 0];
    return symmetric ? symmetricRange(Math.max(-this.lo, this.hi, 0)) : [this.lo, this.hi];
  }

  state(): ObserverState {
    return { spec: this.spec, kind: "minmax", ...extent(this.count, this.lo, this.hi) };
  }

  /** Any state has count, min and max, so minmax can be recomputed from every table. */
  static restore(st: Record<string, unknown>): MinMaxObserver {
    const o = new MinMaxObserver();
    const e = readExtent(st);
    o.count = e.count;
    o.lo = e.min;
    o.hi = e.max;
    return o;
  }
}

// ---------------------------------------------------------------------------------------
// histogram observers: percentile, mse, entropy

type RangeRule = (h: HistogramObserver, format: IntFormat, symmetric: boolean) => [number, number];

class HistogramObserver implements Observer {
  readonly spec: string;
  private readonly rule: RangeRule;
  /** Histogram of x (asymmetric percentiles, MSE). */
  hist: GrowingHistogram;
  /** Histogram of |x| over [0, max|x|] (symmetric percentiles, entropy). */
  absHist: GrowingHistogram;

  constructor(spec: string, rule: RangeRule, bins: number) {
    this.spec = spec;
    this.rule = rule;
    this.hist = new GrowingHistogram(bins);
    this.absHist = new GrowingHistogram(bins, { includeZero: true });
  }

  get count(): number {
    return this.hist.count;
  }

  observe(values: Float32Array | ArrayLike<number>): void {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo > hi) return;
    this.hist.extend(lo, hi);
    this.absHist.extend(0, Math.max(-lo, hi));
    const h = this.hist;
    const a = this.absHist;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) continue;
      h.addInExtent(v);
      a.addInExtent(v < 0 ? -v : v);
    }
  }

  range(format: IntFormat, symmetric: boolean): [number, number] {
    intRange(format);
    if (this.count === 0) return [0, 0];
    return this.rule(this, format, symmetric);
  }

  state(): ObserverState {
    return {
      spec: this.spec,
      kind: "histogram",
      ...extent(this.count, this.hist.min, this.hist.max),
      hist: this.hist.toJSON(),
      abs_hist: this.absHist.toJSON(),
    };
  }

  static restore(st: Record<string, unknown>, spec: string, rule: RangeRule): HistogramObserver {
    if (st.kind !== "histogram") {
      throw new InputError(`observer '${spec}' needs histograms, but the stored state is of kind '${String(st.kind)}'`);
    }
    const e = readExtent(st);
    const o = new HistogramObserver(spec, rule, DEFAULT_HISTOGRAM_BINS);
    try {
      o.hist = GrowingHistogram.fromJSON(st.hist, "hist");
      o.absHist = GrowingHistogram.fromJSON(st.abs_hist, "abs_hist", { includeZero: true });
    } catch (err) {
      throw new InputError(`malformed observer state: ${(err as Error).message}`);
    }
    if (o.hist.count !== e.count || o.absHist.count !== e.count) {
      throw new InputError("malformed observer state: the histograms' counts differ from count");
    }
    if (e.count > 0 && (o.hist.min !== e.min || o.hist.max !== e.max || o.absHist.max !== Math.max(-e.min, e.max, 0))) {
      throw new InputError("malformed observer state: the histograms' extents differ from min and max");
    }
    return o;
  }
}

function symmetricRange(t: number): [number, number] {
  return [t === 0 ? 0 : -t, t];
}

function percentileRange(o: HistogramObserver, p: number, symmetric: boolean): [number, number] {
  if (symmetric) return symmetricRange(o.absHist.quantile(p / 100));
  const a = o.hist.quantile((100 - p) / 100);
  const b = o.hist.quantile(p / 100);
  return a <= b ? [a, b] : [b, a];
}

// ---------------------------------------------------------------------------------------
// MSE

/** Candidate fractions of the full range in the coarse searches. */
const MSE_STEPS = 128;
/** Candidates on each side of the coarse optimum in the fine search. */
const MSE_FINE_STEPS = 16;

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
 * Searches clip ranges for the smallest histogram MSE. Symmetric: t = f * max|x| over
 * f = 1/128 .. 1, then 32 finer steps around the best. Asymmetric, with L = min(min, 0)
 * and H = max(max, 0): [f L, f H] over the same fractions, then two rounds of coordinate
 * search (the low end with the high end fixed, then the reverse), then a fine search of
 * each end. Ties go to the wider range.
 */
function mseRange(o: HistogramObserver, format: IntFormat, symmetric: boolean): [number, number] {
  const bins = o.hist.nonEmptyBins();
  const L = Math.min(o.hist.min, 0);
  const H = Math.max(o.hist.max, 0);
  const cost = (a: number, b: number): number => histogramMse(bins, a * L, b * H, format, symmetric);
  if (symmetric) {
    const A = Math.max(-L, H);
    if (A === 0) return [0, 0];
    const costT = (f: number): number => histogramMse(bins, -f * A, f * A, format, true);
    const f = searchFine(costT, searchCoarse(costT));
    return symmetricRange(f * A);
  }
  if (L === 0 && H === 0) return [0, 0];
  // Joint shrink.
  const joint = (f: number): number => cost(f, f);
  let a = searchFine(joint, searchCoarse(joint));
  let b = a;
  for (let round = 0; round < 2; round++) {
    if (L < 0) a = searchCoarse((f) => cost(f, b));
    if (H > 0) b = searchCoarse((f) => cost(a, f));
  }
  if (L < 0) a = searchFine((f) => cost(f, b), a);
  if (H > 0) b = searchFine((f) => cost(a, f), b);
  return [L < 0 ? a * L : 0, H > 0 ? b * H : 0];
}

function searchCoarse(cost: (f: number) => number): number {
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

function searchFine(cost: (f: number) => number, center: number): number {
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

// ---------------------------------------------------------------------------------------
// entropy

/**
 * The number of quantization levels available to |x|: 2^(bits-1) for a symmetric grid
 * (floor((qmax - qmin) / 2) + 1 codes from zero to the top), all 2^bits codes when the
 * data has one sign and the quantizer is asymmetric.
 */
function entropyLevels(format: IntFormat, oneSigned: boolean): number {
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
 * Entropy range. Symmetric: [-t, t] with t the KL threshold on the histogram of |x| for
 * 2^(bits-1) levels. Asymmetric: for one-signed data, [0, t] (or [-t, 0]) with all 2^bits
 * levels; for data of both signs, the symmetric threshold clipped to the data,
 * [max(min, -t), min(max, t)].
 */
function entropyRange(o: HistogramObserver, format: IntFormat, symmetric: boolean): [number, number] {
  const lo = o.hist.min;
  const hi = o.hist.max;
  const oneSigned = !symmetric && (lo >= 0 || hi <= 0);
  const h = o.absHist;
  const amax = h.max;
  if (amax === 0) return [0, 0];
  let t: number;
  if (h.width === 0) t = amax;
  else {
    const { offset, counts } = h.window();
    const i = klThresholdBins(counts, entropyLevels(format, oneSigned));
    t = Math.min((offset + i) * h.width, amax);
  }
  if (symmetric) return symmetricRange(t);
  if (lo >= 0) return [Math.min(lo, t), t];
  if (hi <= 0) return [-t, Math.max(hi, -t)];
  return [Math.max(lo, -t), Math.min(hi, t)];
}

// ---------------------------------------------------------------------------------------
// batch-percentile

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

class BatchPercentileObserver implements Observer {
  readonly spec: string;
  readonly p: number;
  count = 0;
  private lo = Infinity;
  private hi = -Infinity;
  private batches = 0;
  private sumLow = 0;
  private sumHigh = 0;
  private sumAbs = 0;
  /** The open batch's finite values (bounded by one batch). */
  private pending: Float64Array[] = [];
  private pendingN = 0;

  constructor(p: number) {
    this.p = p;
    this.spec = `batch-percentile:${p}`;
  }

  observe(values: Float32Array | ArrayLike<number>): void {
    const chunk = new Float64Array(values.length);
    let n = 0;
    let lo = this.lo;
    let hi = this.hi;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) continue;
      chunk[n++] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (n === 0) return;
    this.pending.push(n === chunk.length ? chunk : chunk.slice(0, n));
    this.pendingN += n;
    this.count += n;
    this.lo = lo;
    this.hi = hi;
  }

  /** Percentiles of the open batch: (100-P)-th and P-th of x, P-th of |x|. */
  private pendingPercentiles(): [number, number, number] | null {
    if (this.pendingN === 0) return null;
    const all = new Float64Array(this.pendingN);
    let at = 0;
    for (const c of this.pending) {
      all.set(c, at);
      at += c.length;
    }
    const q = this.p / 100;
    const abs = new Float64Array(all.length);
    for (let i = 0; i < all.length; i++) abs[i] = Math.abs(all[i]);
    const high = selectQuantile(all, q);
    const low = selectQuantile(all, 1 - q);
    return [low, high, selectQuantile(abs, q)];
  }

  endBatch(): void {
    const pp = this.pendingPercentiles();
    this.pending = [];
    this.pendingN = 0;
    if (!pp) return; // an empty batch does not count
    this.sumLow += pp[0];
    this.sumHigh += pp[1];
    this.sumAbs += pp[2];
    this.batches++;
  }

  /** Sums and batch count with the open batch counted as closed (nothing is changed). */
  private totals(): { batches: number; low: number; high: number; abs: number } {
    const pp = this.pendingPercentiles();
    if (!pp) return { batches: this.batches, low: this.sumLow, high: this.sumHigh, abs: this.sumAbs };
    return { batches: this.batches + 1, low: this.sumLow + pp[0], high: this.sumHigh + pp[1], abs: this.sumAbs + pp[2] };
  }

  range(format: IntFormat, symmetric: boolean): [number, number] {
    intRange(format);
    const t = this.totals();
    if (t.batches === 0) return [0, 0];
    if (symmetric) return symmetricRange(t.abs / t.batches);
    const a = t.low / t.batches;
    const b = t.high / t.batches;
    return a <= b ? [a, b] : [b, a];
  }

  /** The state with any open batch closed. */
  state(): ObserverState {
    const t = this.totals();
    return {
      spec: this.spec,
      kind: "batch-percentile",
      p: this.p,
      ...extent(this.count, this.lo, this.hi),
      batches: t.batches,
      sum_low: t.low,
      sum_high: t.high,
      sum_abs: t.abs,
    };
  }

  static restore(st: Record<string, unknown>, p: number): BatchPercentileObserver {
    const spec = `batch-percentile:${p}`;
    if (st.kind !== "batch-percentile") {
      throw new InputError(`observer '${spec}' needs per-batch percentiles, but the stored state is of kind '${String(st.kind)}'`);
    }
    if (st.p !== p) throw new InputError(`observer '${spec}': the stored per-batch percentiles are for P = ${String(st.p)}`);
    const e = readExtent(st);
    const o = new BatchPercentileObserver(p);
    const { batches, sum_low, sum_high, sum_abs } = st;
    if (typeof batches !== "number" || !Number.isSafeInteger(batches) || batches < 0) {
      throw new InputError("malformed observer state: batches must be an integer >= 0");
    }
    for (const [k, v] of [["sum_low", sum_low], ["sum_high", sum_high], ["sum_abs", sum_abs]] as const) {
      if (typeof v !== "number" || !Number.isFinite(v)) throw new InputError(`malformed observer state: ${k} must be a finite number`);
    }
    if ((batches === 0) !== (e.count === 0)) throw new InputError("malformed observer state: batches and count disagree");
    o.count = e.count;
    o.lo = e.min;
    o.hi = e.max;
    o.batches = batches;
    o.sumLow = sum_low as number;
    o.sumHigh = sum_high as number;
    o.sumAbs = sum_abs as number;
    return o;
  }
}

// ---------------------------------------------------------------------------------------
// shared helpers

function extent(count: number, lo: number, hi: number): { count: number; min: number | null; max: number | null } {
  return count === 0 ? { count: 0, min: null, max: null } : { count, min: lo, max: hi };
}

function stateObject(state: unknown): Record<string, unknown> {
  if (typeof state !== "object" || state === null || Array.isArray(state)) {
    throw new InputError("malformed observer state: expected an object");
  }
  return state as Record<string, unknown>;
}

/** count, min and max of a stored state (min/max as +-Infinity when empty). */
function readExtent(st: Record<string, unknown>): { count: number; min: number; max: number } {
  const { count, min, max } = st;
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) {
    throw new InputError("malformed observer state: count must be an integer >= 0");
  }
  if (count === 0) {
    if (min !== null || max !== null) throw new InputError("malformed observer state: min and max must be null when count is 0");
    return { count, min: Infinity, max: -Infinity };
  }
  if (typeof min !== "number" || typeof max !== "number" || !Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new InputError("malformed observer state: min and max must be finite numbers with min <= max");
  }
  return { count, min, max };
}
