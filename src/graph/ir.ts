/**
 * The graph IR: values with producer and consumers, nodes, graphs with subgraphs, the model.
 * Over 450 lines on purpose: one job, and the four classes keep each other's links (a value's
 * consumers, a node's graph, a graph's names) consistent, which splitting would expose.
 */
import { create } from "@bufbuild/protobuf";
import {
  AttributeProtoSchema,
  ModelProtoSchema,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  AttributeProto_AttributeType as AttrType,
  GraphProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "onnx-buf";
import { Tensor } from "./tensor.ts";

/**
 * A mutable graph over a decoded ONNX model, in the manner of onnx-graphsurgeon:
 * values know their producer and consumers, nodes know their input and output values.
 * Everything the IR does not model (attributes, doc strings, metadata, sparse initializers,
 * annotations) stays on the original protos and is written back untouched.
 */

/** A named tensor flowing through a graph: a graph input, an initializer or a node output. */
export class Value {
  name: string;
  readonly graph: Graph;
  producer: Node | null = null;
  /** Nodes reading this value, repeated once per input slot; may include nodes of subgraphs. */
  readonly consumers: Node[] = [];
  initializer?: Tensor;
  /** Type and shape, when the model declares them (graph input/output or value_info). */
  info?: ValueInfoProto;

  constructor(graph: Graph, name: string) {
    this.graph = graph;
    this.name = name;
  }

  get isGraphInput(): boolean {
    return this.graph.inputs.includes(this);
  }

  get isGraphOutput(): boolean {
    return this.graph.outputs.includes(this);
  }

  /** Element type from the declared info or the initializer, when known. */
  get elemType(): number | undefined {
    if (this.initializer) return this.initializer.dataType;
    const t = this.info?.type?.value;
    return t?.case === "tensorType" ? t.value.elemType : undefined;
  }

  /** Declared shape: numbers for fixed dims, strings for symbolic ones, null for unknown. */
  get shape(): (number | string | null)[] | undefined {
    if (this.initializer) return [...this.initializer.dims];
    const t = this.info?.type?.value;
    if (t?.case !== "tensorType" || !t.value.shape) return undefined;
    return t.value.shape.dim.map((d) =>
      d.value.case === "dimValue" ? Number(d.value.value) : d.value.case === "dimParam" ? d.value.value : null,
    );
  }

  /** Points every consumer at `other` instead; graph outputs keep this value unless asked. */
  replaceAllUsesWith(other: Value, opts: { graphOutputs?: boolean } = {}): void {
    for (const node of [...this.consumers]) {
      node.inputs.forEach((v, i) => {
        if (v === this) node.setInput(i, other);
      });
    }
    if (opts.graphOutputs && this.isGraphOutput) {
      const g = this.graph;
      g.outputs = g.outputs.map((v) => (v === this ? other : v));
      // The declared type carries over; the name is rewritten on save.
      const info = g.outputInfo.get(this);
      if (info) g.outputInfo.set(other, info);
    }
  }
}

export type AttributeValue = number | bigint | string | number[] | bigint[] | string[] | Tensor | GraphProto;

export interface NewNode {
  opType: string;
  inputs: (Value | null)[];
  /** Output values, or names for new ones (made unique), or a count of new outputs. */
  outputs: (string | Value)[] | number;
  name?: string;
  domain?: string;
  attributes?: Record<string, AttributeValue | { ints: number[] } | { floats: number[] } | { float: number }>;
}

export class Node {
  readonly graph: Graph;
  /** The proto this node was read from (or built as); attributes and metadata live here. */
  readonly proto: NodeProto;
  readonly inputs: (Value | null)[] = [];
  readonly outputs: (Value | null)[] = [];
  /** Subgraphs of If/Loop/Scan (attribute name to graph), which may read this graph's values. */
  readonly subgraphs = new Map<string, Graph[]>();

  constructor(graph: Graph, proto: NodeProto) {
    this.graph = graph;
    this.proto = proto;
  }

  get opType(): string {
    return this.proto.opType;
  }

  get domain(): string {
    return this.proto.domain;
  }

  get name(): string {
    return this.proto.name;
  }

  set name(name: string) {
    this.proto.name = name;
  }

  /** A label for messages: the node's name with its op type. */
  get label(): string {
    return `${this.proto.name || "(unnamed)"} (${this.proto.domain ? this.proto.domain + "." : ""}${this.proto.opType})`;
  }

  setInput(index: number, value: Value | null): void {
    const old = this.inputs[index];
    if (old) old.consumers.splice(old.consumers.indexOf(this), 1);
    while (this.inputs.length <= index) this.inputs.push(null);
    this.inputs[index] = value;
    if (value) value.consumers.push(this);
  }

  /** The node's own inputs plus outer values its subgraphs read, for ordering and liveness. */
  allInputs(): Value[] {
    const out = this.inputs.filter((v): v is Value => v !== null);
    for (const graphs of this.subgraphs.values()) for (const g of graphs) out.push(...g.outerReads());
    return out;
  }

  attribute(name: string): AttributeProto | undefined {
    return this.proto.attribute.find((a) => a.name === name);
  }

  getInt(name: string, fallback: number): number;
  getInt(name: string): number | undefined;
  getInt(name: string, fallback?: number): number | undefined {
    const a = this.attribute(name);
    return a ? Number(a.i) : fallback;
  }

  getFloat(name: string, fallback?: number): number | undefined {
    const a = this.attribute(name);
    return a ? a.f : fallback;
  }

  getString(name: string, fallback?: string): string | undefined {
    const a = this.attribute(name);
    return a ? new TextDecoder().decode(a.s) : fallback;
  }

  getInts(name: string): number[] | undefined {
    const a = this.attribute(name);
    return a ? a.ints.map(Number) : undefined;
  }

  getFloats(name: string): number[] | undefined {
    return this.attribute(name)?.floats;
  }

  getStrings(name: string): string[] | undefined {
    const a = this.attribute(name);
    return a ? a.strings.map((s) => new TextDecoder().decode(s)) : undefined;
  }

  getTensor(name: string): Tensor | undefined {
    const a = this.attribute(name);
    return a?.t ? Tensor.fromProto(a.t) : undefined;
  }

  setAttribute(name: string, value: NonNullable<NewNode["attributes"]>[string]): void {
    const attr = makeAttribute(name, value);
    const i = this.proto.attribute.findIndex((a) => a.name === name);
    if (i >= 0) this.proto.attribute[i] = attr;
    else this.proto.attribute.push(attr);
  }

  removeAttribute(name: string): void {
    const i = this.proto.attribute.findIndex((a) => a.name === name);
    if (i >= 0) this.proto.attribute.splice(i, 1);
  }

  /** Attaches a subgraph attribute (a Loop body, an If branch) built as IR. */
  setSubgraph(name: string, graph: Graph): void {
    graph.owner = this;
    this.subgraphs.set(name, [graph]);
    this.setAttribute(name, graph.proto);
  }

  /** Writes the current wiring back into the proto. */
  toProto(): NodeProto {
    const p = this.proto;
    p.input = this.inputs.map((v) => v?.name ?? "");
    p.output = this.outputs.map((v) => v?.name ?? "");
    for (const attr of p.attribute) {
      const graphs = this.subgraphs.get(attr.name);
      if (!graphs) continue;
      if (attr.type === AttrType.GRAPH) attr.g = graphs[0].toProto();
      else attr.graphs = graphs.map((g) => g.toProto());
    }
    return p;
  }
}

export class Graph {
  readonly proto: GraphProto;
  readonly parent: Graph | null;
  /** The If/Loop/Scan node this graph is an attribute of. */
  owner: Node | null = null;
  nodes: Node[] = [];
  inputs: Value[] = [];
  outputs: Value[] = [];
  /** Initializers in file order; new ones are appended. */
  initializers: Value[] = [];
  /** The ValueInfoProto each graph output was declared with (kept apart from an input's). */
  readonly outputInfo = new Map<Value, ValueInfoProto>();
  /** value_info entries as read; entries whose value no longer exists are dropped on save. */
  valueInfo: ValueInfoProto[] = [];
  private readonly values = new Map<string, Value>();
  private names?: Set<string>;

  constructor(proto: GraphProto, parent: Graph | null = null) {
    this.proto = proto;
    this.parent = parent;
  }

  static empty(name = "graph"): Graph {
    return new Graph(create(GraphProtoSchema, { name }));
  }

  get root(): Graph {
    return this.parent ? this.parent.root : this;
  }

  /** The value of that name defined in this graph, without looking at outer graphs. */
  ownValue(name: string): Value | undefined {
    return this.values.get(name);
  }

  /** The value of that name in this graph or, for subgraphs, an enclosing one. */
  lookup(name: string): Value | undefined {
    return this.values.get(name) ?? this.parent?.lookup(name);
  }

  /** Every value defined in this graph. */
  allValues(): Value[] {
    return [...this.values.values()];
  }

  /** Defines a new value in this graph (its name is made unique across the model). */
  newValue(base: string): Value {
    const v = new Value(this, this.uniqueName(base));
    this.values.set(v.name, v);
    return v;
  }

  /** Defines a value with exactly this name; used by the loader, which keeps the file's names. */
  defineValue(name: string): Value {
    let v = this.values.get(name);
    if (!v) {
      v = new Value(this, name);
      this.values.set(name, v);
      this.root.names?.add(name);
    }
    return v;
  }

  /** Renames a value everywhere it is referenced. */
  renameValue(value: Value, name: string): void {
    if (this.lookup(name) && this.lookup(name) !== value) throw new Error(`a value named ${name} already exists`);
    this.values.delete(value.name);
    value.name = name;
    if (value.info) value.info.name = name;
    this.values.set(name, value);
    this.root.names?.add(name);
  }

  /**
   * A name not yet used by any value or node anywhere in the model; `base` itself when it is free,
   * else `base_1`, `base_2`, ...
   */
  uniqueName(base: string): string {
    const root = this.root;
    root.names ??= root.collectNames();
    let name = base;
    for (let i = 1; root.names.has(name); i++) name = `${base}_${i}`;
    root.names.add(name);
    return name;
  }

  private collectNames(): Set<string> {
    const names = new Set<string>();
    for (const g of graphsOf(this)) {
      for (const name of g.values.keys()) names.add(name);
      for (const n of g.nodes) if (n.name) names.add(n.name);
    }
    return names;
  }

  /** Declares a new graph input of the given element type and shape (strings are symbolic dims). */
  addInput(name: string, elemType: number, shape: (number | string)[]): Value {
    const v = this.newValue(name);
    v.info = makeValueInfo(v.name, elemType, shape);
    this.inputs.push(v);
    return v;
  }

  /** Makes a value a graph output; its type is declared when given (onnxruntime needs none). */
  addOutput(value: Value, elemType?: number, shape?: (number | string | null)[]): void {
    const info = value.info && !value.isGraphInput ? value.info : makeValueInfo(value.name, elemType ?? value.elemType ?? 0, shape ?? value.shape);
    this.outputs.push(value);
    this.outputInfo.set(value, info);
  }

  addInitializer(tensor: Tensor): Value {
    const v = this.newValue(tensor.name);
    tensor.name = v.name;
    v.initializer = tensor;
    this.initializers.push(v);
    return v;
  }

  /** Replaces an initializer's tensor (same value, same consumers). */
  setInitializer(value: Value, tensor: Tensor): void {
    tensor.name = value.name;
    value.initializer = tensor;
  }

  /** Deletes an initializer nobody reads any more (throws if it is still read or is a graph input/output). */
  removeInitializer(value: Value): void {
    if (value.graph !== this || !this.initializers.includes(value)) throw new Error(`${value.name} is not an initializer of this graph`);
    if (value.consumers.length > 0 || value.isGraphInput || value.isGraphOutput) throw new Error(`initializer ${value.name} is still in use`);
    this.initializers = this.initializers.filter((v) => v !== value);
    this.values.delete(value.name);
  }

  /** Adds a node, by default at the end; `before` places it ahead of a given node. */
  addNode(spec: NewNode, opts: { before?: Node; after?: Node } = {}): Node {
    const proto = create(NodeProtoSchema, {
      opType: spec.opType,
      domain: spec.domain ?? "",
      name: this.uniqueName(spec.name ?? spec.opType),
    });
    for (const [k, v] of Object.entries(spec.attributes ?? {})) proto.attribute.push(makeAttribute(k, v));
    const node = new Node(this, proto);
    spec.inputs.forEach((v, i) => node.setInput(i, v));
    const outs = typeof spec.outputs === "number" ? Array.from({ length: spec.outputs }, (_, i) => `${proto.name}_out${i}`) : spec.outputs;
    for (const o of outs) {
      const v = typeof o === "string" ? this.newValue(o) : o;
      if (v.producer) throw new Error(`value ${v.name} already has a producer (${v.producer.label})`);
      v.producer = node;
      node.outputs.push(v);
    }
    const anchor = opts.before ?? opts.after;
    const at = anchor ? this.nodes.indexOf(anchor) : -1;
    if (anchor && at < 0) throw new Error(`node ${anchor.label} is not in this graph`);
    if (opts.before) this.nodes.splice(at, 0, node);
    else if (opts.after) this.nodes.splice(at + 1, 0, node);
    else this.nodes.push(node);
    return node;
  }

  /** Removes a node and unlinks it (and its subgraphs) from the values it reads. */
  removeNode(node: Node): void {
    const i = this.nodes.indexOf(node);
    if (i < 0) throw new Error(`node ${node.label} is not in this graph`);
    this.nodes.splice(i, 1);
    unlinkInputs(node);
    for (const v of node.outputs) if (v && v.producer === node) v.producer = null;
  }

  /** Values read by nodes of this graph (or its subgraphs) but defined in an enclosing graph. */
  outerReads(): Value[] {
    const out = new Set<Value>();
    for (const g of graphsOf(this)) {
      for (const n of g.nodes) for (const v of n.inputs) if (v && !this.definesTransitively(v)) out.add(v);
      for (const v of g.outputs) if (!this.definesTransitively(v)) out.add(v);
    }
    return [...out];
  }

  private definesTransitively(v: Value): boolean {
    for (let g: Graph | null = v.graph; g; g = g.parent) if (g === this) return true;
    return false;
  }

  /**
   * Orders nodes so every node comes after the producers of what it reads, keeping the
   * existing order wherever it is already valid (so sorted graphs stay byte-identical).
   * Throws naming a node on a cycle.
   */
  toposort(): void {
    const index = new Map(this.nodes.map((n, i) => [n, i]));
    const deps = new Map<Node, Set<Node>>();
    const users = new Map<Node, Node[]>();
    for (const n of this.nodes) {
      const d = new Set<Node>();
      for (const v of n.allInputs()) {
        const p = v.producer;
        if (p && p !== n && index.has(p)) d.add(p);
        else if (p === n) throw new Error(`cycle: node ${n.label} reads its own output ${v.name}`);
      }
      deps.set(n, d);
      for (const p of d) (users.get(p) ?? users.set(p, []).get(p)!).push(n);
    }
    const ready = this.nodes.filter((n) => deps.get(n)!.size === 0);
    const order: Node[] = [];
    while (ready.length) {
      // Smallest original index first: an already-sorted graph keeps its order.
      let best = 0;
      for (let i = 1; i < ready.length; i++) if (index.get(ready[i])! < index.get(ready[best])!) best = i;
      const n = ready.splice(best, 1)[0];
      order.push(n);
      for (const u of users.get(n) ?? []) {
        const d = deps.get(u)!;
        d.delete(n);
        if (d.size === 0) ready.push(u);
      }
    }
    if (order.length !== this.nodes.length) {
      const stuck = this.nodes.find((n) => !order.includes(n))!;
      throw new Error(`cycle: node ${stuck.label} depends on its own outputs`);
    }
    this.nodes = order;
  }

  /**
   * Removes nodes none of whose outputs is used, then initializers nobody reads, in this graph
   * and its subgraphs. Returns the number of nodes removed.
   */
  cleanup(): number {
    let removed = 0;
    for (const n of this.nodes) for (const subs of n.subgraphs.values()) for (const g of subs) removed += g.cleanup();
    for (let changed = true; changed; ) {
      changed = false;
      for (let i = this.nodes.length - 1; i >= 0; i--) {
        const n = this.nodes[i];
        const used = n.outputs.some((v) => v && (v.consumers.length > 0 || v.isGraphOutput));
        if (!used) {
          this.removeNode(n);
          for (const v of n.outputs) if (v) this.values.delete(v.name);
          removed++;
          changed = true;
        }
      }
    }
    this.initializers = this.initializers.filter((v) => {
      const keep = v.consumers.length > 0 || v.isGraphOutput || v.isGraphInput;
      if (!keep) this.values.delete(v.name);
      return keep;
    });
    return removed;
  }

  toProto(): GraphProto {
    const p = this.proto;
    p.node = this.nodes.map((n) => n.toProto());
    p.initializer = this.initializers.map((v) => v.initializer!.toProto());
    p.input = this.inputs.map((v) => infoFor(v));
    p.output = this.outputs.map((v) => infoFor(v, this.outputInfo.get(v)));
    p.valueInfo = this.valueInfo.filter((vi) => this.values.has(vi.name));
    return p;
  }
}

function infoFor(v: Value, declared?: ValueInfoProto): ValueInfoProto {
  const info = declared ?? v.info;
  if (!info) throw new Error(`graph input/output ${v.name} has no type information`);
  info.name = v.name;
  return info;
}

/**
 * The nodes of a graph and of its subgraphs at any depth, depth first: each node is followed
 * by the nodes of its subgraphs. The one recursion over subgraphs that the walks build on.
 */
export function* nodesOf(graph: Graph): Generator<Node> {
  for (const n of graph.nodes) {
    yield n;
    for (const subs of n.subgraphs.values()) for (const g of subs) yield* nodesOf(g);
  }
}

/** A graph and its subgraphs at any depth: the graph, then each node's subgraphs in `nodesOf` order. */
export function graphsOf(graph: Graph): Graph[] {
  const out = [graph];
  for (const n of nodesOf(graph)) for (const subs of n.subgraphs.values()) out.push(...subs);
  return out;
}

function unlinkInputs(node: Node): void {
  const nested = [...node.subgraphs.values()].flat().flatMap((g) => [...nodesOf(g)]);
  for (const n of [node, ...nested]) n.inputs.forEach((_, i) => n.setInput(i, null));
}

/** The whole model: the proto with everything outside the graph, and the graph IR. */
export class Model {
  readonly proto: ModelProto;
  readonly graph: Graph;
  /** The file it was loaded from, for messages and for finding external data. */
  path?: string;

  constructor(proto: ModelProto, graph: Graph, path?: string) {
    this.proto = proto;
    this.graph = graph;
    this.path = path;
  }

  get irVersion(): number {
    return Number(this.proto.irVersion);
  }

  /** The imported version of an operator set ("" is the default ONNX domain). */
  opset(domain = ""): number | undefined {
    const entry = this.proto.opsetImport.find((o) => o.domain === domain || (domain === "" && o.domain === "ai.onnx"));
    return entry ? Number(entry.version) : undefined;
  }

  setOpset(domain: string, version: number): void {
    const entry = this.proto.opsetImport.find((o) => o.domain === domain || (domain === "" && o.domain === "ai.onnx"));
    if (entry) entry.version = BigInt(version);
    else this.proto.opsetImport.push(create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) }));
  }

  get metadata(): Map<string, string> {
    return new Map(this.proto.metadataProps.map((e) => [e.key, e.value]));
  }

  setMetadata(key: string, value: string): void {
    const entry = this.proto.metadataProps.find((e) => e.key === key);
    if (entry) entry.value = value;
    else this.proto.metadataProps.push(create(StringStringEntryProtoSchema, { key, value }));
  }

  /** Every node of the model, subgraphs included, depth first. */
  allNodes(): Node[] {
    return [...nodesOf(this.graph)];
  }

  /** The main graph and every subgraph, at any depth (see `graphsOf`). */
  graphs(): Graph[] {
    return graphsOf(this.graph);
  }

  toProto(): ModelProto {
    this.proto.graph = this.graph.toProto();
    return this.proto;
  }
}

export function makeAttribute(name: string, value: NonNullable<NewNode["attributes"]>[string]): AttributeProto {
  const a = create(AttributeProtoSchema, { name });
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: use { float: x } for float values`);
    a.type = AttrType.INT;
    a.i = BigInt(value);
  } else if (typeof value === "bigint") {
    a.type = AttrType.INT;
    a.i = value;
  } else if (typeof value === "string") {
    a.type = AttrType.STRING;
    a.s = new TextEncoder().encode(value);
  } else if (value instanceof Tensor) {
    a.type = AttrType.TENSOR;
    a.t = value.toProto() as TensorProto;
  } else if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "string")) {
      a.type = AttrType.STRINGS;
      a.strings = (value as string[]).map((s) => new TextEncoder().encode(s));
    } else {
      a.type = AttrType.INTS;
      a.ints = (value as (number | bigint)[]).map((v) => BigInt(v));
    }
  } else if ("ints" in value) {
    a.type = AttrType.INTS;
    a.ints = value.ints.map((v) => BigInt(v));
  } else if ("floats" in value) {
    a.type = AttrType.FLOATS;
    a.floats = value.floats;
  } else if ("float" in value) {
    a.type = AttrType.FLOAT;
    a.f = value.float;
  } else {
    a.type = AttrType.GRAPH;
    a.g = value as GraphProto;
  }
  return a;
}

/** A ValueInfoProto for a tensor; elemType 0 and an undefined shape leave them unstated. */
export function makeValueInfo(name: string, elemType: number, shape?: (number | string | null)[]): ValueInfoProto {
  const tensorType = create(TypeProto_TensorSchema, { elemType });
  if (shape) {
    tensorType.shape = create(TensorShapeProtoSchema, {
      dim: shape.map((d) =>
        create(TensorShapeProto_DimensionSchema, {
          value: typeof d === "number" ? { case: "dimValue", value: BigInt(d) } : typeof d === "string" ? { case: "dimParam", value: d } : { case: undefined },
        }),
      ),
    });
  }
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: "tensorType", value: tensorType } }) });
}

/** A new, empty model importing the given opsets ("" is the default domain). */
export function newModel(opsets: Record<string, number>, irVersion = 10): Model {
  const proto = create(ModelProtoSchema, { irVersion: BigInt(irVersion), producerName: "ptq-onnx" });
  const model = new Model(proto, Graph.empty("main"));
  for (const [domain, version] of Object.entries(opsets)) model.setOpset(domain, version);
  return model;
}
