import { describe, expect, it } from "vitest";
import { loadModel, serializeModel, Tensor, type Value } from "../../src/graph/index.ts";
import { columnAbsMax, equalizationScales, equalizeEmbedding } from "../../src/quant/equalize.ts";
import { idsFeed, ROOT, runOrt } from "../helpers.ts";
import { rng } from "./problems.ts";

describe("embedding equalization on the zoo model", () => {
  it("leaves the WordNet-8 discriminative model's scores unchanged in onnxruntime (< 1e-5)", async () => {
    const model = loadModel(`${ROOT}/models/wordnet8-disc.onnx`);
    const lstm = model.graph.nodes.find((n) => n.opType === "LSTM")!;
    const W = lstm.inputs[1]!;
    // The embedding table: the float matrix whose Gather feeds the LSTM (through a Transpose).
    const gather = model.graph.nodes.find((n) => n.opType === "Gather" && n.inputs[0]?.initializer?.dims.length === 2)!;
    const E = gather.inputs[0]!;
    expect(E.consumers).toEqual([gather]);
    expect(W.consumers).toEqual([lstm]);
    const [vocab, dim] = E.initializer!.dims;
    const [dirs, gates, input] = W.initializer!.dims;
    expect(input).toBe(dim);
    const e = E.initializer!.data as Float32Array;
    const w = W.initializer!.data as Float32Array;
    // The table's column maxima bound what the LSTM can see; calibration ranges would be tighter.
    const s = equalizationScales(columnAbsMax(e, vocab, dim), columnAbsMax(w, dirs * gates, dim));
    expect(s.some((v) => v !== 1)).toBe(true);
    const eq = equalizeEmbedding(e, vocab, w, dirs * gates, dim, s);
    const replace = (v: Value, data: Float32Array) => model.graph.setInitializer(v, Tensor.float32(v.name, [...v.initializer!.dims], data));
    const before = serializeModel(model);
    replace(E, eq.embedding);
    replace(W, eq.weights);
    const after = serializeModel(model);

    const r = rng(5);
    const rows = Array.from({ length: 16 }, (_, i) => Array.from({ length: 3 + (i % 9) }, () => 2 + Math.floor(r() * (vocab - 2))));
    const opts = { graphOptimizationLevel: "basic" as const };
    const a = (await runOrt(before, idsFeed(rows), opts)).logits.data as Float32Array;
    const b = (await runOrt(after, idsFeed(rows), opts)).logits.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    expect(worst).toBeLessThan(1e-5);
  });
});
