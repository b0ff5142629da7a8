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
  /** onnxruntime integer kernels (a lowered model) and the bit width of the codes each stores. */
  integer_kernels: KernelSummary[];
  metadata: Record<string, string>;
}

export interface KernelSummary {
  name: string;
  op: string;
  /** Each integer weight: its storage type and the narrowest signed grid holding its codes. */
  weights: { name: string; storage: string; bits: number }[];
}

function summarize(model: Model, v: Value): TensorSummary {
  return { name: v.name, type: v.elemType === undefined ? "unknown" : dataTypeName(v.elemType), shape: v.shape ?? null, role: roleOf(model, v.name) };
}

/**
 * Follows DequantizeLinear (and Identity) back to the initializer a weight input comes from.
 * Deliberately minimal: src/graph is the bottom layer and cannot use src/quant/qdq.ts (which
 * builds on it), so inspect and the token-lookup walk only ask where a weight is stored and
 * whether it is dequantized; codes, scales and bit widths are read by qdq.ts alone.
 */
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
  // DynamicQuantizeLSTM stores W and R transposed, [directions, size, 4*hidden], as int8.
  const lowered = node.opType === "DynamicQuantizeLSTM";
  return {
    name: node.name,
    direction: node.getString("direction", "forward")!,
    hidden_size: node.getInt("hidden_size") ?? (lowered ? rDims?.[1] : rDims?.[2]) ?? null,
    input_size: (lowered ? wDims?.[1] : wDims?.[2]) ?? null,
    layout: node.getInt("layout", 0),
    quantized_weights: lowered || Boolean(w?.quantized || r?.quantized),
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
 * or the weight inputs of onnxruntime's integer kernels (a lowered model); parameters: the
 * scales and zero points. A quantized model then counts the same parameters
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
    } else if (n.domain === "com.microsoft" && KERNEL_WEIGHTS[n.opType]) {
      // An integer kernel of a lowered model: its weight codes and their scales and zero points.
      const spec = KERNEL_WEIGHTS[n.opType];
      for (const i of spec.inputs) if (n.inputs[i]?.initializer) codes.add(n.inputs[i]!);
      for (const i of spec.params) if (n.inputs[i]?.initializer) params.add(n.inputs[i]!);
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

/** Which inputs of each integer kernel hold weight codes (and how they are stored) and which their scales and zero points. */
const KERNEL_WEIGHTS: Record<string, { inputs: number[]; packed: boolean; params: number[] }> = {
  DynamicQuantizeLSTM: { inputs: [1, 2], packed: false, params: [8, 9, 10, 11] },
  MatMulNBits: { inputs: [1], packed: true, params: [2, 3] },
  MatMulIntegerToFloat: { inputs: [1], packed: false, params: [2, 3, 4, 5] },
  DynamicQuantizeMatMul: { inputs: [1], packed: false, params: [2, 3] },
  GatherBlockQuantized: { inputs: [0], packed: true, params: [2, 3] },
};

/**
 * The bit width of a kernel's weight grid. Packed codes: the narrowest signed width (2 to 8
 * bits) holding every code, read unsigned around 2^(bits-1). int8 codes: the widest per-channel
 * span (channels along the last axis, as every int8 kernel here stores them), since an
 * asymmetric n-bit grid is stored as q - z, which needs n + 1 bits as a signed number but
 * takes at most 2^n values in each channel.
 */
function gridBits(node: Node, v: Value, packed: boolean): number {
  const t = v.initializer!;
  const raw = t.toNumbers();
  if (!packed) {
    const channels = t.dims.length ? t.dims[t.dims.length - 1] : 1;
    let span = 0;
    for (let c = 0; c < channels; c++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = c; i < raw.length; i += channels) {
        if (raw[i] < lo) lo = raw[i];
        if (raw[i] > hi) hi = raw[i];
      }
      if (hi >= lo) span = Math.max(span, hi - lo);
    }
    let b = 2;
    while (b < 8 && span > 2 ** b - 1) b++;
    return b;
  }
  const bits = node.getInt("bits", 4);
  const perByte = 8 / bits;
  let absMax = 0;
  for (let i = 0; i < raw.length * perByte; i++) {
    const c = ((raw[Math.floor(i / perByte)] >> ((i % perByte) * bits)) & ((1 << bits) - 1)) - 2 ** (bits - 1);
    absMax = Math.max(absMax, c < 0 ? -c - 1 : c);
  }
  let b = 2;
  while (b < 8 && absMax > 2 ** (b - 1) - 1) b++;
  return b;
}

function kernelSummary(node: Node): KernelSummary {
  const spec = KERNEL_WEIGHTS[node.opType];
  const weights = spec.inputs.flatMap((i) => {
    const v = node.inputs[i];
    if (!v?.initializer) return [];
    const storage = spec.packed ? `uint${node.getInt("bits", 4)} packed` : dataTypeName(v.initializer.dataType);
    return [{ name: v.name, storage, bits: gridBits(node, v, spec.packed) }];
  });
  return { name: node.name, op: node.opType, weights };
}

/** Codes per stored element when `v` is a weight input of an integer kernel (2 per byte at 4 bits), else 0. */
function kernelCodes(n: Node, v: Value): number {
  const spec = n.domain === "com.microsoft" ? KERNEL_WEIGHTS[n.opType] : undefined;
  if (!spec?.inputs.some((i) => n.inputs[i] === v)) return 0;
  return spec.packed ? 8 / n.getInt("bits", 4) : 1;
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
      // Padding of packed rows (MatMulNBits' blocks) is counted too: it is stored.
      if (isWeight(v)) parameters += t.size * Math.max(1, ...v.consumers.map((n) => kernelCodes(n, v)));
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
    lstm: nodes.filter((n) => (n.opType === "LSTM" && !n.domain) || (n.opType === "DynamicQuantizeLSTM" && n.domain === "com.microsoft")).map(lstmSummary),
    integer_kernels: nodes.filter((n) => n.domain === "com.microsoft" && n.opType in KERNEL_WEIGHTS).map(kernelSummary),
    metadata: Object.fromEntries(model.metadata),
  };
}

/** `ptq-onnx inspect`: the summary of a model already loaded from `path`, with the file's size. */
export function inspectFile(model: Model, path: string): ModelSummary & { bytes: number } {
  return { ...inspectModel(model), bytes: statSync(path).size };
}
