import type { Node, Value } from "../graph/index.ts";
import { paramIndexer, type QdqModel, type QuantizedWeight } from "../quant/qdq.ts";

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
  /** 4-bit asymmetric embedding rows: split nibbles of q and a Sub of the row's zero point, or int8 rows of q - z. */
  asymmetricLookup: "nibbles" | "int8";
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
 * The codes less their zero points, q - z, element by element: with zero point 0 and the same
 * scales they dequantize to exactly the Q/DQ model's values, s * (q - z). Asymmetric n-bit
 * codes (q and z both on the signed n-bit grid) give values in [-(2^n - 1), 2^n - 1]: int8 for
 * n <= 7. Symmetric codes (zero point 0) come back as they are.
 */
export function centeredCodes(w: QuantizedWeight): Int32Array {
  if (w.zeroPoints.every((z) => z === 0)) return w.codes;
  const param = paramIndexer(w);
  return Int32Array.from(w.codes, (q, i) => q - w.zeroPoints[param(i)]);
}

/** The smallest and largest of some codes. */
export function codeRange(codes: Int32Array): [number, number] {
  let lo = 0;
  let hi = 0;
  for (const c of codes) {
    if (c < lo) lo = c;
    if (c > hi) hi = c;
  }
  return [lo, hi];
}

/** The narrowest signed width holding codes in [lo, hi] (at least 1). */
export function signedBits([lo, hi]: [number, number]): number {
  let b = 1;
  while (lo < -(2 ** (b - 1)) || hi > 2 ** (b - 1) - 1) b++;
  return b;
}

/**
 * Why a quantized weight cannot be stored as int8 codes with zero point 0 and one scale per
 * tensor or per channel (DynamicQuantizeLSTM, the int8 GEMM, the embedding's row forms), or
 * null when it can. Asymmetric codes are stored as q - z (see centeredCodes), so only blocked
 * scales, codes wider than 8 bits and asymmetric 8-bit codes whose q - z leaves int8 are refused.
 * `kernel` and `per` name the kernel and what its scales run along, for the reason.
 */
export function unsupportedWeight(w: QuantizedWeight, kernel = "the int8 kernel", per = "channel"): string | null {
  if (w.bits > 8) return `${w.name} has ${w.bits}-bit codes (the kernels take at most 8)`;
  if (w.blockSize !== null) return `${w.name} has blocked scales (block_size ${w.blockSize}): ${kernel} takes one scale per ${per}`;
  const [lo, hi] = codeRange(centeredCodes(w));
  if (lo < -128 || hi > 127) return `${w.name} has asymmetric ${w.bits}-bit codes whose q - z spans [${lo}, ${hi}], past int8: ${kernel} takes int8 codes with zero point 0`;
  return null;
}

/** `w` with its codes centered (q - z) and zero points 0: the same dequantized values. */
export function centered(w: QuantizedWeight): QuantizedWeight {
  const codes = centeredCodes(w);
  return codes === w.codes ? w : { ...w, codes, zeroPoints: new Int32Array(w.zeroPoints.length) };
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
