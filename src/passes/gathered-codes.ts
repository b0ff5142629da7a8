/**
 * `--gather-pass-through`: an activation that is only rows gathered from a quantized table
 * (an embedding's output on its way to the LSTM) already holds n-bit codes times one scale per
 * row; quantizing it again per tensor is a second rounding. onnxruntime's own quantizer treats
 * Gather the same way (its output shares the table's quantization).
 */
import { DataType, type Model, type Node, type Value } from "../graph/index.ts";
import { matrixView, readMatrix } from "../quant/layout.ts";
import { OPS, type GptqRule } from "./ops.ts";
import { activationBits, type QuantPolicy } from "./policy.ts";
import type { ActivationTarget } from "./quantize-activations.ts";
import type { WeightTarget } from "./quantize-weights.ts";

/**
 * Ops that only move or select elements: every output element is some input element, so
 * codes on a grid stay codes on the same grid. Each lists its data inputs (the others are
 * indices, shapes or axes).
 */
const MOVES: Readonly<Record<string, readonly number[]>> = {
  Identity: [0],
  Reshape: [0],
  Transpose: [0],
  Squeeze: [0],
  Unsqueeze: [0],
  Flatten: [0],
  Expand: [0],
  Slice: [0],
  // A Gather of an activation (the packed-sequence sort's row reordering) selects elements.
  Gather: [0],
  GatherElements: [0],
};

/**
 * The quantized table (a planned Gather weight, or a planned weight moved whole) whose
 * elements `value` is made of, through element-moving ops only; null when any element may
 * come from elsewhere or be computed. Concat counts when every input is such codes (the
 * widest table is returned).
 */
export function gatheredTable(value: Value, weights: ReadonlyMap<Value, WeightTarget>, hops = 0): WeightTarget | null {
  if (hops > 16) return null;
  const node: Node | null = value.producer;
  if (!node || node.domain || (value.elemType !== undefined && value.elemType !== DataType.FLOAT)) return null;
  if (node.opType === "Gather") {
    const table = weights.get(node.inputs[0]!);
    // The embedding lookup itself: rows of a table the weight pass puts on its grid.
    if (table) return node.getInt("axis", 0) === 0 && (table.axis === 0 || table.axis === null) && !table.block ? table : null;
  }
  if (node.opType === "Concat") {
    const tables = node.inputs.map((v) => (v ? gatheredTable(v, weights, hops + 1) : null));
    if (tables.some((t) => t === null)) return null;
    return (tables as WeightTarget[]).reduce((a, b) => (b.bits > a.bits ? b : a));
  }
  const data = MOVES[node.opType];
  if (!data) return null;
  const from = node.inputs[data[0]];
  if (!from) return null;
  // A quantized weight moved as a whole (the generative models' label embedding, expanded over time).
  const moved = weights.get(from);
  if (moved) return moved.block ? null : moved;
  return gatheredTable(from, weights, hops + 1);
}

/** An activation left as its table's codes: the value, the table and the codes' width. */
export interface GatheredCodes {
  value: Value;
  table: Value;
  bits: number;
}

/**
 * Splits planned activations into those still to quantize and those that are rows of a
 * quantized table no wider than the activation's own width (a wider table would hand the
 * consumer more bits than the policy gives its inputs, so that one is quantized as usual).
 */
export function splitGatheredCodes(activations: readonly ActivationTarget[], weights: readonly WeightTarget[], policy: QuantPolicy): { quantize: ActivationTarget[]; gathered: GatheredCodes[] } {
  const byValue = new Map(weights.map((w) => [w.value, w]));
  const quantize: ActivationTarget[] = [];
  const gathered: GatheredCodes[] = [];
  for (const t of activations) {
    const table = gatheredTable(t.value, byValue);
    // The narrowest reader decides: every reader must accept codes of the table's width.
    const narrowest = Math.min(t.bits, ...t.uses.map((u) => activationBits(policy, u.node) ?? t.bits));
    if (table && table.bits <= narrowest && !t.replaceOutputs) gathered.push({ value: t.value, table: table.value, bits: table.bits });
    else quantize.push(t);
  }
  return { quantize, gathered };
}

/** A table whose gathered rows are read whole by one layer's input: that layer's weight. */
export interface TableReader {
  table: WeightTarget;
  /** The reading layer's weight (LSTM W, MatMul/Gemm B) and its op-table view. */
  weight: WeightTarget;
  layout: GptqRule["layout"];
}

/**
 * For `--embedding-gptq`: each quantized table whose gathered rows are the whole input of
 * exactly one layer with a planned weight (the embedding -> the LSTM's W). A row's rounding
 * error e then reaches that layer's output as W e, so rounding the row against H = Wᵀ W
 * (summed over the LSTM's directions) is GPTQ with the reading layer as its "data". A table
 * read by several layers, or concatenated with other inputs (the generative models' label
 * embedding), is left out: W's columns would not be the table's.
 */
export function tableReaders(model: Model, weights: readonly WeightTarget[]): TableReader[] {
  const byValue = new Map(weights.map((w) => [w.value, w]));
  const found = new Map<WeightTarget, TableReader[]>();
  for (const node of model.allNodes()) {
    if (node.domain) continue;
    const rule = OPS[node.opType];
    const w = node.inputs[1] ? byValue.get(node.inputs[1]) : undefined;
    const x = node.inputs[0];
    if (!rule?.activations.includes(0) || !w?.gptq || w.gptq.node !== node || !x) continue;
    const table = gatheredTable(x, byValue);
    if (!table || table.block || table.value.initializer!.dims.length !== 2) continue;
    const view = matrixView(w.value.initializer!.dims, w.gptq.rule.layout);
    if (view.cols !== table.value.initializer!.dims[1]) continue;
    const list = found.get(table) ?? [];
    list.push({ table, weight: w, layout: w.gptq.rule.layout });
    found.set(table, list);
  }
  // Rows also read by ops other than this one chain (a tied output projection) are left out.
  return [...found.values()].filter((l) => l.length === 1 && l[0].table.value.consumers.length === 1).map((l) => l[0]);
}

/** H = Σ_b W_bᵀ W_b over the matrices of the reading weight's view (cols x cols). */
export function readerHessian(weight: Float32Array, dims: readonly number[], layout: GptqRule["layout"]): Float64Array {
  const view = matrixView(dims, layout);
  const n = view.cols;
  const H = new Float64Array(n * n);
  for (let b = 0; b < view.blocks; b++) {
    const W = readMatrix(weight, view, b);
    for (let r = 0; r < view.rows; r++) {
      const row = r * n;
      for (let i = 0; i < n; i++) {
        const wi = W[row + i];
        if (wi === 0) continue;
        for (let j = 0; j < n; j++) H[i * n + j] += wi * W[row + j];
      }
    }
  }
  return H;
}
