import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { gpfqQuantize } from "../../src/quant/gpfq.ts";
import { outputError } from "../../src/quant/layout.ts";
import { dequantizeTensor, fakeQuantize, quantizeTensor } from "../../src/quant/math.ts";
import { DEBIAN_PYTHON, ROOT, pythonHas } from "../helpers.ts";
import { correlatedInputs, crossMoments, randomWeights, rng } from "./problems.ts";

const format = (bits: number) => ({ bits, signed: true, narrow: true });

/** Float inputs X, the "quantized model's" inputs Xq (X on a 4-bit activation grid) and a weight. */
function problem(rows: number, cols: number, samples: number, seed: number) {
  const r = rng(seed);
  const X = correlatedInputs(cols, samples, r);
  const act = { scale: 0.4, zeroPoint: 0 };
  const Xq = Float64Array.from(X, (v) => fakeQuantize(v, act, format(4)));
  const W = randomWeights(rows, cols, r);
  return { X, Xq, W, quant: crossMoments(Xq, Xq, samples, cols), cross: crossMoments(Xq, X, samples, cols), float: crossMoments(X, X, samples, cols) };
}

/** Mean over samples of ‖W x - Wq x̃‖²: the error GPFQ targets, computed from the data. */
function mismatchError(W: ArrayLike<number>, Wq: ArrayLike<number>, X: Float64Array, Xq: Float64Array, rows: number, cols: number): number {
  const samples = X.length / cols;
  let total = 0;
  for (let s = 0; s < samples; s++) {
    for (let o = 0; o < rows; o++) {
      let d = 0;
      for (let i = 0; i < cols; i++) d += W[o * cols + i] * X[s * cols + i] - Wq[o * cols + i] * Xq[s * cols + i];
      total += d * d;
    }
  }
  return total / samples;
}

describe("GPFQ rounding", () => {
  it.skipIf(!pythonHas("numpy"))("gives the codes of the original data-form GPFQ (NumPy reference) from the moments alone", () => {
    const rows = 10, cols = 24, samples = 200;
    const { X, Xq, W, quant, cross } = problem(rows, cols, samples, 3);
    const rtn = quantizeTensor(W, [rows, cols], 0, format(3), true);
    const codes = gpfqQuantize(W, rows, cols, { quant, cross }, rtn.scales, rtn.zeroPoints, format(3));
    const toRows = (a: Float64Array) => Array.from({ length: a.length / cols }, (_, s) => Array.from(a.subarray(s * cols, (s + 1) * cols)));
    const input = JSON.stringify({ X: toRows(X), Xq: toRows(Xq), W: toRows(W), scales: Array.from(rtn.scales), bits: 3 });
    const py = spawnSync(DEBIAN_PYTHON, [join(ROOT, "test", "quant", "reference", "gpfq_data.py")], { input, encoding: "utf8" });
    expect(py.status, py.stderr).toBe(0);
    const reference = (JSON.parse(py.stdout) as number[][]).flat();
    // Both sides work in float64 and round through float32 as onnxruntime does: the codes must
    // agree exactly (a tie within 1e-12 of a rounding boundary is the only way they could not).
    expect(Array.from(codes)).toEqual(reference);
    // And the walk did something: not all codes are round-to-nearest's.
    expect(reference.filter((c, i) => c !== rtn.codes[i]).length).toBeGreaterThan(rows);
  });

  for (const bits of [2, 3, 4]) {
    it(`at ${bits} bits, lowers the float-vs-quantized output mismatch below round-to-nearest's`, () => {
      const rows = 16, cols = 32;
      const { X, Xq, W, quant, cross } = problem(rows, cols, 400, 10 + bits);
      const rtn = quantizeTensor(W, [rows, cols], 0, format(bits), true);
      const deq = (c: Int32Array) => dequantizeTensor({ ...rtn, codes: c }, [rows, cols]);
      for (const actOrder of [false, true]) {
        const codes = gpfqQuantize(W, rows, cols, { quant, cross }, rtn.scales, rtn.zeroPoints, format(bits), { actOrder });
        expect(mismatchError(W, deq(codes), X, Xq, rows, cols)).toBeLessThan(mismatchError(W, deq(rtn.codes), X, Xq, rows, cols) * 0.9);
        for (const c of codes) expect(Math.abs(c)).toBeLessThanOrEqual(2 ** (bits - 1) - 1);
      }
    });
  }

  it("runs on GPTQ's moments alone (x̃ = x) and then lowers the plain output error", () => {
    const rows = 16, cols = 32;
    const { W, float } = problem(rows, cols, 400, 99);
    const rtn = quantizeTensor(W, [rows, cols], 0, format(3), true);
    const codes = gpfqQuantize(W, rows, cols, { quant: float }, rtn.scales, rtn.zeroPoints, format(3));
    const deq = (c: Int32Array) => dequantizeTensor({ ...rtn, codes: c }, [rows, cols]);
    expect(outputError(W, deq(codes), rows, cols, float, 400)).toBeLessThan(outputError(W, deq(rtn.codes), rows, cols, float, 400) * 0.9);
  });

  it("gives code zero to an input the quantized model never feeds, and is deterministic", () => {
    const rows = 4, cols = 6;
    const { W, quant, cross } = problem(rows, cols, 50, 8);
    for (let j = 0; j < cols; j++) {
      quant[2 * cols + j] = 0;
      quant[j * cols + 2] = 0;
      cross[2 * cols + j] = 0;
    }
    const rtn = quantizeTensor(W, [rows, cols], null, format(4), true);
    const a = gpfqQuantize(W, rows, cols, { quant, cross }, rtn.scales, rtn.zeroPoints, format(4), { actOrder: true });
    const b = gpfqQuantize(W, rows, cols, { quant, cross }, rtn.scales, rtn.zeroPoints, format(4), { actOrder: true });
    expect(Array.from(a)).toEqual(Array.from(b));
    for (let r = 0; r < rows; r++) expect(a[r * cols + 2]).toBe(0);
    expect(() => gpfqQuantize(W, rows, cols, { quant: quant.subarray(1) }, rtn.scales, rtn.zeroPoints, format(4))).toThrow(/must be 6 x 6/);
  });
});
