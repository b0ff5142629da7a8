/**
 * A streaming histogram with a fixed number of bins whose range grows as data arrives, so
 * that calibration never stores samples.
 *
 * The bins lie on a grid anchored at zero: bin k covers [k*w, (k+1)*w), and the histogram
 * keeps a window of `bins` consecutive bins starting at the bin of the smallest value seen.
 * When new data falls outside the window the window slides, and when the data no longer
 * fits in `bins` bins the width doubles (as often as needed) and pairs of bins merge. The
 * doubled grid nests the old one (floor(floor(x/w)/2) = floor(x/2w)), so merging moves
 * counts exactly: a value is always counted in the bin that contains it. The width stays
 * within a factor 2 of (max - min) / bins once the data spans a range (before that, while
 * every value seen is equal, the histogram is a point mass and has width 0).
 *
 * Bins are reported clipped to the data's extent [min, max], so the first and last bins
 * are no wider than the data in them.
 */

export interface HistogramJSON {
  /** Capacity: the number of bins of the window. */
  bins: number;
  /** Bin width; 0 while every value seen is equal (a point mass at `min`). */
  width: number;
  /** Grid index of counts[0]: counts[i] covers [(offset+i)*width, (offset+i+1)*width). */
  offset: number;
  /** The extent of the data (null when empty). With includeZero the extent contains 0. */
  min: number | null;
  max: number | null;
  /** Counts from the bin of `min` to the bin of `max` (one count for a point mass). */
  counts: number[];
}

export interface HistogramBins {
  /** Clipped lower and upper edges and count of each non-empty bin, in increasing order. */
  lo: Float64Array;
  hi: Float64Array;
  count: Float64Array;
}

export class GrowingHistogram {
  readonly bins: number;
  /** Keep 0 inside the extent (for histograms of |x|, whose window then starts at 0). */
  readonly includeZero: boolean;
  private counts: Float64Array;
  private w = 0;
  private k0 = 0;
  private lo = Infinity;
  private hi = -Infinity;
  private n = 0;

  constructor(bins: number, opts: { includeZero?: boolean } = {}) {
    if (!Number.isInteger(bins) || bins < 4 || bins > 1 << 20) {
      throw new RangeError(`histogram bins must be an integer from 4 to 2^20, got ${bins}`);
    }
    this.bins = bins;
    this.includeZero = opts.includeZero ?? false;
    this.counts = new Float64Array(bins);
  }

  /** Number of values counted. */
  get count(): number {
    return this.n;
  }

  /** Bin width (0 for a point mass or an empty histogram). */
  get width(): number {
    return this.w;
  }

  /** Smallest value of the extent, or NaN when empty. */
  get min(): number {
    return this.n === 0 && this.lo === Infinity ? NaN : this.lo;
  }

  /** Largest value of the extent, or NaN when empty. */
  get max(): number {
    return this.n === 0 && this.hi === -Infinity ? NaN : this.hi;
  }

  /** Widens the window (sliding it, doubling the width and merging bins) to cover [lo, hi]. */
  extend(lo: number, hi: number): void {
    let nlo = Math.min(this.lo, lo);
    let nhi = Math.max(this.hi, hi);
    if (this.includeZero) {
      nlo = Math.min(nlo, 0);
      nhi = Math.max(nhi, 0);
    }
    if (!(nlo <= nhi)) return; // nothing to cover (an empty batch)
    if (!Number.isFinite(nhi - nlo)) throw new RangeError(`histogram range [${nlo}, ${nhi}] is too wide`);
    if (nlo === this.lo && nhi === this.hi) return;
    const B = this.bins;
    if (this.w === 0) {
      if (nlo === nhi) {
        // Still a point mass: counts[0] holds its count.
        this.lo = nlo;
        this.hi = nhi;
        return;
      }
      const point = this.n > 0 ? this.counts[0] : 0;
      const pointAt = this.lo;
      const span = nhi - nlo;
      let w = span / (B - 2);
      for (let d = B - 2; d >= 1; d--) {
        w = span / d;
        if (Math.floor(nhi / w) - Math.floor(nlo / w) <= B - 1) break;
      }
      while (Math.floor(nhi / w) - Math.floor(nlo / w) > B - 1) w *= 2;
      this.w = w;
      this.k0 = Math.floor(nlo / w);
      this.lo = nlo;
      this.hi = nhi;
      this.counts.fill(0);
      if (point > 0) this.counts[this.index(pointAt)] += point;
      return;
    }
    let w = this.w;
    let factor = 1;
    while (Math.floor(nhi / w) - Math.floor(nlo / w) > B - 1) {
      w *= 2;
      factor *= 2;
    }
    const k0 = Math.floor(nlo / w);
    if (factor !== 1 || k0 !== this.k0) {
      const next = new Float64Array(B);
      for (let i = 0; i < B; i++) {
        const c = this.counts[i];
        if (c === 0) continue;
        const j = Math.floor((this.k0 + i) / factor) - k0;
        next[j < 0 ? 0 : j >= B ? B - 1 : j] += c;
      }
      this.counts = next;
      this.w = w;
      this.k0 = k0;
    }
    this.lo = nlo;
    this.hi = nhi;
  }

  /** Window index of a value inside the extent. */
  private index(v: number): number {
    const j = Math.floor(v / this.w) - this.k0;
    return j < 0 ? 0 : j >= this.bins ? this.bins - 1 : j;
  }

  /** Counts one value that lies inside the extent (call `extend` first). */
  addInExtent(v: number, weight = 1): void {
    if (this.w === 0) this.counts[0] += weight;
    else this.counts[this.index(v)] += weight;
    this.n += weight;
  }

  /** Counts every finite value of `values` (two passes: extent, then counts); returns how many. */
  add(values: ArrayLike<number>): number {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) continue; // NaN or infinite
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo > hi) return 0;
    this.extend(lo, hi);
    let added = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v - v !== 0) continue;
      this.addInExtent(v);
      added++;
    }
    return added;
  }

  /** The non-empty bins with edges clipped to [min, max]; a point mass is one bin of zero width. */
  nonEmptyBins(): HistogramBins {
    if (this.n === 0) return { lo: new Float64Array(0), hi: new Float64Array(0), count: new Float64Array(0) };
    if (this.w === 0) {
      return { lo: Float64Array.of(this.lo), hi: Float64Array.of(this.hi), count: Float64Array.of(this.n) };
    }
    let m = 0;
    for (let i = 0; i < this.bins; i++) if (this.counts[i] > 0) m++;
    const lo = new Float64Array(m);
    const hi = new Float64Array(m);
    const count = new Float64Array(m);
    let j = 0;
    for (let i = 0; i < this.bins; i++) {
      const c = this.counts[i];
      if (c === 0) continue;
      const [a, b] = this.binEdges(i);
      lo[j] = a;
      hi[j] = b;
      count[j] = c;
      j++;
    }
    return { lo, hi, count };
  }

  /** Edges of window bin i, clipped to the extent. */
  private binEdges(i: number): [number, number] {
    let a = (this.k0 + i) * this.w;
    let b = (this.k0 + i + 1) * this.w;
    if (a < this.lo) a = this.lo;
    if (b > this.hi) b = this.hi;
    if (b < a) b = a;
    return [a, b];
  }

  /**
   * The counts from the bin of `min` to the bin of `max` (a copy) and the grid index of
   * the first. For a histogram with includeZero and no negative values the first bin is
   * [0, width).
   */
  window(): { offset: number; counts: Float64Array } {
    if (this.n === 0) return { offset: 0, counts: new Float64Array(0) };
    if (this.w === 0) return { offset: 0, counts: Float64Array.of(this.n) };
    const last = this.index(this.hi);
    return { offset: this.k0, counts: this.counts.slice(0, last + 1) };
  }

  /**
   * The q-quantile (q in [0, 1]) with numpy's default (linear) interpolation between order
   * statistics; each order statistic is placed inside its bin as if the bin's values were
   * evenly spread, so the result is within one bin width of the exact quantile. The
   * 0- and 1-quantiles are the exact min and max.
   */
  quantile(q: number): number {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${q}`);
    if (this.n === 0) return NaN;
    if (this.w === 0) return this.lo;
    const r = q * (this.n - 1);
    const k = Math.floor(r);
    const frac = r - k;
    const a = this.orderStatistic(k);
    return frac === 0 ? a : a + frac * (this.orderStatistic(k + 1) - a);
  }

  /** Estimate of the k-th smallest value (0-based). */
  private orderStatistic(k: number): number {
    if (k <= 0) return this.lo;
    if (k >= this.n - 1) return this.hi;
    let before = 0;
    for (let i = 0; i < this.bins; i++) {
      const c = this.counts[i];
      if (c === 0) continue;
      if (k < before + c) {
        const [a, b] = this.binEdges(i);
        return a + ((k - before + 0.5) / c) * (b - a);
      }
      before += c;
    }
    return this.hi;
  }

  toJSON(): HistogramJSON {
    const { offset, counts } = this.window();
    return {
      bins: this.bins,
      width: this.w,
      offset,
      min: this.n === 0 ? null : this.lo,
      max: this.n === 0 ? null : this.hi,
      counts: Array.from(counts),
    };
  }

  /** Rebuilds a histogram from `toJSON` output; throws Error naming `what` when it is malformed. */
  static fromJSON(json: unknown, what = "histogram", opts: { includeZero?: boolean } = {}): GrowingHistogram {
    const bad = (msg: string): never => {
      throw new Error(`${what}: ${msg}`);
    };
    if (typeof json !== "object" || json === null || Array.isArray(json)) return bad("expected an object");
    const j = json as Record<string, unknown>;
    const { bins, width, offset, min, max, counts } = j;
    if (typeof bins !== "number" || !Number.isInteger(bins) || bins < 4 || bins > 1 << 20) return bad("bins must be an integer from 4 to 2^20");
    if (typeof width !== "number" || !Number.isFinite(width) || width < 0) return bad("width must be a finite number >= 0");
    if (typeof offset !== "number" || !Number.isSafeInteger(offset)) return bad("offset must be an integer");
    if (!Array.isArray(counts) || counts.length > bins) return bad(`counts must be an array of at most ${bins} numbers`);
    let n = 0;
    for (const c of counts) {
      if (typeof c !== "number" || !Number.isFinite(c) || c < 0) return bad("counts must be finite numbers >= 0");
      n += c;
    }
    const h = new GrowingHistogram(bins, opts);
    if (n === 0) {
      if (min !== null || max !== null || counts.length > 0) return bad("an empty histogram has min and max null and no counts");
      return h;
    }
    if (typeof min !== "number" || typeof max !== "number" || !Number.isFinite(min) || !Number.isFinite(max) || min > max) {
      return bad("min and max must be finite numbers with min <= max");
    }
    if (h.includeZero && (min > 0 || max < 0)) return bad("the extent of a histogram of |x| must contain 0");
    if (width === 0) {
      if (min !== max || counts.length !== 1 || offset !== 0) return bad("a histogram of width 0 is a point mass: min = max, offset 0, one count");
    } else {
      if (Math.floor(min / width) !== offset) return bad("offset must be the bin of min");
      if (Math.floor(max / width) - offset + 1 !== counts.length) return bad("counts must run from the bin of min to the bin of max");
      if (counts[0] === 0 && !(h.includeZero && min === 0)) return bad("the bin of min must not be empty");
      if (counts[counts.length - 1] === 0) return bad("the bin of max must not be empty");
    }
    h.w = width;
    h.k0 = offset;
    h.lo = min;
    h.hi = max;
    h.n = n;
    h.counts.set(counts);
    return h;
  }
}
