import type { Node, Value } from "../graph/index.ts";
import type { QdqModel, QuantizedWeight } from "../quant/qdq.ts";

/** onnxruntime's contrib domain, where the integer kernels live. */
export const MS_DOMAIN = "com.microsoft";

/** What the lowering rules share: the model's quantized tensors, read once, and the choices made. */
export interface LowerContext {
  qdq: QdqModel;
  /** MatMul/Gemm kernel: the int8 GEMM (MatMulIntegerToFloat or DynamicQuantizeMatMul) or MatMulNBits. */
  matmul: "integer" | "nbits";
  /** MatMulNBits' accuracy_level: 0 computes in float, 4 quantizes the activations to int8 per block. */
  accuracyLevel: 0 | 4;
  /** 5-8 bit embedding lookups: one blocked DequantizeLinear of the gathered rows (opset 21) or Cast and Mul by the gathered scales. */
  lookup: "dequantize" | "mul";
  /** MatMul/Gemm weights of at most this many elements stay a float op over their dequantized codes. */
  floatWeights: number;
  /** The default-domain opset the rules' output needs (raised at the end when above the model's). */
  opset: number;
  /** Activations whose calibrated codes an integer kernel reads (their QuantizeLinear stays). */
  staticActivations: Set<string>;
  /** Each lowered node (the new kernel) with the weights it now stores. */
  lowered: Map<Node, { from: string; kernel?: string; weights: { name: string; bits: number; storage: string }[] }>;
}

/**
 * Why a quantized weight cannot be read by an integer kernel as it is, or null when it can:
 * the kernels take symmetric codes (zero point 0) with one scale per tensor or per channel.
 */
export function unsupportedWeight(w: QuantizedWeight): string | null {
  if (w.blockSize !== null) return `${w.name} has blocked scales (block_size ${w.blockSize}), not per channel`;
  if (w.zeroPoints.some((z) => z !== 0)) return `${w.name} has nonzero zero points (the kernels take symmetric codes)`;
  if (w.bits > 8) return `${w.name} has ${w.bits}-bit codes (the kernels take at most 8)`;
  return null;
}

/** The scale of output channel `c` when the channels run along `axis` (or the one scale). */
export function channelScale(w: QuantizedWeight, axis: number, c: number): number {
  return w.axis === null ? w.scales[0] : w.axis === axis ? w.scales[c] : NaN;
}

/** The constant behind a value (initializer or Constant node), as numbers, or null. */
export function constantNumbers(v: Value | null | undefined): number[] | null {
  if (!v) return null;
  if (v.initializer) return Array.from(v.initializer.toNumbers());
  const p = v.producer;
  if (p?.opType === "Constant" && !p.domain) {
    const t = p.getTensor("value");
    return t ? Array.from(t.toNumbers()) : null;
  }
  return null;
}
