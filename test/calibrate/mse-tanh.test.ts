import { describe, expect, it } from "vitest";
import { histogramMse, histogramMseThrough, parseObserver } from "../../src/calibrate/observers.ts";
import { GrowingHistogram } from "../../src/calibrate/histogram.ts";
import { fakeQuantize, paramsFromRange, type IntFormat } from "../../src/quant/math.ts";
import { gaussian, laplacian, rng } from "./gen.ts";

const u4: IntFormat = { bits: 4, signed: false, narrow: false };

/** The empirical error after tanh of fake-quantizing `xs` with the range [lo, hi]. */
function tanhError(xs: ArrayLike<number>, lo: number, hi: number, f: IntFormat): number {
  const p = paramsFromRange(lo, hi, f, false);
  let e = 0;
  for (let i = 0; i < xs.length; i++) e += (Math.tanh(xs[i]) - Math.tanh(fakeQuantize(xs[i], p, f))) ** 2;
  return e / xs.length;
}

describe("mse-tanh: the range that minimises the error after the Tanh that reads the tensor", () => {
  // A cell-state-like tensor: most values within a few units, a long tail out to about 40.
  const xs = Float64Array.from(laplacian(rng(11), 20_000, 2.5), (v) => v * (1 + Math.abs(v) / 10));

  it("through the identity, the sampled error is the exact histogram MSE (within 1%)", () => {
    const h = new GrowingHistogram(2048);
    h.extend(Math.min(...xs), Math.max(...xs));
    for (const v of xs) h.addInExtent(v);
    const bins = h.nonEmptyBins();
    for (const [lo, hi] of [[-8, 8], [-3, 5], [-20, 20]]) {
      const exact = histogramMse(bins, lo, hi, u4, false);
      expect(Math.abs(histogramMseThrough(bins, lo, hi, u4, false, (x) => x) - exact)).toBeLessThan(0.01 * exact);
    }
  });

  it("for a tensor read by Tanh, clips where Tanh saturates and lowers the error after it on the data; elsewhere it is mse", () => {
    const fit = (spec: string, reader?: string) => {
      const o = parseObserver(spec).create();
      o.observe(xs);
      return o.range(u4, false, reader);
    };
    const mse = fit("mse");
    const tanh = fit("mse-tanh", "Tanh");
    expect(fit("mse-tanh", "Sigmoid")).toEqual(mse);
    expect(fit("mse-tanh")).toEqual(mse);
    // tanh(4) is within 0.1% of 1: a range much wider than that spends codes on values Tanh flattens.
    expect(Math.max(-tanh[0], tanh[1])).toBeLessThan(Math.max(-mse[0], mse[1]));
    expect(Math.max(-tanh[0], tanh[1])).toBeLessThan(5);
    expect(tanhError(xs, ...tanh, u4)).toBeLessThan(0.8 * tanhError(xs, ...mse, u4));
  });

  it("re-evaluates a table made with mse (the same histogram state)", () => {
    const o = parseObserver("mse").create();
    o.observe(gaussian(rng(3), 2000, 0, 3));
    const restored = parseObserver("mse-tanh").restore(o.state());
    expect(restored.range(u4, false)).toEqual(o.range(u4, false));
    expect(restored.range(u4, false, "Tanh")).not.toEqual(o.range(u4, false));
  });
});
