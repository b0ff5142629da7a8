import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { closeSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { AttributeProto_AttributeType as AttrType, ModelProtoSchema, TensorProto_DataLocation, type AttributeProto, type GraphProto, type ModelProto, type TensorProto } from "onnx-buf";
import { InputError } from "./errors.ts";
import { openRegularFile, readInputFile, readRange, writeFileAtomic } from "./files.ts";
import { Graph, Model, Node } from "./ir.ts";
import { externalRef, Tensor, tensorDataProblem } from "./tensor.ts";

/** Reads an ONNX file into the IR. Every problem with the file is an InputError naming it. */
export function loadModel(path: string): Model {
  return parseModel(readInputFile(path, "an ONNX model"), path);
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
    v.initializer = Tensor.fromProto(t, loadTensorData(t, baseDir, file));
    g.initializers.push(v);
  }
  // Sparse initializers and tensor attributes stay protos, but onnxruntime reads them too.
  for (const sparse of proto.sparseInitializer) for (const t of [sparse.values, sparse.indices]) if (t) checkTensor(t, baseDir, file);
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
    for (const attr of np.attribute) for (const t of attributeTensors(attr)) checkTensor(t, baseDir, file);
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

function isExternal(t: TensorProto): boolean {
  return t.dataLocation === TensorProto_DataLocation.EXTERNAL;
}

function attributeTensors(attr: AttributeProto): TensorProto[] {
  const out = [...(attr.t ? [attr.t] : []), ...attr.tensors];
  for (const sparse of [...(attr.sparseTensor ? [attr.sparseTensor] : []), ...attr.sparseTensors]) {
    if (sparse.values) out.push(sparse.values);
    if (sparse.indices) out.push(sparse.indices);
  }
  return out;
}

/** Checks a tensor's data length against its dims (and its external file) without reading the data. */
function checkTensor(t: TensorProto, baseDir: string, file: string): void {
  if (isExternal(t)) {
    const { fd, length } = openExternal(t, baseDir, file);
    closeSync(fd);
    checkLength(t, file, { length });
  } else checkLength(t, file);
}

function checkLength(t: TensorProto, file: string, external?: { length: number }): void {
  const problem = tensorDataProblem(t, external?.length);
  if (problem) throw new InputError(`tensor '${t.name}' ${problem}`, file);
}

/** The external bytes of a tensor (undefined for inline data), after checking lengths against its dims. */
function loadTensorData(t: TensorProto, baseDir: string, file: string): Uint8Array | undefined {
  if (!isExternal(t)) {
    checkLength(t, file);
    return undefined;
  }
  const { fd, offset, length, path } = openExternal(t, baseDir, file);
  try {
    checkLength(t, file, { length });
    return readRange(fd, offset, length, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens a tensor's external data file and finds its byte range. The file must lie inside the
 * model's folder: an absolute location, a `..` component or a link resolving outside would let
 * a model read (and a load+save embed) any file the user can read.
 */
function openExternal(t: TensorProto, baseDir: string, file: string): { fd: number; offset: number; length: number; path: string } {
  const ref = externalRef(t);
  const fail = (problem: string): never => {
    throw new InputError(`tensor '${t.name}': external data${ref ? ` '${ref.location}'` : ""} ${problem}`, file);
  };
  if (!ref) return fail("has no location");
  const location = ref.location;
  if (isAbsolute(location) || /^[a-zA-Z]:|^[\\/]/.test(location)) fail("is an absolute path (only files inside the model's folder are read)");
  if (location.split(/[\\/]/).includes("..")) fail("has a '..' component (only files inside the model's folder are read)");
  const dataPath = join(baseDir, location);
  let real: string;
  try {
    real = realpathSync(dataPath);
  } catch {
    return fail("not found beside the model");
  }
  const inside = relative(realpathSync(baseDir), real);
  if (inside.split(sep)[0] === ".." || isAbsolute(inside)) fail("resolves outside the model's folder through a link (only files inside it are read)");
  if (!Number.isSafeInteger(ref.offset) || ref.offset < 0) fail(`has an invalid offset ${ref.offset}`);
  if (ref.length !== undefined && (!Number.isSafeInteger(ref.length) || ref.length < 0)) fail(`has an invalid length ${ref.length}`);
  const { fd, size } = openRegularFile(dataPath, `the external data of tensor '${t.name}'`);
  if (ref.offset + (ref.length ?? 0) > size) {
    closeSync(fd);
    fail(`runs past the end of its file (offset ${ref.offset} + length ${ref.length ?? 0} > ${size} bytes)`);
  }
  const length = ref.length ?? size - ref.offset;
  return { fd, offset: ref.offset, length, path: dataPath };
}
