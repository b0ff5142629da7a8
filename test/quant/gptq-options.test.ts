import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decreasingDiagonal, gptqQuantize } from "../../src/quant/gptq.ts";
import { outputError } from "../../src/quant/layout.ts";
import { dequantizeTensor, quantizeTensor, quantizeTensorBlocked } from "../../src/quant/math.ts";
import { correlatedInputs, crossMoments, randomWeights, rng } from "./problems.ts";

const format = (bits: number) => ({ bits, signed: true, narrow: true });

/** A layer with correlated inputs whose energy differs a lot from input to input (act-order's case). */
function problem(rows: number, cols: number, samples: number, seed: number) {
  const r = rng(seed);
  const X = correlatedInputs(cols, samples, r);
  // Uneven input energy, as an LSTM's embedding columns and hidden units have.
  for (let s = 0; s < samples; s++) for (let i = 0; i < cols; i++) X[s * cols + i] *= 0.2 + (3 * ((i * 7) % cols)) / cols;
  const W = randomWeights(rows, cols, r);
  return { W, H: crossMoments(X, X, samples, cols), count: samples };
}

function dequantizeRows(codes: Int32Array, rows: number, cols: number, scales: Float32Array): Float32Array {
  return dequantizeTensor({ codes, scales, zeroPoints: new Int32Array(scales.length), axis: 0 }, [rows, cols]);
}

describe("GPTQ options", () => {
  it("gives, by default, the codes it gave before act-order and dampening became options", () => {
    // sha256 of the codes from src/quant/gptq.ts as of commit 106ccec (before this change).
    const { W, H } = problem(12, 20, 300, 41);
    const rtn = quantizeTensor(W, [12, 20], 0, format(3), true);
    const codes = gptqQuantize(W, 12, 20, H, rtn.scales, rtn.zeroPoints, format(3));
    const hash = createHash("sha256").update(new Uint8Array(codes.buffer)).digest("hex");
    expect(hash).toBe(GOLDEN);
    const explicit = gptqQuantize(W, 12, 20, H, rtn.scales, rtn.zeroPoints, format(3), { dampening: 0.01, actOrder: false });
    expect(Array.from(explicit)).toEqual(Array.from(codes));
  });

  it("orders columns by decreasing Hessian diagonal, ties by index", () => {
    const H = Float64Array.from([2, 0, 0, 0, 5, 0, 0, 0, 2]);
    expect(Array.from(decreasingDiagonal(H, 3))).toEqual([1, 0, 2]);
  });

  for (const bits of [2, 3, 4]) {
    it(`with act-order at ${bits} bits, stays below round-to-nearest's output error and changes the codes`, () => {
      const rows = 16, cols = 32;
      const { W, H, count } = problem(rows, cols, 500, 100 + bits);
      const rtn = quantizeTensor(W, [rows, cols], 0, format(bits), true);
      const plain = gptqQuantize(W, rows, cols, H, rtn.scales, rtn.zeroPoints, format(bits));
      const ordered = gptqQuantize(W, rows, cols, H, rtn.scales, rtn.zeroPoints, format(bits), { actOrder: true });
      const err = (codes: Int32Array) => outputError(W, dequantizeRows(codes, rows, cols, rtn.scales), rows, cols, H, count);
      expect(err(ordered)).toBeLessThan(err(rtn.codes) * 0.9);
      expect(err(plain)).toBeLessThan(err(rtn.codes) * 0.9);
      expect(Array.from(ordered)).not.toEqual(Array.from(plain));
      for (const c of ordered) expect(Math.abs(c)).toBeLessThanOrEqual(2 ** (bits - 1) - 1);
    });
  }

  it("takes dampening as a fraction of the mean diagonal and refuses a negative one", () => {
    const { W, H } = problem(8, 16, 200, 7);
    const rtn = quantizeTensor(W, [8, 16], 0, format(3), true);
    const light = gptqQuantize(W, 8, 16, H, rtn.scales, rtn.zeroPoints, format(3), { dampening: 0.001 });
    // With overwhelming dampening H is nearly diagonal and GPTQ falls back to rounding to nearest.
    const heavy = gptqQuantize(W, 8, 16, H, rtn.scales, rtn.zeroPoints, format(3), { dampening: 1e9 });
    expect(Array.from(heavy)).toEqual(Array.from(rtn.codes));
    expect(Array.from(light)).not.toEqual(Array.from(rtn.codes));
    expect(() => gptqQuantize(W, 8, 16, H, rtn.scales, rtn.zeroPoints, format(3), { dampening: -0.1 })).toThrow(/dampening must be a finite number >= 0, got -0.1/);
  });

  it("rounds on group-wise scales (one per row and 32 inputs) and beats their round-to-nearest", () => {
    const rows = 8, cols = 64;
    const { W, H, count } = problem(rows, cols, 400, 5);
    const rtn = quantizeTensorBlocked(W, [rows, cols], 1, 32, format(3), true);
    const codes = gptqQuantize(W, rows, cols, H, rtn.scales, rtn.zeroPoints, format(3), { groupSize: 32 });
    const deq = (c: Int32Array) => dequantizeTensor({ ...rtn, codes: c }, [rows, cols]);
    expect(outputError(W, deq(codes), rows, cols, H, count)).toBeLessThan(outputError(W, deq(rtn.codes), rows, cols, H, count) * 0.9);
    expect(() => gptqQuantize(W, rows, cols, H, rtn.scales, rtn.zeroPoints, format(3), { groupSize: 48 })).toThrow(/group size 48 does not divide the input width 64/);
    expect(() => gptqQuantize(W, rows, cols, H, rtn.scales, rtn.zeroPoints, format(3), { groupSize: 128 })).toThrow(/group size 128 exceeds the input width 64/);
  });
});

const GOLDEN = "fc11478c2565f870316cfcc71c80b440f50c3f5f586ca08add34db098db0098b";
