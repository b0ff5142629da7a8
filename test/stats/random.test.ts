import { describe, expect, it } from "vitest";
import { Xoshiro128 } from "../../src/stats/random.ts";

describe("Xoshiro128", () => {
  it("is reproducible and seed-dependent", () => {
    const draw = (seed: number): number[] => {
      const rng = new Xoshiro128(seed);
      return Array.from({ length: 8 }, () => rng.nextUint32());
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
    expect(draw(0)).not.toEqual(draw(2 ** 32)); // the high bits of the seed are used
    for (const v of draw(9)) expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
  });

  it("draws integers uniformly enough for resampling", () => {
    const rng = new Xoshiro128(123);
    const counts = new Array<number>(7).fill(0);
    const draws = 70000;
    for (let i = 0; i < draws; i++) counts[rng.nextInt(7)]++;
    // chi-square with 6 dof; 22.46 is its 0.999 quantile
    const expected = draws / 7;
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(22.46);
    const f = rng.nextFloat();
    expect(f >= 0 && f < 1).toBe(true);
  });

  it("rejects bad arguments", () => {
    expect(() => new Xoshiro128(0.5)).toThrow(RangeError);
    expect(() => new Xoshiro128(1).nextInt(0)).toThrow(RangeError);
  });
});
