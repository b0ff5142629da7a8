import { describe, expect, it } from "vitest";
import { klThresholdBins, parseObserver, selectQuantile, type HistogramState, type Observer } from "../../src/calibrate/observers.ts";
import { InputError } from "../../src/graph/errors.ts";
import { fakeQuantize, paramsFromRange, type IntFormat } from "../../src/quant/math.ts";
import { concat, exactQuantile, feed, gaussian, laplacian, rng, uniform } from "./gen.ts";

const int = (bits: number): IntFormat => ({ bits, signed: true, narrow: true });

function observed(spec: string, data: Float64Array, sizes = [1000, 333, 4096], bins?: number): Observer {
  const o = parseObserver(spec, { bins }).create();
  feed(data, sizes, (b) => {
    o.observe(b);
    o.endBatch?.();
  });
  return o;
}

/** Mean squared error of fake-quantizing the raw samples with the params of [lo, hi]. */
function rawMse(data: ArrayLike<number>, lo: number, hi: number, f: IntFormat, symmetric: boolean): number {
  const p = paramsFromRange(lo, hi, f, symmetric);
  let e = 0;
  for (let i = 0; i < data.length; i++) {
    const d = data[i] - fakeQuantize(data[i], p, f);
    e += d * d;
  }
  return e / data.length;
}

describe("parseObserver", () => {
  it("accepts the contract's names and canonicalises P", () => {
    expect(parseObserver("minmax").spec).toBe("minmax");
    expect(parseObserver("mse").kind).toBe("mse");
    expect(parseObserver("entropy").kind).toBe("entropy");
    expect(parseObserver("percentile:99.990").spec).toBe("percentile:99.99");
    expect(parseObserver("percentile:100").spec).toBe("percentile:100");
    expect(parseObserver("batch-percentile:99.9").spec).toBe("batch-percentile:99.9");
  });

  it("rejects unknown names and P outside (0, 100] with an InputError listing the valid names", () => {
    for (const bad of ["minimax", "percentile", "percentile:", "percentile:0", "percentile:100.5", "percentile:-1", "percentile:abc", "batch-percentile:0", "mse:3", ""]) {
      expect(() => parseObserver(bad), bad).toThrow(InputError);
      expect(() => parseObserver(bad), bad).toThrow(/minmax, percentile:P, mse, mse-tanh, entropy, batch-percentile:P/);
    }
  });
});

describe("minmax", () => {
  it("is the exact min and max, symmetric as [-m, m]; non-finite values are skipped", () => {
    const r = rng(10);
    const data = concat(gaussian(r, 5000, 1, 2), [-7.25, 9.5]);
    const o = observed("minmax", data);
    o.observe([NaN, Infinity]);
    expect(o.range(int(8), false)).toEqual([-7.25, 9.5]);
    expect(o.range(int(3), true)).toEqual([-9.5, 9.5]);
    expect(o.count).toBe(data.length);
    expect(parseObserver("minmax").create().range(int(8), true)).toEqual([0, 0]);
  });
});

describe("percentile", () => {
  it("is within one histogram bin of the sort-based percentile of |x| (symmetric) and of x (asymmetric)", () => {
    const r = rng(11);
    // Batches widen the range as they come (forcing re-binning), with a far outlier late.
    const data = concat(uniform(r, 3000, -0.1, 0.2), gaussian(r, 30000, 0.5, 1.5), laplacian(r, 20000, 0.7), [85, -40]);
    for (const p of [99.99, 99, 90, 100]) {
      const o = observed(`percentile:${p}`, data);
      const st = o.state() as HistogramState;
      const [lo, hi] = o.range(int(8), false);
      expect(Math.abs(lo - exactQuantile(data, 1 - p / 100))).toBeLessThanOrEqual(st.hist.width);
      expect(Math.abs(hi - exactQuantile(data, p / 100))).toBeLessThanOrEqual(st.hist.width);
      const [nt, t] = o.range(int(4), true);
      expect(nt).toBe(-t);
      expect(Math.abs(t - exactQuantile(data.map(Math.abs), p / 100))).toBeLessThanOrEqual(st.abs_hist.width);
      // Bounded memory: two histograms of 2048 bins, whatever the data.
      expect(st.hist.counts.length).toBeLessThanOrEqual(2048);
      expect(st.abs_hist.counts.length).toBeLessThanOrEqual(2048);
    }
  });
});

describe("mse", () => {
  const r = rng(12);
  const data = concat(gaussian(r, 8000, 0.3, 0.7), uniform(r, 4, 8, 12));

  it("symmetric: matches a brute-force search of clip ranges with fakeQuantize on the raw samples", () => {
    const A = Math.max(...data.map(Math.abs));
    const o = observed("mse", data);
    for (const bits of [8, 4, 3]) {
      const f = int(bits);
      let best = Infinity;
      for (let k = 1; k <= 250; k++) best = Math.min(best, rawMse(data, (-A * k) / 250, (A * k) / 250, f, true));
      const [lo, hi] = o.range(f, true);
      expect(lo).toBe(-hi);
      expect(rawMse(data, lo, hi, f, true), `${bits} bits`).toBeLessThanOrEqual(best * 1.01);
    }
  });

  it("asymmetric: at least as good as a brute-force grid of both ends", () => {
    const sub = data.filter((_, i) => i % 4 === 0);
    const L = Math.min(...data);
    const H = Math.max(...data);
    const o = observed("mse", data);
    for (const bits of [4, 3]) {
      const f = { bits, signed: false, narrow: false };
      let best = Infinity;
      let arg = [0, 0];
      for (let i = 1; i <= 25; i++) {
        for (let j = 1; j <= 25; j++) {
          const e = rawMse(sub, (L * i) / 25, (H * j) / 25, f, false);
          if (e < best) [best, arg] = [e, [(L * i) / 25, (H * j) / 25]];
        }
      }
      const [lo, hi] = o.range(f, false);
      expect(rawMse(data, lo, hi, f, false), `${bits} bits`).toBeLessThanOrEqual(rawMse(data, arg[0], arg[1], f, false) * 1.01);
    }
  });

  it("depends on the bit width: fewer bits clip harder", () => {
    const o = observed("mse", data);
    const t8 = o.range(int(8), true)[1];
    const t4 = o.range(int(4), true)[1];
    const t3 = o.range(int(3), true)[1];
    expect(t8).toBeGreaterThan(t4);
    expect(t4).toBeGreaterThan(t3);
  });
});

/** pytorch-quantization's compute_amax_entropy (stride 1), written the slow, literal way. */
function referenceEntropyBins(bins: number[], levels: number): number {
  const total = bins.reduce((a, b) => a + b, 0);
  let bestKl = Infinity;
  let bestI = bins.length;
  for (let i = levels; i <= bins.length; i++) {
    // np.digitize(range(i), np.linspace(0, i, levels + 1)) - 1, with empty bins dropped.
    const edges = Array.from({ length: levels + 1 }, (_, k) => (k * i) / levels);
    const space = Array.from({ length: i }, (_, j) => {
      if (bins[j] === 0) return -1;
      let k = 0;
      while (k + 1 < edges.length && edges[k + 1] <= j) k++;
      return k;
    });
    const dens = new Array(levels).fill(0);
    const members = new Array(levels).fill(0);
    space.forEach((k, j) => {
      if (k >= 0) {
        dens[k] += bins[j];
        members[k]++;
      }
    });
    const q = space.map((k) => (k >= 0 ? dens[k] / members[k] : 0));
    const p = bins.slice(0, i);
    p[i - 1] += bins.slice(i).reduce((a, b) => a + b, 0);
    const sq = q.reduce((a, b) => a + b, 0);
    let kl = 0;
    for (let j = 0; j < i; j++) {
      if (p[j] === 0) continue;
      kl += q[j] === 0 ? Infinity : (p[j] / total) * Math.log(p[j] / total / (q[j] / sq));
    }
    if (kl <= bestKl) [bestKl, bestI] = [kl, i];
  }
  return bestI;
}

describe("entropy", () => {
  const r = rng(13);
  const outliers = (n: number): Float64Array => uniform(r, n, 20, 40).map((x, i) => (i % 2 ? -x : x));
  const cases = [
    ["Gaussian", gaussian(r, 100000)],
    ["Laplacian", laplacian(r, 100000)],
  ] as const;

  for (const [name, body] of cases) {
    it(`${name} with outliers: clips the outliers, keeps >= 99% of the mass`, () => {
      const data = concat(body, outliers(30));
      const o = observed("entropy", data, [4096]);
      for (const bits of [8, 6, 4]) {
        const [lo, t] = o.range(int(bits), true);
        expect(lo).toBe(-t);
        expect(t, `${bits} bits`).toBeLessThan(20);
        const kept = body.filter((x) => Math.abs(x) <= t).length / body.length;
        expect(kept, `${bits} bits`).toBeGreaterThanOrEqual(0.99);
      }
    });
  }

  it("keeps the whole range of a uniform distribution (nothing to clip)", () => {
    const data = uniform(r, 50000, -1, 1);
    const o = observed("entropy", data);
    expect(o.range(int(8), true)[1]).toBeGreaterThan(0.95);
  });

  it("chooses the same threshold as a literal implementation of TensorRT's algorithm", () => {
    const data = concat(gaussian(r, 20000), outliers(10));
    const o = observed("entropy", data);
    const st = o.state() as HistogramState;
    for (const levels of [128, 32, 8, 4]) {
      expect(klThresholdBins(st.abs_hist.counts, levels), `${levels} levels`).toBe(referenceEntropyBins(st.abs_hist.counts, levels));
    }
    const i = klThresholdBins(st.abs_hist.counts, 128);
    expect(o.range(int(8), true)[1]).toBe(Math.min(i * st.abs_hist.width, st.abs_hist.max!));
  });

  it("asymmetric: one-signed data gets [0, t]-like ranges with all the codes", () => {
    const data = gaussian(r, 50000).map(Math.abs);
    const o = observed("entropy", concat(data, uniform(r, 20, 25, 30)));
    const [lo, hi] = o.range({ bits: 4, signed: false, narrow: false }, false);
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(lo).toBeLessThan(0.01);
    expect(hi).toBeLessThan(20);
    expect(data.filter((x) => x <= hi).length / data.length).toBeGreaterThanOrEqual(0.99);
    // The symmetric threshold uses half the levels on |x|, so it differs.
    expect(o.range({ bits: 4, signed: true, narrow: true }, true)[1]).not.toBe(hi);
  });
});

describe("batch-percentile", () => {
  it("is the mean over batches of each batch's exact percentile (Brevitas)", () => {
    const r = rng(14);
    const batches = [gaussian(r, 1000), gaussian(r, 257, 1, 3), laplacian(r, 4000), uniform(r, 10, -2, 5)];
    const p = 99.9;
    const o = parseObserver(`batch-percentile:${p}`).create();
    for (const b of batches) {
      // A batch may arrive in several pieces.
      o.observe(b.subarray(0, 100));
      o.observe(b.subarray(100));
      o.endBatch!();
    }
    o.endBatch!(); // an empty batch does not count
    const mean = (f: (b: Float64Array) => number): number => batches.reduce((a, b) => a + f(b), 0) / batches.length;
    const [lo, hi] = o.range(int(8), false);
    expect(lo).toBeCloseTo(mean((b) => exactQuantile(b, 1 - p / 100)), 12);
    expect(hi).toBeCloseTo(mean((b) => exactQuantile(b, p / 100)), 12);
    expect(o.range(int(4), true)[1]).toBeCloseTo(mean((b) => exactQuantile(b.map(Math.abs), p / 100)), 12);
    // An open batch counts as closed in range() and state(), without being closed.
    o.observe(Float64Array.of(100, -100));
    expect(o.range(int(8), true)[1]).toBeCloseTo((mean((b) => exactQuantile(b.map(Math.abs), p / 100)) * 4 + 100) / 5, 10);
    expect((o.state() as { batches: number }).batches).toBe(5);
  });
});

describe("selectQuantile", () => {
  it("equals the sort-based quantile, with duplicates and at every size", () => {
    const r = rng(16);
    for (const n of [1, 2, 3, 10, 599, 600, 601, 602, 5000]) {
      for (const distinct of [2, 50, 1e9]) {
        const a = Float64Array.from({ length: n }, () => Math.floor(r.nextFloat() * distinct) - distinct / 3);
        for (const q of [0, 0.001, 0.3, 0.5, 0.999, 0.9999, 1, r.nextFloat()]) {
          expect(selectQuantile(a.slice(), q), `${n} ${distinct} ${q}`).toBe(exactQuantile(a, q));
        }
      }
    }
  });
});

describe("observer states", () => {
  const r = rng(15);
  const data = concat(gaussian(r, 8000, 0.2, 1), [9, -6]);
  const specs = ["minmax", "percentile:99.9", "mse", "entropy", "batch-percentile:99"];

  it("restore to observers that give the same ranges at every bit width", () => {
    for (const spec of specs) {
      const live = observed(spec, data, [1000], 512);
      const restored = parseObserver(spec).restore(JSON.parse(JSON.stringify(live.state())));
      expect(restored.state()).toEqual(live.state());
      for (const bits of [8, 5, 3, 2]) {
        for (const sym of [true, false]) expect(restored.range(int(bits), sym), `${spec} ${bits} ${sym}`).toEqual(live.range(int(bits), sym));
      }
    }
  });

  it("a histogram state serves percentile, mse, entropy and minmax; batch percentiles serve only themselves", () => {
    const st = observed("percentile:99.9", data).state();
    expect(parseObserver("mse").restore(st).range(int(4), true)).toEqual(observed("mse", data).range(int(4), true));
    expect(parseObserver("entropy").restore(st).range(int(4), true)).toEqual(observed("entropy", data).range(int(4), true));
    expect(parseObserver("minmax").restore(st).range(int(4), false)).toEqual([-6, 9]);
    expect(() => parseObserver("batch-percentile:99.9").restore(st)).toThrow(InputError);
    const bst = observed("batch-percentile:99", data).state();
    expect(() => parseObserver("mse").restore(bst)).toThrow(/needs histograms/);
    expect(() => parseObserver("batch-percentile:99.9").restore(bst)).toThrow(/P = 99/);
  });

  it("rejects malformed states", () => {
    const st = observed("mse", data).state() as HistogramState;
    expect(() => parseObserver("mse").restore({ ...st, count: 3 })).toThrow(/counts differ/);
    expect(() => parseObserver("mse").restore({ ...st, hist: { ...st.hist, width: -1 } })).toThrow(/malformed/);
    expect(() => parseObserver("minmax").restore({ kind: "minmax", count: 1, min: 2, max: 1 })).toThrow(/min <= max/);
    expect(() => parseObserver("minmax").restore("x")).toThrow(InputError);
  });
});
