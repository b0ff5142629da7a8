import { describe, expect, it } from "vitest";
import { PairedMoments } from "../../src/calibrate/gpfq-moments.ts";
import { exposeScanInternals } from "../../src/calibrate/expose.ts";
import { runCalibration } from "../../src/calibrate/runner.ts";
import { parseCalibMode, selectCalibrationRows } from "../../src/calibrate/select.ts";
import type { CalibrationTable } from "../../src/calibrate/table.ts";
import { seededRng } from "../../src/data/random.ts";
import { DataType, findRoles, loadModel, newModel, serializeModel, Tensor, type Model } from "../../src/graph/index.ts";
import { makePolicy } from "../../src/passes/index.ts";
import { calibrate, gpfqPasses, gpfqSetting, plan, realize, recordGpfq, RealizeMemo, type QuantPlan } from "../../src/pipeline/index.ts";
import { fixtureModel } from "../helpers.ts";

/** Seeded rows of the fixture vocabulary, labelled by row. */
function pool(n: number, vocab: number, classes: number) {
  const rng = seededRng(7);
  const ids = Array.from({ length: n }, () => Array.from({ length: 2 + (rng.nextUint32() % 7) }, () => 2 + (rng.nextUint32() % (vocab - 2))));
  return { ids, labels: ids.map((_, i) => i % classes), source: "test:pool", sha256: "2".repeat(64) };
}

/**
 * GPFQ's recording as it was before the passes were cut down (the reference): one layer per
 * pass in data-flow order, each against the WHOLE float model and the WHOLE quantized model
 * realized from scratch (no memo), x and x̃ recorded by separate full-model runs.
 */
async function sequentialReference(planned: QuantPlan, table: CalibrationTable, data: ReturnType<typeof pool>, order: number[]): Promise<CalibrationTable> {
  const out: CalibrationTable = { ...table, gpfq: { setting: gpfqSetting(planned.policy, table.options.observer), moments: {} } };
  const expose = (copy: Model, values: Parameters<typeof exposeScanInternals>[1]) => new Map(exposeScanInternals(copy, values).map((e) => [e.value.name, e.output.name]));
  const record = async (model: Model, name: string) => {
    const runs: { values: Float32Array; dims: readonly number[] }[] = [];
    await runCalibration(model, [name], data, order, { tensor: (_n, v, _l, dims) => runs.push({ values: Float32Array.from(v), dims }), endBatch() {} }, { expose }, findRoles(model));
    return runs;
  };
  for (const w of gpfqPasses(planned).flat()) {
    const target = planned.gptq.find((t) => t.weight === w.value)!;
    const quant = realize(planned, out).model;
    const twin = quant.allNodes().find((n) => n.name === w.gptq!.node.name && n.opType === w.gptq!.node.opType)!;
    const from = w.gptq!.rule.from;
    const quantInput = ("input" in from ? twin.inputs[from.input] : twin.outputs[from.previousOutput])!.name;
    const [xs, xqs] = [await record(planned.model, target.input.name), await record(quant, quantInput)];
    const acc = new PairedMoments(target.kind);
    xs.forEach((x, k) => acc.add(x.values, xqs[k].values, x.dims));
    out.gpfq!.moments[w.value.name] = acc.entries(target.input.name, quantInput);
  }
  return out;
}

const CASES = [
  { name: "disc-tiny", vocab: 50, classes: 4, internals: true, observer: "mse" },
  { name: "bilstm-tiny", vocab: 40, classes: 4, internals: false, observer: "minmax" },
  { name: "gen-tiny", vocab: 30, classes: 3, internals: true, observer: "mse" },
];

describe("GPFQ's recording in pruned, grouped passes with a shared realize memo", () => {
  for (const c of CASES) {
    it(`${c.name}${c.internals ? " (LSTM internals)" : ""}: the same moments and the same quantized model as one whole-model pass per layer`, async () => {
      const source = loadModel(fixtureModel(c.name));
      const data = pool(40, c.vocab, c.classes);
      // The study's setting: per-tensor weights clipped for the least squared error, 3 bits.
      const planned = plan(source, makePolicy({ bits: 3, granularity: "per-tensor", lstmInternals: c.internals, rounding: "gpfq", weightClip: "mse", exclude: [findRoles(source).scores.name] }));
      const { table } = await calibrate(planned, data, { mode: "balanced", size: 40, seed: 0, observer: c.observer, numClasses: c.classes, modelFile: "m.onnx", modelSha256: "0".repeat(64) });
      const order = selectCalibrationRows(data.labels.map((label) => ({ label })), parseCalibMode("balanced", c.classes), 40, 0).indices;

      const memo = new RealizeMemo();
      const fast = await recordGpfq(planned, table, data, { numClasses: c.classes, memo });
      const reference = await sequentialReference(planned, table, data, order);
      expect(Object.keys(fast.gpfq!.moments)).toEqual(Object.keys(reference.gpfq!.moments));
      expect(fast.gpfq).toEqual(reference.gpfq);
      // The last realize through the memo is the model realized from scratch, byte for byte.
      const viaMemo = realize(planned, fast, { memo }).model;
      const fresh = realize(planned, reference).model;
      expect(Buffer.from(serializeModel(viaMemo)).equals(Buffer.from(serializeModel(fresh)))).toBe(true);
    });
  }

  it("cuts a chain of layers into one pass per layer (LSTM W, then R, then the head)", () => {
    const source = loadModel(fixtureModel("disc-tiny"));
    const planned = plan(source, makePolicy({ bits: 3, lstmInternals: true, rounding: "gpfq" }));
    const passes = gpfqPasses(planned).map((p) => p.map((w) => w.value.name));
    expect(passes.flat().length).toBe(planned.gptq.length);
    expect(passes.every((p) => p.length === 1)).toBe(true);
  });

  it("puts layers that read one input in one pass, and a layer that reads their outputs in the next", () => {
    // x -> MatMul(a), MatMul(b) (both read x: one pass) -> Add -> MatMul(c) (reads both: the next pass).
    const model = newModel({ "": 17 });
    const g = model.graph;
    const x = g.addInput("x", DataType.FLOAT, [1, 4]);
    const rng = seededRng(3);
    const weight = (name: string, dims: number[]) => g.addInitializer(Tensor.float32(name, dims, Array.from({ length: dims[0] * dims[1] }, () => rng.nextUint32() / 2 ** 32 - 0.5)));
    const ya = g.addNode({ opType: "MatMul", inputs: [x, weight("a", [4, 3])], outputs: ["ya"], name: "ma" }).outputs[0]!;
    const yb = g.addNode({ opType: "MatMul", inputs: [x, weight("b", [4, 3])], outputs: ["yb"], name: "mb" }).outputs[0]!;
    const sum = g.addNode({ opType: "Add", inputs: [ya, yb], outputs: ["sum"], name: "add" }).outputs[0]!;
    const y = g.addNode({ opType: "MatMul", inputs: [sum, weight("c", [3, 2])], outputs: ["y"], name: "mc" }).outputs[0]!;
    g.addOutput(y, DataType.FLOAT, [1, 2]);
    const planned = plan(model, makePolicy({ bits: 4, rounding: "gpfq" }));
    expect(gpfqPasses(planned).map((p) => p.map((w) => w.value.name))).toEqual([["a", "b"], ["c"]]);
  });
});
