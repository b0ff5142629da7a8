/**
 * Per-class scales for the generative models' label embedding: a pass-through weight that is a
 * matrix up to unit axes ([1, C, 1, d], read by Expand) is quantized per row along its first
 * real axis, one scale per class, like a rank-2 matrix per row.
 */
import { describe, expect, it } from "vitest";
import { Tensor, loadModel, serializeModel, type Model } from "../../src/graph/index.ts";
import { PassManager, cleanupPass, emptyReport, makePolicy, matrixRowAxis, quantizeWeightsPass, upgradeOpsetPass } from "../../src/passes/index.ts";
import { dequantize, readQdq } from "../../src/quant/qdq.ts";
import { ROOT, fixtureModel, idsFeed, runOrt } from "../helpers.ts";
import { join } from "node:path";

const ROWS = [[3, 4, 5, 6, 7], [8, 9], [10, 11, 12], [1]];
const MODELS: [string, string, string][] = [
  ["gen-tiny", fixtureModel("gen-tiny"), "onnx::Expand_231"],
  ["tiny-gen", join(ROOT, "test", "zoo", "fixtures", "tiny-gen.onnx"), "onnx::Expand_218"],
];

function quantized(path: string, bits: number, weightSymmetric = true): Model {
  const model = loadModel(path);
  const policy = makePolicy({ wbits: bits, abits: 8, weightSymmetric });
  new PassManager([upgradeOpsetPass(13), quantizeWeightsPass(policy, emptyReport()), cleanupPass], { validate: true }).run(model);
  return model;
}

/** The model with only `name`'s DequantizeLinear replaced by `values` as a float initializer. */
function withFloatWeight(model: Model, name: string, values: Float32Array): Uint8Array {
  const g = model.graph;
  const value = g.lookup(name)!;
  const dq = value.producer!;
  const dims = dq.inputs[0]!.initializer!.dims;
  g.removeNode(dq);
  g.setInitializer(value, Tensor.float32(name, dims, values));
  g.initializers.push(value);
  g.cleanup();
  return serializeModel(model);
}

async function scores(bytes: Uint8Array): Promise<Float32Array> {
  // `basic` keeps DequantizeLinear apart from MatMul (no MatMulNBits summation order).
  return Object.values(await runOrt(bytes, idsFeed(ROWS), { graphOptimizationLevel: "basic" }))[0].data as Float32Array;
}

describe("per-class label embedding scales", () => {
  it("the row axis of a matrix up to unit axes", () => {
    expect(matrixRowAxis([26, 32])).toBe(0);
    expect(matrixRowAxis([1, 32])).toBe(0); // rank 2 keeps axis 0
    expect(matrixRowAxis([1, 26, 1, 32])).toBe(1);
    expect(matrixRowAxis([26, 1, 32])).toBe(0);
    expect(matrixRowAxis([1, 1, 1, 32])).toBeNull();
    expect(matrixRowAxis([2, 3, 4])).toBeNull();
  });

  for (const [label, path, name] of MODELS) {
    it(`${label}: the label embedding's DequantizeLinear has axis 1 and one scale per class; onnxruntime equals a per-class dequantization in JS`, async () => {
      const float = loadModel(path);
      const table = float.graph.lookup(name)!.initializer!;
      const [, C, , d] = table.dims;
      const w = table.data as Float32Array;
      for (const bits of [2, 4, 8]) {
        const model = quantized(path, bits);
        const dq = model.graph.lookup(name)!.producer!;
        expect(dq.opType).toBe("DequantizeLinear");
        expect(dq.getInt("axis", 1)).toBe(1);
        expect(dq.inputs[1]!.initializer!.dims).toEqual([C]);
        const q = readQdq(model).weights.find((x) => x.name === name)!;
        expect(q.axis).toBe(1);
        // Symmetric narrow grid: each class's scale is its own largest magnitude over qmax.
        const qmax = 2 ** (bits - 1) - 1;
        const reference = new Float32Array(C * d);
        for (let c = 0; c < C; c++) {
          const row = w.subarray(c * d, (c + 1) * d);
          const maxAbs = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          expect(q.scales[c]).toBeCloseTo(maxAbs / qmax, 6);
          for (let j = 0; j < d; j++) {
            const code = q.codes[c * d + j];
            reference[c * d + j] = Math.fround(code * q.scales[c]);
            // Nearest rounding on the class's own grid.
            expect(Math.abs(reference[c * d + j] - row[j])).toBeLessThanOrEqual(q.scales[c] / 2 + 1e-7);
          }
        }
        // A class's scale never exceeds the one shared scale it replaces, and some are smaller.
        const shared = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / qmax;
        expect(Math.max(...q.scales)).toBeCloseTo(shared, 6);
        expect(Math.min(...q.scales)).toBeLessThan(shared);
        const a = await scores(serializeModel(model));
        const b = await scores(withFloatWeight(quantized(path, bits), name, reference));
        expect(a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0), `${bits} bits`).toBe(0);
      }
    });
  }

  it("tiny-gen asymmetric at 2 bits (the best recipe's codes): a scale and zero point per class, every element within half its class's step", () => {
    const [, path, name] = MODELS[1];
    const w = loadModel(path).graph.lookup(name)!.initializer!.data as Float32Array;
    const q = readQdq(quantized(path, 2, false)).weights.find((x) => x.name === name)!;
    expect(q.axis).toBe(1);
    expect([q.scales.length, q.zeroPoints.length]).toEqual([3, 3]);
    expect(new Set(q.scales).size).toBe(3);
    const d = w.length / 3;
    const back = dequantize(q);
    for (let i = 0; i < w.length; i++) expect(Math.abs(back[i] - w[i])).toBeLessThanOrEqual(q.scales[Math.floor(i / d)] / 2 + 1e-6);
  });
});
