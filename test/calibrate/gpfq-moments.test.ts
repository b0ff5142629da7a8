import { describe, expect, it } from "vitest";
import { PairedMoments } from "../../src/calibrate/gpfq-moments.ts";

describe("GPFQ's paired moments (H̃ = Σ x̃ x̃ᵀ, G = Σ x̃ xᵀ)", () => {
  it("sums a layer input's pairs (checked by hand)", () => {
    const m = new PairedMoments("matmul");
    // Two samples of n = 2: x = (1, 2), (3, -1); x̃ = (1, 1), (2, 0).
    m.add(Float32Array.from([1, 2, 3, -1]), Float32Array.from([1, 1, 2, 0]), [2, 2]);
    const [e] = m.entries("x", "xq");
    // H̃ = (1,1)(1,1)ᵀ + (2,0)(2,0)ᵀ = [[5, 1], [1, 1]].
    expect(e.data).toEqual([5, 1, 1, 1]);
    // G[i][j] = Σ x̃_i x_j = (1,1)ᵀ(1,2) + (2,0)ᵀ(3,-1) = [[1+6, 2-2], [1+0, 2+0]].
    expect(e.cross).toEqual([7, 0, 1, 2]);
    expect(e).toMatchObject({ input: "x", quant_input: "xq", n: 2, count: 2 });
  });

  it("takes an LSTM's previous states per direction from Y [T, dirs, B, H] (checked by hand)", () => {
    const m = new PairedMoments("lstm-r");
    // T = 3, 2 directions, 1 row, H = 1: Y[t][d]; the quantized model's Y is the float one plus 1.
    const y = Float32Array.from([1, 10, 2, 20, 3, 30]);
    const yq = Float32Array.from(y, (v) => v + 1);
    m.add(y, yq, [3, 2, 1, 1]);
    const [fwd, rev] = m.entries("Y", "Yq");
    // Forward steps read Y[t-1]: zero, 1, 2 (quantized: zero, 2, 3); reverse steps Y[t+1]: 20, 30, zero (21, 31, zero).
    expect(fwd.data).toEqual([2 * 2 + 3 * 3]);
    expect(fwd.cross).toEqual([2 * 1 + 3 * 2]);
    expect(rev.data).toEqual([21 * 21 + 31 * 31]);
    expect(rev.cross).toEqual([21 * 20 + 31 * 30]);
    expect([fwd.count, rev.count]).toEqual([3, 3]);
  });
});
