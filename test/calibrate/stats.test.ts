import { describe, expect, it } from "vitest";
import { Accumulator, TensorStats } from "../../src/calibrate/stats.ts";
import { concat, feed, gaussian, rng, uniform } from "./gen.ts";

/** Two-pass mean and population std of a stored copy (summing deviations from values[0]). */
function exact(values: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] - values[0];
  const mean = values[0] + s / values.length;
  let m2 = 0;
  for (let i = 0; i < values.length; i++) m2 += (values[i] - mean) ** 2;
  return { mean, std: Math.sqrt(m2 / values.length) };
}

describe("TensorStats", () => {
  it("count, min, max, mean and std match a two-pass computation, also far from zero", () => {
    const r = rng(20);
    // A large mean with a tiny spread defeats the E[x^2] - E[x]^2 shortcut.
    const data = concat(gaussian(r, 30000, 1e8, 1e-2), gaussian(r, 5000, 1e8 + 0.05, 1e-3));
    const s = new TensorStats();
    feed(data, [1, 999, 4096, 17], (b) => s.observe(b));
    const j = s.toJSON().stats;
    const e = exact(data);
    expect(j.count).toBe(data.length);
    expect(j.min).toBe(Math.min(...data));
    expect(j.max).toBe(Math.max(...data));
    expect(Math.abs(j.mean! - e.mean)).toBeLessThan(1e-7); // a few ulps of 1e8
    expect(Math.abs(j.std! - e.std) / e.std).toBeLessThan(1e-6);
    // The naive formula is far off here: the test data do exercise the stable update.
    const naiveVar = data.reduce((a, x) => a + x * x, 0) / data.length - e.mean ** 2;
    expect(Math.abs(naiveVar - e.std ** 2) / e.std ** 2).toBeGreaterThan(1e-3);
  });

  it("keeps per-class statistics equal to those of each class's values", () => {
    const r = rng(21);
    const byClass = [gaussian(r, 3000, -1, 1), uniform(r, 2000, 2, 9), gaussian(r, 10, 0, 5)];
    const s = new TensorStats({ numClasses: 4 });
    for (let k = 0; k < 10; k++) {
      for (let c = 0; c < 3; c++) {
        const part = byClass[c].subarray((k * byClass[c].length) / 10, ((k + 1) * byClass[c].length) / 10);
        s.observe(part, c);
      }
    }
    const j = s.toJSON();
    expect(j.per_class).toHaveLength(4);
    byClass.forEach((vals, c) => {
      const pc = j.per_class[c];
      const e = exact(vals);
      expect(pc.count).toBe(vals.length);
      expect(pc.min).toBe(Math.min(...vals));
      expect(pc.max).toBe(Math.max(...vals));
      expect(pc.mean).toBeCloseTo(e.mean, 10);
      expect(pc.std).toBeCloseTo(e.std, 10);
      expect(pc.histogram.counts.reduce((a, b) => a + b, 0)).toBe(vals.length);
    });
    // A class never observed reports count 0 and nulls.
    expect(j.per_class[3]).toMatchObject({ count: 0, min: null, max: null, mean: null, std: null });
    const all = concat(...byClass);
    expect(j.stats.count).toBe(all.length);
    expect(j.stats.mean).toBeCloseTo(exact(all).mean, 10);
    // The per-class list grows for a class index past numClasses.
    s.observe([1], 6);
    expect(s.toJSON().per_class).toHaveLength(7);
  });

  it("has a 64-bin histogram over the observed range, re-binned exactly as the range grows", () => {
    const r = rng(22);
    const data = concat(uniform(r, 100, 0, 1), gaussian(r, 5000, 3, 2), uniform(r, 100, -50, -40));
    const s = new TensorStats();
    feed(data, [100, 2500, 2500, 100], (b) => s.observe(b));
    const h = s.toJSON().stats.histogram;
    expect(h.bins).toBe(64);
    expect(h.counts.length).toBeLessThanOrEqual(64);
    const fresh = new Array(h.counts.length).fill(0);
    for (const x of data) fresh[Math.floor(x / h.width) - h.offset]++;
    expect(h.counts).toEqual(fresh);
    expect([h.min, h.max]).toEqual([Math.min(...data), Math.max(...data)]);
  });

  it("counts non-finite values apart and serialises to plain JSON", () => {
    const s = new TensorStats({ numClasses: 2 });
    s.observe([1, 2, NaN, 3, Infinity], 1);
    const j = s.toJSON();
    expect(j.stats).toMatchObject({ count: 3, nonfinite: 2, min: 1, max: 3, mean: 2 });
    expect(j.stats.std).toBeCloseTo(Math.sqrt(2 / 3), 14);
    expect(JSON.parse(JSON.stringify(j))).toEqual(j);
    const a = new Accumulator();
    a.observe([]);
    expect(a.toJSON()).toMatchObject({ count: 0, min: null, std: null, histogram: { counts: [], min: null } });
  });
});
