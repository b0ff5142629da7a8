import { Builder, DataType, Tensor, type Graph, type Model, type Node, type Value } from "../graph/index.ts";
import { gptqQuantize } from "../quant/gptq.ts";
import { intRange, quantizeTensor, type IntFormat, type QuantizedTensor } from "../quant/math.ts";
import type { Pass } from "./pass.ts";
import { weightBits, weightFormat, type QuantPolicy, type QuantReport } from "./policy.ts";

/** How one consumer uses a weight: which axis holds its output channels, or why it stays float. */
type Use = { axis: number | null; node: Node } | { keep: string; node: Node };

/** The channel axis of a weight for the op reading it (null: only per-tensor makes sense). */
function useOf(node: Node, inputIndex: number, rank: number): Use {
  switch (node.opType) {
    case "Gather":
      // An embedding table: one scale per row (per token).
      return inputIndex === 0 ? { axis: 0, node } : { keep: "Gather indices", node };
    case "LSTM":
    case "GRU":
    case "RNN":
      // W [dirs, 4H, in] and R [dirs, 4H, H]: one scale per gate row.
      if (inputIndex === 1 || inputIndex === 2) return { axis: 1, node };
      return { keep: `${node.opType} bias, peephole or state (kept float)`, node };
    case "Gemm": {
      if (inputIndex === 2) return { keep: "Gemm bias (kept float)", node };
      const trans = node.getInt(inputIndex === 1 ? "transB" : "transA", 0);
      // Output channels are B's columns (or its rows when transposed), A's rows.
      if (inputIndex === 1) return { axis: trans ? 0 : 1, node };
      return { axis: trans ? 1 : 0, node };
    }
    case "MatMul":
      return { axis: inputIndex === 1 ? rank - 1 : rank - 2, node };
    default:
      // Reshaped or expanded tables (a label embedding) are quantized per row when rank 2.
      return { axis: rank === 2 ? 0 : null, node };
  }
}

/** Per weight, the second moments of its layer's inputs (one matrix per LSTM direction). */
export type Hessians = ReadonlyMap<string, readonly { n: number; data: ArrayLike<number> }[]>;

/**
 * Replaces float weight initializers by integer codes on the n-bit grid behind a
 * DequantizeLinear, keeping the value (and so every consumer) as it was. Weights with a
 * Hessian in `hessians` are rounded with GPTQ's error compensation, the rest to nearest.
 */
export function quantizeWeightsPass(policy: QuantPolicy, report: QuantReport, hessians?: Hessians): Pass {
  return {
    name: "quantize-weights",
    run(model: Model): boolean {
      let changed = false;
      for (const g of model.graphs()) {
        for (const value of [...g.initializers]) changed = quantizeOne(model, g, value, policy, report, hessians) || changed;
      }
      return changed;
    },
  };
}

function quantizeOne(model: Model, g: Graph, value: Value, policy: QuantPolicy, report: QuantReport, hessians?: Hessians): boolean {
  const t = value.initializer!;
  if (t.dataType !== DataType.FLOAT || value.consumers.length === 0) return false;
  if (t.dims.length < 2) {
    if (value.consumers.some((n) => isCompute(n))) report.leftFloat.push({ name: value.name, reason: "bias or vector (kept float)" });
    return false;
  }
  if (policy.exclude.has(value.name)) {
    report.leftFloat.push({ name: value.name, reason: "excluded by policy" });
    return false;
  }
  const uses = value.consumers.map((n) => useOf(n, n.inputs.indexOf(value), t.dims.length));
  const kept = uses.find((u): u is { keep: string; node: Node } => "keep" in u);
  if (kept) {
    report.leftFloat.push({ name: value.name, reason: kept.keep });
    return false;
  }
  const bitsList = uses.map((u) => weightBits(policy, u.node));
  if (bitsList.some((b) => b === null)) {
    report.leftFloat.push({ name: value.name, reason: `policy skips ${uses[bitsList.indexOf(null)].node.label}` });
    return false;
  }
  // A weight shared by ops with different widths gets the widest.
  const bits = Math.max(...(bitsList as number[]));
  const axes = new Set(uses.map((u) => (u as { axis: number | null }).axis));
  const axis = policy.granularity === "per-channel" && axes.size === 1 ? [...axes][0] : null;
  const format = weightFormat(policy, bits);
  const q = quantizeTensor(t.data as Float32Array, t.dims, axis, format, policy.weightSymmetric);
  const h = hessians?.get(value.name);
  const rounding = h && uses.length === 1 && applyGptq(t.data as Float32Array, t.dims, uses[0].node, q, h, format) ? "gptq" : "nearest";

  const packed = policy.packInt4 && bits <= 4;
  if (packed && (model.opset("") ?? 0) < 21) throw new Error(`INT4 weights need opset 21; the model is at ${model.opset("")}`);
  const codeType = packed ? DataType.INT4 : DataType.INT8;
  const { qmin, qmax } = intRange(format);
  const codes = Int8Array.from(q.codes, (c) => Math.min(qmax, Math.max(qmin, c)));
  const name = value.name;
  const channels = q.scales.length;
  const paramDims = axis === null ? [] : [channels];
  const b = new Builder(g, { prefix: name, separator: "_", before: g.nodes[0] });
  const codesValue = b.initializer(Tensor.fromData(b.name("quantized"), codeType, t.dims, codes));
  const scaleValue = b.initializer(Tensor.fromData(b.name("scale"), DataType.FLOAT, paramDims, q.scales));
  const zeroValue = b.initializer(Tensor.fromData(b.name("zero_point"), codeType, paramDims, Int8Array.from(q.zeroPoints)));

  // The float initializer becomes the DequantizeLinear's output under the same name.
  g.initializers.splice(g.initializers.indexOf(value), 1);
  value.initializer = undefined;
  b.node("DequantizeLinear", [codesValue, scaleValue, zeroValue], [value], { attributes: axis === null ? {} : { axis } });
  const op = [...new Set(uses.map((u) => u.node.opType))].join("+");
  report.quantized.push({ name, kind: "weight", bits, granularity: axis === null ? "per-tensor" : `per-channel(axis ${axis})`, op, rounding });
  return true;
}

function isCompute(n: Node): boolean {
  return ["Gemm", "MatMul", "LSTM", "GRU", "RNN", "Add", "Conv"].includes(n.opType);
}

/**
 * Re-rounds q.codes with GPTQ, viewing the weight as [output channels, inputs] for its op.
 * Returns false (codes untouched) when the scales do not run along the output channels.
 */
function applyGptq(
  data: Float32Array,
  dims: readonly number[],
  node: Node,
  q: QuantizedTensor,
  hessians: readonly { n: number; data: ArrayLike<number> }[],
  format: IntFormat,
): boolean {
  // Blocks of [rows, cols], the element (r, c) of block b sits at index(b, r, c).
  let blocks: number, rows: number, cols: number, index: (b: number, r: number, c: number) => number, channelAxis: number;
  if (node.opType === "LSTM") {
    [blocks, rows, cols] = dims;
    index = (b, r, c) => (b * rows + r) * cols + c;
    channelAxis = 1;
  } else if (node.opType === "Gemm" && node.getInt("transB", 0) === 1) {
    [rows, cols] = dims;
    blocks = 1;
    index = (_b, r, c) => r * cols + c;
    channelAxis = 0;
  } else {
    // MatMul's B and Gemm's untransposed B are [inputs, outputs].
    [cols, rows] = dims;
    blocks = 1;
    index = (_b, r, c) => c * rows + r;
    channelAxis = 1;
  }
  if (q.axis !== null && q.axis !== channelAxis) return false;
  if (hessians.some((h) => h.n !== cols)) return false;
  for (let b = 0; b < blocks; b++) {
    const h = hessians[Math.min(b, hessians.length - 1)];
    const w = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) w[r * cols + c] = data[index(b, r, c)];
    const perRow = q.axis === null ? { s: [q.scales[0]], z: [q.zeroPoints[0]] } : { s: q.scales, z: q.zeroPoints };
    const codes = gptqQuantize(w, rows, cols, h.data, perRow.s, perRow.z, format);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) q.codes[index(b, r, c)] = codes[r * cols + c];
  }
  return true;
}
