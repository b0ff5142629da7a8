import { describe, expect, it } from "vitest";
import {
  fakeQuantize,
  intRange,
  paramsFromRange,
  quantize,
  quantizeTensor,
  roundHalfEven,
} from "../../src/quant/math.ts";
import { dequantize } from "../../src/quant/qdq.ts";

describe("quantization math", () => {
  it("integer ranges for every width, signed or not, narrow or not", () => {
    expect(intRange({ bits: 8, signed: true, narrow: false })).toEqual({ qmin: -128, qmax: 127 });
    expect(intRange({ bits: 8, signed: true, narrow: true })).toEqual({ qmin: -127, qmax: 127 });
    expect(intRange({ bits: 4, signed: true, narrow: true })).toEqual({ qmin: -7, qmax: 7 });
    expect(intRange({ bits: 3, signed: false, narrow: false })).toEqual({ qmin: 0, qmax: 7 });
    expect(intRange({ bits: 2, signed: true, narrow: false })).toEqual({ qmin: -2, qmax: 1 });
    expect(() => intRange({ bits: 1, signed: true, narrow: false })).toThrow(/from 2 to 8/);
    expect(() => intRange({ bits: 9, signed: true, narrow: false })).toThrow(/from 2 to 8/);
  });

  it("rounds half to even like ONNX", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, -3]);
  });

  it("symmetric signed: zero point 0, the larger magnitude at the top code", () => {
    const f = { bits: 8, signed: true, narrow: true };
    const p = paramsFromRange(-0.5, 2.54, f, true);
    expect(p.zeroPoint).toBe(0);
    expect(p.scale).toBeCloseTo(0.02, 7);
    expect(quantize(2.54, p, f)).toBe(127);
    expect(quantize(-100, p, f)).toBe(-127);
  });

  it("asymmetric unsigned: the range ends map to the code ends and 0 is exact", () => {
    const f = { bits: 4, signed: false, narrow: false };
    const p = paramsFromRange(-1, 2, f, false);
    expect(p.scale).toBeCloseTo(0.2, 7);
    expect(p.zeroPoint).toBe(5);
    expect(quantize(-1, p, f)).toBe(0);
    expect(quantize(2, p, f)).toBe(15);
    expect(fakeQuantize(0, p, f)).toBe(0);
    // A range not containing 0 is widened to contain it.
    expect(paramsFromRange(1, 3, f, false).zeroPoint).toBe(0);
  });

  it("per-channel quantization uses each channel's own range", () => {
    const data = [1, -2, 0.5, 10, 20, -5];
    const f = { bits: 8, signed: true, narrow: true };
    const q = quantizeTensor(data, [2, 3], 0, f, true);
    expect(Array.from(q.scales)).toEqual([Math.fround(2 / 127), Math.fround(20 / 127)]);
    expect(Array.from(q.codes)).toEqual([64, -127, 32, 64, 127, -32]);
    const back = dequantize({ dims: [2, 3], codes: Int32Array.from(q.codes), scales: Float32Array.from(q.scales), zeroPoints: Int32Array.from(q.zeroPoints), axis: q.axis, blockSize: null });
    data.forEach((v, i) => expect(Math.abs(back[i] - v)).toBeLessThanOrEqual(q.scales[Math.floor(i / 3)] / 2 + 1e-7));
    const qAxis1 = quantizeTensor(data, [2, 3], 1, f, true);
    expect(qAxis1.scales.length).toBe(3);
    expect(() => quantizeTensor([1], [], 0, f, true)).toThrow(/axis 0 is outside a tensor of rank 0/);
  });

  it("fake-quantization error is at most half a step inside the range", () => {
    const f = { bits: 3, signed: true, narrow: false };
    const p = paramsFromRange(-1, 1, f, true);
    for (let x = -1; x <= 1; x += 0.01) expect(Math.abs(fakeQuantize(x, p, f) - x)).toBeLessThanOrEqual(p.scale / 2 + 1e-6);
  });
});
