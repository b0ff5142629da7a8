import type { Graph, NewNode, Node, Value } from "./ir.ts";
import { Tensor } from "./tensor.ts";

/** Node attributes as `Graph.addNode` takes them. */
export type Attributes = NonNullable<NewNode["attributes"]>;

export interface BuilderOptions {
  /** Names are `${prefix}${separator}${local}`; without a prefix, `local` as given. */
  prefix?: string;
  /** Between prefix and local name; default "/". */
  separator?: string;
  /** Insert every node just before this one (so the nodes keep the order they are built in). */
  before?: Node | null;
  /** Insert the first node just after this one and each next node after the previous. */
  after?: Node | null;
}

/**
 * Adds nodes and initializers to one graph, at one place, with names under one prefix. The
 * graph makes every name unique (`Graph.uniqueName`), so a rewrite never clashes with the
 * model's own names; the one builder the passes, the noise rewrite and the lowering share.
 */
export class Builder {
  readonly prefix: string;
  readonly separator: string;
  private readonly before: Node | null;
  private after: Node | null;

  constructor(
    readonly graph: Graph,
    opts: BuilderOptions = {},
  ) {
    this.prefix = opts.prefix ?? "";
    this.separator = opts.separator ?? "/";
    this.before = opts.before ?? null;
    this.after = opts.after ?? null;
  }

  /** The full name of a local name. */
  name(local: string): string {
    return this.prefix ? `${this.prefix}${this.separator}${local}` : local;
  }

  /**
   * One node. String outputs are local names of new values, `Value`s existing ones (which must
   * have no producer); the node's name is `name(opts.name ?? opType)`.
   */
  node(opType: string, inputs: (Value | null)[], outputs: (string | Value)[], opts: { name?: string; attributes?: Attributes; domain?: string } = {}): Node {
    return this.place({
      opType,
      domain: opts.domain,
      inputs,
      outputs: outputs.map((o) => (typeof o === "string" ? this.name(o) : o)),
      name: this.name(opts.name ?? opType),
      attributes: opts.attributes,
    });
  }

  /** Adds a node at this builder's place. */
  private place(spec: NewNode): Node {
    const node = this.graph.addNode(spec, this.before ? { before: this.before } : this.after ? { after: this.after } : {});
    if (this.after) this.after = node;
    return node;
  }

  /** One node with one output; returns that output. */
  op(opType: string, inputs: (Value | null)[], out: string | Value, attributes?: Attributes): Value {
    return this.node(opType, inputs, [out], { attributes }).outputs[0]!;
  }

  /** One node with several outputs; returns them. */
  multi(opType: string, inputs: (Value | null)[], outs: (string | Value)[], attributes?: Attributes): Value[] {
    return this.node(opType, inputs, outs, { attributes }).outputs as Value[];
  }

  /**
   * Replaces `old` by a new node producing the same output values (so every reader follows),
   * under the old node's name and with its metadata; unused optional outputs get fresh names.
   * `keep` names attributes of the old node to carry over, after `attributes`. Placed like
   * any node of this builder.
   */
  replace(old: Node, opType: string, inputs: (Value | null)[], opts: { attributes?: Attributes; domain?: string; keep?: readonly string[] } = {}): Node {
    if (old.graph !== this.graph) throw new Error(`node ${old.label} is not in this builder's graph`);
    const outputs = old.outputs.map((v, i) => v ?? this.graph.newValue(`${old.name}_unused${i}`));
    const { name, proto } = old;
    const kept = proto.attribute.filter((a) => opts.keep?.includes(a.name));
    this.graph.removeNode(old);
    const node = this.place({ opType, domain: opts.domain, inputs, outputs, name, attributes: opts.attributes });
    // The old name is still taken in the graph's name set, so addNode gave a fresh one: restore it.
    node.name = name;
    node.proto.attribute.push(...kept);
    node.proto.metadataProps = proto.metadataProps;
    return node;
  }

  /** A new initializer of the graph (the tensor's name made unique). */
  initializer(tensor: Tensor): Value {
    return this.graph.addInitializer(tensor);
  }
}

/**
 * Scalar and small int64 constants as initializers of one graph, each made once however often
 * it is asked for (subgraphs read them from there), named `${prefix}/const/${name}`.
 */
export class Constants {
  private readonly cache = new Map<string, Value>();

  constructor(
    readonly graph: Graph,
    readonly prefix: string,
  ) {}

  private get(key: string, make: () => Tensor): Value {
    let v = this.cache.get(key);
    if (!v) this.cache.set(key, (v = this.graph.addInitializer(make())));
    return v;
  }

  float(name: string, value: number): Value {
    return this.get(`f:${name}:${value}`, () => Tensor.float32(`${this.prefix}/const/${name}`, [], [value]));
  }

  int64(name: string, values: number[], scalar = false): Value {
    return this.get(`i:${name}:${scalar}:${values.join(",")}`, () => Tensor.int64(`${this.prefix}/const/${name}`, scalar ? [] : [values.length], values));
  }
}
