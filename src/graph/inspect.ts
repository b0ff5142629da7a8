import { statSync } from "node:fs";
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

/** Whether an initializer is only ever a scale or zero point of QuantizeLinear/DequantizeLinear. */
function isQuantParameter(v: Value): boolean {
  return v.consumers.length > 0 && v.consumers.every((n) => (n.opType === "QuantizeLinear" || n.opType === "DequantizeLinear") && n.inputs[0] !== v);
}

function isWeight(v: Value): boolean {
  const t = v.initializer!;
  if (isQuantParameter(v)) return false;
  if (isFloatType(t.dataType)) return true;
  return v.consumers.some((n) => n.opType === "DequantizeLinear" && n.inputs[0] === v);
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
  for (const g of model.graphs()) visitInitializers(g.initializers);
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

/** `ptq-onnx inspect`: the summary of a model already loaded from `path`, with the file's size. */
export function inspectFile(model: Model, path: string): ModelSummary & { bytes: number } {
  return { ...inspectModel(model), bytes: statSync(path).size };
}
