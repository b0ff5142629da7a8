/**
 * The one reader of quantized tensors in a Q/DQ model, and the one `dequantize`.
 *
 * ptq-onnx writes two kinds of quantized tensor:
 * - weights: integer codes (int8, or packed INT4/UINT4) in an initializer, read by a
 *   DequantizeLinear with a scale and zero point per tensor, per channel (`axis`) or per
 *   block (`block_size`); or, for an embedding table, gathered before dequantizing
 *   (src/passes/gather-quantized.ts): Gather(codes) -> DequantizeLinear (per-tensor), or
 *   Gather(codes) -> Cast -> Mul by the gathered per-row scales; `ptq-onnx lower` writes a
 *   third, Gather(codes) -> DequantizeLinear with the gathered per-row scales, one block a row;
 * - activations: QuantizeLinear -> [Clip] -> DequantizeLinear on a computed value, the Clip
 *   narrowing 8-bit storage to fewer bits (QCDQ).
 * Every pass, report and lowering that needs codes, scales or bit widths reads them here
 * rather than guessing from tensor names. Imports nothing of ours but src/graph.
 */
import { DataType, type Model, type Node, type Value } from "../graph/index.ts";

/** The `ptq-onnx.quantization` metadata `quantize` writes (fields may be missing in old files). */
export interface QuantizationMeta {
  float_sha256?: string;
  wbits?: number;
  abits?: number;
  granularity?: "per-channel" | "per-tensor";
  lstm_internals?: boolean;
  pack_int4?: boolean;
  calib?: string;
  calib_size?: number;
  seed?: number;
  observer?: string;
  rounding?: string;
  calib_sha256?: string;
}

/** Codes with their scale, zero point and layout: everything `dequantize` needs. */
export interface QuantizedCodes {
  /** Shape of the codes (and of the float tensor they stand for). */
  dims: number[];
  /** One integer code per element, unpacked (INT4 codes are stored two per byte). */
  codes: Int32Array;
  /** Scales: one (axis null), one per channel along `axis`, or one per block (row-major, rank of `dims`). */
  scales: Float32Array;
  zeroPoints: Int32Array;
  axis: number | null;
  /** Blocked quantization: elements per block along `axis` (null: not blocked). */
  blockSize: number | null;
}

export interface QuantizedWeight extends QuantizedCodes {
  kind: "weight";
  /** The float weight's name: the DequantizeLinear's output, or the codes' name less `_quantized`. */
  name: string;
  /**
   * `dequantize`: DequantizeLinear over the whole tensor; `gathered-rows`: rows gathered from
   * the codes, dequantized by a DequantizeLinear (per-tensor) or a Mul by gathered per-row scales.
   */
  form: "dequantize" | "gathered-rows";
  /** Storage element type of the codes (DataType.INT8, UINT8, INT4, UINT4, ...). */
  codeType: number;
  /** Stored two codes per byte (INT4/UINT4). */
  packed: boolean;
  signed: boolean;
  /** The weight's bit width: the metadata's `wbits` when the codes fit it, else the narrowest width holding them. */
  bits: number;
  codesValue: Value;
  scaleValue: Value;
  zeroValue: Value | null;
  /** The DequantizeLinear over the whole table (form `dequantize`). */
  dequantizer: Node | null;
  /** The row lookups (form `gathered-rows`) and, per lookup, the float rows value they end in. */
  gathers: { gather: Node; indices: Value; output: Value; nodes: Node[] }[];
  /** The float value the weight's readers see (form `dequantize`), null for gathered rows. */
  output: Value | null;
  /** The ops that read the weight (through Identity): LSTM, Gemm, MatMul, or the row Gathers. */
  readers: Node[];
}

export interface QuantizedActivation {
  kind: "activation";
  /** The float value being quantized (the QuantizeLinear's input). */
  value: Value;
  quantize: Node;
  clip: Node | null;
  dequantizer: Node;
  /** The DequantizeLinear's output: what the readers see. */
  output: Value;
  scale: number;
  zeroPoint: number;
  signed: boolean;
  /** The codes the pair can produce: the Clip's bounds, else the storage type's range. */
  qmin: number;
  qmax: number;
  bits: number;
  readers: Node[];
}

export interface QdqModel {
  meta: QuantizationMeta | null;
  weights: QuantizedWeight[];
  activations: QuantizedActivation[];
}

const STORAGE: Partial<Record<number, { bits: number; signed: boolean }>> = {
  [DataType.INT8]: { bits: 8, signed: true },
  [DataType.UINT8]: { bits: 8, signed: false },
  [DataType.INT4]: { bits: 4, signed: true },
  [DataType.UINT4]: { bits: 4, signed: false },
  [DataType.INT16]: { bits: 16, signed: true },
  [DataType.UINT16]: { bits: 16, signed: false },
};

/** The `ptq-onnx.quantization` metadata, or null when the model has none (or it is not JSON). */
export function quantizationMeta(model: Model): QuantizationMeta | null {
  const raw = model.metadata.get("ptq-onnx.quantization");
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw) as unknown;
    return parsed && typeof parsed === "object" ? (parsed as QuantizationMeta) : null;
  } catch {
    return null;
  }
}

/** Every quantized weight and activation of a model, subgraphs included. */
export function readQdq(model: Model): QdqModel {
  const meta = quantizationMeta(model);
  const weights: QuantizedWeight[] = [];
  const activations: QuantizedActivation[] = [];
  for (const g of model.graphs()) {
    for (const v of g.initializers) {
      const w = readWeight(v, meta);
      if (w) weights.push(w);
    }
  }
  for (const node of model.allNodes()) {
    if (node.opType !== "QuantizeLinear" || node.domain) continue;
    const a = readActivation(node);
    if (a) activations.push(a);
  }
  return { meta, weights, activations };
}

/** The quantized weight a value stands for (the float W an LSTM or Gemm reads), looking through Identity. */
export function weightOf(qdq: QdqModel, value: Value | null): QuantizedWeight | undefined {
  return backThroughIdentity(value, (v) => qdq.weights.find((w) => w.output === v));
}

/** The activation whose dequantized copy a value is, looking through Identity. */
export function activationOf(qdq: QdqModel, value: Value | null): QuantizedActivation | undefined {
  return backThroughIdentity(value, (v) => qdq.activations.find((a) => a.output === v));
}

function backThroughIdentity<T>(value: Value | null, find: (v: Value) => T | undefined): T | undefined {
  for (let cur = value, hops = 0; cur && hops < 4; hops++) {
    const found = find(cur);
    if (found) return found;
    const p: Node | null = cur.producer;
    if (!p || p.opType !== "Identity") return undefined;
    cur = p.inputs[0];
  }
  return undefined;
}

/**
 * The float32 values the codes stand for, as onnxruntime's DequantizeLinear computes them:
 * fround((code - zero point) * scale) with the scale of the element's tensor, channel or block.
 */
export function dequantize(q: QuantizedCodes): Float32Array {
  const n = q.codes.length;
  const out = new Float32Array(n);
  const param = paramIndexer(q);
  for (let i = 0; i < n; i++) {
    const p = param(i);
    out[i] = Math.fround((q.codes[i] - q.zeroPoints[p]) * q.scales[p]);
  }
  return out;
}

/** Maps an element index to the index of its scale and zero point. */
export function paramIndexer(q: Pick<QuantizedCodes, "dims" | "axis" | "blockSize" | "scales">): (i: number) => number {
  if (q.axis === null || q.scales.length === 1) return () => 0;
  const axis = q.axis;
  const inner = q.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const len = q.dims[axis];
  if (q.blockSize === null) return (i) => Math.floor(i / inner) % len;
  // Blocked: the scale tensor has the codes' shape with ceil(len / block) along the axis.
  const block = q.blockSize;
  const blocks = Math.ceil(len / block);
  return (i) => {
    const outer = Math.floor(i / (inner * len));
    const k = Math.floor(i / inner) % len;
    return (outer * blocks + Math.floor(k / block)) * inner + (i % inner);
  };
}

function consumersThroughIdentity(v: Value): Node[] {
  const out: Node[] = [];
  for (const n of new Set(v.consumers)) {
    if (n.opType === "Identity" && n.outputs[0]) out.push(...consumersThroughIdentity(n.outputs[0]));
    else out.push(n);
  }
  return out;
}

function ints(v: Value | null | undefined, count: number): Int32Array {
  const t = v?.initializer;
  if (!t) return new Int32Array(count);
  return Int32Array.from(t.toNumbers());
}

function floats(v: Value): Float32Array {
  return Float32Array.from(v.initializer!.toNumbers());
}

/** The narrowest signed (or unsigned) width from 2 to 16 bits holding every code. */
function bitsHolding(codes: Int32Array, signed: boolean): number {
  let lo = 0;
  let hi = 0;
  for (const c of codes) {
    if (c < lo) lo = c;
    if (c > hi) hi = c;
  }
  for (let b = 2; b < 16; b++) {
    const [min, max] = signed ? [-(2 ** (b - 1)), 2 ** (b - 1) - 1] : [0, 2 ** b - 1];
    if (lo >= min && hi <= max) return b;
  }
  return 16;
}

function weightBits(codes: Int32Array, signed: boolean, storageBits: number, meta: QuantizationMeta | null): number {
  const needed = bitsHolding(codes, signed);
  const declared = meta?.wbits;
  if (declared !== undefined && Number.isInteger(declared) && declared >= needed && declared <= storageBits) return declared;
  return Math.min(needed, storageBits);
}

/** A weight: an integer initializer read by a DequantizeLinear as its codes, or by row Gathers. */
function readWeight(codesValue: Value, meta: QuantizationMeta | null): QuantizedWeight | null {
  const t = codesValue.initializer!;
  const storage = STORAGE[t.dataType];
  if (!storage) return null;
  const dq = codesValue.consumers.find((n) => n.opType === "DequantizeLinear" && !n.domain && n.inputs[0] === codesValue);
  const base = {
    kind: "weight" as const,
    codeType: t.dataType,
    packed: storage.bits === 4,
    signed: storage.signed,
    codesValue,
    dims: [...t.dims],
  };
  if (dq) {
    const [, scaleValue, zeroValue] = dq.inputs;
    if (!scaleValue?.initializer || !dq.outputs[0]) return null;
    const codes = Int32Array.from(t.toNumbers());
    const scales = floats(scaleValue);
    const layout = dqLayout(dq, t.dims, scaleValue.initializer.dims);
    if (!layout) return null;
    const output = dq.outputs[0];
    return {
      ...base,
      name: output.name,
      form: "dequantize",
      codes,
      scales,
      zeroPoints: ints(zeroValue, scales.length),
      ...layout,
      bits: weightBits(codes, storage.signed, storage.bits, meta),
      scaleValue,
      zeroValue: zeroValue ?? null,
      dequantizer: dq,
      gathers: [],
      output,
      readers: consumersThroughIdentity(output),
    };
  }
  // Gathered rows (src/passes/gather-quantized.ts): the codes are only ever a Gather's data.
  if (t.dims.length !== 2 || codesValue.consumers.length === 0) return null;
  const gathers: QuantizedWeight["gathers"] = [];
  let scaleValue: Value | null = null;
  let zeroValue: Value | null = null;
  let perRow = false;
  for (const gather of codesValue.consumers) {
    if (gather.opType !== "Gather" || gather.domain || gather.inputs[0] !== codesValue || gather.getInt("axis", 0) !== 0) return null;
    const rows = gatheredRows(gather);
    if (!rows) return null;
    if (scaleValue && scaleValue !== rows.scale) return null;
    scaleValue = rows.scale;
    zeroValue = rows.zero;
    perRow = rows.perRow;
    gathers.push({ gather, indices: gather.inputs[1]!, output: rows.output, nodes: rows.nodes });
  }
  if (!scaleValue?.initializer) return null;
  const codes = Int32Array.from(t.toNumbers());
  const scales = floats(scaleValue);
  if (perRow ? scales.length !== t.dims[0] : scales.length !== 1) return null;
  const name = codesValue.name.endsWith("_quantized") ? codesValue.name.slice(0, -"_quantized".length) : codesValue.name;
  return {
    ...base,
    name,
    form: "gathered-rows",
    codes,
    scales,
    zeroPoints: ints(zeroValue, scales.length),
    axis: perRow ? 0 : null,
    blockSize: null,
    bits: weightBits(codes, storage.signed, storage.bits, meta),
    scaleValue,
    zeroValue,
    dequantizer: null,
    gathers,
    output: null,
    readers: gathers.map((x) => x.gather),
  };
}

/** Axis and block size of a DequantizeLinear from its attributes and the scale's shape; null if inconsistent. */
function dqLayout(dq: Node, dims: readonly number[], scaleDims: readonly number[]): { axis: number | null; blockSize: number | null } | null {
  const scaleCount = scaleDims.reduce((a, b) => a * b, 1);
  if (scaleDims.length === 0 || (scaleDims.length === 1 && scaleCount === 1 && dims.length !== 1)) return { axis: null, blockSize: null };
  let axis = dq.getInt("axis", 1);
  if (axis < 0) axis += dims.length;
  if (axis < 0 || axis >= dims.length) return null;
  const block = dq.getInt("block_size", 0);
  if (block > 0) {
    if (scaleDims.length !== dims.length) return null;
    const ok = dims.every((d, i) => (i === axis ? scaleDims[i] === Math.ceil(d / block) : scaleDims[i] === d));
    return ok ? { axis, blockSize: block } : null;
  }
  if (scaleDims.length !== 1 || scaleDims[0] !== dims[axis]) return null;
  return { axis, blockSize: null };
}

/** The dequantization after a row Gather of codes: DequantizeLinear, or Cast -> Mul by gathered scales. */
function gatheredRows(gather: Node): { output: Value; scale: Value; zero: Value | null; perRow: boolean; nodes: Node[] } | null {
  const rows = gather.outputs[0];
  const indices = gather.inputs[1];
  if (!rows || !indices || rows.consumers.length !== 1) return null;
  const next = rows.consumers[0];
  // ptq-onnx lower's 5-8 bit lookup: one blocked DequantizeLinear (a block per row) with the
  // row scales gathered at the same indices from a [rows, 1] table as its scale.
  const blockScales = next.opType === "DequantizeLinear" && next.getInt("block_size", 0) > 0 ? next.inputs[1]?.producer : undefined;
  if (blockScales && next.inputs[0] === rows && !next.inputs[2] && next.outputs[0]) {
    if (blockScales.opType !== "Gather" || blockScales.inputs[1] !== indices || !blockScales.inputs[0]?.initializer) return null;
    return { output: next.outputs[0], scale: blockScales.inputs[0], zero: null, perRow: true, nodes: [next, blockScales] };
  }
  if (next.opType === "DequantizeLinear" && next.inputs[0] === rows && next.inputs[1]?.initializer && next.outputs[0]) {
    if (next.inputs[1].initializer.size !== 1) return null;
    return { output: next.outputs[0], scale: next.inputs[1], zero: next.inputs[2] ?? null, perRow: false, nodes: [next] };
  }
  if (next.opType !== "Cast" || next.getInt("to") !== DataType.FLOAT) return null;
  const asFloat = next.outputs[0];
  if (!asFloat || asFloat.consumers.length !== 1 || asFloat.consumers[0].opType !== "Mul") return null;
  const mul = asFloat.consumers[0];
  let other = mul.inputs[0] === asFloat ? mul.inputs[1] : mul.inputs[0];
  const nodes = [next, mul];
  while (other?.producer && ["Unsqueeze", "Reshape", "Identity"].includes(other.producer.opType)) {
    nodes.push(other.producer);
    other = other.producer.inputs[0];
  }
  const scaleGather = other?.producer;
  if (!scaleGather || scaleGather.opType !== "Gather" || scaleGather.inputs[1] !== indices || !scaleGather.inputs[0]?.initializer || !mul.outputs[0]) return null;
  nodes.push(scaleGather);
  return { output: mul.outputs[0], scale: scaleGather.inputs[0], zero: null, perRow: true, nodes };
}

function scalar(v: Value | null | undefined): number | undefined {
  const t = v?.initializer;
  return t && t.size === 1 ? t.toNumbers()[0] : undefined;
}

/** An activation: QuantizeLinear of a computed value, an optional Clip of its codes, then DequantizeLinear. */
function readActivation(q: Node): QuantizedActivation | null {
  const value = q.inputs[0];
  const codes = q.outputs[0];
  if (!value || value.initializer || !codes) return null;
  const scale = scalar(q.inputs[1]);
  if (scale === undefined) return null;
  const zeroValue = q.inputs[2] ?? null;
  const zeroPoint = scalar(zeroValue) ?? 0;
  const storage = STORAGE[zeroValue?.initializer?.dataType ?? DataType.UINT8];
  if (!storage) return null;
  let qmin = storage.signed ? -(2 ** (storage.bits - 1)) : 0;
  let qmax = storage.signed ? 2 ** (storage.bits - 1) - 1 : 2 ** storage.bits - 1;
  let clip: Node | null = null;
  let last = codes;
  if (codes.consumers.length === 1 && codes.consumers[0].opType === "Clip") {
    clip = codes.consumers[0];
    qmin = scalar(clip.inputs[1]) ?? qmin;
    qmax = scalar(clip.inputs[2]) ?? qmax;
    if (!clip.outputs[0]) return null;
    last = clip.outputs[0];
  }
  if (last.consumers.length !== 1) return null;
  const dq = last.consumers[0];
  if (dq.opType !== "DequantizeLinear" || dq.inputs[0] !== last || !dq.outputs[0]) return null;
  const output = dq.outputs[0];
  return {
    kind: "activation",
    value,
    quantize: q,
    clip,
    dequantizer: dq,
    output,
    scale,
    zeroPoint,
    signed: storage.signed,
    qmin,
    qmax,
    bits: Math.ceil(Math.log2(qmax - qmin + 1)),
    readers: consumersThroughIdentity(output),
  };
}

/**
 * The table of a com.microsoft.GatherBlockQuantized lookup (the form `ptq-onnx lower` writes
 * for 2- and 4-bit embeddings) as codes: uint8 data packed low bits first along the rows, the
 * implicit zero point 2^(bits-1), one scale per block of a row. Null for the forms it does not
 * write (int4/uint4 data, explicit zero points, gathering or quantizing along other axes).
 */
export function blockQuantizedTable(node: Node): QuantizedCodes | null {
  if (node.opType !== "GatherBlockQuantized" || node.domain !== "com.microsoft") return null;
  const data = node.inputs[0]?.initializer;
  const scales = node.inputs[2]?.initializer;
  const bits = node.getInt("bits", 4);
  const block = node.getInt("block_size", 128);
  if (!data || !scales || node.inputs[3] || data.dataType !== DataType.UINT8 || data.dims.length !== 2) return null;
  if (node.getInt("gather_axis", 0) !== 0 || node.getInt("quantize_axis", 1) !== 1 || ![2, 4, 8].includes(bits)) return null;
  const [rows, bytes] = data.dims;
  const per = 8 / bits;
  const width = bytes * per;
  const raw = data.toNumbers();
  const half = 2 ** (bits - 1);
  const codes = new Int32Array(rows * width);
  for (let r = 0; r < rows; r++) for (let k = 0; k < width; k++) codes[r * width + k] = ((raw[r * bytes + Math.floor(k / per)] >> ((k % per) * bits)) & ((1 << bits) - 1)) - half;
  const s = Float32Array.from(scales.toNumbers());
  if (s.length !== rows * Math.ceil(width / block)) return null;
  return { dims: [rows, width], codes, scales: s, zeroPoints: new Int32Array(s.length), axis: 1, blockSize: block };
}

/** The constant scalar of an initializer, or undefined. */
function scalarOf(v: Value | null | undefined): number | undefined {
  const t = v?.initializer;
  return t && t.size === 1 ? t.toNumbers()[0] : undefined;
}

/**
 * The split-nibble lookup `ptq-onnx lower` writes for 3- and 4-bit embeddings, from its row
 * Gather: Gather(uint8 [rows, width/2]) -> Mod 16 and BitShift 4 right -> Concat -> 
 * DequantizeLinear(scale 1, zero point 8) -> [Sub of Gather([rows, 1] per-row zero points), for
 * asymmetric rows] -> Mul by Gather([rows, 1] per-row scales). Returns
 * the table as codes (per-row scales) and the value the rows end in, or null for any other form.
 */
export function splitNibbleLookup(gather: Node): { codes: QuantizedCodes; output: Value } | null {
  const data = gather.inputs[0]?.initializer;
  const rows = gather.outputs[0];
  if (gather.opType !== "Gather" || !data || data.dataType !== DataType.UINT8 || data.dims.length !== 2 || !rows) return null;
  const low = rows.consumers.find((n) => n.opType === "Mod" && scalarOf(n.inputs[1]) === 16);
  const high = rows.consumers.find((n) => n.opType === "BitShift" && scalarOf(n.inputs[1]) === 4 && n.getString("direction") === "RIGHT");
  const concat = low?.outputs[0]?.consumers[0];
  if (!high || concat?.opType !== "Concat" || concat.inputs[0] !== low!.outputs[0] || concat.inputs[1] !== high.outputs[0]) return null;
  const dq = concat.outputs[0]?.consumers[0];
  if (dq?.opType !== "DequantizeLinear" || scalarOf(dq.inputs[1]) !== 1 || scalarOf(dq.inputs[2]) !== 8) return null;
  // Asymmetric rows: the nibbles hold q, and a Sub of the row's zero point (gathered from a [rows, 1] float table) comes before the scale.
  let mul = dq.outputs[0]?.consumers[0];
  let zeroTable: Float64Array | null = null;
  if (mul?.opType === "Sub") {
    const zeros = mul.inputs[1]?.producer?.opType === "Gather" ? mul.inputs[1]!.producer!.inputs[0]?.initializer : undefined;
    if (!zeros || zeros.dims[0] !== data.dims[0] || zeros.size !== data.dims[0]) return null;
    zeroTable = zeros.toNumbers();
    mul = mul.outputs[0]?.consumers[0];
  }
  // The row scales, gathered from a [rows, 1] table (or from [rows] and unsqueezed, as lowered files before it did).
  let scaleRows = mul?.opType === "Mul" ? mul.inputs[1]?.producer : undefined;
  if (scaleRows?.opType === "Unsqueeze") scaleRows = scaleRows.inputs[0]?.producer;
  const scales = scaleRows?.opType === "Gather" ? scaleRows.inputs[0]?.initializer : undefined;
  if (!mul || !scales || scales.dims[0] !== data.dims[0] || scales.size !== data.dims[0]) return null;
  const [n, half] = data.dims;
  const raw = data.toNumbers();
  const codes = new Int32Array(n * half * 2);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < half; j++) {
      const byte = raw[r * half + j];
      codes[r * 2 * half + j] = (byte & 15) - 8;
      codes[r * 2 * half + half + j] = (byte >> 4) - 8;
    }
  }
  const s = Float32Array.from(scales.toNumbers());
  const zeroPoints = zeroTable ? Int32Array.from(zeroTable) : new Int32Array(n);
  return { codes: { dims: [n, 2 * half], codes, scales: s, zeroPoints, axis: 0, blockSize: null }, output: mul.outputs[0]! };
}
