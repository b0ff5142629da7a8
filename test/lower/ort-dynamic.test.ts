import { describe, expect, it } from "vitest";
import { DataType, loadModel } from "../../src/graph/index.ts";
import { dynamicQuantize } from "../../src/lower/ort-dynamic.ts";
import { fixtureModel, rowScores, seededPool } from "../helpers.ts";

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
    const [a, b] = [await rowScores(float, rows), await rowScores(model, rows)];
    let agree = 0;
    let worst = 0;
    a.forEach((row, i) => {
      const top = (r: ArrayLike<number>) => Array.from(r).indexOf(Math.max(...Array.from(r)));
      if (top(row) === top(b[i])) agree++;
      const scale = Math.max(...Array.from(row, Math.abs));
      for (let j = 0; j < row.length; j++) worst = Math.max(worst, Math.abs(row[j] - b[i][j]) / scale);
    });
    // Measured: 40 of 40 agree, relative score error 0.009 (8-bit per-tensor weights on a barely trained fixture).
    expect(agree).toBeGreaterThanOrEqual(38);
    expect(worst).toBeLessThan(0.1);
  });
});
