import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as ort from "onnxruntime-node";
import { DataType, Tensor, loadModel, newModel, serializeModel, type Model } from "../../src/graph/index.ts";
import {
  PassManager,
  activationTargets,
  cleanupPass,
  emptyReport,
  gatherQuantizedRule,
  makePolicy,
  quantizationPipeline,
  quantizeWeightsPass,
  rulePass,
  upgradeOpsetPass,
  activationFormat,
} from "../../src/passes/index.ts";
import { intRange, paramsFromRange } from "../../src/quant/math.ts";
import { activationOf, dequantize, readQdq, weightOf, type QuantizedWeight } from "../../src/quant/qdq.ts";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { ROOT, fixtureModel, idsFeed, runOrt, tempDir } from "../helpers.ts";

const ROWS = [[3, 4, 5, 6, 7], [8, 9], [10, 11, 12], [1]];

/** Weights quantized by the real passes (with the embedding's rows gathered before dequantizing). */
function quantizeWeights(name: string, opts: { bits: number; granularity?: "per-channel" | "per-tensor"; packInt4?: boolean }): Model {
  const model = loadModel(fixtureModel(name));
  const policy = makePolicy(opts);
  new PassManager([upgradeOpsetPass(opts.packInt4 ? 21 : 13), quantizeWeightsPass(policy, emptyReport()), rulePass(gatherQuantizedRule), cleanupPass], { validate: true }).run(model);
  return model;
}

/**
 * What onnxruntime computes for each weight: the DequantizeLinear's output or, for gathered
 * rows, the rows it gathers (with the indices it gathered, to pick the same rows of ours).
 */
async function ortWeights(model: Model, weights: QuantizedWeight[]): Promise<Map<QuantizedWeight, { values: Float32Array; rows?: BigInt64Array }>> {
  const g = model.graph;
  for (const w of weights) {
    if (w.form === "dequantize") g.addOutput(w.output!, DataType.FLOAT);
    else {
      g.addOutput(w.gathers[0].output, DataType.FLOAT);
      g.addOutput(w.gathers[0].indices, DataType.INT64);
    }
  }
  const out = await runOrt(serializeModel(model), idsFeed(ROWS), { graphOptimizationLevel: "disabled" });
  return new Map(
    weights.map((w) =>
      w.form === "dequantize"
        ? [w, { values: out[w.output!.name].data as Float32Array }]
        : [w, { values: out[w.gathers[0].output.name].data as Float32Array, rows: out[w.gathers[0].indices.name].data as BigInt64Array }],
    ),
  );
}

describe("readQdq: weights", () => {
  for (const name of ["disc-tiny", "bilstm-tiny", "gen-tiny"]) {
    for (const granularity of ["per-channel", "per-tensor"] as const) {
      it(`${name} ${granularity}: every weight at 2..8 bits, dequantized bit-for-bit as onnxruntime does`, async () => {
        for (const bits of [2, 3, 4, 8]) {
          const model = quantizeWeights(name, { bits, granularity });
          const qdq = readQdq(model);
          const dqs = model.allNodes().filter((n) => n.opType === "DequantizeLinear" && n.inputs[0]?.initializer).length;
          // The embedding is gathered by rows; every other weight is a DequantizeLinear of its codes.
          expect(qdq.weights.filter((w) => w.form === "gathered-rows").length).toBeGreaterThanOrEqual(1);
          expect(qdq.weights.filter((w) => w.form === "dequantize").length).toBe(dqs);
          for (const w of qdq.weights) {
            expect(w.bits, `${w.name} at ${bits} bits`).toBe(bits);
            expect(w.packed).toBe(false);
            expect(w.codeType).toBe(DataType.INT8);
            const { qmin, qmax } = intRange({ bits, signed: true, narrow: true });
            expect(Math.min(...w.codes)).toBeGreaterThanOrEqual(qmin);
            expect(Math.max(...w.codes)).toBeLessThanOrEqual(qmax);
            expect(w.readers.length).toBeGreaterThan(0);
            if (granularity === "per-tensor") expect(w.axis).toBeNull();
          }
          const lstm = model.allNodes().find((n) => n.opType === "LSTM")!;
          for (const input of [1, 2]) {
            const w = weightOf(qdq, lstm.inputs[input]);
            expect(w?.readers).toContain(lstm);
            if (granularity === "per-channel") expect(w?.axis).toBe(1);
          }
          const reference = await ortWeights(model, qdq.weights);
          for (const w of qdq.weights) {
            const all = dequantize(w);
            const { values: theirs, rows } = reference.get(w)!;
            // Gathered tables are checked on the rows the model looked up.
            const width = w.dims[1];
            const mine = rows ? Float32Array.from({ length: rows.length * width }, (_, i) => all[Number(rows[Math.floor(i / width)]) * width + (i % width)]) : all;
            expect(theirs.length).toBe(mine.length);
            for (let i = 0; i < mine.length; i++) if (mine[i] !== theirs[i]) expect(`${w.name}[${i}] = ${mine[i]}`).toBe(`${w.name}[${i}] = ${theirs[i]}`);
          }
        }
      });
    }
  }

  it("packed INT4 weights: packed, 4 bits, and unpacked codes that match the int8 form", () => {
    const packed = readQdq(quantizeWeights("disc-tiny", { bits: 4, packInt4: true }));
    const plain = readQdq(quantizeWeights("disc-tiny", { bits: 4 }));
    const lstmW = packed.weights.filter((w) => w.readers.some((n) => n.opType === "LSTM"));
    expect(lstmW).toHaveLength(2);
    for (const w of lstmW) {
      expect(w.packed).toBe(true);
      expect(w.codeType).toBe(DataType.INT4);
      expect(w.bits).toBe(4);
      const same = plain.weights.find((p) => p.name === w.name)!;
      expect(Array.from(w.codes)).toEqual(Array.from(same.codes));
      expect(Array.from(dequantize(w))).toEqual(Array.from(dequantize(same)));
    }
  });

  it("a float model has no quantized tensors", () => {
    const qdq = readQdq(loadModel(fixtureModel("gen-tiny")));
    expect(qdq).toEqual({ meta: null, weights: [], activations: [] });
  });
});

describe("readQdq: activations", () => {
  for (const bits of [8, 5, 3]) {
    it(`disc-tiny at ${bits} bits: every activation target with its scale, zero point and Clip bounds`, () => {
      const model = loadModel(fixtureModel("disc-tiny"));
      const policy = makePolicy({ bits, exclude: [model.graph.outputs[0].name] });
      const targets = activationTargets(model, policy).map((t) => t.value.name);
      const ranges = new Map(targets.map((t, i) => [t, [-0.5 - i, 1 + i] as [number, number]]));
      const report = emptyReport();
      quantizationPipeline(model, policy, ranges, report).run(model);
      const qdq = readQdq(model);
      expect(qdq.activations.map((a) => a.value.name).sort()).toEqual([...targets].sort());
      const format = activationFormat(policy, bits);
      const { qmin, qmax } = intRange(format);
      for (const a of qdq.activations) {
        const p = paramsFromRange(...ranges.get(a.value.name)!, format, policy.activationSymmetric);
        expect({ scale: a.scale, zeroPoint: a.zeroPoint, bits: a.bits, qmin: a.qmin, qmax: a.qmax, clip: a.clip !== null }).toEqual({
          scale: p.scale,
          zeroPoint: p.zeroPoint,
          bits,
          qmin,
          qmax,
          clip: bits < 8,
        });
        expect(a.signed).toBe(false);
        for (const r of a.readers) expect(activationOf(qdq, r.inputs.find((v) => v === a.output) ?? null)).toBe(a);
      }
      const lstm = model.allNodes().find((n) => n.opType === "LSTM")!;
      expect(activationOf(qdq, lstm.inputs[0])?.readers).toContain(lstm);
    });
  }
});

describe("dequantize: blocked quantization", () => {
  it("matches onnxruntime's blocked DequantizeLinear (opset 21), odd length along the axis", async () => {
    const dims = [5, 7];
    const block = 4;
    for (const axis of [0, 1]) {
      const sDims = dims.map((d, i) => (i === axis ? Math.ceil(d / block) : d));
      const codes = Int8Array.from({ length: 35 }, (_, i) => ((i * 7) % 15) - 7);
      const scales = Float32Array.from({ length: sDims[0] * sDims[1] }, (_, i) => 0.01 + i * 0.003);
      const zeros = Int8Array.from({ length: scales.length }, (_, i) => (i % 3) - 1);
      const m = newModel({ "": 21 });
      const g = m.graph;
      const c = g.addInitializer(Tensor.fromData("c", DataType.INT8, dims, codes));
      const s = g.addInitializer(Tensor.fromData("s", DataType.FLOAT, sDims, scales));
      const z = g.addInitializer(Tensor.fromData("z", DataType.INT8, sDims, zeros));
      const x = g.addInput("x", DataType.FLOAT, dims);
      const dq = g.addNode({ opType: "DequantizeLinear", inputs: [c, s, z], outputs: ["w"], attributes: { axis, block_size: block } });
      const add = g.addNode({ opType: "Add", inputs: [dq.outputs[0], x], outputs: ["y"] });
      g.addOutput(add.outputs[0]!, DataType.FLOAT, dims);
      const qdq = readQdq(m);
      expect(qdq.weights).toHaveLength(1);
      const w = qdq.weights[0];
      expect({ axis: w.axis, blockSize: w.blockSize }).toEqual({ axis, blockSize: block });
      const out = await runOrt(serializeModel(m), { x: new ort.Tensor("float32", new Float32Array(35), dims) });
      expect(Array.from(dequantize(w))).toEqual(Array.from(out.y.data as Float32Array));
    }
  });
});

describe("readQdq: a model written by quantize", () => {
  it("tiny-disc at 4 bits: the metadata, every reported weight and activation, nothing else", async () => {
    const dir = tempDir();
    const out = join(dir, "q4.onnx");
    const data = join(ROOT, "test", "zoo", "fixtures", "tiny-test.jsonl");
    const r = await quantizeModel({ model: join(ROOT, "test", "zoo", "fixtures", "tiny-disc.onnx"), out, bits: 4, calib: "balanced", data, calibSize: 30, saveCalibTable: false });
    const qdq = readQdq(loadModel(out));
    expect(qdq.meta?.wbits).toBe(4);
    expect(qdq.meta?.lstm_internals).toBe(false);
    const names = (kind: string): string[] => r.details.filter((d) => d.kind === kind).map((d) => d.name).sort();
    expect(qdq.weights.map((w) => w.name).sort()).toEqual(names("weight"));
    expect(qdq.activations.map((a) => a.value.name).sort()).toEqual(names("activation"));
    for (const x of [...qdq.weights, ...qdq.activations]) expect(x.bits).toBe(4);
    expect(qdq.weights.find((w) => w.name === "emb.weight")?.form).toBe("gathered-rows");
  });
});
