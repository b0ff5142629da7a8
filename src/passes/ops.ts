/**
 * What the quantizer knows about each op, in one table: which inputs are weights and on
 * which axis their output channels lie, which inputs are activations, and how GPTQ views a
 * weight as [output channels, inputs]. The weight, activation and GPTQ planning read only
 * this table, so an op is either covered completely or refused (see `ruleFor`).
 */
import type { Node } from "../graph/index.ts";

/**
 * How GPTQ sees a weight: `out-in` [outputs, inputs] (Gemm transB=1), `in-out` [inputs,
 * outputs] (MatMul's B, Gemm's untransposed B), `dirs-out-in` [directions, gate rows, inputs]
 * (LSTM W and R, one block per direction).
 */
export type GptqLayout = "out-in" | "in-out" | "dirs-out-in";

/** Where a weight's layer input comes from: an input of the node, or its output Y shifted a step. */
export type GptqInput = { input: number } | { previousOutput: number };

export interface GptqRule {
  layout: GptqLayout;
  /** The axis of the weight that holds output channels (GPTQ needs per-channel scales there). */
  channelAxis: number;
  from: GptqInput;
  /** `table`: an embedding rounded against the layer that reads its rows (--embedding-gptq; realize sets it, calibration never sees it). */
  kind: "matmul" | "gemm" | "lstm-w" | "lstm-r" | "table";
}

/** A weight slot's per-channel axis, or why the slot stays float. */
export type WeightUse = { axis: number | null } | { keep: string };

export interface OpRule {
  /** For an initializer in input `slot` with shape `dims`: its channel axis, or why it stays float. */
  weight(node: Node, slot: number, dims: readonly number[]): WeightUse;
  /** Input slots quantized as activations when they are not weights. */
  activations: readonly number[];
  /** GPTQ's view of the weight in `slot`, when the op and slot have one. */
  gptq?(node: Node, slot: number, rank: number): GptqRule | null;
}

/** Recurrent ops: W [dirs, G*H, in] and R [dirs, G*H, H], one scale per gate row; X is the activation. */
function recurrent(opType: string, gptq: boolean): OpRule {
  return {
    weight: (_node, slot) => (slot === 1 || slot === 2 ? { axis: 1 } : { keep: `${opType} bias, peephole or state (kept float)` }),
    activations: [0],
    gptq: gptq
      ? (node, slot) => {
          if (node.getInt("layout", 0) !== 0) return null;
          // R reads the previous hidden states: Y shifted by a step. The initial state counts as
          // zeros (what PyTorch exports feed); a non-zero one would only be missing from the moments.
          if (slot === 1) return { layout: "dirs-out-in", channelAxis: 1, from: { input: 0 }, kind: "lstm-w" };
          if (slot === 2) return { layout: "dirs-out-in", channelAxis: 1, from: { previousOutput: 0 }, kind: "lstm-r" };
          return null;
        }
      : undefined,
  };
}

/** Ops that compute with their weights. */
export const OPS: Readonly<Record<string, OpRule>> = {
  Gather: {
    // An embedding table: one scale per row (per token).
    weight: (_node, slot) => (slot === 0 ? { axis: 0 } : { keep: "Gather indices" }),
    activations: [],
  },
  MatMul: {
    weight: (_node, slot, dims) => ({ axis: slot === 1 ? dims.length - 1 : dims.length - 2 }),
    activations: [0, 1],
    gptq: (_node, slot, rank) => (slot === 1 && rank === 2 ? { layout: "in-out", channelAxis: 1, from: { input: 0 }, kind: "matmul" } : null),
  },
  Gemm: {
    weight(node, slot) {
      if (slot === 2) return { keep: "Gemm bias (kept float)" };
      const trans = node.getInt(slot === 1 ? "transB" : "transA", 0);
      // Output channels are B's columns (or its rows when transposed), A's rows.
      if (slot === 1) return { axis: trans ? 0 : 1 };
      return { axis: trans ? 1 : 0 };
    },
    activations: [0, 1],
    gptq(node, slot) {
      if (slot !== 1 || node.getInt("transA", 0) !== 0) return null;
      return node.getInt("transB", 0) === 1
        ? { layout: "out-in", channelAxis: 0, from: { input: 0 }, kind: "gemm" }
        : { layout: "in-out", channelAxis: 1, from: { input: 0 }, kind: "gemm" };
    },
  },
  LSTM: recurrent("LSTM", true),
  // GRU and RNN are covered as LSTM is without its internals: weights per gate row, X quantized.
  GRU: recurrent("GRU", false),
  RNN: recurrent("RNN", false),
};

/**
 * Ops that only move, reshape or combine values element by element. A weight they read (a
 * label embedding expanded over time, a learned table added to a sum) is quantized per row
 * when it is a matrix up to unit axes; they have no activation inputs of their own, since the
 * compute op downstream quantizes what it reads.
 */
export const PASS_THROUGH: ReadonlySet<string> = new Set([
  "Identity", "Reshape", "Expand", "Tile", "Concat", "Split", "Slice", "Transpose", "Squeeze", "Unsqueeze",
  "Flatten", "Cast", "Where", "Add", "Sub", "Mul", "Div",
]);

const PASS_THROUGH_RULE: OpRule = {
  weight: (_node, _slot, dims) => ({ axis: matrixRowAxis(dims) }),
  activations: [],
};

/**
 * The row axis of a weight that is a matrix up to unit axes (exactly two axes longer than 1):
 * the first of them, so a generative model's label embedding [1, C, 1, d] gets one scale per
 * class (axis 1) and a plain [rows, cols] matrix one per row (axis 0). Null (one scale) for
 * anything else: a vector, or a table with three or more real axes, has no single row axis.
 */
export function matrixRowAxis(dims: readonly number[]): number | null {
  if (dims.length === 2) return 0;
  const real = dims.flatMap((d, i) => (d > 1 ? [i] : []));
  return real.length === 2 ? real[0] : null;
}

/**
 * The rule for a node, or undefined when the quantizer does not know the op (custom domains
 * included): a weight read by such an op must be refused, not half-quantized.
 */
export function ruleFor(node: Node): OpRule | undefined {
  if (node.domain) return undefined;
  return OPS[node.opType] ?? (PASS_THROUGH.has(node.opType) ? PASS_THROUGH_RULE : undefined);
}

/** The activation input slots of a node (none for unknown and pass-through ops). */
export function activationSlots(node: Node): readonly number[] {
  return node.domain ? [] : (OPS[node.opType]?.activations ?? []);
}
