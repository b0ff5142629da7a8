import { create } from "@bufbuild/protobuf";
import { StringStringEntryProtoSchema } from "onnx-buf";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { Builder, Constants, DataType, Graph, Tensor, graphsOf, loadModel, newModel, nodesOf, serializeModel, validateModel } from "../../src/graph/index.ts";
import { fixtureModel, runOrt } from "../helpers.ts";

describe("Builder", () => {
  it("names under a prefix, keeps names unique, and places nodes before an anchor in build order", () => {
    const model = newModel({ "": 17 });
    const g = model.graph;
    const x = g.addInput("x", DataType.FLOAT, [2]);
    const last = g.addNode({ opType: "Identity", inputs: [x], outputs: ["y"], name: "last" });
    g.addOutput(last.outputs[0]!, DataType.FLOAT, [2]);
    const b = new Builder(g, { prefix: "p", before: last });
    const a = b.op("Neg", [x], "a");
    const c = b.op("Neg", [a], "a"); // the same local name again: made unique
    last.setInput(0, c);
    expect([a.name, c.name]).toEqual(["p/a", "p/a_1"]);
    expect(g.nodes.map((n) => n.name)).toEqual(["p/Neg", "p/Neg_1", "last"]);
    expect(validateModel(model)).toEqual([]);
  });

  it("after an anchor, each node follows the previous one; a separator and explicit node names", () => {
    const model = newModel({ "": 17 });
    const g = model.graph;
    const x = g.addInput("x", DataType.FLOAT, [2]);
    const first = g.addNode({ opType: "Neg", inputs: [x], outputs: ["n"], name: "first" });
    const end = g.addNode({ opType: "Identity", inputs: [first.outputs[0]!], outputs: ["y"], name: "end" });
    g.addOutput(end.outputs[0]!, DataType.FLOAT, [2]);
    const b = new Builder(g, { prefix: "n", separator: "_", after: first });
    const one = b.initializer(Tensor.float32(b.name("one"), [], [1]));
    const s = b.node("Add", [first.outputs[0]!, one], ["plus"], { name: "add" }).outputs[0]!;
    const t = b.op("Mul", [s, one], "times");
    end.setInput(0, t);
    expect(g.nodes.map((n) => n.name)).toEqual(["first", "n_add", "n_Mul", "end"]);
    expect([one.name, s.name, t.name]).toEqual(["n_one", "n_plus", "n_times"]);
    expect(validateModel(model)).toEqual([]);
  });

  it("replace keeps the old node's name, output values, metadata and the attributes asked for, and the model runs", async () => {
    const model = newModel({ "": 17 });
    const g = model.graph;
    const x = g.addInput("x", DataType.FLOAT, [2]);
    const old = g.addNode({ opType: "LeakyRelu", inputs: [x], outputs: ["y"], name: "act", attributes: { alpha: { float: 0.5 } } });
    old.proto.metadataProps.push(create(StringStringEntryProtoSchema, { key: "origin", value: "export" }));
    const end = g.addNode({ opType: "Identity", inputs: [old.outputs[0]!], outputs: ["z"], name: "end" });
    g.addOutput(end.outputs[0]!, DataType.FLOAT, [2]);
    const y = old.outputs[0]!;
    const node = new Builder(g).replace(old, "Elu", [x], { keep: ["alpha"] });
    expect(g.nodes).toEqual([end, node]);
    expect([node.name, node.opType, node.outputs[0], node.getFloat("alpha"), node.proto.metadataProps.map((m) => [m.key, m.value])]).toEqual(["act", "Elu", y, 0.5, [["origin", "export"]]]);
    expect(y.consumers).toEqual([end]);
    expect(() => new Builder(g).replace(old, "Elu", [x])).toThrow(/is not in this/);
    const out = await runOrt(serializeModel(model), { x: new ort.Tensor("float32", Float32Array.of(-1, 2), [2]) });
    const [neg, pos] = out.z.data as Float32Array;
    expect(neg).toBeCloseTo(0.5 * (Math.exp(-1) - 1), 6);
    expect(pos).toBe(2);
  });

  it("Constants makes each constant once, named under the prefix, and the model runs", async () => {
    const model = newModel({ "": 17 });
    const g = model.graph;
    const x = g.addInput("x", DataType.FLOAT, [3]);
    const k = new Constants(g, "c");
    const b = new Builder(g, { prefix: "c" });
    const two = k.float("two", 2);
    expect(k.float("two", 2)).toBe(two);
    expect(k.int64("axes", [0])).toBe(k.int64("axes", [0]));
    expect(k.int64("axes", [0], true)).not.toBe(k.int64("axes", [0]));
    const y = b.op("Mul", [x, two], "y");
    g.addOutput(y, DataType.FLOAT, [3]);
    expect(g.initializers.map((v) => v.name)).toEqual(["c/const/two", "c/const/axes", "c/const/axes_1"]);
    const out = await runOrt(serializeModel(model), { x: new ort.Tensor("float32", Float32Array.of(1, -2, 0.5), [3]) });
    expect(Array.from(out["c/y"].data as Float32Array)).toEqual([2, -4, 1]);
  });
});

describe("graphsOf / nodesOf", () => {
  it("visit every subgraph at any depth, each node followed by its subgraphs' nodes", () => {
    const model = loadModel(fixtureModel("disc-tiny"));
    const withSubs = model.graph.nodes.filter((n) => n.subgraphs.size > 0);
    expect(withSubs.length).toBeGreaterThan(0); // the export's If
    const graphs = graphsOf(model.graph);
    const expected = [model.graph, ...withSubs.flatMap((n) => [...n.subgraphs.values()].flat())];
    expect(graphs).toEqual(expected);
    expect(model.graphs()).toEqual(graphs);
    const nodes = [...nodesOf(model.graph)];
    expect(nodes.length).toBe(graphs.reduce((s, g) => s + g.nodes.length, 0));
    const ifNode = withSubs[0];
    const at = nodes.indexOf(ifNode);
    const branch = [...ifNode.subgraphs.values()].flat() as Graph[];
    expect(nodes.slice(at + 1, at + 1 + branch.reduce((s, g) => s + g.nodes.length, 0))).toEqual(branch.flatMap((g) => g.nodes));
  });
});
