import { describe, expect, it } from "vitest";
import { predictScores } from "../../src/eval/predict.ts";
import { DataType, loadModel, serializeModel } from "../../src/graph/index.ts";
import { dynamicQuantize } from "../../src/lower/ort-dynamic.ts";
import { fixtureModel, seededPool } from "../helpers.ts";
import { compare } from "./kernel-codes.ts";

describe("onnxruntime-style dynamic quantization (the bench baseline)", () => {
  it("with the embedding (quantize_dynamic's default): int8 table, DequantizeLinear after the Gather, scores close to float", async () => {
    const float = loadModel(fixtureModel("bilstm-tiny"));
    const model = loadModel(fixtureModel("bilstm-tiny"));
    expect(dynamicQuantize(model, { gather: true })).toEqual({ lstm: 1, matmul: 1, gather: 1 });
    const lookup = model.graph.nodes.find((n) => n.opType === "Gather" && n.inputs[0]?.initializer?.dataType === DataType.INT8);
    expect(lookup?.outputs[0]?.consumers.map((n) => n.opType)).toEqual(["DequantizeLinear"]);
    // No float table is left, and only shape Gathers (int64) read initializers otherwise.
    expect(model.graph.nodes.filter((n) => n.opType === "Gather" && n.inputs[0]?.initializer?.dataType === DataType.FLOAT)).toEqual([]);

    const rows = seededPool(40, lookup!.inputs[0]!.initializer!.dims[0], 4).ids;
    const opts = { batch: 1, intraOpThreads: 1 };
    const r = compare(await predictScores(serializeModel(float), rows, opts), await predictScores(serializeModel(model), rows, opts));
    // Measured: 40 of 40 agree, relative score error 0.009 (8-bit per-tensor weights on a barely trained fixture).
    expect(r.agreement).toBeGreaterThanOrEqual(38 / 40);
    expect(r.maxRel).toBeLessThan(0.1);
  });
});
