import { Builder, DataType, Tensor, type Attributes, type Node, type Value } from "../graph/index.ts";
import type { RewriteRule } from "../passes/rewrite.ts";
import { activationOf, dequantize, paramIndexer, weightOf, type QuantizedWeight } from "../quant/qdq.ts";
import { MS_DOMAIN, centered, channelScale, unsupportedWeight, type LowerContext } from "./common.ts";
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
 * blocks, bytes] of unsigned codes, scales [N, blocks]. Blocked weights (--group-size) keep
 * their blocks along K (block_size is theirs: a power of two of at least 16, the kernel's
 * rule); otherwise every block of a row (see rowBlock for its length) carries that output
 * channel's scale. Codes of 3 bits go in 4-bit storage and of 5 to 7 bits in 8-bit storage:
 * onnxruntime 1.30's CPU kernel takes 2, 4 and 8. A signed code q is stored as q + 2^(bits-1);
 * asymmetric weights add the zero_points input, z + 2^(bits-1) per block, packed like the
 * codes (rows padded to whole bytes), so the kernel's (code - zero point) x scale is the Q/DQ
 * model's (q - z) x s; symmetric ones leave it out (the implicit zero point 2^(bits-1)).
 */
function matMulNBits(ctx: LowerContext, m: MatMulMatch): void {
  const { node, a, w, nAxis } = m;
  const builder = new Builder(node.graph);
  const N = w.dims[nAxis];
  const bias = biasVector(m, builder);
  const K = w.dims[1 - nAxis];
  const bits = kernelBits(w.bits);
  const block = w.blockSize ?? rowBlock(K);
  const index = nAxis === 0 ? (n: number, k: number) => n * K + k : (n: number, k: number) => k * N + n;
  const packed = packRows(N, K, Math.ceil(K / block) * block, bits, (n, k) => w.codes[index(n, k)]);
  const blocks = Math.ceil(K / block);
  // The scale (and zero point) of block b of row n: those of its first element.
  const param = paramIndexer(w);
  const at = (i: number) => param(index(Math.floor(i / blocks), (i % blocks) * block));
  const scales = Float32Array.from({ length: N * blocks }, (_, i) => w.scales[at(i)]);
  const b = builder.initializer(Tensor.fromData(`${w.name}_nbits`, DataType.UINT8, [N, blocks, packed.length / N / blocks], packed));
  const s = builder.initializer(Tensor.fromData(`${w.name}_nbits_scale`, DataType.FLOAT, [N, blocks], scales));
  const asymmetric = w.zeroPoints.some((z) => z !== 0);
  let zeros: Value | null = null;
  if (asymmetric) {
    const perByte = 8 / bits;
    const zp = packRows(N, blocks, Math.ceil(blocks / perByte) * perByte, bits, (n, j) => w.zeroPoints[at(n * blocks + j)]);
    zeros = builder.initializer(Tensor.fromData(`${w.name}_nbits_zero_point`, DataType.UINT8, [N, zp.length / N], zp));
  }
  const lowered = replaceProduct(builder, m, "MatMulNBits", [a, b, s, zeros, null, bias], { K, N, bits, block_size: block, accuracy_level: ctx.accuracyLevel });
  const storage = `uint${bits} packed${w.blockSize !== null ? `, blocks of ${block}` : ""}${asymmetric ? ", zero points" : ""}`;
  ctx.lowered.set(lowered, { from: node.opType, weights: [{ name: w.name, bits: w.bits, storage }] });
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
  const { node, a, nAxis } = m;
  // Asymmetric codes as q - z with zero point 0 (unsupportedWeight checked they fit int8).
  const w = centered(m.w);
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
  ctx.lowered.set(lowered, { from: node.opType, weights: [{ name: w.name, bits: w.bits, storage: w === m.w ? "int8" : "int8 (q - z, zero point 0)" }] });
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

/**
 * Whether A x W stays the float op over W's dequantized codes: a small weight (see
 * LowerOptions.floatWeights), not a language model's projection, which keeps its kernel
 * whatever its size (scoring only the masked positions, scored-rows.ts, rewrites around it).
 */
function staysFloat(ctx: LowerContext, w: QuantizedWeight, product: Value | null | undefined): boolean {
  return w.codes.length <= ctx.floatWeights && !product?.consumers.some((n) => n.opType === "LogSoftmax");
}

/**
 * The kernel for A x W: the float op for a small weight; MatMulNBits when asked, for blocked
 * scales (the only kernel that takes them) and for asymmetric 8-bit codes whose q - z leaves
 * int8 (its zero points take them as they are); else the int8 GEMM, measured faster here (see lowerModel).
 */
function lowerMatMul(ctx: LowerContext, m: MatMulMatch): void {
  // The bias Add, if any, stays as it was with the float op (a Gemm keeps its C).
  if (staysFloat(ctx, m.w, (m.add ?? m.node).outputs[0])) {
    floatMatMul(ctx, m);
    return;
  }
  // With a folded bias Add, the kernel takes the Add's place (its output, read by the same
  // nodes or a graph output) under the MatMul's name.
  if (ctx.matmul === "nbits" || unsupportedWeight(m.w) !== null) matMulNBits(ctx, m);
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

/**
 * Why A x W (W's output channels along `nAxis`, `product` the value the kernel would write)
 * cannot be lowered, or null. The float op takes any grid (it reads the dequantized values);
 * MatMulNBits takes per-channel or per-tensor scales, blocks along K of a power of two of at
 * least 16, and zero points, so every 2-8 bit matrix with such scales has a kernel.
 */
function unsupported(ctx: LowerContext, w: QuantizedWeight, nAxis: 0 | 1, product: Value | null | undefined): string | null {
  if (w.dims.length !== 2) return `${w.name} is not a matrix`;
  if (w.bits > 8) return `${w.name} has ${w.bits}-bit codes (the kernels take at most 8)`;
  if (staysFloat(ctx, w, product)) return null;
  if (w.blockSize !== null) {
    if (w.axis !== 1 - nAxis) return `${w.name} has blocked scales along its output axis, not along K`;
    const b = w.blockSize;
    if (b < 16 || (b & (b - 1)) !== 0) return `${w.name} has blocks of ${b}: MatMulNBits takes powers of two of at least 16`;
    return null;
  }
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
      const why = unsupported(ctx, w, nAxis, node.outputs[0]);
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
      const folded = biasAdd(node, w.dims[1]);
      const why = unsupported(ctx, w, 1, (folded?.add ?? node).outputs[0]);
      if (why) return why;
      return { node, a: node.inputs[0]!, w, nAxis: 1, bias: folded?.bias ?? null, add: folded?.add ?? null };
    },
    apply: (m) => lowerMatMul(ctx, m),
  };
}
