import { describe, expect, it } from "vitest";
import { seededRng } from "../../src/data/random.ts";
import { findRoles, loadModel, type Model } from "../../src/graph/index.ts";
import { makePolicy } from "../../src/passes/index.ts";
import { calibrate, plan, realize, RealizeMemo } from "../../src/pipeline/index.ts";
import { fixtureModel, rowScores, squaredError } from "../helpers.ts";

describe("--observer mse-tanh under --lstm-internals", () => {
  it("changes only the cell state's range (the one tensor only Tanh reads), from the same mse table", async () => {
    const source = loadModel(fixtureModel("disc-tiny"));
    const rng = seededRng(9);
    const ids = Array.from({ length: 48 }, () => Array.from({ length: 3 + (rng.nextUint32() % 10) }, () => 2 + (rng.nextUint32() % 48)));
    const data = { ids, labels: ids.map((_, i) => i % 4), source: "test:pool", sha256: "3".repeat(64) };
    const planned = plan(source, makePolicy({ bits: 4, granularity: "per-tensor", lstmInternals: true, exclude: [findRoles(source).scores.name] }));
    const { table } = await calibrate(planned, data, { mode: "balanced", size: 48, seed: 0, observer: "mse", numClasses: 4, modelFile: "m.onnx", modelSha256: "0".repeat(64) });
    const ranges = (observer: string) => {
      const memo = new RealizeMemo();
      const model = realize(planned, table, { observer, memo }).model;
      return { model, ranges: memo.ranges! };
    };
    const mse = ranges("mse");
    const tanh = ranges("mse-tanh");
    const cells = planned.activations.filter((a) => a.uses.every((u) => u.node.opType === "Tanh")).map((a) => a.value.name);
    expect(cells.length).toBeGreaterThan(0);
    expect(cells.every((c) => c.endsWith("/c"))).toBe(true);
    for (const [name, r] of mse.ranges) {
      if (cells.includes(name)) expect(tanh.ranges.get(name)).not.toEqual(r);
      else expect(tanh.ranges.get(name)).toEqual(r);
    }
    // Checked against the float model: the scores' squared error is lower with the cell state's range fitted after the Tanh.
    const float = await rowScores(source, ids);
    const error = async (m: Model) => squaredError(await rowScores(m, ids), float);
    const [eMse, eTanh] = [await error(mse.model), await error(tanh.model)];
    expect(eMse).toBeGreaterThan(0);
    expect(eTanh).toBeLessThan(eMse);
  });
});
