import { create } from "@bufbuild/protobuf";
import { GraphProtoSchema } from "onnx-buf";
import { Builder, DataType, Graph, Tensor, makeValueInfo, type Node, type Value } from "../graph/index.ts";
import type { RewriteRule } from "../passes/rewrite.ts";
import { MS_DOMAIN, type LowerContext } from "./common.ts";

/** Ops that only reshape: each keeps the elements in row-major order, so positions map 1:1. */
const RESHAPES = new Set(["Squeeze", "Unsqueeze", "Reshape", "Flatten", "Identity"]);

interface ScoredRowsMatch {
  softmax: Node;
  kernel: Node;
  pick: Node;
  /** The reshape-only nodes from the pick to the masking Mul, in order. */
  chain: Node[];
  mul: Node;
  /** The Mul's other operand: the mask. */
  mask: Value;
}

/** Ops whose output has their first input's rank. */
const SAME_RANK = new Set(["QuantizeLinear", "DequantizeLinear", "Cast", "Identity", "Relu", "Tanh", "Sigmoid", "Neg", "Abs", "Clip", "LogSoftmax", "Softmax"]);

/** The constant integers of an input or attribute (Squeeze/Unsqueeze axes), or undefined. */
function constInts(n: Node, input: number, attribute: string): number[] | undefined {
  const v = n.inputs[input];
  if (v?.initializer) return Array.from(v.initializer.toNumbers());
  if (v?.producer?.opType === "Constant") {
    const t = v.producer.getTensor("value");
    return t && Array.from(t.toNumbers());
  }
  return v ? undefined : n.getInts(attribute);
}

/**
 * A value's rank from its declared shape or, for the few ops an exporter puts between an
 * LSTM and the scores, from its producer (no full shape inference); undefined when unknown.
 */
function rankOf(v: Value | null | undefined, depth = 0): number | undefined {
  if (!v || depth > 16) return undefined;
  if (v.shape) return v.shape.length;
  const p = v.producer;
  if (!p || (p.domain && p.domain !== "com.microsoft")) return undefined;
  const input = () => rankOf(p.inputs[0], depth + 1);
  switch (p.opType) {
    case "Transpose":
      return p.getInts("perm")?.length ?? input();
    case "Flatten":
      return 2;
    case "Unsqueeze": {
      const r = input();
      const axes = constInts(p, 1, "axes");
      return r === undefined || !axes ? undefined : r + axes.length;
    }
    case "Squeeze": {
      const r = input();
      const axes = constInts(p, 1, "axes");
      return r === undefined || !axes ? undefined : r - axes.length;
    }
    case "MatMulIntegerToFloat":
    case "DynamicQuantizeMatMul":
    case "MatMulNBits":
      return input();
    default:
      return SAME_RANK.has(p.opType) && !p.domain ? input() : undefined;
  }
}

/** Every node that reads `from`, directly or through other nodes (one graph). */
function downstream(from: Value): Set<Node> {
  const seen = new Set<Node>();
  const stack = [...from.consumers];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const v of n.outputs) if (v) stack.push(...v.consumers);
  }
  return seen;
}

/**
 * A language-model scorer computes log p(token) at every position and multiplies the result
 * by a mask (the positions past each row's length are 0) before summing:
 * Mul(reshapes(GatherElements(LogSoftmax(kernel(A)), tokens)), mask). The [rows, vocabulary]
 * projection and log-softmax of masked positions are thrown away, and with batches padded to
 * their longest row they are a large share of the work (about 40 % of a WordNet-8 batch of
 * 32). This rule computes only the positions the mask keeps: the mask, taken to the tokens'
 * shape, gives their coordinates (NonZero); the kernel runs on those rows of A (GatherND),
 * the log-softmax and the pick on the result, and ScatterND puts the log-probabilities back
 * into zeros shaped as before. Where the mask is 0 the Mul gave 0 before (for finite
 * log-probabilities) and gives 0 now; where it is not, each row's value is what the kernel
 * gave before, bit for bit for kernels that work row by row (MatMulIntegerToFloat, whose
 * activation codes are calibrated; MatMulNBits). DynamicQuantizeMatMul finds its activation
 * range per run over the rows it is given: the scored rows only, no longer the padding.
 *
 * Shapes need not be known: the mask is taken to the tokens' shape by running copies of the
 * reshape nodes on a ones tensor shaped like the tokens, multiplying by the mask as the model
 * does, and reshaping back; a mask that would broadcast the scores to a larger shape (no
 * language-model scorer does that) makes that reshape fail at run time, never a wrong score.
 */
export function scoredRowsRule(ctx: LowerContext, chunkRows?: number): RewriteRule<ScoredRowsMatch> {
  return {
    name: "score-masked-positions-only",
    anchor: "LogSoftmax",
    match(softmax) {
      const z = softmax.inputs[0];
      const kernel = z?.producer;
      if (!z || !kernel || !ctx.lowered.has(kernel) || kernel.domain !== MS_DOMAIN || kernel.outputs[0] !== z) return "its input is not the output of an integer MatMul kernel written here";
      if (z.consumers.length !== 1 || z.isGraphOutput) return "the logits are also read elsewhere";
      const lp = softmax.outputs[0]!;
      if (lp.isGraphOutput || lp.consumers.length !== 1 || lp.consumers[0].opType !== "GatherElements" || lp.consumers[0].domain) {
        return "its output is not read by one GatherElements (the pick of the observed tokens) only";
      }
      const pick = lp.consumers[0];
      const axis = softmax.getInt("axis", -1);
      const pickAxis = pick.getInt("axis", 0);
      // The vocabulary axis must be the last one of both (the rows are all the other axes).
      const rank = rankOf(z) ?? rankOf(pick.inputs[1]);
      const last = (a: number) => a === -1 || (rank !== undefined && a === rank - 1);
      if (!last(axis) || !last(pickAxis)) {
        return `normalizes along axis ${axis} and picks along ${pickAxis}: ${rank === undefined ? "the rank is unknown, so" : ""} not both the last axis`;
      }
      if (!pick.inputs[1]) return "the pick has no indices";
      const chain: Node[] = [];
      let v = pick.outputs[0]!;
      for (;;) {
        if (v.isGraphOutput || v.consumers.length !== 1) return `${v.name} is read by ${v.consumers.length} nodes${v.isGraphOutput ? " and is a graph output" : ""}, not by one mask Mul`;
        const next = v.consumers[0];
        if (next.domain || !RESHAPES.has(next.opType) || next.inputs[0] !== v) break;
        chain.push(next);
        v = next.outputs[0]!;
      }
      const mul = v.consumers[0];
      if (mul.opType !== "Mul" || mul.domain) return `the picked log-probabilities reach ${mul.opType}, not a Mul by a mask`;
      const mask = mul.inputs[0] === v ? mul.inputs[1] : mul.inputs[0];
      if (!mask || mask === v) return "the Mul has no separate mask operand";
      // The mask and the reshapes' shape inputs are computed before the scores (copies of the
      // reshapes run first, on a ones tensor): none may depend on the logits.
      const after = downstream(z);
      if (mask.producer && after.has(mask.producer)) return "the mask depends on the scores";
      for (const n of chain) for (const x of n.inputs.slice(1)) if (x?.producer && after.has(x.producer)) return `${n.label}'s shape depends on the scores`;
      return { softmax, kernel, pick, chain, mul, mask };
    },
    apply({ softmax, kernel, pick, chain, mul, mask }) {
      const g = kernel.graph;
      const b = new Builder(g, { prefix: `${kernel.name}/scored_rows` });
      const tokens = pick.inputs[1]!;
      const tokensShape = b.op("Shape", [tokens], "tokens_shape");
      // The mask in the tokens' shape: the model's own reshapes and Mul, on ones.
      let ones = b.op("ConstantOfShape", [tokensShape], "ones", { value: Tensor.float32(b.name("one"), [1], [1]) });
      for (const n of chain) {
        const copy = b.node(n.opType, [ones, ...n.inputs.slice(1)], [`${n.opType.toLowerCase()}`]);
        copy.proto.attribute.push(...n.proto.attribute);
        ones = copy.outputs[0]!;
      }
      const masked = b.op("Mul", mul.inputs[0] === mask ? [mask, ones] : [ones, mask], "mask_broadcast");
      const keep = b.op("Reshape", [masked, tokensShape], "mask");
      // Coordinates [P, rank] of the kept positions; the leading ones address rows of A.
      const coords = b.op("Transpose", [b.op("NonZero", [keep], "nonzero")], "coords", { perm: [1, 0] });
      const lead = b.op("Slice", [coords, b.initializer(Tensor.int64(b.name("zero"), [1], [0])), b.initializer(Tensor.int64(b.name("minus_one"), [1], [-1])), b.initializer(Tensor.int64(b.name("one_axis"), [1], [1]))], "row_coords");
      const rows = b.op("GatherND", [kernel.inputs[0]!, lead], "rows");
      const ids = b.op("Unsqueeze", [b.op("GatherND", [tokens, coords], "token_ids"), b.initializer(Tensor.int64(b.name("last_axis"), [1], [-1]))], "token_column");
      const chunk = chunkRows ?? defaultChunkRows(kernel);
      if (chunk > 0) {
        const flat = chunkedPick(ctx, b, kernel, softmax, pick, rows, ids, chunk);
        const zeros = b.op("ConstantOfShape", [tokensShape], "zeros", { value: Tensor.float32(b.name("zero_value"), [1], [0]) });
        new Builder(g).replace(pick, "ScatterND", [zeros, coords, flat]);
        return;
      }
      // The kernel, its log-softmax and the pick now work on [P, ...] rows.
      kernel.setInput(0, rows);
      softmax.setAttribute("axis", -1);
      // Their outputs are [P, vocabulary] now: a declared shape of the full logits no longer holds.
      for (const x of [kernel.outputs[0]!, softmax.outputs[0]!]) x.info = undefined;
      const picked = b.op("GatherElements", [softmax.outputs[0]!, ids], "picked", { axis: -1 });
      const flat = b.op("Reshape", [picked, b.initializer(Tensor.int64(b.name("flat"), [1], [-1]))], "picked_flat");
      const zeros = b.op("ConstantOfShape", [tokensShape], "zeros", { value: Tensor.float32(b.name("zero_value"), [1], [0]) });
      new Builder(g).replace(pick, "ScatterND", [zeros, coords, flat]);
    },
  };
}

/**
 * Logits per chunk (256 Ki floats, 1 MiB; 26 rows of a 10,000-word vocabulary). On spam-gen's
 * lowered models at batch 32 ([8192, 10000] logits), timed interleaved in CPU time
 * (scripts/lower/chunk-rows.ts), chunks of 16 to 128 rows took 0.82-0.96 of the unchunked
 * time in seven of eight measurements (one 1.03: noise on a shared machine), 256 and 1024 rows
 * 0.92-0.94; the peak resident memory of a batch of 32 fell from
 * 1.19 GiB to 0.14 GiB.
 */
export const CHUNK_LOGITS = 1 << 18;

/** Rows per chunk for a kernel's vocabulary (its output width): CHUNK_LOGITS logits, at least 1 row. */
function defaultChunkRows(kernel: Node): number {
  const n = kernel.opType === "MatMulNBits" ? kernel.getInt("N") : kernel.inputs[1]?.initializer?.dims.at(-1);
  return n ? Math.max(1, Math.round(CHUNK_LOGITS / n)) : 0;
}

/**
 * The kernel, log-softmax and pick over the gathered rows [P, K], `chunk` rows at a time in a
 * Loop, so each chunk's [chunk, vocabulary] logits stay in cache between the kernel that
 * writes them and the log-softmax that reads them (for spam-gen's [8192, 10000] batch they
 * are 330 MB, written, read and written again). Every row's value is the unchunked one's,
 * bit for bit: the kernels work row by row, and where the kernel quantized its input per run
 * (DynamicQuantizeMatMul), that is done once over all P rows before the Loop
 * (DynamicQuantizeLinear, the same range as before) and the Loop runs MatMulIntegerToFloat on
 * the codes. The P rows are shared evenly over ceil(P / chunk) chunks (a Loop's scan outputs
 * must be equally shaped), the few rows short of whole chunks padded with zero codes and their
 * picks cut off after it. Returns the picks, [P].
 */
function chunkedPick(ctx: LowerContext, b: Builder, kernel: Node, softmax: Node, pick: Node, rows: Value, ids: Value, chunk: number): Value {
  const g = kernel.graph;
  const int64 = (name: string, dims: number[], values: number[]) => b.initializer(Tensor.int64(b.name(name), dims, values));
  let a = rows;
  let kernelOp = kernel.opType;
  let kernelInputs = kernel.inputs.slice(1);
  if (kernel.opType === "DynamicQuantizeMatMul") {
    // DynamicQuantizeMatMul (A, B, b_scale, b_zero_point, bias) = DynamicQuantizeLinear(A), then
    // MatMulIntegerToFloat (codes, B, a_scale, b_scale, a_zero_point, b_zero_point, bias).
    const [codes, scale, zero] = b.multi("DynamicQuantizeLinear", [rows], ["row_codes", "row_scale", "row_zero_point"]);
    a = codes;
    kernelOp = "MatMulIntegerToFloat";
    kernelInputs = [kernel.inputs[1]!, scale, kernel.inputs[2] ?? null, zero, kernel.inputs[3] ?? null, kernel.inputs[4] ?? null];
  }
  const P = b.op("Gather", [b.op("Shape", [rows], "rows_shape"), int64("first", [], [0])], "P");
  const size = int64("chunk_rows", [], [chunk]);
  const trips = b.op("Div", [b.op("Add", [P, int64("chunk_less_one", [], [chunk - 1])], "P_up"), size], "chunks");
  // The P rows shared evenly over those chunks, ceil(P / chunks) rows each (at most `chunk`), so
  // fewer than `chunks` rows are padding: padding to whole chunks of `chunk` rows cost a batch of
  // one gloss (32 rows in chunks of 26) half its run again. max(chunks, 1) keeps P = 0 defined.
  const one = int64("one", [], [1]);
  const divisor = b.op("Max", [trips, one], "chunks_at_least_1");
  const even = b.op("Div", [b.op("Add", [P, b.op("Sub", [divisor, one], "chunks_less_one")], "P_up_even"), divisor], "rows_per_chunk");
  const padRows = b.op("Sub", [b.op("Mul", [trips, even], "padded_P"), P], "pad_rows");
  const pads = b.op("Concat", [int64("pads_head", [2], [0, 0]), b.op("Unsqueeze", [padRows, int64("axis0", [1], [0])], "pad_rows_1d"), int64("pads_tail", [1], [0])], "pads", { axis: 0 });
  const aPadded = b.op("Pad", [a, pads], "rows_padded");
  const idsPadded = b.op("Pad", [ids, pads], "token_column_padded");

  // The body: iteration i takes rows [i * rows_per_chunk, (i + 1) * rows_per_chunk).
  const body = new Graph(create(GraphProtoSchema, { name: b.name("chunk_body") }), g);
  const input = (name: string, type: number) => {
    const v = body.newValue(b.name(name));
    v.info = makeValueInfo(v.name, type, []);
    body.inputs.push(v);
    return v;
  };
  const iter = input("iteration", DataType.INT64);
  const cond = input("condition", DataType.BOOL);
  const bb = new Builder(body, { prefix: b.name("chunk") });
  const start = bb.op("Unsqueeze", [bb.op("Mul", [iter, even], "start_scalar"), int64("axis0_body", [1], [0])], "start");
  const end = bb.op("Add", [start, even], "end");
  const axis0 = int64("slice_axis", [1], [0]);
  const aChunk = bb.op("Slice", [aPadded, start, end, axis0], "rows");
  const idsChunk = bb.op("Slice", [idsPadded, start, end, axis0], "token_ids");
  // The kernel itself moves into the body, under its own name and with its attributes (the report names it).
  const { name, proto } = kernel;
  g.removeNode(kernel);
  const inner = bb.node(kernelOp, [aChunk, ...kernelInputs], ["logits"], { domain: kernel.domain });
  inner.name = name;
  if (kernelOp === kernel.opType) inner.proto.attribute.push(...proto.attribute);
  // The report lists the kernel (by the node it was, already collected) as the op that now runs.
  const record = ctx.lowered.get(kernel);
  if (record && kernelOp !== kernel.opType) record.kernel = kernelOp;
  const lp = bb.op("LogSoftmax", [inner.outputs[0]!], "log_probs", { axis: -1 });
  const picked = bb.op("GatherElements", [lp, idsChunk], "picked", { axis: -1 });
  body.addOutput(bb.op("Identity", [cond], "condition_out"), DataType.BOOL, []);
  body.addOutput(picked, DataType.FLOAT, ["rows_per_chunk", 1]);
  // The old log-softmax and pick are dead now (the caller replaces the pick).
  g.removeNode(softmax);
  const loop = b.node("Loop", [trips, null], ["picked_chunks"]);
  loop.setSubgraph("body", body);
  const all = b.op("Reshape", [loop.outputs[0]!, int64("flat", [1], [-1])], "picked_padded");
  return b.op("Slice", [all, int64("from", [1], [0]), b.op("Unsqueeze", [P, int64("axis0_p", [1], [0])], "P_1d"), int64("slice_axis_out", [1], [0])], "picked_flat");
}
