import { describe, expect, it } from "vitest";
import { columnAbsMax, equalizationScales, equalizeEmbedding } from "../../src/quant/equalize.ts";
import { gaussian, rng } from "./problems.ts";

describe("embedding equalization", () => {
  it("chooses s_j = sqrt(max|x_j| / max|W_j|), rounded to a power of two, 1 where there is nothing to balance", () => {
    const s = equalizationScales([4, 1, 0, 9], [1, 4, 2, 0]);
    expect(Array.from(s)).toEqual([2, 0.5, 1, 1]);
    expect(Array.from(equalizationScales([3], [1], { powerOfTwo: false }))).toEqual([Math.sqrt(3)]);
    expect(Array.from(equalizationScales([8], [2], { alpha: 1 }))).toEqual([8]);
    expect(() => equalizationScales([1], [1], { alpha: 2 })).toThrow(/alpha must be in \[0, 1\], got 2/);
  });

  it("leaves W·E unchanged: W diag(s) diag(1/s) E equals W E exactly with power-of-two scales", () => {
    const r = rng(21);
    const vocab = 30, dim = 16, rows = 24;
    // Uneven columns, as trained embeddings have, so that s is far from 1.
    const E = Float32Array.from({ length: vocab * dim }, (_, i) => gaussian(r) * 2 ** ((i % dim) - 6));
    const W = Float32Array.from({ length: rows * dim }, () => gaussian(r) * 0.3);
    const s = equalizationScales(columnAbsMax(E, vocab, dim), columnAbsMax(W, rows, dim));
    expect(new Set(s).size).toBeGreaterThan(3);
    const eq = equalizeEmbedding(E, vocab, W, rows, dim, s);
    // The ranges moved towards each other: the spread of column maxima shrank.
    const spread = (m: Float64Array) => Math.max(...m) / Math.min(...m);
    expect(spread(columnAbsMax(eq.embedding, vocab, dim))).toBeLessThan(spread(columnAbsMax(E, vocab, dim)) / 100);
    for (let v = 0; v < vocab; v++) {
      for (let o = 0; o < rows; o++) {
        let before = Math.fround(0), after = Math.fround(0);
        for (let j = 0; j < dim; j++) {
          before = Math.fround(before + Math.fround(W[o * dim + j] * E[v * dim + j]));
          after = Math.fround(after + Math.fround(eq.weights[o * dim + j] * eq.embedding[v * dim + j]));
        }
        expect(after).toBe(before);
      }
    }
    expect(() => equalizeEmbedding(E, vocab, W, rows, dim, new Float64Array(dim))).toThrow(/positive and finite, got 0/);
  });
});
