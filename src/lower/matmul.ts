import { Builder, DataType, Tensor, type Attributes, type Node, type Value } from "../graph/index.ts";
import type { RewriteRule } from "../passes/rewrite.ts";
import { activationOf, dequantize, weightOf, type QuantizedWeight } from "../quant/qdq.ts";
import { MS_DOMAIN, channelScale, unsupportedWeight, type LowerContext } from "./common.ts";
import { kernelBits, packRows, rowBlock } from "./pack.ts";

interface MatMulMatch {
  node: Node;
  a: Value;
  w: QuantizedWeight;
  /** The axis of the weight that holds the N output channels (the other holds K). */
  nAxis: 0 | 1;
  bias: Value | null;
  /** An Add of a bias vector that reads only this product, folded into the kernel (its output becomes the kernel's). */
  add: Node | null;
}

/**
 * The com.microsoft.MatMulNBits node for A x W (W quantized, [K, N] or [N, K]): B is [N,
 * blocks, bytes] of unsigned codes (see rowBlock for the block length), scales [N, blocks],
 * every block of a row with that output channel's scale. Codes of 3 bits go in 4-bit storage and of
 * 5 to 7 bits in 8-bit storage: onnxruntime 1.30's CPU kernel takes 2, 4 and 8.
 */
function matMulNBits(ctx: LowerContext, m: MatMulMatch): void {
  const { node, a, w, nAxis } = m;
  const builder = new Builder(node.graph);
  const N = w.dims[nAxis];
  const bias = biasVector(m, builder);
  const K = w.dims[1 - nAxis];
  const bits = kernelBits(w.bits);
  const block = rowBlock(K);
  const at = nAxis === 0 ? (n: number, k: number) => w.codes[n * K + k] : (n: number, k: number) => w.codes[k * N + n];
  const packed = packRows(N, K, Math.ceil(K / block) * block, bits, at);
  const blocks = Math.ceil(K / block);
  const scales = Float32Array.from({ length: N * blocks }, (_, i) => channelScale(w, nAxis, Math.floor(i / blocks)));
  const b = builder.initializer(Tensor.fromData(`${w.name}_nbits`, DataType.UINT8, [N, blocks, packed.length / N / blocks], packed));
  const s = builder.initializer(Tensor.fromData(`${w.name}_nbits_scale`, DataType.FLOAT, [N, blocks], scales));
  const lowered = replaceProduct(builder, m, "MatMulNBits", [a, b, s, null, null, bias], { K, N, bits, block_size: block, accuracy_level: ctx.accuracyLevel });
  ctx.lowered.set(lowered, { from: node.opType, weights: [{ name: w.name, bits: w.bits, storage: `uint${bits} packed` }] });
}

/**
 * The kernel node in place of the product: of the MatMul/Gemm, or, with a folded bias Add, of
 * the Add (its output, read by the same nodes or a graph output), under the MatMul's name.
 */
function replaceProduct(builder: Builder, m: MatMulMatch, opType: string, inputs: (Value | null)[], attributes?: Attributes): Node {
  if (!m.add) return builder.replace(m.node, opType, inputs, { domain: MS_DOMAIN, attributes });
  const name = m.node.name;
  builder.graph.removeNode(m.node);
  const kernel = builder.replace(m.add, opType, inputs, { domain: MS_DOMAIN, attributes });
  kernel.name = name;
  return kernel;
}

/** The bias as the vector of N values the kernels take (a Gemm's C of shape [1, N] holds the same values). */
function biasVector(m: MatMulMatch, builder: Builder): Value | null {
  const N = m.w.dims[m.nAxis];
  const c = m.bias;
  if (!c || c.initializer!.dims.length === 1) return c;
  return builder.initializer(Tensor.fromData(`${c.name}_vector`, DataType.FLOAT, [N], Float32Array.from(c.initializer!.toNumbers())));
}

/**
 * A x W on onnxruntime's int8 GEMM (MLAS u8 x s8): W's codes as int8 [K, N] with a scale per
 * output column and zero point 0. When A carries a calibrated 8-bit Q/DQ pair, the kernel
 * reads its codes with that scale and zero point: com.microsoft.MatMulIntegerToFloat, the
 * Q/DQ model's own arithmetic, with no range to find per run. Otherwise (no pair, or a
 * narrower calibrated width, which 8 bits per run beat) A is quantized to 8 bits per run:
 * com.microsoft.DynamicQuantizeMatMul.
 */
function matMulInteger(ctx: LowerContext, m: MatMulMatch): void {
  const { node, a, w, nAxis } = m;
  const builder = new Builder(node.graph);
  const N = w.dims[nAxis];
  const K = w.dims[1 - nAxis];
  const codes = new Int8Array(K * N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) codes[k * N + n] = nAxis === 0 ? w.codes[n * K + k] : w.codes[k * N + n];
  const b = builder.initializer(Tensor.fromData(`${w.name}_int8`, DataType.INT8, [K, N], codes));
  const bScale = builder.initializer(Tensor.fromData(`${w.name}_int8_scale`, DataType.FLOAT, [N], Float32Array.from({ length: N }, (_, n) => channelScale(w, nAxis, n))));
  const bZero = builder.initializer(Tensor.fromData(`${w.name}_int8_zero_point`, DataType.INT8, [N], new Int8Array(N)));
  const bias = biasVector(m, builder);
  const calibrated = activationOf(ctx.qdq, a);
  const act = calibrated && calibrated.bits === 8 && !calibrated.clip ? calibrated : undefined;
  const lowered = act
    ? replaceProduct(builder, m, "MatMulIntegerToFloat", [act.quantize.outputs[0]!, b, act.quantize.inputs[1]!, bScale, act.quantize.inputs[2] ?? null, bZero, bias])
    : replaceProduct(builder, m, "DynamicQuantizeMatMul", [a, b, bScale, bZero, bias]);
  ctx.lowered.set(lowered, { from: node.opType, weights: [{ name: w.name, bits: w.bits, storage: "int8" }] });
  if (act) ctx.staticActivations.add(act.value.name);
}

/**
 * A x W kept as the float op over W's dequantized codes (n-bit grid values times their scales,
 * as DequantizeLinear computes them, so the weights are bit-for-bit the Q/DQ model's): for a
 * small weight the product is a few microseconds either way, and the float op needs neither
 * the kernel's quantization of A nor a QuantizeLinear (see LowerOptions.floatWeights). A's Q/DQ
 * pair is dropped with the kernels' (the op is recorded as lowered); A stays float, where the
 * kernels would quantize it to 8 bits.
 */
function floatMatMul(ctx: LowerContext, m: MatMulMatch): void {
  const { node, w } = m;
  const b = new Builder(node.graph);
  const weights = b.initializer(Tensor.fromData(`${w.name}_dequantized`, DataType.FLOAT, [...w.dims], dequantize(w)));
  node.setInput(1, weights);
  ctx.lowered.set(node, { from: node.opType, kernel: `${node.opType} (float, dequantized weights)`, weights: [{ name: w.name, bits: w.bits, storage: "float32 (dequantized codes)" }] });
}

/** The kernel for A x W: MatMulNBits when asked, else the int8 GEMM, measured faster here (see lowerModel). */
function lowerMatMul(ctx: LowerContext, m: MatMulMatch): void {
  // A language-model projection keeps its kernel whatever its size: scoring only the masked
  // positions (scored-rows.ts) rewrites around that kernel. The bias Add, if any, stays as it
  // was with the float op (a Gemm keeps its C).
  const product = (m.add ?? m.node).outputs[0];
  if (m.w.codes.length <= ctx.floatWeights && !product?.consumers.some((n) => n.opType === "LogSoftmax")) {
    floatMatMul(ctx, m);
    return;
  }
  // With a folded bias Add, the kernel takes the Add's place (its output, read by the same
  // nodes or a graph output) under the MatMul's name.
  if (ctx.matmul === "nbits") matMulNBits(ctx, m);
  else matMulInteger(ctx, m);
  ctx.lowered.get([...ctx.lowered.keys()].at(-1)!)!.from = m.add ? `${m.node.opType}+Add` : m.node.opType;
}

/**
 * The Add that adds a bias vector to a MatMul's product and is its only reader, or null: the
 * kernels add a bias of N values in their output loop, where a separate Add reads and writes
 * the whole product once more (for a generative model's [rows, vocabulary] logits, a quarter
 * of the run).
 */
function biasAdd(node: Node, N: number): { add: Node; bias: Value } | null {
  const y = node.outputs[0];
  if (!y || y.isGraphOutput || y.consumers.length !== 1) return null;
  const add = y.consumers[0];
  if (add.opType !== "Add" || add.domain || add.graph !== node.graph) return null;
  const bias = add.inputs[0] === y ? add.inputs[1] : add.inputs[0];
  if (!bias || bias === y) return null;
  const t = bias.initializer;
  // A vector of N only: a [1, N] bias would also broadcast a 1-D product to [1, N], which the kernel would not.
  if (!t || t.dataType !== DataType.FLOAT || t.dims.length !== 1 || t.dims[0] !== N) return null;
  return { add, bias };
}

/** Why a weight cannot feed MatMulNBits with its output channels along `nAxis`, or null. */
function unsupported(w: QuantizedWeight, nAxis: 0 | 1): string | null {
  const why = unsupportedWeight(w);
  if (why) return why;
  if (w.dims.length !== 2) return `${w.name} is not a matrix`;
  if (w.axis !== null && w.axis !== nAxis) return `${w.name} has scales along its input axis, not per output channel`;
  return null;
}

/** Gemm(A, W, C) with W quantized -> an integer MatMul kernel with C as its bias. */
export function gemmRule(ctx: LowerContext): RewriteRule<MatMulMatch> {
  return {
    name: "gemm-to-integer-matmul",
    anchor: "Gemm",
    match(node) {
      const w = weightOf(ctx.qdq, node.inputs[1] ?? null);
      if (!w) return weightOf(ctx.qdq, node.inputs[0] ?? null) ? "the quantized weight is Gemm's A, not B" : "B is not a quantized weight";
      if (node.getInt("transA", 0) !== 0) return "transA=1";
      if ((node.getFloat("alpha") ?? 1) !== 1 || (node.getFloat("beta") ?? 1) !== 1) return "alpha or beta is not 1";
      const nAxis = node.getInt("transB", 0) === 1 ? 0 : 1;
      const why = unsupported(w, nAxis);
      if (why) return why;
      const c = node.inputs[2] ?? null;
      const N = w.dims[nAxis];
      if (c && !(c.initializer && c.initializer.dataType === DataType.FLOAT && c.initializer.size === N && c.initializer.dims.at(-1) === N)) {
        return "the bias C is not a float initializer of N values";
      }
      return { node, a: node.inputs[0]!, w, nAxis, bias: c, add: null };
    },
    apply: (m) => lowerMatMul(ctx, m),
  };
}

/** MatMul(A, W) with W quantized, [K, N] and per output column -> an integer MatMul kernel. */
export function matMulRule(ctx: LowerContext): RewriteRule<MatMulMatch> {
  return {
    name: "matmul-to-integer-matmul",
    anchor: "MatMul",
    match(node) {
      const w = weightOf(ctx.qdq, node.inputs[1] ?? null);
      if (!w) return weightOf(ctx.qdq, node.inputs[0] ?? null) ? "the quantized weight is MatMul's left operand" : "B is not a quantized weight";
      const why = unsupported(w, 1);
      if (why) return why;
      const folded = biasAdd(node, w.dims[1]);
      return { node, a: node.inputs[0]!, w, nAxis: 1, bias: folded?.bias ?? null, add: folded?.add ?? null };
    },
    apply: (m) => lowerMatMul(ctx, m),
  };
}
