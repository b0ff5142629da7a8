/** Brevitas' batch-percentile observer (see observers.ts for the table of observers). */
import { InputError } from "../graph/errors.ts";
import { intRange, type IntFormat } from "../quant/math.ts";
import { extent, readExtent } from "./observer-state.ts";
import type { Observer, ObserverState } from "./observers.ts";
import { selectQuantile, symmetricRange } from "./range-search.ts";

export class BatchPercentileObserver implements Observer {
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
