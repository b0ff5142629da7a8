import { describe, expect, it } from "vitest";
import { correctBias, correctLstmBias } from "../../src/quant/bias-correction.ts";
import { dequantizeTensor, quantizeTensor } from "../../src/quant/math.ts";
import { gaussian, randomWeights, rng } from "./problems.ts";

const format = { bits: 3, signed: true, narrow: true };

/** Samples [count, n] with a non-zero mean per column (as tanh'd hidden states and embeddings have). */
function samples(count: number, n: number, r: () => number): Float64Array {
  const offset = Array.from({ length: n }, () => gaussian(r));
  return Float64Array.from({ length: count * n }, (_, i) => offset[i % n] + 0.5 * gaussian(r));
}

function columnMean(x: Float64Array, n: number): Float64Array {
  const m = new Float64Array(n);
  for (let i = 0; i < x.length; i++) m[i % n] += x[i] / (x.length / n);
  return m;
}

/** Mean over samples of M x (M [rows, cols]). */
function meanProduct(M: ArrayLike<number>, rows: number, cols: number, x: Float64Array): Float64Array {
  const out = new Float64Array(rows);
  const count = x.length / cols;
  for (let s = 0; s < count; s++) {
    for (let r = 0; r < rows; r++) {
      let v = 0;
      for (let c = 0; c < cols; c++) v += M[r * cols + c] * x[s * cols + c];
      out[r] += v / count;
    }
  }
  return out;
}

function rtn(W: Float64Array, dims: number[]): Float32Array {
  return dequantizeTensor(quantizeTensor(W, dims, dims.length - 2, format, true), dims);
}

describe("bias correction", () => {
  it("makes the quantized layer's mean output on the calibration data equal the float layer's", () => {
    const r = rng(4);
    const rows = 12, cols = 20;
    const W = randomWeights(rows, cols, r);
    const Wq = rtn(W, [rows, cols]);
    const b = Float32Array.from({ length: rows }, () => gaussian(r));
    const x = samples(300, cols, r);
    const corrected = correctBias(b, W, Wq, rows, cols, columnMean(x, cols));
    const float = meanProduct(W, rows, cols, x);
    const quant = meanProduct(Wq, rows, cols, x);
    let before = 0;
    for (let o = 0; o < rows; o++) {
      expect(quant[o] + corrected[o]).toBeCloseTo(float[o] + b[o], 5);
      before = Math.max(before, Math.abs(quant[o] - float[o]));
    }
    // The correction had something to correct.
    expect(before).toBeGreaterThan(0.01);
    expect(Array.from(correctBias(undefined, W, W, rows, cols, columnMean(x, cols)))).toEqual(new Array(rows).fill(0));
  });

  it("corrects an LSTM's B: input part from E[x], recurrent part from E[h_prev], per direction", () => {
    const r = rng(11);
    const dirs = 2, hidden = 4, input = 6, G = 4 * hidden;
    const W = randomWeights(dirs * G, input, r);
    const R = randomWeights(dirs * G, hidden, r);
    const Wq = rtn(W, [dirs, G, input]);
    const Rq = rtn(R, [dirs, G, hidden]);
    const B = Float32Array.from({ length: dirs * 2 * G }, () => gaussian(r));
    const x = samples(200, input, r);
    const h = [samples(200, hidden, r), samples(200, hidden, r)];
    const corrected = correctLstmBias(B, { W, Wq, R, Rq, dirs, hidden, input }, columnMean(x, input), h.map((v) => columnMean(v, hidden)));
    for (let d = 0; d < dirs; d++) {
      const slice = (a: ArrayLike<number>, size: number) => Array.from({ length: size }, (_, i) => a[d * size + i]);
      const floatGates = [meanProduct(slice(W, G * input), G, input, x), meanProduct(slice(R, G * hidden), G, hidden, h[d])];
      const quantGates = [meanProduct(slice(Wq, G * input), G, input, x), meanProduct(slice(Rq, G * hidden), G, hidden, h[d])];
      for (let part = 0; part < 2; part++) {
        for (let g = 0; g < G; g++) {
          const at = d * 2 * G + part * G + g;
          // Each part on its own matches: Wb absorbs W's error, Rb R's.
          expect(quantGates[part][g] + corrected[at]).toBeCloseTo(floatGates[part][g] + B[at], 5);
        }
      }
    }
    expect(() => correctLstmBias(B, { W, Wq, R, Rq, dirs, hidden, input }, columnMean(x, input), [columnMean(h[0], hidden)])).toThrow(/one mean hidden state per direction/);
  });
});
