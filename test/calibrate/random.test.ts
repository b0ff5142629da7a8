import { describe, expect, it } from "vitest";
import { Mulberry32 } from "../../src/data/random.ts";

describe("Mulberry32", () => {
  it("is deterministic per seed and differs across seeds, including above 2^32", () => {
    const draw = (seed: number): number[] => {
      const r = new Mulberry32(seed);
      return Array.from({ length: 8 }, () => r.nextUint32());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    expect(draw(2 ** 32 + 42)).not.toEqual(draw(42));
    expect(draw(-1)).not.toEqual(draw(0));
    expect(draw(2 ** 32 + 42)).not.toEqual(draw(43));
    expect(() => new Mulberry32(0.5)).toThrow(RangeError);
  });

  it("draws integers in range, roughly uniformly", () => {
    const r = new Mulberry32(1);
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70000; i++) counts[r.nextInt(7)]++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400); // sd about 93
    for (let i = 0; i < 1000; i++) {
      const f = r.nextFloat();
      expect(f >= 0 && f < 1).toBe(true);
    }
  });

  it("samples without replacement and shuffles to a permutation", () => {
    const r = new Mulberry32(3);
    const a = Array.from({ length: 50 }, (_, i) => i);
    const s = r.sample(a, 20);
    expect(new Set(s).size).toBe(20);
    expect(a).toEqual(Array.from({ length: 50 }, (_, i) => i)); // input untouched
    expect(r.sample(a, 80)).toHaveLength(50);
    expect([...r.shuffle(a.slice())].sort((x, y) => x - y)).toEqual(a);
  });
});
