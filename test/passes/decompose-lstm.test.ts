import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { DataType, Tensor, loadModel, makeValueInfo, newModel, parseModel, serializeModel, validateModel, type Model, type Value } from "../../src/graph/index.ts";
import { exposeScanInternals } from "../../src/calibrate/expose.ts";
import { UnsupportedLstmError, decomposeLstm, decomposeLstmPass } from "../../src/passes/decompose-lstm.ts";
import { lstmInternals } from "../../src/passes/lstm-internals.ts";
import { fixtureModel, idsFeed, runOrt } from "../helpers.ts";

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const uniform = (rand: () => number, n: number, scale: number): Float32Array => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

type Direction = "forward" | "reverse" | "bidirectional";
type OutName = "Y" | "Y_h" | "Y_c";

interface LstmCase {
  name: string;
  seed: number;
  direction?: Direction;
  T: number;
  B: number;
  I: number;
  H: number;
  seqLens?: number[];
  initialH?: boolean;
  initialC?: boolean;
  /** Default true. */
  bias?: boolean;
  peepholes?: boolean;
  clip?: number;
  inputForget?: boolean;
  /** LSTM outputs that get a name (default all); the others are left empty. */
  outputs?: OutName[];
  /** Named LSTM outputs that are not graph outputs but feed a Relu whose output is (a consumed value). */
  consumed?: OutName[];
  /** Named LSTM outputs that nobody uses. */
  unused?: OutName[];
  activations?: string[];
  alpha?: number[];
  beta?: number[];
  opset?: number;
  layout?: 0 | 1;
  /** Build layout 0 with Transposes around it, with the interface of layout 1 (the reference for layout=1). */
  transposedLayout0?: boolean;
  /** W and R read through DequantizeLinear of int8 initializers, B and P through Identity. */
  quantizedWeights?: boolean;
  weightScale?: number;
}

/** A model with one LSTM (X, sequence_lens, initial_h, initial_c graph inputs) and its feeds. */
function buildLstm(c: LstmCase): { model: Model; feeds: Record<string, ort.Tensor> } {
  const rand = prng(c.seed);
  const dir = c.direction ?? "forward";
  const D = dir === "bidirectional" ? 2 : 1;
  const { T, B, I, H } = c;
  const ws = c.weightScale ?? 0.6;
  const model = newModel({ "": c.opset ?? 17 });
  const g = model.graph;
  const batchFirst = c.layout === 1 || c.transposedLayout0;
  const feeds: Record<string, ort.Tensor> = {};
  const x = g.addInput("X", DataType.FLOAT, batchFirst ? [B, T, I] : [T, B, I]);
  feeds.X = new ort.Tensor("float32", uniform(rand, T * B * I, 1.5), batchFirst ? [B, T, I] : [T, B, I]);
  const weight = (name: string, dims: number[]): Value => {
    const n = dims.reduce((a, b) => a * b, 1);
    if (!c.quantizedWeights) return g.addInitializer(Tensor.float32(name, dims, uniform(rand, n, ws)));
    const q = g.addInitializer(Tensor.fromData(`${name}_q`, DataType.INT8, dims, Int8Array.from({ length: n }, () => Math.round((rand() * 2 - 1) * 127))));
    const s = g.addInitializer(Tensor.float32(`${name}_scale`, [], [ws / 127]));
    return g.addNode({ opType: "DequantizeLinear", inputs: [q, s], outputs: [`${name}_dq`] }).outputs[0]!;
  };
  const W = weight("W", [D, 4 * H, I]);
  const R = weight("R", [D, 4 * H, H]);
  const computed = (v: Value): Value => (c.quantizedWeights ? g.addNode({ opType: "Identity", inputs: [v], outputs: [`${v.name}_copy`] }).outputs[0]! : v);
  const Bv = c.bias === false ? null : computed(g.addInitializer(Tensor.float32("B", [D, 8 * H], uniform(rand, D * 8 * H, ws))));
  let seq: Value | null = null;
  if (c.seqLens) {
    seq = g.addInput("seq_lens", DataType.INT32, [B]);
    feeds.seq_lens = new ort.Tensor("int32", Int32Array.from(c.seqLens), [B]);
  }
  const state = (name: string): Value => {
    const dims = batchFirst ? [B, D, H] : [D, B, H];
    feeds[name] = new ort.Tensor("float32", uniform(rand, D * B * H, 1), dims);
    return g.addInput(name, DataType.FLOAT, dims);
  };
  const h0 = c.initialH ? state("initial_h") : null;
  const c0 = c.initialC ? state("initial_c") : null;
  const P = c.peepholes ? computed(g.addInitializer(Tensor.float32("P", [D, 3 * H], uniform(rand, D * 3 * H, ws)))) : null;
  const attributes: Record<string, number | string | string[] | { float: number } | { floats: number[] }> = { hidden_size: H };
  if (dir !== "forward") attributes.direction = dir;
  if (c.clip !== undefined) attributes.clip = { float: c.clip };
  if (c.inputForget) attributes.input_forget = 1;
  if (c.activations) attributes.activations = c.activations;
  if (c.alpha) attributes.activation_alpha = { floats: c.alpha };
  if (c.beta) attributes.activation_beta = { floats: c.beta };
  if (c.layout === 1) attributes.layout = 1;
  const toLayout0 = (v: Value | null, name: string): Value | null =>
    v && c.transposedLayout0 ? g.addNode({ opType: "Transpose", inputs: [v], outputs: [name], attributes: { perm: [1, 0, 2] } }).outputs[0]! : v;
  const inputs = [toLayout0(x, "X_t"), W, R, Bv, seq, toLayout0(h0, "h0_t"), toLayout0(c0, "c0_t"), P];
  while (inputs[inputs.length - 1] === null) inputs.pop();
  const named = c.outputs ?? ["Y", "Y_h", "Y_c"];
  const outNames: OutName[] = ["Y", "Y_h", "Y_c"];
  const lstm = g.addNode({
    opType: "LSTM",
    name: "lstm",
    inputs,
    outputs: outNames.map((o) => (named.includes(o) ? (c.transposedLayout0 ? `${o}_l0` : o) : "")),
    attributes,
  });
  // addNode makes a value for every name, empty ones too: clear the slots of absent outputs.
  outNames.forEach((o, i) => {
    if (!named.includes(o)) (lstm.outputs as (Value | null)[])[i] = null;
  });
  outNames.forEach((o, i) => {
    let v = lstm.outputs[i];
    if (!v || c.unused?.includes(o)) return;
    if (c.transposedLayout0) v = g.addNode({ opType: "Transpose", inputs: [v], outputs: [o], attributes: { perm: o === "Y" ? [2, 0, 1, 3] : [1, 0, 2] } }).outputs[0]!;
    if (c.consumed?.includes(o)) v = g.addNode({ opType: "Relu", inputs: [v], outputs: [`${o}_relu`] }).outputs[0]!;
    g.addOutput(v, DataType.FLOAT);
  });
  return { model, feeds };
}

const maxDiffs: { name: string; diff: number }[] = [];

function maxAbsDiff(a: ort.Tensor, b: ort.Tensor): number {
  expect(b.dims).toEqual(a.dims);
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** Runs the reference and the decomposed model on the same feeds and checks every output agrees. */
async function expectEquivalent(name: string, reference: Uint8Array, decomposed: Model, feeds: Record<string, ort.Tensor>): Promise<number> {
  expect(validateModel(decomposed)).toEqual([]);
  const a = await runOrt(reference, feeds);
  const b = await runOrt(serializeModel(decomposed), feeds);
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  let diff = 0;
  for (const k of Object.keys(a)) diff = Math.max(diff, maxAbsDiff(a[k], b[k]));
  maxDiffs.push({ name, diff });
  expect(diff).toBeLessThan(1e-5);
  return diff;
}

const opsOf = (m: Model): string[] => m.allNodes().map((n) => n.opType);

afterAll(() => {
  if (maxDiffs.length) console.log(`decompose-lstm max abs diffs:\n${maxDiffs.map((d) => `  ${d.name}: ${d.diff.toExponential(2)}`).join("\n")}`);
});

const CASES: LstmCase[] = [
  { name: "forward, batch 3, initial states, all outputs", seed: 1, T: 5, B: 3, I: 4, H: 7, initialH: true, initialC: true },
  { name: "reverse, sequence_lens, no initial states", seed: 2, direction: "reverse", T: 6, B: 3, I: 5, H: 6, seqLens: [6, 2, 4] },
  { name: "forward, sequence_lens shorter than T", seed: 3, T: 7, B: 4, I: 3, H: 5, seqLens: [3, 7, 1, 5], initialH: true },
  { name: "bidirectional, sequence_lens, initial states, peepholes", seed: 4, direction: "bidirectional", T: 5, B: 3, I: 4, H: 5, seqLens: [5, 3, 1], initialH: true, initialC: true, peepholes: true },
  { name: "bidirectional, no sequence_lens, initial_c only", seed: 5, direction: "bidirectional", T: 4, B: 2, I: 3, H: 9, initialC: true },
  { name: "clip", seed: 6, T: 6, B: 2, I: 4, H: 6, clip: 0.75, weightScale: 1.2, initialH: true },
  { name: "clip with peepholes, reverse, sequence_lens", seed: 7, direction: "reverse", T: 5, B: 3, I: 3, H: 5, clip: 0.9, peepholes: true, weightScale: 1.2, seqLens: [2, 5, 4] },
  { name: "input_forget, bidirectional", seed: 8, direction: "bidirectional", T: 4, B: 2, I: 3, H: 6, inputForget: true, initialH: true, initialC: true },
  { name: "input_forget with peepholes", seed: 9, T: 4, B: 2, I: 3, H: 6, inputForget: true, peepholes: true, seqLens: [4, 2] },
  { name: "no bias, batch 1", seed: 10, T: 6, B: 1, I: 5, H: 11, bias: false },
  { name: "no bias, reverse, batch 1, sequence_lens", seed: 11, direction: "reverse", T: 6, B: 1, I: 2, H: 3, bias: false, seqLens: [4] },
  { name: "only Y_h (Y and Y_c empty names), opset 13", seed: 12, T: 5, B: 2, I: 3, H: 6, outputs: ["Y_h"], opset: 13, seqLens: [5, 3] },
  { name: "only Y, opset 21", seed: 13, direction: "bidirectional", T: 5, B: 2, I: 3, H: 6, outputs: ["Y"], opset: 21, seqLens: [2, 5] },
  { name: "Y_c only consumed, Y named but unused", seed: 14, T: 4, B: 3, I: 3, H: 4, consumed: ["Y_c"], unused: ["Y", "Y_h"] },
  { name: "Y and Y_h consumed by other nodes", seed: 15, direction: "reverse", T: 4, B: 2, I: 3, H: 5, consumed: ["Y", "Y_h"], initialH: true },
  { name: "a row of length 0 (zeros in Y, Y_h, Y_c)", seed: 22, direction: "bidirectional", T: 4, B: 3, I: 2, H: 3, seqLens: [0, 4, 2], initialH: true, initialC: true },
  { name: "sequence_lens all equal to T", seed: 16, direction: "bidirectional", T: 3, B: 2, I: 2, H: 3, seqLens: [3, 3] },
  { name: "W and R through DequantizeLinear, B and P computed", seed: 17, direction: "bidirectional", T: 5, B: 2, I: 4, H: 6, quantizedWeights: true, peepholes: true, seqLens: [5, 2] },
  {
    name: "non-default activations with alpha/beta",
    seed: 18,
    direction: "bidirectional",
    T: 4,
    B: 2,
    I: 3,
    H: 4,
    activations: ["HardSigmoid", "Affine", "ScaledTanh", "LeakyRelu", "Softsign", "Elu"],
    alpha: [0.3, 0.8, 1.5, 0.1, 0.9],
    beta: [0.45, 0.1, 0.7],
    initialH: true,
  },
  { name: "Relu, Softplus, ThresholdedRelu activations, defaults", seed: 19, T: 4, B: 2, I: 3, H: 4, activations: ["Sigmoid", "Softplus", "Relu"], weightScale: 0.3 },
  { name: "ThresholdedRelu and defaulted HardSigmoid", seed: 20, direction: "reverse", T: 4, B: 2, I: 3, H: 4, activations: ["HardSigmoid", "ThresholdedRelu", "Tanh"], alpha: [], beta: [], weightScale: 0.8 },
];

describe("decompose-lstm on single-LSTM models", () => {
  for (const c of CASES) {
    it(`matches the LSTM op: ${c.name}`, async () => {
      const { model, feeds } = buildLstm(c);
      const reference = serializeModel(model);
      const pass = decomposeLstm();
      expect(pass.run(model)).toBe(true);
      expect(pass.decomposed).toEqual(["lstm"]);
      expect(opsOf(model)).not.toContain("LSTM");
      expect(opsOf(model)).toContain("Scan");
      model.graph.toposort();
      await expectEquivalent(c.name, reference, model, feeds);
    });
  }

  it("converts layout=1 (batch first) with Transposes", async () => {
    const base: LstmCase = { name: "layout 1", seed: 21, direction: "bidirectional", T: 5, B: 3, I: 4, H: 5, seqLens: [5, 2, 3], initialH: true, initialC: true };
    const reference = buildLstm({ ...base, transposedLayout0: true });
    const { model } = buildLstm({ ...base, layout: 1 });
    expect(model.graph.nodes.find((n) => n.opType === "LSTM")!.getInt("layout")).toBe(1);
    decomposeLstmPass.run(model);
    await expectEquivalent("layout=1 vs layout 0 with Transposes", serializeModel(reference.model), model, reference.feeds);
  });

  it("rewrites every LSTM of a two-layer stack (unnamed nodes)", async () => {
    const rand = prng(60);
    const [T, B, I, H1, H2] = [5, 2, 3, 4, 6];
    const model = newModel({ "": 17 });
    const g = model.graph;
    const x = g.addInput("X", DataType.FLOAT, [T, B, I]);
    const layer = (input: Value, inSize: number, H: number, direction: Direction): Value[] => {
      const D = direction === "bidirectional" ? 2 : 1;
      const W = g.addInitializer(Tensor.float32("W", [D, 4 * H, inSize], uniform(rand, D * 4 * H * inSize, 0.5)));
      const R = g.addInitializer(Tensor.float32("R", [D, 4 * H, H], uniform(rand, D * 4 * H * H, 0.5)));
      const Bv = g.addInitializer(Tensor.float32("B", [D, 8 * H], uniform(rand, D * 8 * H, 0.5)));
      const n = g.addNode({ opType: "LSTM", inputs: [input, W, R, Bv], outputs: ["Y", "Y_h", "Y_c"], attributes: { hidden_size: H, direction } });
      n.name = "";
      return n.outputs as Value[];
    };
    const [y1] = layer(x, I, H1, "bidirectional");
    // [T, 2, B, H1] -> [T, B, 2 * H1]
    const t1 = g.addNode({ opType: "Transpose", inputs: [y1], outputs: ["y1_t"], attributes: { perm: [0, 2, 1, 3] } }).outputs[0]!;
    const r1 = g.addNode({ opType: "Reshape", inputs: [t1, g.addInitializer(Tensor.int64("shape", [3], [0, 0, -1]))], outputs: ["y1_r"] }).outputs[0]!;
    const [, yh2] = layer(r1, 2 * H1, H2, "forward");
    g.addOutput(yh2, DataType.FLOAT);
    const reference = serializeModel(model);
    const feeds = { X: new ort.Tensor("float32", uniform(rand, T * B * I, 1), [T, B, I]) };
    const pass = decomposeLstm();
    expect(pass.run(model)).toBe(true);
    expect(pass.decomposed).toHaveLength(2);
    const internals = lstmInternals(model);
    expect(internals.map((x) => x.direction)).toEqual([0, 1, 0]);
    expect(new Set(internals.map((x) => x.prefix)).size).toBe(2);
    await expectEquivalent("two-layer stack", reference, model, feeds);
  });

  it("returns false and changes nothing on a model without LSTMs", () => {
    const model = newModel({ "": 17 });
    const x = model.graph.addInput("x", DataType.FLOAT, [2]);
    model.graph.addOutput(model.graph.addNode({ opType: "Relu", inputs: [x], outputs: ["y"] }).outputs[0]!, DataType.FLOAT, [2]);
    const before = serializeModel(model);
    expect(decomposeLstmPass.run(model)).toBe(false);
    expect(serializeModel(model)).toEqual(before);
  });
});

describe("decompose-lstm on the PyTorch fixtures", () => {
  const rows = [
    [3, 4, 5, 6, 7, 8, 9],
    [10, 11],
    [12, 13, 14, 15],
  ];
  for (const name of ["disc-tiny", "bilstm-tiny", "gen-tiny"]) {
    it(`${name}: same outputs, valid, sorted, saves and reloads`, async () => {
      const path = fixtureModel(name);
      const model = loadModel(path);
      const lstm = model.graph.nodes.find((n) => n.opType === "LSTM")!;
      const weights = lstm.inputs.slice(1, 4).map((v) => v!.name);
      const P = lstm.name; // the exporter's node name, the prefix of every name the pass makes
      expect(decomposeLstmPass.run(model)).toBe(true);
      // Float weights are folded (W^T, R^T, Wb + Rb per direction) and the LSTM's originals dropped.
      const inits = model.graph.initializers.map((v) => v.name);
      for (const w of weights) expect(inits).not.toContain(w);
      expect(inits).toContain(`${P}/d0/W_t`);
      expect(model.graph.ownValue(`${P}/d0/R_t`)!.consumers.map((n) => n.opType)).toEqual(["MatMul"]);
      expect(validateModel(model)).toEqual([]);
      const order = [...model.graph.nodes];
      model.graph.toposort();
      expect(model.graph.nodes).toEqual(order);
      const reloaded = parseModel(serializeModel(model));
      expect(validateModel(reloaded)).toEqual([]);
      expect(opsOf(reloaded)).not.toContain("LSTM");
      await expectEquivalent(name, readFileSync(path), reloaded, idsFeed(rows));
      await expectEquivalent(`${name} (batch 1)`, readFileSync(path), reloaded, idsFeed([rows[2]]));
      // The named tensors survive the save and reload.
      const internals = lstmInternals(reloaded);
      const dirs = name === "bilstm-tiny" ? 2 : 1;
      expect(internals.map((x) => [x.lstm, x.direction])).toEqual(Array.from({ length: dirs }, (_, d) => [P, d]));
      for (const x of internals) expect(x.tensors.map((t) => t.role)).toEqual(["x_proj", "gates", "i", "f", "o", "g", "c", "c_act", "h"]);
    });
  }
});

describe("lstmInternals and exposeScanInternals", () => {
  it("names the gate sums, gates, cell and hidden state of each direction", () => {
    const { model } = buildLstm({ name: "internals", seed: 30, direction: "bidirectional", T: 3, B: 2, I: 2, H: 3, peepholes: true, seqLens: [3, 1] });
    decomposeLstmPass.run(model);
    const internals = lstmInternals(model);
    expect(internals).toHaveLength(2);
    for (const [d, x] of internals.entries()) {
      expect(x.lstm).toBe("lstm");
      expect(x.prefix).toBe("lstm");
      expect(x.direction).toBe(d);
      expect(x.scan.opType).toBe("Scan");
      expect(x.tensors.map((t) => t.role)).toEqual(["x_proj", "gates", "gates_i", "gates_f", "gates_o", "i", "f", "o", "g", "c", "c_act", "h"]);
      for (const t of x.tensors) {
        expect(t.value.name).toBe(`lstm/d${d}/${t.role}`);
        expect(t.value.graph).toBe(t.graph);
        expect(t.graph).toBe(t.role === "x_proj" ? model.graph : x.body);
      }
      const byRole = new Map(x.tensors.map((t) => [t.role, t.value]));
      expect(byRole.get("gates")!.producer!.opType).toBe("Add");
      expect(byRole.get("i")!.producer!.opType).toBe("Sigmoid");
      expect(byRole.get("g")!.producer!.opType).toBe("Tanh");
      expect(byRole.get("h")!.producer!.opType).toBe("Mul");
    }
  });

  it("picks a fresh prefix when the LSTM's name is already used as one", () => {
    const { model } = buildLstm({ name: "clash", seed: 31, T: 3, B: 1, I: 2, H: 3 });
    model.graph.addInitializer(Tensor.float32("lstm/d0/gates", [1], [0]));
    decomposeLstmPass.run(model);
    const [x] = lstmInternals(model);
    expect(x.lstm).toBe("lstm");
    expect(x.prefix).toBe("lstm_1");
    expect(x.tensors.find((t) => t.role === "gates")!.value.name).toBe("lstm_1/d0/gates");
  });

  it("exposed /c and /h stacks end, at each row's last real step, in Y_c and Y_h", async () => {
    const lens = [5, 2, 4];
    const { model, feeds } = buildLstm({ name: "expose", seed: 32, direction: "bidirectional", T: 5, B: 3, I: 3, H: 4, seqLens: lens, initialH: true, initialC: true });
    decomposeLstmPass.run(model);
    const internals = lstmInternals(model);
    const wanted = internals.flatMap((x) => x.tensors.filter((t) => ["c", "h", "x_proj"].includes(t.role)).map((t) => ({ d: x.direction, role: t.role, value: t.value })));
    const exposed = exposeScanInternals(
      model,
      wanted.map((w) => w.value),
    );
    expect(validateModel(model)).toEqual([]);
    const out = await runOrt(serializeModel(model), feeds);
    const [T, B, H] = [5, 3, 4];
    for (const [k, w] of wanted.entries()) {
      const e = exposed[k];
      const got = out[e.output.name];
      if (w.role === "x_proj") {
        expect(e.stacked).toBe(false);
        expect(got.dims).toEqual([T, B, 4 * H]);
        continue;
      }
      expect(e.stacked).toBe(true);
      expect(got.dims).toEqual([T, B, H]);
      const final = out[w.role === "h" ? "Y_h" : "Y_c"].data as Float32Array;
      const stacked = got.data as Float32Array;
      for (let b = 0; b < B; b++) {
        // Forward ends at step len-1; reverse walks each row from len-1 down to 0.
        const t = w.d === 0 ? lens[b] - 1 : 0;
        for (let j = 0; j < H; j++) expect(stacked[(t * B + b) * H + j]).toBe(final[(w.d * B + b) * H + j]);
      }
      if (w.role === "h") {
        // At real steps the stacked hidden state is Y.
        const Y = out.Y.data as Float32Array;
        for (let b = 0; b < B; b++) for (let t = 0; t < lens[b]; t++) for (let j = 0; j < H; j++) expect(stacked[(t * B + b) * H + j]).toBe(Y[((t * 2 + w.d) * B + b) * H + j]);
      }
    }
  });

  it("refuses to expose a value that is not in a main-graph Scan body", () => {
    const { model } = buildLstm({ name: "refuse", seed: 33, T: 2, B: 1, I: 2, H: 2 });
    decomposeLstmPass.run(model);
    const ifModel = loadModel(fixtureModel("disc-tiny"));
    const inner = ifModel.allNodes().find((n) => n.opType === "If")!.subgraphs.get("then_branch")![0].nodes[0].outputs[0]!;
    expect(() => exposeScanInternals(ifModel, [inner])).toThrow(/not in the body of a Scan/);
  });
});

describe("decompose-lstm refusals", () => {
  it("names the node and the activation it cannot rewrite", () => {
    const { model } = buildLstm({ name: "bad", seed: 40, T: 2, B: 1, I: 2, H: 2, activations: ["Sigmoid", "Gelu", "Tanh"] });
    const before = serializeModel(model);
    expect(() => decomposeLstm().run(model)).toThrow(UnsupportedLstmError);
    expect(() => decomposeLstm().run(model)).toThrow(/LSTM node lstm \(LSTM\): activation 'Gelu' is not supported/);
    expect(serializeModel(model)).toEqual(before);
  });

  it("with skipUnsupported leaves the node in place and reports why", () => {
    const { model } = buildLstm({ name: "skip", seed: 41, T: 2, B: 1, I: 2, H: 2, activations: ["Sigmoid", "Tanh"] });
    const pass = decomposeLstm({ skipUnsupported: true });
    expect(pass.run(model)).toBe(false);
    expect(pass.skipped).toEqual([{ node: "lstm", reason: "it lists 2 activations; a forward LSTM needs 3 (f, g, h per direction)" }]);
    expect(opsOf(model)).toContain("LSTM");
  });

  it("Graph.removeInitializer refuses an initializer still in use", () => {
    const { model } = buildLstm({ name: "init", seed: 44, T: 2, B: 1, I: 2, H: 2 });
    const w = model.graph.ownValue("W")!;
    expect(() => model.graph.removeInitializer(w)).toThrow(/still in use/);
  });

  it("refuses a non-float LSTM and an opset below 13", () => {
    const { model } = buildLstm({ name: "double", seed: 42, T: 2, B: 1, I: 2, H: 2 });
    model.graph.inputs[0].info = makeValueInfo("X", DataType.DOUBLE, [2, 1, 2]);
    expect(() => decomposeLstm().run(model)).toThrow(/input 'X' is not float32/);
    const old = buildLstm({ name: "old", seed: 43, T: 2, B: 1, I: 2, H: 2 }).model;
    old.setOpset("", 12);
    expect(() => decomposeLstm().run(old)).toThrow(/opset 12 is below 13/);
  });
});

