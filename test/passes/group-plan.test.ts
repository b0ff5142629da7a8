import { describe, expect, it } from "vitest";
import { findRoles, loadModel } from "../../src/graph/index.ts";
import { makePolicy, planWeights } from "../../src/passes/index.ts";
import { ROOT } from "../helpers.ts";

describe("group-wise weight scales in the weight plan", () => {
  it("block the LSTM's W and R along their inputs and leave the [inputs, outputs] MatMul head per channel", () => {
    const model = loadModel(`${ROOT}/models/wordnet8-gen.onnx`);
    const plan = planWeights(model, makePolicy({ bits: 4, groupSize: 32, exclude: [findRoles(model).scores.name] }));
    const blocks = Object.fromEntries(plan.targets.map((t) => [t.op, t.block ?? null]));
    expect(blocks.LSTM).toEqual({ axis: 2, size: 32 });
    // onnxruntime's MatMulIntegerToFloat fusion rejects blocked scales on [inputs, outputs] weights.
    expect(blocks.MatMul).toBeNull();
    expect(() => planWeights(model, makePolicy({ bits: 4, groupSize: 64 }))).toThrow(/wordnet8-gen\.onnx: weight '.*': group size 64 does not divide the input width 160/);
  });
});
