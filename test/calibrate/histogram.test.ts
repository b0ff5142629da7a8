import { describe, expect, it } from "vitest";
import { GrowingHistogram } from "../../src/calibrate/histogram.ts";
import { concat, exactQuantile, feed, gaussian, laplacian, rng, uniform } from "./gen.ts";

/** Counts `values` afresh on the histogram's final grid. */
function rebin(values: ArrayLike<number>, h: GrowingHistogram): number[] {
  const { offset, counts } = h.window();
  const out = new Array(counts.length).fill(0);
  for (let i = 0; i < values.length; i++) out[Math.floor(values[i] / h.width) - offset]++;
  return out;
}

describe("GrowingHistogram", () => {
  it("grows by sliding and doubling, and every value stays in the bin that contains it", () => {
    const r = rng(1);
    // Each batch pushes the range out: small, then to the left, then far to the right.
    const batches = [uniform(r, 500, 0, 1), uniform(r, 500, -5, 3), gaussian(r, 2000, 40, 3), uniform(r, 300, -0.5, 0.5), Float64Array.of(250)];
    const h = new GrowingHistogram(64);
    for (const b of batches) h.add(b);
    const all = concat(...batches);
    expect(h.count).toBe(all.length);
    expect(h.min).toBe(Math.min(...all));
    expect(h.max).toBe(Math.max(...all));
    expect(Array.from(h.window().counts)).toEqual(rebin(all, h));
    // The width stays within a factor 2 of the ideal (max - min) / (bins - 2).
    expect(h.width).toBeLessThan((2 * (h.max - h.min)) / 62);
    expect(h.window().counts.length).toBeLessThanOrEqual(64);
  });

  it("starts as a point mass while every value is equal, then spreads", () => {
    const h = new GrowingHistogram(16);
    h.add([0, 0, 0]);
    expect(h.width).toBe(0);
    expect(h.quantile(0.5)).toBe(0);
    h.add([0, 0]);
    expect(h.count).toBe(5);
    h.add([1, 2, 3, 4]);
    expect(h.width).toBeGreaterThan(0);
    expect(Array.from(h.window().counts)).toEqual(rebin([0, 0, 0, 0, 0, 1, 2, 3, 4], h));
    expect(h.quantile(0)).toBe(0);
    expect(h.quantile(1)).toBe(4);
  });

  it("skips NaN and infinities", () => {
    const h = new GrowingHistogram(8);
    expect(h.add([1, NaN, 2, Infinity, -Infinity, 3])).toBe(3);
    expect([h.count, h.min, h.max]).toEqual([3, 1, 3]);
  });

  it("keeps 0 in the extent when asked (histograms of |x|)", () => {
    const h = new GrowingHistogram(32, { includeZero: true });
    h.add([5, 6, 7]);
    expect(h.min).toBe(0);
    expect(h.window().offset).toBe(0);
  });

  it("quantiles are within one bin width of the exact (sorted) quantile", () => {
    const r = rng(2);
    // Two separated modes leave empty bins between them; heavy tails stretch the range.
    const data = concat(gaussian(r, 20000, -3, 0.5), laplacian(r, 20000, 0.3).map((x) => x + 4), uniform(r, 50, 30, 60));
    for (const bins of [64, 2048]) {
      const h = new GrowingHistogram(bins);
      feed(data, [1000, 37, 5000], (b) => h.add(b));
      for (const q of [0, 1e-4, 0.01, 0.25, 0.4999, 0.5, 0.75, 0.99, 0.9999, 1]) {
        expect(Math.abs(h.quantile(q) - exactQuantile(data, q))).toBeLessThanOrEqual(h.width);
      }
    }
  });

  it("round-trips through JSON and rejects malformed states", () => {
    const r = rng(3);
    const h = new GrowingHistogram(64);
    h.add(gaussian(r, 1000));
    const j = JSON.parse(JSON.stringify(h.toJSON()));
    const back = GrowingHistogram.fromJSON(j);
    expect(back.toJSON()).toEqual(h.toJSON());
    expect(back.quantile(0.9)).toBe(h.quantile(0.9));
    expect(GrowingHistogram.fromJSON(new GrowingHistogram(8).toJSON()).count).toBe(0);
    expect(() => GrowingHistogram.fromJSON({ ...j, offset: j.offset + 1 }, "h")).toThrow(/h: offset/);
    expect(() => GrowingHistogram.fromJSON({ ...j, counts: j.counts.slice(1) }, "h")).toThrow(/counts/);
    expect(() => GrowingHistogram.fromJSON({ ...j, counts: [-1, ...j.counts.slice(1)] })).toThrow(/>= 0/);
    expect(() => GrowingHistogram.fromJSON({ ...j, min: null })).toThrow(/min and max/);
    expect(() => GrowingHistogram.fromJSON([1, 2])).toThrow(/object/);
  });
});
