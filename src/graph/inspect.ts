import type { Model, Node, Value } from "./ir.ts";
import { roleOf } from "./roles.ts";
import { dataTypeName, isFloatType, storageBytes } from "./tensor.ts";

export interface TensorSummary {
  name: string;
  type: string;
  shape: (number | string | null)[] | null;
  role: "token_ids" | "lengths" | "scores" | null;
}

export interface LstmSummary {
  name: string;
  direction: string;
  hidden_size: number | null;
  input_size: number | null;
  layout: number;
  /** Whether W and R are read through DequantizeLinear (a quantized LSTM). */
  quantized_weights: boolean;
}

export interface ModelSummary {
  file: string | null;
  ir_version: number;
  opsets: Record<string, number>;
  producer: string;
  inputs: TensorSummary[];
  outputs: TensorSummary[];
  ops: Record<string, number>;
  nodes: number;
  /** Elements of the weight tensors: float initializers and quantized weights, not scales or shapes. */
  parameters: number;
  tensors_by_type: Record<string, { tensors: number; elements: number; bytes: number }>;
  lstm: LstmSummary[];
  metadata: Record<string, string>;
}

function summarize(model: Model, v: Value): TensorSummary {
  return { name: v.name, type: v.elemType === undefined ? "unknown" : dataTypeName(v.elemType), shape: v.shape ?? null, role: roleOf(model, v.name) };
}

/** Follows DequantizeLinear (and Identity) back to the initializer a weight input comes from. */
export function weightSource(v: Value | null): { value: Value; quantized: boolean } | null {
  let quantized = false;
  for (let cur = v, hops = 0; cur && hops < 4; hops++) {
    if (cur.initializer) return { value: cur, quantized };
    const p = cur.producer;
    if (!p || !["DequantizeLinear", "Identity"].includes(p.opType)) return null;
    quantized ||= p.opType === "DequantizeLinear";
    cur = p.inputs[0];
  }
  return null;
}

function lstmSummary(node: Node): LstmSummary {
  const w = weightSource(node.inputs[1] ?? null);
  const r = weightSource(node.inputs[2] ?? null);
  const wDims = w?.value.initializer?.dims;
  const rDims = r?.value.initializer?.dims;
  return {
    name: node.name,
    direction: node.getString("direction", "forward")!,
    hidden_size: node.getInt("hidden_size") ?? rDims?.[2] ?? null,
    input_size: wDims?.[2] ?? null,
    layout: node.getInt("layout", 0),
    quantized_weights: Boolean(w?.quantized || r?.quantized),
  };
}

/** Ops that only move, select or convert data: a weight read through them is still that weight. */
const DATA_MOVES = new Set(["Identity", "Gather", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Slice", "Expand", "Cast"]);

/** The initializer a value is read from through data moves only (a Gather reads input 0's rows), and whether a Cast was crossed. */
function traceInitializer(v: Value | null): { value: Value; cast: boolean } | null {
  let cast = false;
  for (let cur = v, hops = 0; cur && hops < 8; hops++) {
    if (cur.initializer) return { value: cur, cast };
    const p = cur.producer;
    if (!p || !DATA_MOVES.has(p.opType)) return null;
    cast ||= p.opType === "Cast";
    cur = p.inputs[0];
  }
  return null;
}

/**
 * Splits the initializers of a quantized model into weight codes and quantization parameters.
 * Codes: integer tensors dequantized by DequantizeLinear, or cast to float and multiplied by
 * their scales (the gather-quantized rows: Mul(Cast(Gather(codes)), Unsqueeze(Gather(scales))));
 * parameters: the scales and zero points. A quantized model then counts the same parameters
 * as its float model.
 */
function quantizedRoles(nodes: Node[]): { codes: Set<Value>; params: Set<Value> } {
  const codes = new Set<Value>();
  const params = new Set<Value>();
  for (const n of nodes) {
    if (n.opType === "QuantizeLinear" || n.opType === "DequantizeLinear") {
      const src = traceInitializer(n.inputs[0] ?? null);
      if (n.opType === "DequantizeLinear" && src && !isFloatType(src.value.initializer!.dataType)) codes.add(src.value);
      for (const q of n.inputs.slice(1)) {
        const p = traceInitializer(q);
        if (p) params.add(p.value);
      }
    } else if (n.opType === "Mul") {
      n.inputs.forEach((input, i) => {
        const src = traceInitializer(input);
        if (!src?.cast || isFloatType(src.value.initializer!.dataType)) return;
        codes.add(src.value);
        const scale = traceInitializer(n.inputs[1 - i] ?? null);
        if (scale) params.add(scale.value);
      });
    }
  }
  return { codes, params };
}

export function inspectModel(model: Model): ModelSummary {
  const ops: Record<string, number> = {};
  const nodes = model.allNodes();
  for (const n of nodes) {
    const key = n.domain && n.domain !== "ai.onnx" ? `${n.domain}.${n.opType}` : n.opType;
    ops[key] = (ops[key] ?? 0) + 1;
  }
  const tensorsByType: ModelSummary["tensors_by_type"] = {};
  let parameters = 0;
  const { codes, params } = quantizedRoles(nodes);
  const isWeight = (v: Value): boolean => !params.has(v) && (isFloatType(v.initializer!.dataType) || codes.has(v));
  const visitInitializers = (values: Value[]): void => {
    for (const v of values) {
      const t = v.initializer!;
      const entry = (tensorsByType[dataTypeName(t.dataType)] ??= { tensors: 0, elements: 0, bytes: 0 });
      entry.tensors++;
      entry.elements += t.size;
      entry.bytes += storageBytes(t.dataType, t.size);
      if (isWeight(v)) parameters += t.size;
    }
  };
  visitInitializers(model.graph.initializers);
  for (const n of nodes) for (const subs of n.subgraphs.values()) for (const g of subs) visitInitializers(g.initializers);
  const opsets: Record<string, number> = {};
  for (const o of model.proto.opsetImport) opsets[o.domain || "ai.onnx"] = Number(o.version);
  return {
    file: model.path ?? null,
    ir_version: model.irVersion,
    opsets,
    producer: [model.proto.producerName, model.proto.producerVersion].filter(Boolean).join(" "),
    inputs: model.graph.inputs.filter((v) => !v.initializer).map((v) => summarize(model, v)),
    outputs: model.graph.outputs.map((v) => summarize(model, v)),
    ops: Object.fromEntries(Object.entries(ops).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    nodes: nodes.length,
    parameters,
    tensors_by_type: tensorsByType,
    lstm: nodes.filter((n) => n.opType === "LSTM" && !n.domain).map(lstmSummary),
    metadata: Object.fromEntries(model.metadata),
  };
}
