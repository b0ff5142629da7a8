import { createHash } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { seededRng } from "../../src/data/random.ts";
import { DataType, InputError, Tensor, loadModel, newModel, serializeModel, type Model } from "../../src/graph/index.ts";
import { makePolicy } from "../../src/passes/index.ts";
import { calibrate, plan, realize } from "../../src/pipeline/index.ts";
import { runCases, type GoldenEntry } from "../../scripts/pipeline/golden.ts";
import { ROOT, fixtureModel, runOrt, tempDir } from "../helpers.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("quantizeModel over the stages", () => {
  it("writes the same bytes as before the restructuring (test/pipeline/golden.json)", async () => {
    const golden = JSON.parse(readFileSync(join(ROOT, "test", "pipeline", "golden.json"), "utf8")) as { cases: GoldenEntry[] };
    const dir = tempDir();
    dirs.push(dir);
    const now = await runCases(dir, golden.cases);
    expect(now.map((c) => [c.name, c.model_sha256, c.table_sha256])).toEqual(golden.cases.map((c) => [c.name, c.model_sha256, c.table_sha256]));
  }, 600_000);
});

const sha = (m: Model): string => createHash("sha256").update(serializeModel(m)).digest("hex");

/** A labelled calibration pool for the fixture vocabulary: seeded random rows, labels by row. */
function pool(n: number, vocab: number, classes: number) {
  const rng = seededRng(7);
  const ids = Array.from({ length: n }, () => Array.from({ length: 3 + (rng.nextUint32() % 6) }, () => 2 + (rng.nextUint32() % (vocab - 2))));
  const labels = ids.map((_, i) => i % classes);
  return { ids, labels, source: "test:pool", sha256: "0".repeat(64) };
}

describe("plan, calibrate, realize", () => {
  it("leave their inputs untouched; one calibration serves every bit width", async () => {
    const source = loadModel(fixtureModel("disc-tiny"));
    const before = sha(source);
    const p8 = plan(source, makePolicy({ bits: 8, exclude: ["logits"] }));
    expect(sha(source)).toBe(before);
    const planned = sha(p8.model);
    const { table } = await calibrate(p8, pool(48, 50, 4), { mode: "balanced", size: 32, seed: 0, observer: "percentile:99.99", numClasses: 4, modelFile: "disc-tiny.onnx", modelSha256: before });
    expect(Object.keys(table.tensors).sort()).toEqual(p8.activations.map((t) => t.value.name).sort());
    const p4 = plan(source, makePolicy({ bits: 4, exclude: ["logits"] }));
    const q4 = realize(p4, table);
    const q8 = realize(p8, table);
    expect(sha(p8.model)).toBe(planned);
    expect(sha(source)).toBe(before);
    expect(q4.model).not.toBe(p4.model);
    // Both widths quantize the same tensors, each at its own width.
    const names = (r: typeof q4) => r.report.quantized.map((q) => q.name).sort();
    expect(names(q4)).toEqual(names(q8));
    expect(new Set(q4.report.quantized.map((q) => q.bits))).toEqual(new Set([4]));
    expect(new Set(q8.report.quantized.map((q) => q.bits))).toEqual(new Set([8]));
    // Realizing again gives the same bytes; GPTQ needs the moments a nearest-rounding table lacks.
    expect(sha(realize(p4, table).model)).toBe(sha(q4.model));
    const gptq = plan(source, makePolicy({ bits: 4, rounding: "gptq", exclude: ["logits"] }));
    expect(gptq.gptq.map((t) => t.kind).sort()).toEqual(["gemm", "lstm-r", "lstm-w"]);
    expect(() => realize(gptq, table)).toThrow(/no layer-input moments for GPTQ/);
  });
});

/**
 * ids -> Gather(embedding) -> Transpose -> GRU or RNN -> last hidden state -> Gemm -> scores.
 * `extra`: also a Conv reading a weight (an op the quantizer has no rule for).
 */
function recurrentModel(op: "GRU" | "RNN", extra = false): Model {
  const E = 6, H = 5, V = 20, C = 3, G = op === "GRU" ? 3 : 1;
  const rng = seededRng(op === "GRU" ? 1 : 2);
  const rand = (n: number, s: number) => Array.from({ length: n }, () => (rng.nextUint32() / 2 ** 32 - 0.5) * s);
  const model = newModel({ "": 17 }, 8);
  const g = model.graph;
  const ids = g.addInput("input_ids", DataType.INT64, ["batch", "seq"]);
  const emb = g.addInitializer(Tensor.float32("emb", [V, E], rand(V * E, 2)));
  const W = g.addInitializer(Tensor.float32("W", [1, G * H, E], rand(G * H * E, 1)));
  const R = g.addInitializer(Tensor.float32("R", [1, G * H, H], rand(G * H * H, 1)));
  const B = g.addInitializer(Tensor.float32("B", [1, 2 * G * H], rand(2 * G * H, 0.2)));
  const head = g.addInitializer(Tensor.float32("head", [C, H], rand(C * H, 1)));
  const bias = g.addInitializer(Tensor.float32("head_bias", [C], rand(C, 0.1)));
  const axes = g.addInitializer(Tensor.int64("axes0", [1], [0]));
  const x = g.addNode({ opType: "Gather", inputs: [emb, ids], outputs: ["x_bte"] }).outputs[0]!;
  const xt = g.addNode({ opType: "Transpose", inputs: [x], outputs: ["x_tbe"], attributes: { perm: [1, 0, 2] } }).outputs[0]!;
  const rec = g.addNode({ opType: op, name: op.toLowerCase(), inputs: [xt, W, R, B], outputs: ["y", "y_h"], attributes: { hidden_size: H } });
  const h = g.addNode({ opType: "Squeeze", inputs: [rec.outputs[1], axes], outputs: ["h"] }).outputs[0]!;
  const scores = g.addNode({ opType: "Gemm", inputs: [h, head, bias], outputs: ["scores"], attributes: { transB: 1 } }).outputs[0]!;
  g.addOutput(scores, DataType.FLOAT, ["batch", C]);
  if (extra) {
    const k = g.addInitializer(Tensor.float32("conv_w", [2, E, 3], rand(2 * E * 3, 1)));
    g.addNode({ opType: "Conv", name: "conv", inputs: [x, k], outputs: ["conv_out"] });
  }
  return model;
}

async function scoresOf(model: Model, rows: number[][]): Promise<Float32Array> {
  const seq = Math.max(...rows.map((r) => r.length));
  const data = new BigInt64Array(rows.length * seq);
  rows.forEach((r, b) => r.forEach((t, i) => (data[b * seq + i] = BigInt(t))));
  const out = await runOrt(serializeModel(model), { input_ids: new ort.Tensor("int64", data, [rows.length, seq]) }, { graphOptimizationLevel: "basic" });
  return out.scores.data as Float32Array;
}

describe.each(["GRU", "RNN"] as const)("a %s model", (op) => {
  it("is quantized completely: its weights per gate row and its input X", async () => {
    const source = recurrentModel(op);
    const p = plan(source, makePolicy({ bits: 8, exclude: ["scores"] }));
    expect(p.weights.map((w) => [w.value.name, w.axis])).toEqual([["emb", 0], ["W", 1], ["R", 1], ["head", 0]]);
    const x = p.activations.find((t) => t.value.name === "x_tbe");
    expect(x?.uses.map((u) => [u.node.opType, u.input])).toEqual([[op, 0]]);
    const rows = pool(40, 20, 3).ids.map((r) => r.slice(0, 4)).filter((r) => r.length === 4);
    const { table } = await calibrate(p, { ids: rows, labels: rows.map((_, i) => i % 3), source: "test:pool", sha256: "0".repeat(64) }, {
      mode: "natural", size: rows.length, seed: 0, observer: "minmax", numClasses: 3, modelFile: `${op}.onnx`, modelSha256: "0".repeat(64),
    });
    const q = realize(p, table);
    const quantized = q.report.quantized.map((r) => `${r.kind}:${r.name}:${r.op}`);
    expect(quantized).toContain(`activation:x_tbe:${op}`);
    expect(quantized).toContain(`weight:W:${op}`);
    expect(quantized).toContain(`weight:R:${op}`);
    const ops = q.model.graph.nodes.map((n) => n.opType);
    expect(ops.filter((o) => o === "QuantizeLinear").length).toBe(p.activations.length);
    // 8-bit weights and inputs keep the scores close to the float model's.
    const [f, qs] = [await scoresOf(source, rows), await scoresOf(q.model, rows)];
    const scale = f.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const diff = f.reduce((m, v, i) => Math.max(m, Math.abs(v - qs[i])), 0);
    expect(diff).toBeLessThan(0.05 * scale);
    expect(diff).toBeGreaterThan(0);
  });
});

describe("an op without a rule in the op table", () => {
  it("is refused with a message that names it, not half-quantized", () => {
    const model = recurrentModel("GRU", true);
    model.path = "conv.onnx";
    expect(() => plan(model, makePolicy({ bits: 8 }))).toThrow(InputError);
    expect(() => plan(model, makePolicy({ bits: 8 }))).toThrow(/^conv.onnx: conv \(Conv\) reads the weight .conv_w., but ptq-onnx has no quantization rule for Conv/);
  });
});
