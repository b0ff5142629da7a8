import type { Node, Value } from "../graph/index.ts";
import type { RewriteRule } from "../passes/rewrite.ts";
import { MS_DOMAIN, constantNumbers } from "./common.ts";
import { probeValue } from "./shape-probe.ts";

interface PackedSortMatch {
  topk: Node;
  /** Gather(data, perm): the rows put in order of decreasing length. */
  sorts: Node[];
  /** Gather(data, inverse perm): the rows put back. */
  unsorts: Node[];
}

/** Two unrelated batch sizes: a shape-driven answer that holds for both is taken as fixed. */
const PROBES = [3, 7];

const isLstm = (n: Node): boolean => (n.opType === "LSTM" && !n.domain) || (n.opType === "DynamicQuantizeLSTM" && n.domain === MS_DOMAIN);

/** `v` and the values Cast (or Identity) makes of it, transitively. */
function withCasts(v: Value): Value[] {
  const out = [v];
  for (let i = 0; i < out.length; i++) {
    for (const n of out[i].consumers) if ((n.opType === "Cast" || n.opType === "Identity") && !n.domain && n.graph === v.graph) out.push(n.outputs[0]!);
  }
  return out;
}

/** Ops of one input that map each element alone. */
const ELEMENTWISE = new Set(["Cast", "Identity", "Relu", "Tanh", "Sigmoid", "Neg", "Abs"]);

/** The LSTM inputs that carry rows (X, initial_h, initial_c) and their batch axis (layout 0). */
const LSTM_ROW_INPUTS = new Map([
  [0, 1],
  [5, 1],
  [6, 1],
]);

/**
 * Removes the sort and unsort of a PyTorch `pack_padded_sequence` export around its LSTMs:
 *
 *   perm = TopK(lengths, k = batch).indices; rows = Gather(x, perm); LSTM(..., sequence_lens =
 *   TopK.values); out = Gather(y, ScatterElements(_, perm, Range(0, batch)))
 *
 * The rows between the two Gathers go only through ops that treat every row alone (the LSTM,
 * given each row's length as sequence_lens; Transpose, Reshape and Slice that keep the batch
 * axis; Concat along another axis; Cast and per-tensor Q/DQ), so permuting the rows before
 * them and un-permuting after is the identity: the rule reads x, the lengths and y instead.
 * DynamicQuantizeLSTM's dynamic ranges are a minimum and maximum over the rows (those still
 * running at each step), the same set in any order; the int8 products are exact. Any other
 * reader of the sorted rows, a sorted value that is a graph output, or an LSTM reading the
 * sorted lengths with unsorted rows leaves the export as it was, with the reason.
 */
export function packedSortRule(): RewriteRule<PackedSortMatch> {
  return {
    name: "packed-sequence-sort-removed",
    anchor: "TopK",
    match(topk) {
      const g = topk.graph;
      const lens = topk.inputs[0];
      const root = lens?.producer?.opType === "Cast" ? lens.producer.inputs[0] : lens;
      if (!lens || !root?.isGraphInput || root.shape?.length !== 1) return "does not sort a [batch] graph input (the lengths)";
      const axis = topk.getInt("axis", -1);
      if (axis !== -1 && axis !== 0) return "sorts along an axis other than the lengths' only one";
      // k must be the batch size: then the indices are a permutation of 0..batch-1.
      for (const b of PROBES) {
        const k = probeValue(topk.inputs[1] ?? null, new Map([[lens, [b]]]));
        if (k?.data.length !== 1 || k.data[0] !== b) return "k is not the number of rows (the indices are not a permutation)";
      }
      const [values, indices] = topk.outputs;
      if (!indices) return "its indices are not read";
      const perm = new Set(withCasts(indices));
      const sorts: Node[] = [];
      const inverses: Value[] = [];
      for (const v of perm) {
        for (const n of v.consumers) {
          if (n.graph !== g) return `${n.label} reads the permutation inside a subgraph`;
          if (perm.has(n.outputs[0]!) || n.opType === "Shape") continue;
          if (n.opType === "Gather" && !n.domain && n.inputs[1] === v && !perm.has(n.inputs[0]!)) {
            sorts.push(n);
            continue;
          }
          if (n.opType === "ScatterElements" && !n.domain && n.inputs[1] === v && n.getInt("axis", 0) === 0) {
            const why = inverseReason(n, v);
            if (why) return why;
            inverses.push(...withCasts(n.outputs[0]!));
            continue;
          }
          return `${n.label} reads the permutation: not a Gather of rows or its inverse`;
        }
      }
      if (!sorts.length) return "no rows are gathered in sorted order";
      const inv = new Set(inverses);
      const unsorts: Node[] = [];
      for (const v of inv) {
        for (const n of v.consumers) {
          if (inv.has(n.outputs[0]!) || n.opType === "Shape") continue;
          if (n.opType === "Gather" && !n.domain && n.inputs[1] === v && n.graph === g) unsorts.push(n);
          else return `${n.label} reads the inverse permutation: not a Gather of rows`;
        }
      }
      // The sorted lengths may only be the sequence_lens of LSTMs in the sorted region.
      const sortedLens = new Set(values ? withCasts(values) : []);
      const lstmsOnLens = new Set<Node>();
      for (const v of sortedLens) {
        for (const n of v.consumers) {
          if (sortedLens.has(n.outputs[0]!)) continue;
          if (isLstm(n) && n.inputs[4] === v && n.inputs.indexOf(v) === 4) lstmsOnLens.add(n);
          else return `${n.label} reads the sorted lengths: not an LSTM's sequence_lens`;
        }
      }

      // Walk the sorted rows forward, keeping each value's batch axis, up to the unsorts.
      const axisOf = new Map<Value, number>();
      const unsortSet = new Set(unsorts);
      const region = new Set<Node>();
      const lstms = new Set<Node>();
      const queue: Value[] = [];
      const tag = (v: Value, a: number): string | null => {
        const had = axisOf.get(v);
        if (had !== undefined) return had === a ? null : `${v.name} has its rows along two axes`;
        if (v.isGraphOutput) return `the sorted value ${v.name} is a graph output`;
        axisOf.set(v, a);
        queue.push(v);
        return null;
      };
      for (const s of sorts) {
        const rank = s.inputs[0]!.shape?.length;
        let a = s.getInt("axis", 0);
        if (a < 0) {
          if (rank === undefined) return `${s.label} gathers along a negative axis of unknown rank`;
          a += rank;
        }
        const why = tag(s.outputs[0]!, a);
        if (why) return why;
      }
      while (queue.length) {
        const v = queue.shift()!;
        const a = axisOf.get(v)!;
        for (const n of v.consumers) {
          if (n.graph !== g) return `${n.label} reads the sorted rows inside a subgraph`;
          if (n.opType === "Shape" && !n.domain) continue; // a shape does not depend on the rows' order
          if (unsortSet.has(n)) {
            if (n.inputs[0] !== v || n.getInt("axis", 0) !== a) return `${n.label} puts back rows along axis ${n.getInt("axis", 0)}, not their axis ${a}`;
            continue;
          }
          const out = (i: number, axis: number): string | null => (n.outputs[i] ? tag(n.outputs[i]!, axis) : null);
          let why: string | null = null;
          region.add(n);
          if (isLstm(n)) {
            if (n.getInt("layout", 0) !== 0) return `${n.label} is batch-first (layout=1)`;
            const slot = n.inputs.indexOf(v);
            if (LSTM_ROW_INPUTS.get(slot) !== a) return `${n.label} reads the sorted rows as input ${slot} along axis ${a}`;
            lstms.add(n);
            why = out(0, 2) ?? out(1, 1) ?? out(2, 1);
          } else if (n.domain) {
            return `${n.label} reads the sorted rows: not known to keep rows independent`;
          } else if (ELEMENTWISE.has(n.opType)) {
            why = out(0, a);
          } else if (n.opType === "Clip" && n.inputs[0] === v) {
            // Scalar constant bounds (the 8-bit activations' clip): each element alone.
            if ([1, 2].some((i) => n.inputs[i] && constantNumbers(n.inputs[i])?.length !== 1)) return `${n.label} has non-scalar or non-constant bounds`;
            why = out(0, a);
          } else if ((n.opType === "QuantizeLinear" || n.opType === "DequantizeLinear") && n.inputs[0] === v) {
            // Per tensor only: a per-channel scale along the batch axis would follow the rows.
            const size = (x: Value | null | undefined) => (x ? (constantNumbers(x)?.length ?? -1) : 1);
            if (size(n.inputs[1]) !== 1 || size(n.inputs[2]) !== 1) return `${n.label} has non-scalar or non-constant scales`;
            why = out(0, a);
          } else if (n.opType === "Transpose") {
            const perm = n.getInts("perm");
            if (!perm) return `${n.label} has no perm`;
            why = out(0, perm.indexOf(a));
          } else if (n.opType === "Reshape" && n.inputs[0] === v) {
            // Dims up to and including the batch axis copied (0): the rows stay on that axis.
            const shape = constantNumbers(n.inputs[1]);
            if (!shape || n.getInt("allowzero", 0) !== 0 || shape.slice(0, a + 1).some((d) => d !== 0)) return `${n.label} may move the batch axis (its shape is not 0 up to axis ${a})`;
            why = out(0, a);
          } else if (n.opType === "Slice" && n.inputs[0] === v) {
            const axes = constantNumbers(n.inputs[3]);
            if (!axes || axes.some((x) => x < 0 || x === a) || [1, 2, 4].some((i) => n.inputs[i] && !constantNumbers(n.inputs[i]))) return `${n.label} may slice the batch axis`;
            why = out(0, a);
          } else if (n.opType === "Concat") {
            const ax = n.getInt("axis", 0);
            if (ax < 0 || ax === a) return `${n.label} concatenates along the batch axis (or a negative axis)`;
            why = out(0, a);
          } else {
            return `${n.label} reads the sorted rows: not known to keep rows independent`;
          }
          if (why) return why;
        }
      }
      // Every input of a region node is sorted rows or does not depend on the rows at all.
      for (const n of region) {
        const rowInputs = isLstm(n) ? [...LSTM_ROW_INPUTS.keys()] : n.opType === "Concat" ? n.inputs.map((_, i) => i) : [0];
        for (const i of rowInputs) {
          const x = n.inputs[i];
          if (x && !axisOf.has(x)) return `${n.label} mixes sorted rows with ${x.name}, which is not sorted`;
        }
        if (isLstm(n) && !n.inputs[0]) return `${n.label} has no input rows`;
        if (isLstm(n) && !(n.inputs[4] && sortedLens.has(n.inputs[4]))) return `${n.label} does not read the sorted lengths as sequence_lens`;
      }
      for (const n of lstmsOnLens) if (!lstms.has(n)) return `${n.label} reads the sorted lengths but not sorted rows`;
      if (!lstms.size) return "no LSTM reads the sorted rows";
      if (!unsorts.length) return "the rows are never put back in their order";
      // Every sort feeds an LSTM, which holds its rows to sequence_lens' length (the batch):
      // so each gathered tensor has exactly batch rows along its axis, and dropping the Gather
      // keeps its shape.
      for (const s of sorts) if (!reaches(s.outputs[0]!, axisOf, lstms)) return `${s.label}'s rows reach no LSTM`;
      return { topk, sorts, unsorts };
    },
    apply({ topk, sorts, unsorts }) {
      for (const n of [...sorts, ...unsorts]) n.outputs[0]!.replaceAllUsesWith(n.inputs[0]!);
      // The lengths in their own order; TopK's values have the lengths' type.
      topk.outputs[0]?.replaceAllUsesWith(topk.inputs[0]!);
    },
  };
}

/** Why ScatterElements(data, perm, updates) is not perm's inverse (updates = Range(0, batch, 1)), or null. */
function inverseReason(scatter: Node, perm: Value): string | null {
  const range = scatter.inputs[2]?.producer;
  if (range?.opType !== "Range" || range.domain) return `${scatter.label} scatters something other than Range(0, batch)`;
  if (constantNumbers(range.inputs[0])?.join() !== "0" || constantNumbers(range.inputs[2])?.join() !== "1") return `${scatter.label}: the Range does not start at 0 with step 1`;
  for (const b of PROBES) {
    const limit = probeValue(range.inputs[1] ?? null, new Map([[perm, [b]]]));
    if (limit?.data.length !== 1 || limit.data[0] !== b) return `${scatter.label}: the Range does not end at the number of rows`;
  }
  // Data: [batch] of anything (every position is written, perm being a permutation).
  for (const b of PROBES) {
    const shape = scatter.inputs[0]?.producer?.opType === "ConstantOfShape" ? probeValue(scatter.inputs[0]!.producer!.inputs[0] ?? null, new Map([[perm, [b]]])) : null;
    if (shape?.data.join() !== `${b}`) return `${scatter.label} does not scatter into [batch]`;
  }
  return null;
}

function reaches(v: Value, axisOf: Map<Value, number>, lstms: Set<Node>): boolean {
  const seen = new Set<Value>([v]);
  const queue = [v];
  while (queue.length) {
    for (const n of queue.shift()!.consumers) {
      if (lstms.has(n)) return true;
      for (const o of n.outputs) if (o && axisOf.has(o) && !seen.has(o)) (seen.add(o), queue.push(o));
    }
  }
  return false;
}
