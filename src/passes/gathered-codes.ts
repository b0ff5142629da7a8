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
 * models' label embedding, expanded over time). Blocked weights are not rows of codes.
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
  /** The reading weight's input columns that take the table's row: [offset, offset + width). */
  offset: number;
  width: number;
}

/** Where a table's row elements sit along a layer input's last axis. */
interface TableColumns {
  table: WeightTarget;
  offset: number;
  width: number;
}

/**
 * The tables whose codes make up `value`, each with the columns of the last axis it fills:
 * one table through moves, or a Concat along the last axis of several (the generative
 * models' word rows, then the label embedding). Widths are the tables' last dimensions; the
 * caller checks that they add up to the layer's inputs. Null when any part is not codes.
 */
function tableColumns(value: Value, weights: ReadonlyMap<Value, WeightTarget>, hops = 0): TableColumns[] | null {
  const node: Node | null = value.producer;
  if (hops > 16 || !node || node.domain) return null;
  if (node.opType === "Concat") {
    const rank = value.shape?.length;
    const axis = node.getInt("axis", 0);
    // Only along the last axis (when the rank is known; else the width check decides).
    if (axis !== -1 && rank !== undefined && axis !== rank - 1) return null;
    const out: TableColumns[] = [];
    let offset = 0;
    for (const v of node.inputs) {
      const parts = v ? tableColumns(v, weights, hops + 1) : null;
      if (!parts) return null;
      for (const p of parts) out.push({ ...p, offset: offset + p.offset });
      offset += parts.reduce((n, p) => n + p.width, 0);
    }
    return out;
  }
  const table = directTable(node, weights);
  if (table) {
    const dims = table.value.initializer!.dims;
    return [{ table, offset: 0, width: dims[dims.length - 1] }];
  }
  const data = MOVES[node.opType];
  const from = data ? node.inputs[data[0]] : null;
  if (!from) return null;
  // Moves keep the last axis where it is, except a Transpose that moves it.
  if (node.opType === "Transpose") {
    const perm = node.getInts("perm");
    if (perm && perm[perm.length - 1] !== perm.length - 1) return null;
  }
  return tableColumns(from, weights, hops + 1);
}

/**
 * For `--embedding-gptq`: each quantized table whose gathered rows feed exactly one layer
 * with a planned weight (the embedding -> the LSTM's W), with the columns of W that read
 * them. A row's rounding error e reaches that layer's output as W[:, cols] e, so rounding the
 * row against H = W[:, cols]ᵀ W[:, cols] (summed over the LSTM's directions) is GPTQ with
 * the reading layer as its "data". A table read by several layers (a tied output projection)
 * is left out. Where the rows are concatenated with another input (the generative models'
 * label embedding), the columns are placed by the parts' widths, which must add up to W's
 * inputs; a wrong placement would only weaken the rounding, never change what the codes mean.
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
    const parts = tableColumns(x, byValue);
    if (!parts) continue;
    const view = matrixView(w.value.initializer!.dims, w.gptq.rule.layout);
    if (parts.reduce((n, p) => n + p.width, 0) !== view.cols) continue;
    for (const { table, offset, width } of parts) {
      // Only embedding tables (rows gathered from a matrix), not a weight moved whole.
      const gather = table.value.consumers[0];
      if (table.block || table.value.initializer!.dims.length !== 2 || gather?.opType !== "Gather") continue;
      const list = found.get(table) ?? [];
      list.push({ table, weight: w, layout: w.gptq.rule.layout, offset, width });
      found.set(table, list);
    }
  }
  return [...found.values()].filter((l) => l.length === 1 && l[0].table.value.consumers.length === 1).map((l) => l[0]);
}

/** H = Σ_b W_b[:, cols]ᵀ W_b[:, cols] over the matrices of the reading weight's view, cols = [offset, offset + width). */
export function readerHessian(weight: Float32Array, dims: readonly number[], layout: GptqRule["layout"], offset = 0, width?: number): Float64Array {
  const view = matrixView(dims, layout);
  const n = width ?? view.cols - offset;
  const H = new Float64Array(n * n);
  for (let b = 0; b < view.blocks; b++) {
    const W = readMatrix(weight, view, b);
    for (let r = 0; r < view.rows; r++) {
      const row = r * view.cols + offset;
      for (let i = 0; i < n; i++) {
        const wi = W[row + i];
        if (wi === 0) continue;
        for (let j = 0; j < n; j++) H[i * n + j] += wi * W[row + j];
      }
    }
  }
  return H;
}
