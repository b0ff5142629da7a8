import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import {
  DataType,
  Tensor,
  loadModel,
  newModel,
  pack4,
  parseModel,
  serializeModel,
  validateModel,
  type Model,
} from "../../src/graph/index.ts";
import { fixtureModel, idsFeed, runOrt, tempDir } from "../helpers.ts";

/** A model computing DequantizeLinear(x_q, scale, zero) for one stored initializer. */
function dequantModel(q: Tensor, scale: number, opset: number): Model {
  const model = newModel({ "": opset });
  const g = model.graph;
  const x = g.addInitializer(q);
  const s = g.addInitializer(Tensor.float32("scale", [], [scale]));
  const dq = g.addNode({ opType: "DequantizeLinear", inputs: [x, s], outputs: ["y"] });
  g.addOutput(dq.outputs[0]!, DataType.FLOAT, q.dims);
  return model;
}

describe("tensor data", () => {
  const cases: [string, number, number[]][] = [
    ["int8", DataType.INT8, [-128, -3, 0, 5, 127]],
    ["uint8", DataType.UINT8, [0, 1, 128, 255, 7]],
    ["int4", DataType.INT4, [-8, -1, 0, 3, 7]],
    ["uint4", DataType.UINT4, [0, 15, 8, 1, 2]],
  ];
  for (const [name, type, values] of cases) {
    it(`${name} initializers survive save/load and dequantize in onnxruntime to the same values`, async () => {
      const data = type === DataType.INT8 || type === DataType.INT4 ? Int8Array.from(values) : Uint8Array.from(values);
      const model = dequantModel(Tensor.fromData("q", type, [5], data), 0.5, 21);
      expect(validateModel(model)).toEqual([]);
      const bytes = serializeModel(model);
      const back = parseModel(bytes).graph.initializers[0].initializer!;
      expect(Array.from(back.data as Int8Array)).toEqual(values);
      const out = await runOrt(bytes, {});
      expect(Array.from(out.y.data as Float32Array)).toEqual(values.map((v) => v * 0.5));
    });
  }

  it("packs 4-bit values two per byte, element 2k in the low nibble", () => {
    expect(Array.from(pack4(Int8Array.from([1, 2, -1])))).toEqual([0x21, 0x0f]);
  });

  it("reads float16, int32 and int64 tensors", () => {
    const half = Tensor.fromData("h", DataType.FLOAT16, [3], Uint16Array.from([0x3c00, 0xc000, 0x3555]));
    expect(Array.from(half.toNumbers()).map((v) => Number(v.toFixed(4)))).toEqual([1, -2, 0.3333]);
    const model = newModel({ "": 17 });
    model.graph.addInitializer(Tensor.fromData("i32", DataType.INT32, [2], Int32Array.from([-5, 9])));
    model.graph.addInitializer(Tensor.int64("i64", [2], [-7, 2 ** 40]));
    model.graph.addInitializer(half);
    const back = parseModel(serializeModel(model)).graph.initializers.map((v) => Array.from(v.initializer!.toNumbers()));
    expect(back[0]).toEqual([-5, 9]);
    expect(back[1]).toEqual([-7, 2 ** 40]);
    expect(back[2][0]).toBe(1);
  });

  it("loads initializers kept in an external data file beside the model", async () => {
    const dir = tempDir();
    const weights = Float32Array.from([1.5, -2, 3.25]);
    writeFileSync(join(dir, "weights.bin"), Buffer.concat([Buffer.alloc(8), Buffer.from(weights.buffer)]));
    const model = newModel({ "": 17 });
    const g = model.graph;
    const w = g.addInitializer(Tensor.float32("w", [3], weights));
    const x = g.addInput("x", DataType.FLOAT, [3]);
    const add = g.addNode({ opType: "Add", inputs: [x, w], outputs: ["y"] });
    g.addOutput(add.outputs[0]!, DataType.FLOAT, [3]);
    const proto = model.toProto();
    const t = proto.graph!.initializer[0];
    t.rawData = new Uint8Array(0);
    t.dataLocation = 1;
    t.externalData = [
      { key: "location", value: "weights.bin" },
      { key: "offset", value: "8" },
      { key: "length", value: "12" },
    ].map((e) => ({ ...e, $typeName: "onnx.StringStringEntryProto" as const }));
    const path = join(dir, "m.onnx");
    writeFileSync(path, serializeModel(model));
    const loaded = loadModel(path);
    expect(Array.from(loaded.graph.initializers[0].initializer!.data as Float32Array)).toEqual(Array.from(weights));
    // Saved elsewhere, the data is inlined so the copy stands alone.
    const out = await runOrt(serializeModel(loaded), { x: new ort.Tensor("float32", Float32Array.from([1, 1, 1]), [3]) });
    expect(Array.from(out.y.data as Float32Array)).toEqual([2.5, -1, 4.25]);
  });
});

describe("graph editing", () => {
  it("toposort restores a shuffled graph and leaves a sorted one in place", async () => {
    const path = fixtureModel("disc-tiny");
    const model = loadModel(path);
    const sorted = [...model.graph.nodes];
    model.graph.toposort();
    expect(model.graph.nodes).toEqual(sorted);
    model.graph.nodes.reverse();
    expect(validateModel(model).some((p) => p.includes("not topologically sorted"))).toBe(true);
    model.graph.toposort();
    expect(validateModel(model)).toEqual([]);
    const feeds = idsFeed([[3, 4, 5], [6, 7]]);
    const a = await runOrt(readFileSync(path), feeds);
    const b = await runOrt(serializeModel(model), feeds);
    expect(Array.from(b.logits.data as Float32Array)).toEqual(Array.from(a.logits.data as Float32Array));
  });

  it("toposort names a node on a cycle", () => {
    const model = newModel({ "": 17 });
    const g = model.graph;
    const x = g.addInput("x", DataType.FLOAT, [1]);
    const a = g.addNode({ opType: "Relu", inputs: [x], outputs: ["a"] });
    const b = g.addNode({ opType: "Relu", inputs: [a.outputs[0]], outputs: ["b"] });
    a.setInput(0, b.outputs[0]);
    expect(() => g.toposort()).toThrow(/cycle: node Relu/);
  });

  it("cleanup removes dead nodes and unused initializers, and keeps the rest", async () => {
    const model = loadModel(fixtureModel("disc-tiny"));
    const g = model.graph;
    const before = g.nodes.length;
    expect(g.cleanup()).toBe(0);
    const logits = g.outputs[0];
    const w = g.addInitializer(Tensor.float32("unused_w", [2], [1, 2]));
    const dead = g.addNode({ opType: "Neg", inputs: [logits], outputs: ["dead"] });
    g.addNode({ opType: "Abs", inputs: [dead.outputs[0]], outputs: ["dead2"] });
    g.addNode({ opType: "Add", inputs: [w, w], outputs: ["dead3"] });
    expect(g.nodes.length).toBe(before + 3);
    expect(g.cleanup()).toBe(3);
    expect(g.nodes.length).toBe(before);
    expect(g.ownValue("unused_w")).toBeUndefined();
    expect(logits.consumers).toHaveLength(0);
    expect(validateModel(model)).toEqual([]);
  });

  it("makes unique names across the model, subgraphs included", () => {
    const model = loadModel(fixtureModel("disc-tiny"));
    const g = model.graph;
    const taken = g.nodes[0].outputs[0]!.name;
    expect(g.uniqueName(taken)).toBe(`${taken}_1`);
    expect(g.uniqueName(taken)).toBe(`${taken}_2`);
    const ifNode = model.allNodes().find((n) => n.opType === "If")!;
    const inner = ifNode.subgraphs.get("then_branch")![0].nodes[0].outputs[0]!.name;
    expect(g.uniqueName(inner)).toBe(`${inner}_1`);
    expect(g.uniqueName("fresh_name")).toBe("fresh_name");
  });

  it("keeps use-def links: producers, consumers and replaceAllUsesWith", async () => {
    const model = loadModel(fixtureModel("disc-tiny"));
    const g = model.graph;
    const lstm = g.nodes.find((n) => n.opType === "LSTM")!;
    const xIn = lstm.inputs[0]!;
    expect(xIn.consumers).toContain(lstm);
    // Insert an Identity between the LSTM's input and the LSTM, as a Q/DQ pass would.
    const id = g.addNode({ opType: "Identity", inputs: [xIn], outputs: [`${xIn.name}_copy`] }, { before: lstm });
    xIn.replaceAllUsesWith(id.outputs[0]!);
    id.setInput(0, xIn);
    expect(lstm.inputs[0]).toBe(id.outputs[0]);
    expect(xIn.consumers).toEqual([id]);
    expect(validateModel(model)).toEqual([]);
    const out = await runOrt(serializeModel(model), idsFeed([[3, 4]]));
    expect(out.logits.dims).toEqual([1, 3]);
  });
});
