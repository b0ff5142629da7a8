import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { AttributeProto_AttributeType as AttrType, ModelProtoSchema, type GraphProto, type ModelProto, type TensorProto } from "onnx-buf";
import { InputError } from "./errors.ts";
import { writeFileAtomic } from "./files.ts";
import { Graph, Model, Node } from "./ir.ts";
import { externalRef, Tensor } from "./tensor.ts";

/** Reads an ONNX file into the IR. Every problem with the file is an InputError naming it. */
export function loadModel(path: string): Model {
  if (!existsSync(path)) throw new InputError("no such file", path);
  if (statSync(path).isDirectory()) throw new InputError("is a directory, not an ONNX model", path);
  const bytes = readFileSync(path);
  return parseModel(bytes, path);
}

/** Decodes ONNX bytes; `path` names the file in errors and locates external data. */
export function parseModel(bytes: Uint8Array, path = "<memory>"): Model {
  if (bytes.length === 0) throw new InputError("empty file, not an ONNX model", path);
  let proto: ModelProto;
  try {
    proto = fromBinary(ModelProtoSchema, bytes);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new InputError(`not a valid ONNX model (truncated or corrupt protobuf: ${why})`, path);
  }
  if (!proto.graph || proto.irVersion === 0n) {
    throw new InputError("not an ONNX model (no graph or no IR version)", path);
  }
  const baseDir = path === "<memory>" ? process.cwd() : dirname(resolve(path));
  try {
    const graph = buildGraph(proto.graph, null, baseDir, path);
    linkGraph(graph, path);
    return new Model(proto, graph, path);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(err instanceof Error ? err.message : String(err), path);
  }
}

export function serializeModel(model: Model): Uint8Array {
  return toBinary(ModelProtoSchema, model.toProto());
}

/** Writes the model atomically; external data is written inline. */
export function saveModel(model: Model, path: string): void {
  writeFileAtomic(path, serializeModel(model));
}

/** The external data files a model file refers to (absolute paths, each once). */
export function externalDataFiles(model: Model): string[] {
  const baseDir = dirname(resolve(model.path ?? "."));
  const files = new Set<string>();
  const visit = (g: GraphProto): void => {
    const tensors = [...g.initializer, ...g.sparseInitializer.flatMap((s) => [s.values, s.indices])];
    for (const node of g.node) {
      for (const a of node.attribute) {
        tensors.push(a.t, ...a.tensors);
        for (const sub of [a.g, ...a.graphs]) if (sub) visit(sub);
      }
    }
    for (const t of tensors) {
      const ref = t && externalRef(t);
      if (ref) files.add(join(baseDir, ref.location));
    }
  };
  if (model.proto.graph) visit(model.proto.graph);
  return [...files];
}

/** First pass: define every value (inputs, initializers, node outputs) and create the nodes. */
function buildGraph(proto: GraphProto, parent: Graph | null, baseDir: string, file: string): Graph {
  const g = new Graph(proto, parent);
  for (const t of proto.initializer) {
    const v = g.defineValue(t.name);
    v.initializer = Tensor.fromProto(t, readExternal(t, baseDir, file));
    g.initializers.push(v);
  }
  for (const info of proto.input) {
    const v = g.defineValue(info.name);
    v.info = info;
    g.inputs.push(v);
  }
  for (const info of proto.valueInfo) {
    g.valueInfo.push(info);
  }
  for (const np of proto.node) {
    const node = new Node(g, np);
    for (const name of np.output) {
      if (name === "") {
        node.outputs.push(null);
        continue;
      }
      const v = g.defineValue(name);
      if (v.producer) throw new InputError(`value '${name}' is produced twice, by ${v.producer.label} and ${node.label}`, file);
      v.producer = node;
      node.outputs.push(v);
    }
    for (const attr of np.attribute) {
      if (attr.type === AttrType.GRAPH && attr.g) {
        const sub = buildGraph(attr.g, g, baseDir, file);
        sub.owner = node;
        node.subgraphs.set(attr.name, [sub]);
      } else if (attr.type === AttrType.GRAPHS && attr.graphs.length) {
        const subs = attr.graphs.map((sp) => buildGraph(sp, g, baseDir, file));
        for (const s of subs) s.owner = node;
        node.subgraphs.set(attr.name, subs);
      }
    }
    g.nodes.push(node);
  }
  for (const info of proto.valueInfo) {
    const v = g.ownValue(info.name);
    if (v && !v.info) v.info = info;
  }
  return g;
}

/** Second pass, once every graph's values exist: wire node inputs and graph outputs. */
function linkGraph(g: Graph, file: string): void {
  for (const node of g.nodes) {
    for (const subs of node.subgraphs.values()) for (const s of subs) linkGraph(s, file);
  }
  for (const node of g.nodes) {
    node.proto.input.forEach((name, i) => {
      // A name nobody defines becomes a value with no producer; validate() reports it.
      node.setInput(i, name === "" ? null : (g.lookup(name) ?? g.defineValue(name)));
    });
  }
  for (const info of g.proto.output) {
    const v = g.lookup(info.name) ?? g.defineValue(info.name);
    if (!v.info) v.info = info;
    g.outputs.push(v);
    g.outputInfo.set(v, info);
  }
}

function readExternal(t: TensorProto, baseDir: string, file: string): Uint8Array | undefined {
  const ref = externalRef(t);
  if (!ref) return undefined;
  const dataPath = join(baseDir, ref.location);
  if (!existsSync(dataPath)) {
    throw new InputError(`external data file '${ref.location}' of tensor '${t.name}' not found beside the model`, file);
  }
  const all = readFileSync(dataPath);
  const end = ref.length === undefined ? all.length : ref.offset + ref.length;
  if (end > all.length) throw new InputError(`external data of tensor '${t.name}' runs past the end of '${ref.location}'`, file);
  return all.subarray(ref.offset, end);
}
