import { describe, expect, it } from "vitest";
import { seededRng } from "../../src/data/random.ts";
import { dequantizeTensor, quantizeTensor, quantizeTensorBlocked, type IntFormat } from "../../src/quant/math.ts";

/** Seeded heavy-tailed weights (a few large values per row), as trained LSTMs have. */
function weights(rows: number, cols: number): Float32Array {
  const rng = seededRng(3);
  const u = () => rng.nextUint32() / 2 ** 32;
  return Float32Array.from({ length: rows * cols }, () => {
    const g = Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u());
    return u() < 0.02 ? g * 6 : g;
  });
}

/** Squared rounding error per row of a [rows, cols] tensor. */
function rowErrors(w: Float32Array, q: Float32Array, rows: number, cols: number): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let s = 0;
    for (let c = 0; c < cols; c++) s += (w[r * cols + c] - q[r * cols + c]) ** 2;
    return s;
  });
}

describe("MSE weight clipping (--weight-clip mse)", () => {
  const rows = 16, cols = 64;
  const w = weights(rows, cols);
  for (const bits of [2, 3, 4]) {
    const f: IntFormat = { bits, signed: true, narrow: true };
    it(`at ${bits} bits: no channel's squared error above max scaling's, the total lower, scales no larger`, () => {
      const max = quantizeTensor(w, [rows, cols], 0, f, true);
      const mse = quantizeTensor(w, [rows, cols], 0, f, true, "mse");
      const eMax = rowErrors(w, dequantizeTensor(max, [rows, cols]), rows, cols);
      const eMse = rowErrors(w, dequantizeTensor(mse, [rows, cols]), rows, cols);
      eMse.forEach((e, r) => expect(e).toBeLessThanOrEqual(eMax[r] * (1 + 1e-6)));
      const total = (a: number[]) => a.reduce((x, y) => x + y, 0);
      expect(total(eMse)).toBeLessThan(total(eMax) * (bits === 2 ? 0.8 : 0.99));
      mse.scales.forEach((s, r) => expect(s).toBeLessThanOrEqual(max.scales[r]));
      // The default is max scaling, unchanged.
      expect(quantizeTensor(w, [rows, cols], 0, f, true, "max")).toEqual(max);
    });
  }

  it("clips each block of a group-wise quantization on its own", () => {
    const f: IntFormat = { bits: 2, signed: true, narrow: true };
    const max = quantizeTensorBlocked(w, [rows, cols], 1, 32, f, true);
    const mse = quantizeTensorBlocked(w, [rows, cols], 1, 32, f, true, "mse");
    expect(mse.scales.length).toBe(rows * 2);
    const err = (q: typeof max) => rowErrors(w, dequantizeTensor(q, [rows, cols]), rows, cols).reduce((a, b) => a + b, 0);
    expect(err(mse)).toBeLessThan(err(max) * 0.8);
  });
});
