import { describe, expect, it } from "vitest";
import { CrossMomentAccumulator, MeanAccumulator } from "../../src/calibrate/moments.ts";

describe("GPFQ and bias-correction statistics", () => {
  it("accumulates Σ x̃ xᵀ over pairs in batches (strided), independent of how rows are batched", () => {
    const quant = [1, 2, 0, -1, 3, 0.5];
    const float = [1.1, 1.9, 0.2, -1, 2.8, 0.4];
    const acc = new CrossMomentAccumulator(2);
    acc.addPairs(quant.slice(0, 4), float.slice(0, 4));
    acc.addPairs(quant.slice(4), float.slice(4));
    acc.addZeros(2);
    const expected = [0, 0, 0, 0];
    for (let s = 0; s < 3; s++) for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) expected[i * 2 + j] += quant[s * 2 + i] * float[s * 2 + j];
    const got = Array.from(acc.matrix());
    got.forEach((v, k) => expect(v).toBeCloseTo(expected[k], 12));
    // Not symmetric: x̃ and x play different parts.
    expect(got[1]).not.toBeCloseTo(got[2], 6);
    expect(acc.count).toBe(5);
    const strided = new CrossMomentAccumulator(2);
    strided.addPairs([9, 1, 2, 9, 0, -1], [9, 1.1, 1.9, 9, 0.2, -1], 1, 2, 3);
    expect(Array.from(strided.matrix()).map((v) => +v.toFixed(9))).toEqual(
      [1 * 1.1 + 0 * 0.2, 1 * 1.9 + 0 * -1, 2 * 1.1 + -1 * 0.2, 2 * 1.9 + -1 * -1].map((v) => +v.toFixed(9)),
    );
    expect(() => acc.addPairs([1, 2], [1])).toThrow(/differ in size/);
  });

  it("averages inputs, zero vectors counted", () => {
    const acc = new MeanAccumulator(2);
    acc.addRows([1, 2, 3, 4]);
    acc.addZeros(2);
    expect(Array.from(acc.mean())).toEqual([1, 1.5]);
    expect(Array.from(new MeanAccumulator(3).mean())).toEqual([0, 0, 0]);
  });
});
