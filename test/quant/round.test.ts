import { describe, expect, it } from "vitest";
import { gpfqQuantize } from "../../src/quant/gpfq.ts";
import { gptqQuantize } from "../../src/quant/gptq.ts";
import { quantizeTensor, quantizeTensorBlocked } from "../../src/quant/math.ts";
import { roundInLayout } from "../../src/quant/round.ts";
import { correlatedInputs, crossMoments, randomWeights, rng } from "./problems.ts";

const format = { bits: 3, signed: true, narrow: true };

describe("rounding a weight in its op's layout", () => {
  const r = rng(17);
  const rows = 6, cols = 10;
  const X = correlatedInputs(cols, 120, r);
  const H = crossMoments(X, X, 120, cols);
  const W = randomWeights(rows, cols, r);

  it("treats MatMul's [inputs, outputs] weight as its transpose, per output channel", () => {
    const Wt = Float64Array.from({ length: rows * cols }, (_, i) => W[(i % rows) * cols + Math.floor(i / rows)]);
    const q = quantizeTensor(Wt, [cols, rows], 1, format, true);
    expect(roundInLayout(Wt, [cols, rows], "in-out", 1, q, [{ n: cols, data: H }], format, { kind: "gptq", actOrder: true })).toBe(true);
    const direct = gptqQuantize(W, rows, cols, H, q.scales, q.zeroPoints, format, { actOrder: true });
    for (let o = 0; o < rows; o++) for (let i = 0; i < cols; i++) expect(q.codes[i * rows + o]).toBe(direct[o * cols + i]);
  });

  it("rounds each LSTM direction with its own moments (GPFQ), on the gate-row scales the directions share", () => {
    const W2 = Float64Array.from([...W, ...W]);
    const H2 = crossMoments(correlatedInputs(cols, 120, r), correlatedInputs(cols, 120, rng(1)), 120, cols);
    const q = quantizeTensor(W2, [2, rows, cols], 1, format, true);
    const moments = [{ n: cols, data: H }, { n: cols, data: H, cross: H2 }];
    expect(roundInLayout(W2, [2, rows, cols], "dirs-out-in", 1, q, moments, format, { kind: "gpfq" })).toBe(true);
    // ONNX's per-channel scale on axis 1 is [4H]: one per gate row, for every direction.
    expect(q.scales).toHaveLength(rows);
    const first = gpfqQuantize(W, rows, cols, { quant: H }, q.scales, q.zeroPoints, format);
    const second = gpfqQuantize(W, rows, cols, { quant: H, cross: H2 }, q.scales, q.zeroPoints, format);
    expect(Array.from(first)).not.toEqual(Array.from(second));
    expect(Array.from(q.codes)).toEqual([...first, ...second]);
  });

  it("rounds on blocked scales (group-wise along the inputs) in each layout as on [rows, groups] scales", () => {
    const c = 64, rr = 4;
    const Xb = correlatedInputs(c, 200, rng(2));
    const Hb = crossMoments(Xb, Xb, 200, c);
    const Wb = randomWeights(rr, c, rng(3));
    const direct = (scales: ArrayLike<number>) => gptqQuantize(Wb, rr, c, Hb, scales, new Int32Array(scales.length), format, { groupSize: 32 });
    // out-in: scales [rows, groups] as they are.
    const q1 = quantizeTensorBlocked(Wb, [rr, c], 1, 32, format, true);
    const want = direct(q1.scales);
    expect(roundInLayout(Wb, [rr, c], "out-in", 0, q1, [{ n: c, data: Hb }], format, { kind: "gptq" })).toBe(true);
    expect(Array.from(q1.codes)).toEqual(Array.from(want));
    // in-out: the weight and its scales [groups, rows] transposed.
    const Wt = Float64Array.from({ length: rr * c }, (_, i) => Wb[(i % rr) * c + Math.floor(i / rr)]);
    const q2 = quantizeTensorBlocked(Wt, [c, rr], 0, 32, format, true);
    expect(Array.from(q2.scales)).toEqual(Array.from({ length: 2 * rr }, (_, i) => q1.scales[(i % rr) * 2 + Math.floor(i / rr)]));
    expect(roundInLayout(Wt, [c, rr], "in-out", 1, q2, [{ n: c, data: Hb }], format, { kind: "gptq" })).toBe(true);
    for (let o = 0; o < rr; o++) for (let i = 0; i < c; i++) expect(q2.codes[i * rr + o]).toBe(want[o * c + i]);
    // Blocks along the output channels are not a GPTQ grid.
    const q3 = quantizeTensorBlocked(Wb, [rr, c], 0, 2, format, true);
    expect(roundInLayout(Wb, [rr, c], "out-in", 0, q3, [{ n: c, data: Hb }], format, { kind: "gptq" })).toBe(false);
  });

  it("leaves the codes alone when the scales run along the inputs or the moments do not fit", () => {
    const q = quantizeTensor(W, [rows, cols], 1, format, true);
    const before = Array.from(q.codes);
    expect(roundInLayout(W, [rows, cols], "out-in", 0, q, [{ n: cols, data: H }], format, { kind: "gptq" })).toBe(false);
    const p = quantizeTensor(W, [rows, cols], 0, format, true);
    expect(roundInLayout(W, [rows, cols], "out-in", 0, p, [{ n: cols - 1, data: H }], format, { kind: "gptq" })).toBe(false);
    expect(Array.from(q.codes)).toEqual(before);
  });
});
