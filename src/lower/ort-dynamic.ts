/**
 * onnxruntime-style dynamic int8 quantization of a float model: what
 * `onnxruntime.quantization.quantize_dynamic` makes of an LSTM classifier (Python's
 * onnxruntime is not installable here). It is the baseline a lowered model is measured
 * against (scripts/bench/lowered.sh, the `ort-dyn` rows) and the model the parity tests run
 * on every CPU profile; nothing in the quantizer uses it.
 *
 * - every LSTM becomes `com.microsoft.DynamicQuantizeLSTM`: W and R transposed to
 *   [dirs, in, 4H] and [dirs, H, 4H], 8-bit per tensor (one scale and zero point per
 *   direction, shaped [dirs]; int8 symmetric by default, as onnxruntime quantizes); inputs X, W, R, B, sequence_lens, initial_h, initial_c, P,
 *   W_scale, W_zero_point, R_scale, R_zero_point (the contrib op's 12);
 * - every MatMul / Gemm with a constant 2-D weight becomes DynamicQuantizeLinear (uint8
 *   activations, scale and zero point computed per run over the whole tensor) -> MatMulInteger
 *   with 8-bit weights -> Cast -> Mul by activation scale x weight scale (-> Add bias).
 *
 * - with `{ gather: true }` (quantize_dynamic's default, its GatherQuant): a Gather reading a
 *   float initializer table reads it as 8-bit per tensor, followed by DequantizeLinear.
 *
 * onnxruntime fuses the MatMul part into MatMulIntegerToFloat / DynamicQuantizeMatMul when it
 * loads the model; the LSTM runs its own int8 GEMMs. Both go through MLAS's U8S8 kernels, which
 * differ per CPU (AVX2/VNNI on x86; NEON, or the dot-product instructions on ARMv8.2).
 */
import { DataType, Tensor, type Model, type Node, type Value } from "../graph/index.ts";

export type WeightType = "int8" | "uint8";

/** int8: symmetric, zero point 0 (onnxruntime's default); uint8: asymmetric over [min, max] with 0 exact. */
function quantizeWeights(values: ArrayLike<number>, type: WeightType): { q: Int8Array | Uint8Array; scale: number; zeroPoint: number } {
  let min = 0;
  let max = 0;
  for (let i = 0; i < values.length; i++) (min = Math.min(min, values[i])), (max = Math.max(max, values[i]));
  if (type === "int8") {
    const m = Math.max(-min, max);
    const scale = m > 0 ? m / 127 : 1;
    const q = new Int8Array(values.length);
    for (let i = 0; i < values.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(values[i] / scale)));
    return { q, scale, zeroPoint: 0 };
  }
  const scale = max > min ? (max - min) / 255 : 1;
  const zeroPoint = Math.max(0, Math.min(255, Math.round(-min / scale)));
  const q = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.max(0, Math.min(255, Math.round(values[i] / scale) + zeroPoint));
  return { q, scale, zeroPoint };
}

const elemType = (t: WeightType) => (t === "int8" ? DataType.INT8 : DataType.UINT8);
const zeros = (t: WeightType, values: number[]) => (t === "int8" ? Int8Array.from(values) : Uint8Array.from(values));

/** [rows, cols] row-major -> [cols, rows]. */
function transpose2(v: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = v[r * cols + c];
  return out;
}

function constant(v: Value | null): Tensor | undefined {
  return v?.initializer ?? undefined;
}

/** W [dirs, 4H, in] -> 8-bit [dirs, in, 4H] with per-direction scales and zero points. */
function quantizeLstmWeight(t: Tensor, type: WeightType) {
  const [dirs, rows, cols] = t.dims;
  const all = t.toNumbers();
  const q = type === "int8" ? new Int8Array(all.length) : new Uint8Array(all.length);
  const scales: number[] = [];
  const zps: number[] = [];
  for (let d = 0; d < dirs; d++) {
    const part = transpose2(all.subarray(d * rows * cols, (d + 1) * rows * cols), rows, cols);
    const r = quantizeWeights(part, type);
    q.set(r.q, d * rows * cols);
    scales.push(r.scale);
    zps.push(r.zeroPoint);
  }
  return { q, scales, zps, dims: [dirs, cols, rows] };
}

function lowerLstm(node: Node, type: WeightType): void {
  const g = node.graph;
  const w = constant(node.inputs[1]);
  const r = constant(node.inputs[2]);
  if (!w || !r) throw new Error(`${node.label}: W and R must be initializers`);
  if (node.getInt("layout", 0) !== 0) throw new Error(`${node.label}: layout=1 is not supported`);
  const dirs = w.dims[0];
  const wq = quantizeLstmWeight(w, type);
  const rq = quantizeLstmWeight(r, type);
  const init = (name: string, dt: number, dims: number[], data: Int8Array | Uint8Array | Float32Array) => g.addInitializer(Tensor.fromData(name, dt, dims, data));
  const inputs: (Value | null)[] = [
    node.inputs[0] ?? null,
    init(`${node.name}_W_${type}`, elemType(type), wq.dims, wq.q),
    init(`${node.name}_R_${type}`, elemType(type), rq.dims, rq.q),
    node.inputs[3] ?? null,
    node.inputs[4] ?? null,
    node.inputs[5] ?? null,
    node.inputs[6] ?? null,
    node.inputs[7] ?? null,
    init(`${node.name}_W_scale`, DataType.FLOAT, [dirs], Float32Array.from(wq.scales)),
    init(`${node.name}_W_zero_point`, elemType(type), [dirs], zeros(type, wq.zps)),
    init(`${node.name}_R_scale`, DataType.FLOAT, [dirs], Float32Array.from(rq.scales)),
    init(`${node.name}_R_zero_point`, elemType(type), [dirs], zeros(type, rq.zps)),
  ];
  const attributes: Record<string, string | number | string[] | { float: number } | { floats: number[] }> = {};
  for (const a of ["direction", "activations"]) {
    const s = a === "direction" ? node.getString(a) : node.getStrings(a);
    if (s !== undefined) attributes[a] = s;
  }
  const hidden = node.getInt("hidden_size");
  if (hidden !== undefined) attributes.hidden_size = hidden;
  const inputForget = node.getInt("input_forget");
  if (inputForget !== undefined) attributes.input_forget = inputForget;
  const clip = node.getFloat("clip");
  if (clip !== undefined) attributes.clip = { float: clip };
  for (const a of ["activation_alpha", "activation_beta"]) {
    const f = node.getFloats(a);
    if (f) attributes[a] = { floats: f };
  }
  const outputs = [...node.outputs];
  g.removeNode(node);
  const padded = outputs.map((v) => v ?? g.newValue(`${node.name}_unused`));
  g.addNode({ opType: "DynamicQuantizeLSTM", domain: "com.microsoft", name: `${node.name}_quant`, inputs, outputs: padded, attributes });
}

/** MatMul(A, B[K,N]) or Gemm(A, B, C) with constant B -> MatMulInteger path. */
function lowerMatMul(node: Node, type: WeightType): boolean {
  const g = node.graph;
  const b = constant(node.inputs[1]);
  if (!b || b.dims.length !== 2) return false;
  let k = b.dims[0];
  let n = b.dims[1];
  let weights = b.toNumbers() as ArrayLike<number>;
  let bias: Value | null = null;
  if (node.opType === "Gemm") {
    if (node.getInt("transA", 0) !== 0 || (node.getFloat("alpha", 1) ?? 1) !== 1) return false;
    if (node.getInt("transB", 0) === 1) {
      weights = transpose2(weights, b.dims[0], b.dims[1]);
      [k, n] = [b.dims[1], b.dims[0]];
    }
    bias = node.inputs[2] ?? null;
    if (bias && (node.getFloat("beta", 1) ?? 1) !== 1) return false;
  }
  const q = quantizeWeights(weights, type);
  const out = node.outputs[0]!;
  const a = node.inputs[0]!;
  g.removeNode(node);
  const name = node.name || "matmul";
  const bq = g.addInitializer(Tensor.fromData(`${name}_B_${type}`, elemType(type), [k, n], q.q));
  const bzp = g.addInitializer(Tensor.fromData(`${name}_B_zero_point`, elemType(type), [], zeros(type, [q.zeroPoint])));
  const bscale = g.addInitializer(Tensor.float32(`${name}_B_scale`, [], [q.scale]));
  const dql = g.addNode({ opType: "DynamicQuantizeLinear", name: `${name}_quant`, inputs: [a], outputs: [`${name}_A_uint8`, `${name}_A_scale`, `${name}_A_zero_point`] });
  const mmi = g.addNode({ opType: "MatMulInteger", name: `${name}_MatMulInteger`, inputs: [dql.outputs[0], bq, dql.outputs[2], bzp], outputs: [`${name}_int32`] });
  const cast = g.addNode({ opType: "Cast", name: `${name}_cast`, inputs: [mmi.outputs[0]], outputs: [`${name}_float`], attributes: { to: DataType.FLOAT } });
  const scale = g.addNode({ opType: "Mul", name: `${name}_scale`, inputs: [dql.outputs[1], bscale], outputs: [`${name}_scale_out`] });
  if (bias) {
    const mul = g.addNode({ opType: "Mul", name: `${name}_rescale`, inputs: [cast.outputs[0], scale.outputs[0]], outputs: [`${name}_rescaled`] });
    g.addNode({ opType: "Add", name: `${name}_bias`, inputs: [mul.outputs[0], bias], outputs: [out] });
  } else {
    g.addNode({ opType: "Mul", name: `${name}_rescale`, inputs: [cast.outputs[0], scale.outputs[0]], outputs: [out] });
  }
  return true;
}

/** Gather(table, ids) with a float initializer table -> Gather of its 8-bit codes, DequantizeLinear (one scale). */
function lowerGather(node: Node, type: WeightType): boolean {
  const g = node.graph;
  const table = constant(node.inputs[0]);
  if (!table || table.dataType !== DataType.FLOAT || node.getInt("axis", 0) !== 0) return false;
  const q = quantizeWeights(table.toNumbers(), type);
  const name = node.name || "gather";
  const codes = g.addInitializer(Tensor.fromData(`${name}_data_${type}`, elemType(type), table.dims, q.q));
  const scale = g.addInitializer(Tensor.float32(`${name}_data_scale`, [], [q.scale]));
  const zp = g.addInitializer(Tensor.fromData(`${name}_data_zero_point`, elemType(type), [], zeros(type, [q.zeroPoint])));
  const out = node.outputs[0]!;
  const ids = node.inputs[1]!;
  g.removeNode(node);
  const gathered = g.addNode({ opType: "Gather", name: `${name}_quant`, inputs: [codes, ids], outputs: [`${name}_codes`], attributes: { axis: 0 } });
  g.addNode({ opType: "DequantizeLinear", name: `${name}_dequantize`, inputs: [gathered.outputs[0], scale, zp], outputs: [out] });
  return true;
}

export interface DynamicQuantizeOptions {
  /** Weights int8 (onnxruntime's default) or uint8. */
  weightType?: WeightType;
  /** Quantize Gathers of float tables too (quantize_dynamic does by default; default false). */
  gather?: boolean;
}

/** Rewrites the model in place; returns what it quantized. */
export function dynamicQuantize(model: Model, opts: DynamicQuantizeOptions = {}): { lstm: number; matmul: number; gather?: number } {
  const { weightType = "int8", gather: withGather = false } = opts;
  let lstm = 0;
  let matmul = 0;
  let gather = 0;
  for (const node of [...model.graph.nodes]) {
    if (node.opType === "LSTM" && node.domain === "") {
      lowerLstm(node, weightType);
      lstm++;
    } else if ((node.opType === "MatMul" || node.opType === "Gemm") && node.domain === "") {
      if (lowerMatMul(node, weightType)) matmul++;
    } else if (withGather && node.opType === "Gather" && node.domain === "") {
      if (lowerGather(node, weightType)) gather++;
    }
  }
  model.graph.toposort();
  model.graph.cleanup();
  model.setOpset("com.microsoft", 1);
  return withGather ? { lstm, matmul, gather } : { lstm, matmul };
}
