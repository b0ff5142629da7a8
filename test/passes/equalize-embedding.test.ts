import { describe, expect, it } from "vitest";
import { loadModel, serializeModel, type Model } from "../../src/graph/index.ts";
import { equalizeEmbeddingPass, type EqualizedPair } from "../../src/passes/equalize-embedding.ts";
import { idsFeed, ROOT, runOrt } from "../helpers.ts";
import { rng } from "../quant/problems.ts";

async function scores(model: Model, vocab: number): Promise<Float32Array> {
  const r = rng(5);
  const rows = Array.from({ length: 16 }, (_, i) => Array.from({ length: 3 + (i % 9) }, () => 2 + Math.floor(r() * (vocab - 2))));
  const out = await runOrt(serializeModel(model), idsFeed(rows), { graphOptimizationLevel: "basic" });
  return out[model.graph.outputs[0].name].data as Float32Array;
}

describe("embedding equalization on the zoo model", () => {
  it("rescales the WordNet-8 discriminative model's embedding and LSTM W and leaves its scores unchanged in onnxruntime (< 1e-5)", async () => {
    const model = loadModel(`${ROOT}/models/wordnet8-disc.onnx`);
    const E = model.graph.lookup("emb.weight")!;
    const before = Float32Array.from(E.initializer!.data as Float32Array);
    const expected = await scores(model, E.initializer!.dims[0]);
    const report: EqualizedPair[] = [];
    expect(equalizeEmbeddingPass({}, report).run(model)).toBe(true);
    expect(report).toHaveLength(1);
    expect(report[0].embedding).toBe("emb.weight");
    expect(report[0].weight).toBe(model.graph.nodes.find((n) => n.opType === "LSTM")!.inputs[1]!.name);
    expect(report[0].scaled).toBeGreaterThan(0);
    expect(Array.from(E.initializer!.data as Float32Array)).not.toEqual(Array.from(before));
    const got = await scores(model, E.initializer!.dims[0]);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
    expect(worst).toBeLessThan(1e-5);
  });

  it("leaves the embedding alone when its lookups are also a graph output (scaling would show)", () => {
    const model = loadModel(`${ROOT}/models/wordnet8-disc.onnx`);
    const gather = model.graph.nodes.find((n) => n.opType === "Gather" && n.inputs[0]?.name === "emb.weight")!;
    model.graph.addOutput(gather.outputs[0]!);
    expect(equalizeEmbeddingPass().run(model)).toBe(false);
  });

  it("follows the bidirectional zoo model's packed-sequence sort (a Gather of whole rows along the batch axis) and keeps its scores (< 1e-5)", async () => {
    const model = loadModel(`${ROOT}/models/wordnet8-bilstm.onnx`);
    const vocab = model.graph.lookup("emb.weight")!.initializer!.dims[0];
    const expected = await scores(model, vocab);
    const report: EqualizedPair[] = [];
    expect(equalizeEmbeddingPass({}, report).run(model)).toBe(true);
    expect(report).toEqual([expect.objectContaining({ embedding: "emb.weight", weight: model.graph.nodes.find((n) => n.opType === "LSTM")!.inputs[1]!.name })]);
    const got = await scores(model, vocab);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
    expect(worst).toBeLessThan(1e-5);
  });

  it("stops at a Gather along the feature axis (it would mix the columns' order)", () => {
    const model = loadModel(`${ROOT}/models/wordnet8-bilstm.onnx`);
    const emb = model.graph.nodes.find((n) => n.opType === "Gather" && n.inputs[0]?.name === "emb.weight")!;
    const sort = emb.outputs[0]!.consumers.find((n) => n.opType === "Gather")!;
    sort.setAttribute("axis", -1);
    expect(equalizeEmbeddingPass().run(model)).toBe(false);
  });
});
