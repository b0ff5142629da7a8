import { describe, expect, it } from "vitest";
import { DataType, Tensor, newModel, serializeModel } from "../../src/graph/index.ts";
import { blockedScaleDims, dequantizeTensor, GROUP_SIZES, quantizeTensorBlocked } from "../../src/quant/math.ts";
import { runOrt } from "../helpers.ts";
import { randomWeights, rng } from "./problems.ts";

const int4 = { bits: 4, signed: true, narrow: true };

describe("group-wise (blocked) weight scales", () => {
  it("shape the scales as ONNX blocked DequantizeLinear reads them", () => {
    expect(blockedScaleDims([512, 256], 1, 64)).toEqual([512, 4]);
    expect(blockedScaleDims([256, 10], 0, 32)).toEqual([8, 10]);
    expect(blockedScaleDims([2, 1024, 128], 2, 128)).toEqual([2, 1024, 1]);
    expect(GROUP_SIZES).toEqual([32, 64, 128]);
  });

  it("refuse a group size that does not divide the input width or exceeds it", () => {
    expect(() => blockedScaleDims([16, 96], 1, 64)).toThrow("group size 64 does not divide the input width 96");
    expect(() => blockedScaleDims([16, 96], 1, 128)).toThrow("group size 128 exceeds the input width 96");
    expect(() => blockedScaleDims([16, 96], 1, 0)).toThrow("group size must be a positive integer, got 0");
    expect(() => quantizeTensorBlocked(new Float32Array(16 * 96), [16, 96], 1, 64, int4, true)).toThrow(/does not divide/);
  });

  it("take each group's scale from its own range, so a group of small weights keeps its resolution", () => {
    const W = new Float32Array(2 * 64);
    for (let i = 0; i < 64; i++) {
      W[i] = i < 32 ? 0.01 * (i % 5) : 1 + i / 64;
      W[64 + i] = -0.5;
    }
    const q = quantizeTensorBlocked(W, [2, 64], 1, 32, int4, true);
    expect(Array.from(q.scales)).toEqual([Math.fround(0.04), 1 + 63 / 64, 0.5, 0.5].map((m) => Math.fround(m / 7)));
    const back = dequantizeTensor(q, [2, 64]);
    for (let i = 0; i < 32; i++) expect(Math.abs(back[i] - W[i])).toBeLessThanOrEqual(0.003);
  });

  for (const [dims, axis] of [[[8, 64], 1], [[64, 6], 0], [[2, 8, 64], 2]] as [number[], number][]) {
    it(`dequantize as onnxruntime's blocked DequantizeLinear does (dims [${dims}], axis ${axis}, block 32)`, async () => {
      const n = dims.reduce((a, b) => a * b, 1);
      const W = Float32Array.from(randomWeights(1, n, rng(n + axis)));
      const q = quantizeTensorBlocked(W, dims, axis, 32, int4, true);
      const model = newModel({ "": 21 });
      const g = model.graph;
      const codes = g.addInitializer(Tensor.fromData("codes", DataType.INT4, dims, Int8Array.from(q.codes)));
      const scales = g.addInitializer(Tensor.fromData("scales", DataType.FLOAT, blockedScaleDims(dims, axis, 32), q.scales));
      const dq = g.addNode({ opType: "DequantizeLinear", inputs: [codes, scales], outputs: ["y"], attributes: { axis, block_size: 32 } });
      g.addOutput(dq.outputs[0]!, DataType.FLOAT, dims);
      const out = await runOrt(serializeModel(model), {});
      expect(Array.from(out.y.data as Float32Array)).toEqual(Array.from(dequantizeTensor(q, dims)));
    });
  }
});
