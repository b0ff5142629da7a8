import { describe, expect, it } from "vitest";
import { HessianAccumulator, addLstmPreviousStates } from "../../src/calibrate/hessian.ts";

describe("layer-input second moments", () => {
  it("sums x xᵀ over the rows of the last axis", () => {
    const acc = new HessianAccumulator(2);
    acc.addRows(Float32Array.from([1, 2, 3, 4, 0, 5]));
    expect(acc.count).toBe(3);
    expect(Array.from(acc.matrix())).toEqual([1 + 9, 2 + 12, 2 + 12, 4 + 16 + 25]);
  });

  it("takes an LSTM's previous hidden states from Y, per direction, zeros at the start", () => {
    // Y [T=3, dirs=2, B=1, H=1]: forward h = 1, 2, 3; reverse h = 10, 20, 30 (by time index).
    const y = Float32Array.from([1, 10, 2, 20, 3, 30]);
    const acc = [new HessianAccumulator(1), new HessianAccumulator(1)];
    addLstmPreviousStates(acc, y, [3, 2, 1, 1]);
    // Forward steps read Y[t-1]: 0, 1, 2. Reverse steps read Y[t+1]: 20, 30, 0.
    expect(acc[0].count).toBe(3);
    expect(acc[0].matrix()[0]).toBe(1 + 4);
    expect(acc[1].matrix()[0]).toBe(400 + 900);
  });
});
