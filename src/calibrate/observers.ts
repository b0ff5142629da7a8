/**
 * Streaming activation observers: they see a tensor's values batch by batch, in bounded
 * memory, and give the clip range the quantizer should use for a given integer format.
 *
 * | spec | state | range |
 * | --- | --- | --- |
 * | `minmax` | min, max | [min, max]; symmetric: [-m, m], m = max(|min|, |max|) |
 * | `percentile:P` | histograms of x and of abs(x) | symmetric: [-t, t], t = P-th percentile of abs(x); asymmetric: [(100-P)-th, P-th] percentile of x |
 * | `mse` | histograms of x and of abs(x) | the clip range minimising E[(x - fakeQuantize(x))^2], from the histogram of x |
 * | `mse-tanh` | as `mse` | as `mse`; for a tensor that only Tanh reads (the LSTM cell state under `--lstm-internals`), the range minimising E[(tanh(x) - tanh(fakeQuantize(x)))^2] |
 * | `entropy` | histograms of x and of abs(x) | TensorRT's KL-divergence threshold t on the histogram of abs(x) |
 * | `batch-percentile:P` | per-batch sums | the mean over batches of each batch's exact percentiles (Brevitas) |
 *
 * Symmetric ranges are returned as [-t, t]. Percentiles interpolate linearly between order
 * statistics (numpy's default); for asymmetric ranges P >= 50 is the meaningful side (a
 * smaller P gives the same two percentiles, in order). Histogram percentiles are within one
 * bin width of the exact ones. Non-finite values are skipped. `percentile`, `mse`, `mse-tanh`
 * and `entropy` keep the same state (two histograms of 2048 bins each, see histogram.ts), so a
 * calibration table made with one of them can be re-evaluated with any of the others.
 * `batch-percentile` holds only the open batch's values (exact percentiles by selection,
 * O(n)) and, across batches, three running sums.
 */
import { InputError } from "../graph/errors.ts";
import { intRange, paramsFromRange, type IntFormat } from "../quant/math.ts";
import { BatchPercentileObserver } from "./batch-percentile.ts";
import { GrowingHistogram, type HistogramJSON } from "./histogram.ts";
import { extent, readExtent, stateObject } from "./observer-state.ts";
import { entropyLevels, histogramMse, histogramMseThrough, klThresholdBins, searchCoarse, searchFine, symmetricRange } from "./range-search.ts";

export { histogramMse, histogramMseThrough, klThresholdBins, selectQuantile } from "./range-search.ts";

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
   * quantizer passes it to paramsFromRange(lo, hi, format, symmetric). `reader` names the one
   * op type that reads the quantized tensor, when there is one (`mse-tanh` uses it).
   */
  range(format: IntFormat, symmetric: boolean, reader?: string): [number, number];
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

export type ObserverKind = "minmax" | "percentile" | "mse" | "mse-tanh" | "entropy" | "batch-percentile";

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

export const OBSERVER_NAMES = "minmax, percentile:P, mse, mse-tanh, entropy, batch-percentile:P (P in (0, 100], e.g. percentile:99.99)";

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
    case "mse-tanh":
      noArg();
      // Tanh saturates: past |x| of about 3 the error of x no longer reaches its output, so the range may clip there.
      return histogramFactory("mse-tanh", "mse-tanh", bins, (h, f, sym, reader) => mseRange(h, f, sym, reader === "Tanh" ? Math.tanh : undefined));
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

type RangeRule = (h: HistogramObserver, format: IntFormat, symmetric: boolean, reader?: string) => [number, number];

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

  range(format: IntFormat, symmetric: boolean, reader?: string): [number, number] {
    intRange(format);
    if (this.count === 0) return [0, 0];
    return this.rule(this, format, symmetric, reader);
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


function percentileRange(o: HistogramObserver, p: number, symmetric: boolean): [number, number] {
  if (symmetric) return symmetricRange(o.absHist.quantile(p / 100));
  const a = o.hist.quantile((100 - p) / 100);
  const b = o.hist.quantile(p / 100);
  return a <= b ? [a, b] : [b, a];
}

// ---------------------------------------------------------------------------------------
// MSE

/**
 * Searches clip ranges for the smallest histogram MSE. Symmetric: t = f * max|x| over
 * f = 1/128 .. 1, then 32 finer steps around the best. Asymmetric, with L = min(min, 0)
 * and H = max(max, 0): [f L, f H] over the same fractions, then two rounds of coordinate
 * search (the low end with the high end fixed, then the reverse), then a fine search of
 * each end. Ties go to the wider range. With `through`, the error is measured after that
 * function: E[(g(x) - g(fakeQuantize(x)))^2] (histogramMseThrough).
 */
function mseRange(o: HistogramObserver, format: IntFormat, symmetric: boolean, through?: (x: number) => number): [number, number] {
  const bins = o.hist.nonEmptyBins();
  const L = Math.min(o.hist.min, 0);
  const H = Math.max(o.hist.max, 0);
  const mse = (lo: number, hi: number, sym: boolean): number => (through ? histogramMseThrough(bins, lo, hi, format, sym, through) : histogramMse(bins, lo, hi, format, sym));
  const cost = (a: number, b: number): number => mse(a * L, b * H, symmetric);
  if (symmetric) {
    const A = Math.max(-L, H);
    if (A === 0) return [0, 0];
    const costT = (f: number): number => mse(-f * A, f * A, true);
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

// ---------------------------------------------------------------------------------------
// entropy

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

// batch-percentile: batch-percentile.ts; the searches: range-search.ts; state checks: observer-state.ts.
