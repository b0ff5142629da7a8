import { InputError, type Model, type Node } from "../graph/index.ts";
import { upgradeOpsetPass } from "../passes/opset.ts";
import { cleanupPass } from "../passes/pass.ts";
import { rulePass, type RuleOutcome } from "../passes/rewrite.ts";
import { readQdq, type QuantizedActivation } from "../quant/qdq.ts";
import { MS_DOMAIN, type LowerContext } from "./common.ts";
import { gatherRule } from "./gather.ts";
import { lstmRule } from "./lstm.ts";
import { scoredRowsRule } from "./scored-rows.ts";
import { dropUnreadOutputs, lastStepRule } from "./last-step.ts";
import { packedSortRule } from "./packed-sort.ts";
import { NOT_FINAL_STATES, finalStatesRule } from "./final-states.ts";
import { gemmRule, matMulRule } from "./matmul.ts";

export interface LowerOptions {
  /** MatMul/Gemm kernel (default `integer`: the int8 GEMM; `nbits`: MatMulNBits, packed 2/4/8-bit weights). */
  matmul?: "integer" | "nbits";
  /** MatMulNBits' accuracy_level (default 4: int8 activations per block). */
  accuracyLevel?: 0 | 4;
  /** Score only the positions a language-model scorer's mask keeps (default true; src/lower/scored-rows.ts). */
  scoredRows?: boolean;
  /**
   * Rows per chunk when scoring masked positions only: the kernel, log-softmax and pick run
   * over this many rows at a time in a Loop (0: all rows at once; default: as many rows as
   * make CHUNK_LOGITS logits). See src/lower/scored-rows.ts.
   */
  chunkRows?: number;
  /**
   * 5-8 bit embedding lookups (default `mul`): Gather of the int8 rows and of their scales, Cast
   * and Mul (the Q/DQ model's own form, any opset); `dequantize`: one blocked DequantizeLinear
   * in place of Cast and Mul (raises the model to opset 21). Measured side by side (README,
   * Deployable integer models): the same at batch 1, its DequantizeLinear twice the Cast and Mul's
   * time at batch 32.
   */
  lookup?: "dequantize" | "mul";
  /**
   * 4-bit asymmetric embedding rows (their q - z needs 5 bits), default `nibbles`: the split-
   * nibble form over the codes q, packed 4-bit, with a Sub of the gathered per-row zero point
   * before the scale; `int8`: int8 rows of q - z (the 5-8 bit form, twice the size). Both exact.
   */
  asymmetricLookup?: "nibbles" | "int8";
  /**
   * MatMul/Gemm weights of at most this many elements (K x N) stay a float MatMul/Gemm over
   * their dequantized codes (bit-for-bit the Q/DQ model's weights) instead of an int8 kernel:
   * for a classifier head the float op measured 1 us cheaper per run at batch 1 in the per-op
   * profile (no QuantizeLinear either) and 1-2 us dearer at batch 32, within the noise of whole
   * runs (README, Deployable integer models). Default FLOAT_WEIGHTS; 0: every such op on an
   * integer kernel. A language model's projection keeps its kernel whatever its size.
   */
  floatWeights?: number;
  /** Take each row's last step from the LSTM's Y_h with the lengths as sequence_lens (default true; see lastStepRule). */
  foldLastStep?: boolean;
  /** Join a bidirectional LSTM's final states by Transpose and Reshape instead of Gathers and Concats (default true; see finalStatesRule). */
  foldFinalStates?: boolean;
  /** Drop a packed-sequence export's sort and unsort of the rows around its LSTMs (default true; see packedSortRule). */
  foldPackedSort?: boolean;
}

export interface LowerReport {
  /** Each integer kernel written, the op it replaced and the weights it stores. */
  lowered: { node: string; op: string; kernel: string; weights: { name: string; bits: number; storage: string }[] }[];
  /** Ops reading quantized weights that stay Q/DQ, and why. */
  left: { node: string; op: string; reason: string }[];
  /** Activations whose Q/DQ pair was dropped (the kernels quantize their inputs dynamically to 8 bits). */
  dropped_activations: string[];
  /** Activations whose calibrated codes an integer kernel reads (MatMulIntegerToFloat): the QuantizeLinear (and Clip) stay. */
  static_activations: string[];
  /** Activation Q/DQ pairs kept, because an op that stays Q/DQ (or float) reads them. */
  kept_activations: { name: string; reason: string }[];
  /**
   * Every rewrite of the float ops around the kernels tried, in the order run, each with the
   * node it was tried on and, when it did not apply, why: a packed-sequence export's row sort
   * and unsort dropped (`packed-sequence-sort-removed`), `score-masked-positions-only` on every
   * LogSoftmax (src/lower/scored-rows.ts), a last-step selection read from the LSTM's Y_h
   * (`last-step-to-lstm-final-state`), a bidirectional LSTM's final states joined by Transpose
   * and Reshape (`final-states-concat-to-reshape`, tried on Concats of Gathers of final states).
   */
  rewrites: { rule: string; node: string; applied: boolean; reason?: string }[];
}


/** The default LowerOptions.floatWeights: the zoo's heads (up to 26 x 128) and a little room. */
export const FLOAT_WEIGHTS = 4096;

/** The `ptq-onnx.format` value of a lowered model. */
export const ORT_FORMAT = "ort";

/**
 * Turns a ptq-onnx Q/DQ model into onnxruntime's integer-kernel form, in place: LSTMs to
 * DynamicQuantizeLSTM, Gemm/MatMul to the int8 GEMM (MatMulIntegerToFloat, measured faster
 * here than MatMulNBits, which `matmul: "nbits"` selects), embedding lookups to
 * GatherBlockQuantized (2-4 bits) or int8 rows (5-8 bits), each weight bit-for-bit the Q/DQ
 * model's (asymmetric codes as q - z with zero point 0, or with MatMulNBits' zero points;
 * blocked Gemm/MatMul scales on MatMulNBits with their block size); the activation Q/DQ pairs of kernels that quantize their own inputs are dropped,
 * and the exporter's last-step selection is read from the LSTM's Y_h (lastStepRule). What cannot be lowered stays Q/DQ and is reported with the reason. Throws
 * InputError for a model that is not a ptq-onnx Q/DQ model, and when nothing could be lowered.
 */
export function lowerModel(model: Model, opts: LowerOptions = {}): LowerReport {
  const file = model.path;
  const qdq = readQdq(model);
  if (model.metadata.get("ptq-onnx.format") === ORT_FORMAT) throw new InputError("is already lowered to onnxruntime's integer kernels", file);
  if (!qdq.meta) {
    const why = qdq.weights.length ? "a Q/DQ model ptq-onnx did not write" : "a float model";
    throw new InputError(`${why} (no ptq-onnx.quantization metadata): lower takes the output of ptq-onnx quantize`, file);
  }
  if (qdq.meta.lstm_internals || model.allNodes().some((n) => n.opType === "Scan")) {
    throw new InputError("was quantized with --lstm-internals, a simulation format (the LSTM is a Scan of Q/DQ primitives) that has no integer kernel; lower a model quantized without it", file);
  }
  if (!qdq.weights.length) throw new InputError("has no quantized weights to lower", file);

  const ctx: LowerContext = { qdq, matmul: opts.matmul ?? "integer", accuracyLevel: opts.accuracyLevel ?? 4, lookup: opts.lookup ?? "mul", asymmetricLookup: opts.asymmetricLookup ?? "nibbles", floatWeights: opts.floatWeights ?? FLOAT_WEIGHTS, opset: 0, lowered: new Map(), staticActivations: new Set() };
  const log: RuleOutcome[] = [];
  // First, on the Q/DQ graph: without the sort, the embedding's rows go straight to the
  // LSTM's Transpose, which the lookup rule then folds into time-major ids.
  const rewrites: RuleOutcome[] = [];
  if (opts.foldPackedSort ?? true) {
    rulePass(packedSortRule(), rewrites).run(model);
    cleanupPass.run(model);
  }
  // Cleanup after each rule: what a rule frees (the LSTM's zero-state chain reading the
  // embedding's shape) must be gone before the next looks at its readers.
  for (const pass of [rulePass(lstmRule(ctx), log), rulePass(gemmRule(ctx), log), rulePass(matMulRule(ctx), log), rulePass(gatherRule(ctx), log)]) {
    pass.run(model);
    cleanupPass.run(model);
  }

  // Only ops that read a quantized weight are worth a reason; other Gathers and MatMuls are not candidates.
  const readers = new Map<string, Node>();
  for (const w of qdq.weights) for (const n of w.readers) readers.set(n.label, n);
  const left: LowerReport["left"] = [];
  for (const o of log) {
    const n = readers.get(o.node);
    if (!o.applied && n) left.push({ node: n.name, op: n.opType, reason: o.reason! });
  }
  // Weights read by ops no rule covers (a label embedding read by Expand) stay Q/DQ as well.
  const tried = new Set(log.map((o) => o.node));
  for (const n of readers.values()) {
    if (!tried.has(n.label) && n.graph.nodes.includes(n)) left.push({ node: n.name, op: n.opType, reason: `no integer kernel for ${n.opType}; its weight stays DequantizeLinear` });
  }

  const lowered = [...ctx.lowered.keys()];
  if (!lowered.length) throw new InputError(`nothing could be lowered: ${left.map((l) => `${l.node} (${l.op}): ${l.reason}`).join("; ") || "no op reads a quantized weight"}`, file);

  const dropped: string[] = [];
  const kept: LowerReport["kept_activations"] = [];
  for (const a of qdq.activations) {
    if (ctx.staticActivations.has(a.value.name)) continue;
    const why = keepReason(a, ctx);
    if (why) {
      kept.push({ name: a.value.name, reason: why });
      continue;
    }
    a.output.replaceAllUsesWith(a.value);
    dropped.push(a.value.name);
  }
  // After the activation pairs are settled: the rows it gathers are the kernel's own input.
  // Only around a kernel written here (a model with none was refused above).
  if (opts.scoredRows !== false) rulePass(scoredRowsRule(ctx, opts.chunkRows), rewrites).run(model);
  if (opts.foldLastStep ?? true) {
    rulePass(lastStepRule(model), rewrites).run(model);
    cleanupPass.run(model);
  }
  if (opts.foldFinalStates ?? true) {
    // Every Concat is tried; only those that join LSTM final states are worth a line.
    const tried: RuleOutcome[] = [];
    rulePass(finalStatesRule(), tried).run(model);
    rewrites.push(...tried.filter((o) => o.reason !== NOT_FINAL_STATES));
    cleanupPass.run(model);
  }
  dropUnreadOutputs(model);
  if (ctx.opset > (model.opset("") ?? 0)) upgradeOpsetPass(ctx.opset).run(model);
  model.setOpset(MS_DOMAIN, 1);
  model.setMetadata("ptq-onnx.format", ORT_FORMAT);
  cleanupPass.run(model);
  return {
    lowered: lowered.map((n) => ({ node: n.name, op: ctx.lowered.get(n)!.from, kernel: ctx.lowered.get(n)!.kernel ?? n.opType, weights: ctx.lowered.get(n)!.weights })),
    left,
    dropped_activations: dropped,
    static_activations: [...ctx.staticActivations],
    kept_activations: kept,
    rewrites: rewrites.map((o) => ({ rule: o.rule, node: o.node, applied: o.applied, ...(o.reason ? { reason: o.reason } : {}) })),
  };
}

/** Why an activation's Q/DQ pair must stay: some reader is not an integer kernel written here. */
function keepReason(a: QuantizedActivation, ctx: LowerContext): string | null {
  if (a.output.isGraphOutput) return "it is a graph output";
  const others = a.output.consumers.filter((n) => !ctx.lowered.has(n));
  if (!others.length) return null;
  return `read by ${[...new Set(others.map((n) => n.opType))].join(", ")}, which stays as it was`;
}
