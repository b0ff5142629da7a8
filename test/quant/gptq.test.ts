import { describe, expect, it } from "vitest";
import { cholesky, gptqQuantize, spdInverse } from "../../src/quant/gptq.ts";
import { dequantize, quantizeTensor } from "../../src/quant/math.ts";
import { gaussian, rng } from "./problems.ts";

describe("linear algebra", () => {
  it("inverts an SPD matrix and factors it", () => {
    const A = Float64Array.from([4, 2, 0.6, 2, 5, 1, 0.6, 1, 3]);
    const inv = spdInverse(A, 3);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let k = 0; k < 3; k++) s += A[i * 3 + k] * inv[k * 3 + j];
        expect(s).toBeCloseTo(i === j ? 1 : 0, 12);
      }
    }
    const L = cholesky(A, 3);
    expect(L[0 * 3 + 1]).toBe(0);
    expect(L[0]).toBeCloseTo(2, 12);
    expect(() => cholesky(Float64Array.from([1, 2, 2, 1]), 2)).toThrow(/not positive definite/);
  });
});

describe("GPTQ rounding", () => {
  /** Correlated inputs (as LSTM inputs are), a weight matrix, and the output error of a quantization. */
  function setup(rows: number, cols: number, samples: number, seed: number) {
    const r = rng(seed);
    const mix = Array.from({ length: cols * cols }, () => gaussian(r) / Math.sqrt(cols));
    const X: number[][] = [];
    for (let s = 0; s < samples; s++) {
      const z = Array.from({ length: cols }, () => gaussian(r));
      X.push(Array.from({ length: cols }, (_, i) => z.reduce((acc, v, k) => acc + v * mix[i * cols + k], 0) + 0.3 * z[i]));
    }
    const W = Float64Array.from({ length: rows * cols }, () => gaussian(r) * 0.2);
    const H = new Float64Array(cols * cols);
    for (const x of X) for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) H[i * cols + j] += x[i] * x[j];
    const outputError = (Wq: ArrayLike<number>): number => {
      let e = 0;
      for (const x of X) {
        for (let o = 0; o < rows; o++) {
          let d = 0;
          for (let i = 0; i < cols; i++) d += (W[o * cols + i] - Wq[o * cols + i]) * x[i];
          e += d * d;
        }
      }
      return e / X.length;
    };
    return { W, H, outputError };
  }

  for (const bits of [3, 4, 8]) {
    it(`at ${bits} bits, lowers the layer's output error below round-to-nearest's`, () => {
      const rows = 16, cols = 24;
      const { W, H, outputError } = setup(rows, cols, 400, bits);
      const format = { bits, signed: true, narrow: true };
      const rtn = quantizeTensor(W, [rows, cols], 0, format, true);
      const codes = gptqQuantize(W, rows, cols, H, rtn.scales, rtn.zeroPoints, format);
      const deq = (c: ArrayLike<number>) => Float64Array.from({ length: rows * cols }, (_, i) => dequantize(c[i], { scale: rtn.scales[Math.floor(i / cols)], zeroPoint: 0 }));
      const eRtn = outputError(deq(rtn.codes));
      const eGptq = outputError(deq(codes));
      expect(eGptq).toBeLessThan(eRtn * (bits === 8 ? 1.0001 : 0.9));
      for (const c of codes) expect(Math.abs(c)).toBeLessThanOrEqual(2 ** (bits - 1) - 1);
    });
  }

  it("is deterministic and handles inputs that never vary", () => {
    const { W, H } = setup(4, 6, 50, 9);
    for (let j = 0; j < 6; j++) { H[2 * 6 + j] = 0; H[j * 6 + 2] = 0; }
    const format = { bits: 4, signed: true, narrow: true };
    const rtn = quantizeTensor(W, [4, 6], 0, format, true);
    const a = gptqQuantize(W, 4, 6, H, rtn.scales, rtn.zeroPoints, format);
    const b = gptqQuantize(W, 4, 6, H, rtn.scales, rtn.zeroPoints, format);
    expect(Array.from(a)).toEqual(Array.from(b));
    for (let r = 0; r < 4; r++) expect(a[r * 6 + 2]).toBe(0);
  });
});
