/**
 * Which integer kernels run in onnxruntime-web (WASM) as well as in onnxruntime-node?
 *
 *   npx tsx scripts/wasm/probe-ops.ts [--json]
 *
 * Builds one tiny real model per op form that lowering a Q/DQ model may emit (com.microsoft
 * contrib ops and the standard integer ops), runs each in onnxruntime-node (CPU) and in
 * onnxruntime-web (WASM, one thread), each runtime in its own process, and prints per op
 * whether it runs on each and whether the outputs agree. Input layouts follow
 * onnxruntime's docs/ContribOperators.md. Weights and inputs are seeded, so a rerun builds the
 * same models.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { seededRng } from "../../src/data/random.ts";
import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema } from "onnx-buf";
import { DataType, Graph, Tensor, makeValueInfo, newModel, saveModel, type Model, type TensorData, type Value } from "../../src/graph/index.ts";
import { unsupportedOps } from "../../src/parity/wasm.ts";

const RUNNER = fileURLToPath(new URL("./run-models.mjs", import.meta.url));
const rng = seededRng(14);
const floats = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rng.nextFloat() * 2 - 1) * scale);
const ints = (n: number, lo: number, hi: number) => Array.from({ length: n }, () => lo + rng.nextInt(hi - lo + 1));

interface Feed {
  type: "float32" | "int64";
  dims: number[];
  data: number[];
}

interface Probe {
  /** The op form, as the table shows it. */
  name: string;
  /** What the form is for in the lowering. */
  note: string;
  model: Model;
  feeds: Record<string, Feed>;
}

const K = 32;
const N = 8;
const M = 3;
const BLOCK = 16;

function model(): { model: Model; g: Graph } {
  const m = newModel({ "": 21, "com.microsoft": 1 });
  return { model: m, g: m.graph };
}

function floatInput(g: Graph, name: string, dims: number[], feeds: Record<string, Feed>): Value {
  feeds[name] = { type: "float32", dims, data: Array.from(floats(dims.reduce((a, b) => a * b, 1))) };
  return g.addInput(name, DataType.FLOAT, dims);
}

const init = (g: Graph, name: string, type: number, dims: number[], data: TensorData) => g.addInitializer(Tensor.fromData(name, type, dims, data));

/** Packs n-bit codes (bits 2, 4 or 8) into bytes, low bits first, as MatMulNBits and GatherBlockQuantized read them. */
function packBits(codes: number[], bits: number): Uint8Array {
  const perByte = 8 / bits;
  const out = new Uint8Array(Math.ceil(codes.length / perByte));
  codes.forEach((c, i) => (out[Math.floor(i / perByte)] |= (c & ((1 << bits) - 1)) << ((i % perByte) * bits)));
  return out;
}

function dynamicQuantizeLstm(perChannel: boolean): Probe {
  const { model: m, g } = model();
  const feeds: Record<string, Feed> = {};
  const [T, B, I, H] = [5, 2, 8, 4];
  const x = floatInput(g, "X", [T, B, I], feeds);
  const scales = perChannel ? 4 * H : 1;
  const sDims = perChannel ? [1, 4 * H] : [1];
  const inputs: (Value | null)[] = [
    x,
    init(g, "W", DataType.INT8, [1, I, 4 * H], Int8Array.from(ints(I * 4 * H, -127, 127))),
    init(g, "R", DataType.INT8, [1, H, 4 * H], Int8Array.from(ints(H * 4 * H, -127, 127))),
    init(g, "B", DataType.FLOAT, [1, 8 * H], floats(8 * H, 0.1)),
    null,
    null,
    null,
    null,
    init(g, "W_scale", DataType.FLOAT, sDims, Float32Array.from(floats(scales), (v) => 0.002 + Math.abs(v) * 0.004)),
    init(g, "W_zero_point", DataType.INT8, sDims, new Int8Array(scales)),
    init(g, "R_scale", DataType.FLOAT, sDims, Float32Array.from(floats(scales), (v) => 0.002 + Math.abs(v) * 0.004)),
    init(g, "R_zero_point", DataType.INT8, sDims, new Int8Array(scales)),
  ];
  const node = g.addNode({ opType: "DynamicQuantizeLSTM", domain: "com.microsoft", inputs, outputs: ["Y", "Y_h", "Y_c"], attributes: { hidden_size: H } });
  for (const v of node.outputs) g.addOutput(v!, DataType.FLOAT);
  return {
    name: `com.microsoft.DynamicQuantizeLSTM, int8 W/R, ${perChannel ? "per-channel [1, 4H]" : "per-tensor [1]"} scales`,
    note: "LSTM with quantized W/R",
    model: m,
    feeds,
  };
}

interface NBitsOptions {
  accuracyLevel?: number;
  /** K other than 32: a last block padded with zero codes. */
  k?: number;
  /** Packed uint8 zero points and a bias input. */
  zeroPointsAndBias?: boolean;
}

function matMulNBits(bits: number, opts: NBitsOptions = {}): Probe {
  const { model: m, g } = model();
  const feeds: Record<string, Feed> = {};
  const k = opts.k ?? K;
  const a = floatInput(g, "A", [M, k], feeds);
  const blocks = Math.ceil(k / BLOCK);
  // B is [N, k_blocks, blob]: row n's codes along K, block by block, the last block zero-padded.
  const codes: number[] = [];
  for (let n = 0; n < N; n++) codes.push(...ints(k, 0, 2 ** bits - 1), ...new Array<number>(blocks * BLOCK - k).fill(0));
  const b = init(g, "B", DataType.UINT8, [N, blocks, (BLOCK * bits) / 8], packBits(codes, bits));
  const scales = init(g, "scales", DataType.FLOAT, [N, blocks], Float32Array.from(floats(N * blocks), (v) => 0.01 + Math.abs(v) * 0.05));
  const inputs: (Value | null)[] = [a, b, scales];
  if (opts.zeroPointsAndBias) {
    const perRow = Math.ceil((blocks * bits) / 8);
    const zps: number[] = [];
    for (let n = 0; n < N; n++) zps.push(...ints(blocks, 2 ** (bits - 1) - 2, 2 ** (bits - 1) + 1), ...new Array<number>((perRow * 8) / bits - blocks).fill(0));
    inputs.push(init(g, "zero_points", DataType.UINT8, [N, perRow], packBits(zps, bits)), null, init(g, "bias", DataType.FLOAT, [N], floats(N, 0.1)));
  }
  const attributes = { K: k, N, bits, block_size: BLOCK, ...(opts.accuracyLevel ? { accuracy_level: opts.accuracyLevel } : {}) };
  const node = g.addNode({ opType: "MatMulNBits", domain: "com.microsoft", inputs, outputs: ["Y"], attributes });
  g.addOutput(node.outputs[0]!, DataType.FLOAT);
  const extras = [
    opts.k ? `K ${k} (last block padded)` : "",
    opts.zeroPointsAndBias ? "packed uint8 zero points, bias" : "",
    opts.accuracyLevel ? `accuracy_level ${opts.accuracyLevel}` : "",
  ].filter(Boolean);
  return {
    name: `com.microsoft.MatMulNBits, bits ${bits}, block ${BLOCK}${extras.map((e) => `, ${e}`).join("")}`,
    note: "MatMul/Gemm with quantized weights",
    model: m,
    feeds,
  };
}

function indicesInput(g: Graph, feeds: Record<string, Feed>, rows: number): Value {
  feeds.indices = { type: "int64", dims: [2, 3], data: ints(6, 0, rows - 1) };
  return g.addInput("indices", DataType.INT64, [2, 3]);
}

function gatherBlockQuantized(kind: "uint8-8" | "uint8-4" | "int4"): Probe {
  const { model: m, g } = model();
  const feeds: Record<string, Feed> = {};
  const V = 10;
  const blocks = K / BLOCK;
  let data: Value;
  let bits: number;
  if (kind === "uint8-8") {
    bits = 8;
    data = init(g, "data", DataType.UINT8, [V, K], Uint8Array.from(ints(V * K, 0, 255)));
  } else if (kind === "uint8-4") {
    bits = 4;
    data = init(g, "data", DataType.UINT8, [V, K / 2], packBits(ints(V * K, 0, 15), 4));
  } else {
    bits = 4;
    data = init(g, "data", DataType.INT4, [V, K], Int8Array.from(ints(V * K, -8, 7)));
  }
  const indices = indicesInput(g, feeds, V);
  const scales = init(g, "scales", DataType.FLOAT, [V, blocks], Float32Array.from(floats(V * blocks), (v) => 0.01 + Math.abs(v) * 0.05));
  const node = g.addNode({
    opType: "GatherBlockQuantized",
    domain: "com.microsoft",
    inputs: [data, indices, scales],
    outputs: ["Y"],
    attributes: { bits, block_size: BLOCK, gather_axis: 0, quantize_axis: 1 },
  });
  g.addOutput(node.outputs[0]!, DataType.FLOAT);
  const what = kind === "int4" ? "int4 data" : `uint8 data, bits ${bits}`;
  return { name: `com.microsoft.GatherBlockQuantized, ${what}, block ${BLOCK}`, note: "embedding over quantized rows", model: m, feeds };
}

/**
 * An embedding over int8 rows and a [V, 1] table of row scales: `mul` is the standard-ops form
 * (Cast, Mul by the gathered scale), `dequantize` the `lookup: "dequantize"` form (one blocked
 * DequantizeLinear, a block per row).
 */
function gatherInt8Rows(form: "mul" | "dequantize"): Probe {
  const { model: m, g } = model();
  const feeds: Record<string, Feed> = {};
  const V = 10;
  const table = init(g, "table", DataType.INT8, [V, K], Int8Array.from(ints(V * K, -127, 127)));
  const scale = init(g, "row_scale", DataType.FLOAT, [V, 1], Float32Array.from(floats(V), (v) => 0.01 + Math.abs(v) * 0.05));
  const indices = indicesInput(g, feeds, V);
  const rows = g.addNode({ opType: "Gather", inputs: [table, indices], outputs: ["rows"] });
  const s = g.addNode({ opType: "Gather", inputs: [scale, indices], outputs: ["scales"] });
  if (form === "dequantize") {
    const y = g.addNode({ opType: "DequantizeLinear", inputs: [rows.outputs[0], s.outputs[0]], outputs: ["Y"], attributes: { axis: -1, block_size: K } });
    g.addOutput(y.outputs[0]!, DataType.FLOAT);
    return { name: "Gather of int8 rows and [V, 1] scales, blocked DequantizeLinear (opset 21, a block per row)", note: "embedding, lookup: dequantize", model: m, feeds };
  }
  const cast = g.addNode({ opType: "Cast", inputs: [rows.outputs[0]], outputs: ["rows_f"], attributes: { to: DataType.FLOAT } });
  const y = g.addNode({ opType: "Mul", inputs: [cast.outputs[0], s.outputs[0]], outputs: ["Y"] });
  g.addOutput(y.outputs[0]!, DataType.FLOAT);
  return { name: "Gather of int8 rows, Cast, Mul by per-row scale (standard ops)", note: "embedding fallback", model: m, feeds };
}

const int8Weight = (g: Graph) => init(g, "B", DataType.INT8, [K, N], Int8Array.from(ints(K * N, -127, 127)));
const colScales = (g: Graph, name = "b_scale") => init(g, name, DataType.FLOAT, [N], Float32Array.from(floats(N), (v) => 0.002 + Math.abs(v) * 0.004));

function dynamicQuantizeMatMul(): Probe {
  const { model: m, g } = model();
  const feeds: Record<string, Feed> = {};
  const a = floatInput(g, "A", [M, K], feeds);
  const inputs = [a, int8Weight(g), colScales(g), init(g, "b_zero_point", DataType.INT8, [N], new Int8Array(N)), init(g, "bias", DataType.FLOAT, [N], floats(N, 0.1))];
  const node = g.addNode({ opType: "DynamicQuantizeMatMul", domain: "com.microsoft", inputs, outputs: ["Y"] });
  g.addOutput(node.outputs[0]!, DataType.FLOAT);
  return { name: "com.microsoft.DynamicQuantizeMatMul, int8 B, per-column scales, bias", note: "8-bit MatMul/Gemm", model: m, feeds };
}

/** A float input quantized dynamically to uint8 (DynamicQuantizeLinear): [codes, scale, zero point]. */
function dynamicInput(g: Graph, feeds: Record<string, Feed>): (Value | null)[] {
  const a = floatInput(g, "A", [M, K], feeds);
  return g.addNode({ opType: "DynamicQuantizeLinear", inputs: [a], outputs: ["A_q", "A_scale", "A_zero_point"] }).outputs;
}

function matMulIntegerToFloat(): Probe {
  const { model: m, g } = model();
  const feeds: Record<string, Feed> = {};
  const [aq, as, azp] = dynamicInput(g, feeds);
  const inputs = [aq, int8Weight(g), as, colScales(g), azp, init(g, "b_zero_point", DataType.INT8, [N], new Int8Array(N)), init(g, "bias", DataType.FLOAT, [N], floats(N, 0.1))];
  const node = g.addNode({ opType: "MatMulIntegerToFloat", domain: "com.microsoft", inputs, outputs: ["Y"] });
  g.addOutput(node.outputs[0]!, DataType.FLOAT);
  return { name: "com.microsoft.MatMulIntegerToFloat (after DynamicQuantizeLinear), int8 B, per-column scales", note: "8-bit MatMul/Gemm", model: m, feeds };
}

function matMulInteger(): Probe {
  const { model: m, g } = model();
  const feeds: Record<string, Feed> = {};
  const [aq, , azp] = dynamicInput(g, feeds);
  const inputs = [aq, int8Weight(g), azp, init(g, "b_zero_point", DataType.INT8, [], new Int8Array(1))];
  const node = g.addNode({ opType: "MatMulInteger", inputs, outputs: ["Y"] });
  g.addOutput(node.outputs[0]!, DataType.INT32);
  return { name: "MatMulInteger (uint8 A from DynamicQuantizeLinear, int8 B), int32 out", note: "8-bit MatMul/Gemm", model: m, feeds };
}

function dynamicQuantizeLinear(): Probe {
  const { model: m, g } = model();
  const feeds: Record<string, Feed> = {};
  dynamicInput(g, feeds).forEach((v, i) => g.addOutput(v!, [DataType.UINT8, DataType.FLOAT, DataType.UINT8][i]));
  return { name: "DynamicQuantizeLinear (float to uint8, scale, zero point)", note: "dynamic activations", model: m, feeds };
}

function qlinearMatMul(): Probe {
  const { model: m, g } = model();
  const feeds: Record<string, Feed> = {};
  const a = floatInput(g, "A", [M, K], feeds);
  const aScale = init(g, "a_scale", DataType.FLOAT, [], Float32Array.of(1 / 127));
  const aZp = init(g, "a_zero_point", DataType.UINT8, [], Uint8Array.of(128));
  const q = g.addNode({ opType: "QuantizeLinear", inputs: [a, aScale, aZp], outputs: ["A_q"] });
  const bScale = init(g, "b_scale", DataType.FLOAT, [], Float32Array.of(0.004));
  const bZp = init(g, "b_zero_point", DataType.INT8, [], new Int8Array(1));
  const yScale = init(g, "y_scale", DataType.FLOAT, [], Float32Array.of(0.02));
  const yZp = init(g, "y_zero_point", DataType.UINT8, [], Uint8Array.of(128));
  const mm = g.addNode({ opType: "QLinearMatMul", inputs: [q.outputs[0], aScale, aZp, int8Weight(g), bScale, bZp, yScale, yZp], outputs: ["Y_q"] });
  const dq = g.addNode({ opType: "DequantizeLinear", inputs: [mm.outputs[0], yScale, yZp], outputs: ["Y"] });
  g.addOutput(dq.outputs[0]!, DataType.FLOAT);
  return { name: "QLinearMatMul (uint8 A, int8 B, uint8 Y; static scales)", note: "static 8-bit MatMul", model: m, feeds };
}

function dequantizeMatMul(type: "int4-axis" | "int4-block" | "uint4-axis" | "int8-axis"): Probe {
  const { model: m, g } = model();
  const feeds: Record<string, Feed> = {};
  const a = floatInput(g, "A", [M, K], feeds);
  let w: Value;
  let scale: Value;
  let zp: Value | null = null;
  let attributes: Record<string, number>;
  if (type === "int4-block") {
    w = init(g, "W", DataType.INT4, [K, N], Int8Array.from(ints(K * N, -8, 7)));
    scale = init(g, "W_scale", DataType.FLOAT, [K / BLOCK, N], Float32Array.from(floats((K / BLOCK) * N), (v) => 0.01 + Math.abs(v) * 0.05));
    attributes = { axis: 0, block_size: BLOCK };
  } else {
    scale = colScales(g, "W_scale");
    attributes = { axis: 1 };
    if (type === "int4-axis") w = init(g, "W", DataType.INT4, [K, N], Int8Array.from(ints(K * N, -8, 7)));
    else if (type === "int8-axis") w = init(g, "W", DataType.INT8, [K, N], Int8Array.from(ints(K * N, -127, 127)));
    else {
      w = init(g, "W", DataType.UINT4, [K, N], Uint8Array.from(ints(K * N, 0, 15)));
      zp = init(g, "W_zero_point", DataType.UINT4, [N], Uint8Array.from(ints(N, 6, 9)));
    }
  }
  const dq = g.addNode({ opType: "DequantizeLinear", inputs: zp ? [w, scale, zp] : [w, scale], outputs: ["W_f"], attributes });
  const mm = g.addNode({ opType: "MatMul", inputs: [a, dq.outputs[0]], outputs: ["Y"] });
  g.addOutput(mm.outputs[0]!, DataType.FLOAT);
  const what = {
    "int4-axis": "INT4 weight, per-axis scale",
    "int4-block": `INT4 weight, blocked (block_size ${BLOCK})`,
    "uint4-axis": "UINT4 weight and zero point, per-axis",
    "int8-axis": "int8 weight, per-axis scale",
  }[type];
  return { name: `DequantizeLinear (opset 21), ${what}, then MatMul`, note: type === "int8-axis" ? "the Q/DQ form (baseline)" : "packed 4-bit weights", model: m, feeds };
}

/**
 * The standard ops of lowering's scored-rows rewrite (src/lower/scored-rows.ts): the kept
 * positions of a mask (NonZero), their rows gathered (GatherND), a value per row scattered
 * back into zeros shaped as the mask (ScatterND).
 */
function scoredRows(): Probe {
  const { model: m, g } = model();
  const feeds: Record<string, Feed> = {};
  const [B, T] = [2, 3];
  const x = floatInput(g, "X", [B, T, K], feeds);
  feeds.mask = { type: "float32", dims: [B, T, 1], data: [1, 1, 0, 1, 0, 0] };
  const mask = g.addInput("mask", DataType.FLOAT, [B, T, 1]);
  const i64 = (name: string, v: number) => init(g, name, DataType.INT64, [1], BigInt64Array.from([BigInt(v)]));
  const nz = g.addNode({ opType: "NonZero", inputs: [mask], outputs: ["nz"] }).outputs[0]!;
  const coords = g.addNode({ opType: "Transpose", inputs: [nz], outputs: ["coords"], attributes: { perm: [1, 0] } }).outputs[0]!;
  const lead = g.addNode({ opType: "Slice", inputs: [coords, i64("zero", 0), i64("minus_one", -1), i64("one", 1)], outputs: ["lead"] }).outputs[0]!;
  const rows = g.addNode({ opType: "GatherND", inputs: [x, lead], outputs: ["rows"] }).outputs[0]!;
  const sums = g.addNode({ opType: "ReduceSum", inputs: [rows, i64("last", -1)], outputs: ["sums"], attributes: { keepdims: 0 } }).outputs[0]!;
  const shape = g.addNode({ opType: "Shape", inputs: [mask], outputs: ["shape"] }).outputs[0]!;
  const zeros = g.addNode({ opType: "ConstantOfShape", inputs: [shape], outputs: ["zeros"], attributes: { value: Tensor.float32("zero_value", [1], [0]) } }).outputs[0]!;
  const node = g.addNode({ opType: "ScatterND", inputs: [zeros, coords, sums], outputs: ["Y"] });
  g.addOutput(node.outputs[0]!, DataType.FLOAT);
  return { name: "NonZero, GatherND, ScatterND (standard ops)", note: "projecting only a scorer's unmasked positions", model: m, feeds };
}

/**
 * The row-chunk Loop of lowering's scored-rows rewrite (chunkedPick in src/lower/scored-rows.ts):
 * rows quantized once (DynamicQuantizeLinear), padded to whole chunks (Pad), then per chunk a
 * Slice, MatMulIntegerToFloat, LogSoftmax and the pick (GatherElements) in a Loop body that
 * reads the outer graph's values, and the padding cut off (Reshape, Slice). 7 rows, chunks of 3.
 */
function rowChunkLoop(): Probe {
  const { model: m, g } = model();
  const feeds: Record<string, Feed> = {};
  const P = 7;
  const C = 3;
  const a = floatInput(g, "A", [P, K], feeds);
  feeds.ids = { type: "int64", dims: [P, 1], data: ints(P, 0, N - 1) };
  const ids = g.addInput("ids", DataType.INT64, [P, 1]);
  const i64 = (name: string, dims: number[], v: number[]) => init(g, name, DataType.INT64, dims, BigInt64Array.from(v.map(BigInt)));
  const op = (graph: Graph, opType: string, inputs: (Value | null)[], out: string, attributes?: Record<string, number | number[]>, domain?: string) =>
    graph.addNode({ opType, domain, inputs, outputs: [out], attributes }).outputs[0]!;
  const [aq, as, azp] = g.addNode({ opType: "DynamicQuantizeLinear", inputs: [a], outputs: ["A_q", "A_scale", "A_zero_point"] }).outputs;
  const size = i64("chunk_rows", [], [C]);
  const rows = op(g, "Gather", [op(g, "Shape", [aq], "rows_shape"), i64("first", [], [0])], "P");
  const trips = op(g, "Div", [op(g, "Add", [rows, i64("c_less_one", [], [C - 1])], "P_up"), size], "trips");
  const padRows = op(g, "Sub", [op(g, "Mul", [trips, size], "padded"), rows], "pad_rows");
  const pads = op(g, "Concat", [i64("head", [2], [0, 0]), op(g, "Unsqueeze", [padRows, i64("axis0", [1], [0])], "pad_1d"), i64("tail", [1], [0])], "pads", { axis: 0 });
  const aPad = op(g, "Pad", [aq, pads], "A_padded");
  const idsPad = op(g, "Pad", [ids, pads], "ids_padded");
  const weight = int8Weight(g);
  const scales = colScales(g);
  const bZero = init(g, "b_zero_point", DataType.INT8, [N], new Int8Array(N));
  const bias = init(g, "bias", DataType.FLOAT, [N], floats(N, 0.1));
  const body = new Graph(create(GraphProtoSchema, { name: "body" }), g);
  const bodyInput = (name: string, type: number) => {
    const v = body.newValue(name);
    v.info = makeValueInfo(v.name, type, []);
    body.inputs.push(v);
    return v;
  };
  const iter = bodyInput("iteration", DataType.INT64);
  const cond = bodyInput("condition", DataType.BOOL);
  const start = op(body, "Unsqueeze", [op(body, "Mul", [iter, size], "start_scalar"), i64("axis0_b", [1], [0])], "start");
  const end = op(body, "Add", [start, size], "end");
  const chunk = op(body, "Slice", [aPad, start, end, i64("slice_axis", [1], [0])], "rows");
  const chunkIds = op(body, "Slice", [idsPad, start, end, i64("slice_axis_ids", [1], [0])], "chunk_ids");
  const logits = op(body, "MatMulIntegerToFloat", [chunk, weight, as, scales, azp, bZero, bias], "logits", undefined, "com.microsoft");
  const picked = op(body, "GatherElements", [op(body, "LogSoftmax", [logits], "log_probs", { axis: -1 }), chunkIds], "picked", { axis: -1 });
  body.addOutput(op(body, "Identity", [cond], "condition_out"), DataType.BOOL, []);
  body.addOutput(picked, DataType.FLOAT, [C, 1]);
  const loop = g.addNode({ opType: "Loop", inputs: [trips, null], outputs: ["chunks"] });
  loop.setSubgraph("body", body);
  const flat = op(g, "Reshape", [loop.outputs[0]!, i64("flat", [1], [-1])], "flat");
  const y = op(g, "Slice", [flat, i64("from", [1], [0]), op(g, "Unsqueeze", [rows, i64("axis0_p", [1], [0])], "P_1d"), i64("out_axis", [1], [0])], "Y");
  g.addOutput(y, DataType.FLOAT);
  return { name: "Loop over row chunks (Pad; Slice, MatMulIntegerToFloat, LogSoftmax, GatherElements in the body)", note: "a scorer's projection in row chunks", model: m, feeds };
}

export function probes(): Probe[] {
  return [
    dynamicQuantizeLstm(false),
    dynamicQuantizeLstm(true),
    matMulNBits(2),
    matMulNBits(4),
    matMulNBits(4, { accuracyLevel: 4 }),
    matMulNBits(4, { zeroPointsAndBias: true }),
    matMulNBits(4, { k: 40 }),
    matMulNBits(8),
    matMulNBits(8, { zeroPointsAndBias: true }),
    gatherBlockQuantized("uint8-8"),
    gatherBlockQuantized("uint8-4"),
    gatherBlockQuantized("int4"),
    gatherInt8Rows("mul"),
    gatherInt8Rows("dequantize"),
    dynamicQuantizeMatMul(),
    matMulIntegerToFloat(),
    matMulInteger(),
    dynamicQuantizeLinear(),
    qlinearMatMul(),
    dequantizeMatMul("int8-axis"),
    dequantizeMatMul("int4-axis"),
    dequantizeMatMul("int4-block"),
    dequantizeMatMul("uint4-axis"),
    scoredRows(),
    rowChunkLoop(),
  ];
}

interface Output {
  type: string;
  dims: number[];
  data: number[];
}
interface RunOut {
  runtime: string;
  version: string | null;
  results: { name: string; ok: boolean; error?: string; outputs?: Record<string, Output> }[];
}

function runAll(runtime: "cpu" | "wasm", jobs: string, dir: string, level = "all"): RunOut {
  const out = join(dir, `${runtime}-${level}.json`);
  const r = spawnSync(process.execPath, [RUNNER, runtime, jobs, out, level], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${runtime} runner failed: ${(r.stderr || r.error?.message || "").trim().split("\n").at(-1)}`);
  return JSON.parse(readFileSync(out, "utf8")) as RunOut;
}

/** Largest |a - b| over all outputs, relative to the largest |a| (at least 1); Infinity when shapes or types differ. */
function outputDiff(a: Record<string, Output>, b: Record<string, Output>): number {
  let diff = 0;
  for (const [name, x] of Object.entries(a)) {
    const y = b[name];
    if (!y || y.type !== x.type || y.dims.join() !== x.dims.join()) return Infinity;
    const scale = Math.max(1, ...x.data.map(Math.abs));
    for (let i = 0; i < x.data.length; i++) diff = Math.max(diff, Math.abs(x.data[i] - y.data[i]) / scale);
  }
  return diff;
}

export interface ProbeRow {
  op: string;
  use: string;
  node: string;
  wasm: string;
  /** Largest output difference, WASM against native, relative to the largest native output (0 = bit-identical). */
  rel_diff: number | null;
  agree: boolean | null;
  /**
   * Each runtime against native onnxruntime at the `basic` optimization level (no fusions of
   * DequantizeLinear into MatMulNBits, no int8 activations): which side moves away from the
   * op's plain arithmetic.
   */
  node_vs_basic: number | null;
  wasm_vs_basic: number | null;
}

/** Outputs closer than this (relative) count as agreeing: float summation order differs between builds. */
export const AGREE_TOLERANCE = 1e-5;

export interface ProbeResult {
  onnxruntime_node: string | null;
  onnxruntime_web: string | null;
  tolerance: number;
  ops: ProbeRow[];
}

/** Builds every probe model, runs them on both runtimes (and native at `basic`) and compares. */
export function runProbe(): ProbeResult {
  const dir = mkdtempSync(join(tmpdir(), "ptq-onnx-wasm-probe-"));
  try {
    const list = probes();
    const jobs = list.map((p, i) => {
      const path = join(dir, `probe-${i}.onnx`);
      saveModel(p.model, path);
      return { name: p.name, model: path, feeds: p.feeds };
    });
    const jobsFile = join(dir, "jobs.json");
    writeFileSync(jobsFile, JSON.stringify(jobs));
    const native = runAll("cpu", jobsFile, dir);
    const web = runAll("wasm", jobsFile, dir);
    const basic = runAll("cpu", jobsFile, dir, "basic");
    const ops: ProbeRow[] = list.map((p, i) => {
      const a = native.results[i];
      const b = web.results[i];
      const status = (r: typeof a) => (r.ok ? "runs" : (unsupportedOps(r.error ?? "").map((o) => `no kernel: ${o}`).join("; ") || `error: ${r.error}`));
      const ref = basic.results[i];
      const diff = a.ok && b.ok ? outputDiff(a.outputs!, b.outputs!) : null;
      const vsBasic = (r: typeof a) => (r.ok && ref.ok ? outputDiff(ref.outputs!, r.outputs!) : null);
      return {
        op: p.name,
        use: p.note,
        node: status(a),
        wasm: status(b),
        rel_diff: diff,
        agree: diff === null ? null : diff <= AGREE_TOLERANCE,
        node_vs_basic: vsBasic(a),
        wasm_vs_basic: vsBasic(b),
      };
    });
    return { onnxruntime_node: native.version, onnxruntime_web: web.version, tolerance: AGREE_TOLERANCE, ops };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const r = runProbe();
  if (process.argv.includes("--json")) {
    process.stdout.write(JSON.stringify(r, null, 2) + "\n");
    return;
  }
  const fig = (d: number | null) => (d === null ? "-" : d === 0 ? "0" : d.toExponential(1));
  process.stdout.write(`onnxruntime-node ${r.onnxruntime_node} (cpu) vs onnxruntime-web ${r.onnxruntime_web} (wasm, 1 thread); agree = outputs within ${r.tolerance} relative\n\n`);
  process.stdout.write(
    "| op form | for | onnxruntime-node | onnxruntime-web (WASM) | outputs agree (max rel. diff) | vs native `basic` level: node / wasm |\n| --- | --- | --- | --- | --- | --- |\n",
  );
  for (const o of r.ops) {
    const agree = o.rel_diff === null ? "-" : `${o.agree ? "yes" : "NO"} (${o.rel_diff === 0 ? "0, identical" : fig(o.rel_diff)})`;
    process.stdout.write(`| ${o.op} | ${o.use} | ${o.node} | ${o.wasm} | ${agree} | ${fig(o.node_vs_basic)} / ${fig(o.wasm_vs_basic)} |\n`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
