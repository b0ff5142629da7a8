/**
 * Reading back what a lowered model's integer kernels store, and comparing scores: shared by
 * the lowering tests (symmetric, asymmetric and blocked weights).
 */
import { expect } from "vitest";
import type { PredictResult } from "../../src/eval/predict.ts";
import type { Model, Node } from "../../src/graph/index.ts";
import type { LowerReport } from "../../src/lower/index.ts";
import { dequantize, readQdq, splitNibbleLookup, type QuantizedCodes, type QuantizedWeight } from "../../src/quant/qdq.ts";

/** The codes and scales an integer kernel stores for one weight, decoded from the kernel's own layout. */
function kernelCodes(node: Node): { name: string; codes: QuantizedCodes }[] {
  const unpack = (bytes: Float64Array, rows: number, rowLen: number, length: number, bits: number): Int32Array => {
    const per = 8 / bits;
    const out = new Int32Array(rows * length);
    for (let r = 0; r < rows; r++) for (let k = 0; k < length; k++) out[r * length + k] = ((bytes[r * (rowLen / per) + Math.floor(k / per)] >> ((k % per) * bits)) & ((1 << bits) - 1)) - 2 ** (bits - 1);
    return out;
  };
  const bits = node.getInt("bits", 4);
  if (node.opType === "MatMulNBits") {
    const [N, K] = [node.getInt("N")!, node.getInt("K")!];
    const b = node.inputs[1]!.initializer!;
    const codes = unpack(b.toNumbers(), N, b.dims[1] * node.getInt("block_size")!, K, bits);
    const scales = Float32Array.from(node.inputs[2]!.initializer!.toNumbers());
    // Zero points (asymmetric weights): packed like the codes, [N, bytes], one per block.
    const zp = node.inputs[3]?.initializer;
    const blocks = scales.length / N;
    const zeroPoints = zp ? unpack(zp.toNumbers(), N, zp.dims[1] * (8 / bits), blocks, bits) : new Int32Array(scales.length);
    return [{ name: node.inputs[1]!.name, codes: { dims: [N, K], codes, scales, zeroPoints, axis: 1, blockSize: node.getInt("block_size")! } }];
  }
  if (node.opType === "MatMulIntegerToFloat" || node.opType === "DynamicQuantizeMatMul") {
    const b = node.inputs[1]!.initializer!;
    const scales = Float32Array.from(node.inputs[node.opType === "MatMulIntegerToFloat" ? 3 : 2]!.initializer!.toNumbers());
    return [{ name: node.inputs[1]!.name, codes: { dims: [...b.dims], codes: Int32Array.from(b.toNumbers()), scales, zeroPoints: new Int32Array(scales.length), axis: 1, blockSize: null } }];
  }
  if (node.opType === "Mul" && ["DequantizeLinear", "Sub"].includes(node.inputs[0]!.producer!.opType)) {
    // A 4-bit embedding in split nibbles: Mul(DequantizeLinear(Concat(Mod(Gather), BitShift(Gather))), scales),
    // asymmetric rows with a Sub of their zero points between DequantizeLinear and Mul.
    let dq = node.inputs[0]!.producer!;
    if (dq.opType === "Sub") dq = dq.inputs[0]!.producer!;
    const gather = dq.inputs[0]!.producer!.inputs[0]!.producer!.inputs[0]!.producer!;
    const split = splitNibbleLookup(gather)!;
    return [{ name: gather.inputs[0]!.name, codes: split.codes }];
  }
  if (node.opType === "Mul" || node.opType === "DequantizeLinear") {
    // An 8-bit embedding: Mul(Cast(Gather(int8 codes)), Gather([rows, 1] scales)), or
    // DequantizeLinear(Gather(int8 codes), Gather([rows, 1] scales)) with a block per row.
    const gathered = node.inputs[0]!.producer!;
    const codes = (node.opType === "Mul" ? gathered.inputs[0]!.producer! : gathered).inputs[0]!.initializer!;
    if (node.opType === "DequantizeLinear") expect(node.getInt("block_size")).toBe(codes.dims[1]);
    const scales = Float32Array.from(node.inputs[1]!.producer!.inputs[0]!.initializer!.toNumbers());
    return [{ name: codes.name, codes: { dims: [...codes.dims], codes: Int32Array.from(codes.toNumbers()), scales, zeroPoints: new Int32Array(scales.length), axis: 0, blockSize: null } }];
  }
  if (node.opType === "GatherBlockQuantized") {
    const d = node.inputs[0]!.initializer!;
    const [V, D] = [d.dims[0], (d.dims[1] * 8) / bits];
    const codes = unpack(d.toNumbers(), V, D, D, bits);
    const scales = Float32Array.from(node.inputs[2]!.initializer!.toNumbers());
    return [{ name: node.inputs[0]!.name, codes: { dims: [V, D], codes, scales, zeroPoints: new Int32Array(scales.length), axis: 1, blockSize: node.getInt("block_size")! } }];
  }
  // DynamicQuantizeLSTM: int8 [dirs, size, 4H] with scales [dirs, 4H] or [dirs]; back to [dirs, 4H, size] per gate row.
  return [1, 2].map((i) => {
    const t = node.inputs[i]!.initializer!;
    const [dirs, size, gates] = t.dims;
    const src = t.toNumbers();
    const codes = new Int32Array(src.length);
    for (let d = 0; d < dirs; d++) for (let c = 0; c < size; c++) for (let g = 0; g < gates; g++) codes[(d * gates + g) * size + c] = src[(d * size + c) * gates + g];
    // Scales [dirs, 4H], or [dirs] (one per direction) broadcast to every gate row.
    const stored = node.inputs[i === 1 ? 8 : 10]!.initializer!.toNumbers();
    const scales = stored.length === dirs ? Float32Array.from({ length: dirs * gates }, (_, k) => stored[Math.floor(k / gates)]) : Float32Array.from(stored);
    return { name: node.inputs[i]!.name, codes: { dims: [dirs * gates, size], codes, scales, zeroPoints: new Int32Array(dirs * gates), axis: 0, blockSize: null } };
  });
}

/** Top-1 agreement and the largest score difference relative to the row's largest |score|. */
export function compare(a: PredictResult, b: PredictResult): { agreement: number; maxRel: number } {
  let agree = 0;
  let maxRel = 0;
  a.scores.forEach((row, i) => {
    if (a.predictions[i] === b.predictions[i]) agree++;
    const scale = Math.max(...row.map(Math.abs));
    row.forEach((v, j) => (maxRel = Math.max(maxRel, Math.abs(v - b.scores[i][j]) / scale)));
  });
  return { agreement: agree / a.scores.length, maxRel };
}

/** A [rows, cols] matrix transposed. */
function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  return Float32Array.from({ length: rows * cols }, (_, x) => values[(x % rows) * cols + Math.floor(x / rows)]);
}

/**
 * The Q/DQ model less the activation pairs a lowering dropped (`dropped`: their float names),
 * changed in place: what the kernels compute apart from their own dynamic 8-bit quantization.
 */
export function withoutDroppedPairs(qdq: Model, dropped: readonly string[]): Model {
  for (const act of readQdq(qdq).activations) if (dropped.includes(act.value.name)) act.output.replaceAllUsesWith(act.value);
  qdq.graph.cleanup();
  return qdq;
}

/** A lowering that kept a small weight layer as a float op over its dequantized codes. */
export function isFloatKernel(l: { kernel: string }): boolean {
  return l.kernel.endsWith("(float, dequantized weights)");
}

/**
 * Expects every weight lowered node `k` stores to dequantize to exactly the Q/DQ model's values
 * (`weights`, read before lowering): a float op's dequantized weight as it is, a kernel's codes
 * decoded from its own layout; with `bits`, each also reported at that width.
 */
export function expectWeightsAsQdq(k: Node, lowered: LowerReport["lowered"][number], weights: readonly QuantizedWeight[], bits?: number): void {
  if (isFloatKernel(lowered)) {
    const w = weights.find((q) => q.name === lowered.weights[0].name)!;
    expect(Array.from(k.inputs[1]!.initializer!.toNumbers()), `${k.opType} ${w.name}`).toEqual(Array.from(dequantize(w)));
    return;
  }
  const decoded = kernelCodes(k);
  expect(decoded.length).toBe(lowered.weights.length);
  decoded.forEach((d, i) => {
    const w = weights.find((q) => q.name === lowered.weights[i].name)!;
    if (bits !== undefined) expect(lowered.weights[i].bits).toBe(bits);
    let mine = dequantize(d.codes);
    // MatMul kernels hold [K, N] or [N, K], whichever the op's weight is not, for some.
    if (d.codes.dims.length === 2 && w.dims.length === 2 && d.codes.dims[0] !== w.dims[0]) mine = transpose(mine, d.codes.dims[0], d.codes.dims[1]);
    expect(Array.from(mine), `${k.opType} ${w.name}`).toEqual(Array.from(dequantize(w)));
  });
}
