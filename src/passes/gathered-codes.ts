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
  const table = directTable(node, weights);
  if (table) return table;
  if (node.opType === "Concat") {
    const tables = node.inputs.map((v) => (v ? gatheredTable(v, weights, hops + 1) : null));
    if (tables.some((t) => t === null)) return null;
    return (tables as WeightTarget[]).reduce((a, b) => (b.bits > a.bits ? b : a));
  }
  const data = MOVES[node.opType];
  const from = data ? node.inputs[data[0]] : null;
  return from ? gatheredTable(from, weights, hops + 1) : null;
}

/**
 * The planned weight a node reads codes from directly: the embedding lookup (a Gather along
 * axis 0 of a per-row or per-tensor table), or a move of a whole weight (the generative
 * models' label embedding, expanded over time). A moved weight may have its scales on any
 * axis (the label embedding [1, C, 1, d] has one per class, axis 1): a move copies each
 * element with its own scale, so the activation is still exactly the table's dequantized
 * codes, which is all a gathered activation promises (it is left as it is, never re-read as
 * one scale per row). Blocked weights are not rows of codes.
 */
function directTable(node: Node, weights: ReadonlyMap<Value, WeightTarget>): WeightTarget | null {
  const data = MOVES[node.opType];
  const from = data ? node.inputs[data[0]] : null;
  const w = from ? weights.get(from) : undefined;
  if (!w || w.block) return null;
  if (node.opType === "Gather") return node.getInt("axis", 0) === 0 && (w.axis === 0 || w.axis === null) ? w : null;
  return w;
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
 * read by several layers (a tied output projection) is left out, and so are rows
 * concatenated with another input (the generative models' label embedding): H from W's
 * columns that read them was measured and did not help there (README, Low-bit accuracy).
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
    const dims = table?.value.initializer!.dims;
    // An embedding (rows gathered from a matrix) that fills every input column: no Concat.
    if (!table || !dims || dims.length !== 2 || table.value.consumers[0]?.opType !== "Gather") continue;
    if (matrixView(w.value.initializer!.dims, w.gptq.rule.layout).cols !== dims[1]) continue;
    const list = found.get(table) ?? [];
    list.push({ table, weight: w, layout: w.gptq.rule.layout });
    found.set(table, list);
  }
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
