import { toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { DataType, findRoles, loadModel, newModel, parseModel, validateModel } from "../../src/graph/index.ts";
import { fixtureModel } from "../helpers.ts";

describe("validateModel", () => {
  it("accepts the PyTorch exports", () => {
    for (const name of ["disc-tiny", "bilstm-tiny", "gen-tiny"]) expect(validateModel(loadModel(fixtureModel(name)))).toEqual([]);
  });

  it("names a node input nobody produces (a missing initializer)", () => {
    const proto = loadModel(fixtureModel("disc-tiny")).toProto();
    const lstm = proto.graph!.node.find((n) => n.opType === "LSTM")!;
    const w = lstm.input[1];
    proto.graph!.initializer = proto.graph!.initializer.filter((t) => t.name !== w);
    const problems = validateModel(parseModel(toBinary(ModelProtoSchema, proto)));
    expect(problems).toEqual([`input 1 '${w}' of node /lstm/LSTM (LSTM) is not produced by any node, graph input or initializer`]);
  });

  it("reports IR versions and opsets onnxruntime-node 1.30 does not run", () => {
    const model = loadModel(fixtureModel("disc-tiny"));
    model.setOpset("", 12);
    model.proto.irVersion = 14n;
    const problems = validateModel(model);
    expect(problems[0]).toMatch(/IR version 14 is outside/);
    expect(problems[1]).toMatch(/opset 12 is outside .*13 to 26/);
  });

  it("reports a graph output nobody produces", () => {
    const model = newModel({ "": 17 });
    const v = model.graph.newValue("ghost");
    model.graph.addOutput(v, DataType.FLOAT, [1]);
    expect(validateModel(model)).toEqual(["graph output 'ghost' is not produced by any node"]);
  });
});

describe("findRoles", () => {
  it("finds input_ids, lengths and the scores output by name", () => {
    expect(findRoles(loadModel(fixtureModel("gen-tiny")))).toEqual({
      tokenIds: { name: "input_ids", elemType: "int64", seqLen: null },
      lengths: { name: "lengths" },
      scores: { name: "scores" },
    });
  });

  it("falls back to the only 2-D integer input and the first output", () => {
    const model = newModel({ "": 17 });
    const g = model.graph;
    const ids = g.addInput("tokens", DataType.INT32, [1, 16]);
    const n = g.addNode({ opType: "Cast", inputs: [ids], outputs: ["out"], attributes: { to: DataType.FLOAT } });
    g.addOutput(n.outputs[0]!, DataType.FLOAT, [1, 16]);
    expect(findRoles(model)).toEqual({
      tokenIds: { name: "tokens", elemType: "int32", seqLen: 16 },
      lengths: null,
      scores: { name: "out" },
    });
  });

  it("refuses a model with no recognisable token-ids input", () => {
    const model = newModel({ "": 17 });
    const x = model.graph.addInput("x", DataType.FLOAT, [1, 4]);
    model.graph.addOutput(model.graph.addNode({ opType: "Relu", inputs: [x], outputs: ["y"] }).outputs[0]!, DataType.FLOAT, [1, 4]);
    expect(() => findRoles(model)).toThrow(/cannot find the token-ids input/);
  });
});
