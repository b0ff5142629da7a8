/** Bad models and files built from the real fixtures, for the loader's safety tests (graph and CLI). */
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { spawnSync } from "node:child_process";
import { ModelProtoSchema, StringStringEntryProtoSchema, TensorProtoSchema, type ModelProto } from "onnx-buf";
import { DataType, Tensor, loadModel, type Model } from "../../src/graph/index.ts";
import { fixtureModel } from "../helpers.ts";

/** disc-tiny with one initializer's data moved to external data at `location`; `bytes` are its data for the caller to write. */
export function externalModel(location: string, tensor = "head.bias"): { proto: ModelProto; bytes: Uint8Array; set: (key: string, value: string) => void } {
  const proto = loadModel(fixtureModel("disc-tiny")).toProto();
  const t = proto.graph!.initializer.find((x) => x.name === tensor)!;
  const bytes = new Uint8Array(t.rawData);
  t.rawData = new Uint8Array(0);
  t.dataLocation = 1;
  t.externalData = Object.entries({ location, offset: "0", length: String(bytes.length) }).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value }));
  const set = (key: string, value: string): void => {
    t.externalData.find((e) => e.key === key)!.value = value;
  };
  return { proto, bytes, set };
}

export function modelBytes(proto: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, proto);
}

/** A model with one float initializer named `w` (and no nodes): enough for the loader's data checks. */
export function oneTensorModel(tensor: MessageInitShape<typeof TensorProtoSchema>): Uint8Array {
  const t = create(TensorProtoSchema, { name: "w", dataType: DataType.FLOAT, ...tensor });
  return modelBytes(create(ModelProtoSchema, { irVersion: 8n, opsetImport: [{ domain: "", version: 17n }], graph: { name: "g", initializer: [t] } }));
}

/** disc-tiny with one value of a float initializer replaced. */
export function withWeight(name: string, index: number, value: number): Model {
  const model = loadModel(fixtureModel("disc-tiny"));
  const v = model.graph.initializers.find((x) => x.name === name)!;
  const t = v.initializer!;
  const data = Float32Array.from(t.data as Float32Array);
  data[index] = value;
  model.graph.setInitializer(v, Tensor.float32(t.name, t.dims, data));
  return model;
}

/** disc-tiny with its Concat renamed to an op type onnxruntime has never heard of. */
export function unknownOpModel(): Model {
  const model = loadModel(fixtureModel("disc-tiny"));
  model.allNodes().find((n) => n.opType === "Concat")!.proto.opType = "C\x7fncat";
  return model;
}

export function mkfifo(path: string): void {
  const r = spawnSync("mkfifo", [path], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mkfifo ${path} failed: ${r.stderr}`);
}
