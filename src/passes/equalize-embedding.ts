/**
 * Exact equalization of an embedding table and the LSTM input projection it feeds (the math
 * is src/quant/equalize.ts): E's column j is divided by s_j and W's input column j multiplied
 * by s_j. Applied only where that cannot change the float function: the looked-up rows reach
 * the LSTM's X with their columns in place (through Identity, Transposes that keep the last
 * axis, and Gathers of whole rows along another axis: the packed-sequence sort of the
 * bidirectional zoo model) and feed nothing else that reads values, and E and W are read by
 * nothing else.
 */
import { DataType, Tensor, type Model, type Node, type Value } from "../graph/index.ts";
import { columnAbsMax, equalizationScales, equalizeEmbedding, type EqualizationOptions } from "../quant/equalize.ts";
import type { Pass } from "./pass.ts";

export interface EqualizedPair {
  embedding: string;
  weight: string;
  /** Input columns whose scale is not 1. */
  scaled: number;
}

export interface EmbeddingEqualizationOptions extends EqualizationOptions {
  /**
   * max |x_j| per column of the LSTM input from calibration, by embedding name; by default the
   * table's own column maxima (which bound what the LSTM can see).
   */
  activationAbsMax?: (embedding: string) => ArrayLike<number> | undefined;
}

/** Ops that read only a tensor's shape, so scaling its values cannot reach them. */
const SHAPE_ONLY = new Set(["Shape", "Size"]);

export function equalizeEmbeddingPass(opts: EmbeddingEqualizationOptions = {}, report: EqualizedPair[] = []): Pass {
  return {
    name: "equalize-embedding",
    run(model: Model): boolean {
      let changed = false;
      for (const gather of model.graph.nodes.filter((n) => n.opType === "Gather" && !n.domain)) {
        const pair = equalizable(gather);
        if (!pair) continue;
        const { E, W } = pair;
        const [vocab, dim] = E.initializer!.dims;
        const rows = W.initializer!.dims[0] * W.initializer!.dims[1];
        const e = E.initializer!.data as Float32Array;
        const w = W.initializer!.data as Float32Array;
        const act = opts.activationAbsMax?.(E.name) ?? columnAbsMax(e, vocab, dim);
        const s = equalizationScales(act, columnAbsMax(w, rows, dim), opts);
        const scaled = s.filter((v) => v !== 1).length;
        if (scaled === 0) continue;
        const out = equalizeEmbedding(e, vocab, w, rows, dim, s);
        model.graph.setInitializer(E, Tensor.float32(E.name, [...E.initializer!.dims], out.embedding));
        model.graph.setInitializer(W, Tensor.float32(W.name, [...W.initializer!.dims], out.weights));
        report.push({ embedding: E.name, weight: W.name, scaled });
        changed = true;
      }
      return changed;
    },
  };
}

/** The embedding E and LSTM W a Gather links, when equalizing them is exact; else null. */
function equalizable(gather: Node): { E: Value; W: Value } | null {
  const E = gather.inputs[0];
  const t = E?.initializer;
  if (!E || !t || t.dataType !== DataType.FLOAT || t.dims.length !== 2 || E.consumers.length !== 1) return null;
  // The looked-up rows' rank: the ids' rank plus the feature axis, where the ids' shape is declared.
  const ids = gather.inputs[1]?.shape;
  const lstm = followColumns(gather.outputs[0], ids ? ids.length + 1 : undefined);
  const W = lstm?.inputs[1];
  const wt = W?.initializer;
  if (!lstm || !W || !wt || wt.dataType !== DataType.FLOAT || W.consumers.length !== 1 || wt.dims.length !== 3 || wt.dims[2] !== t.dims[1]) return null;
  if (lstm.getInt("layout", 0) !== 0) return null;
  return { E, W };
}

/**
 * The LSTM whose X receives `v`'s values with the last axis (the features) in place, or null.
 * `rank`: v's rank where known (a Gather needs it to tell its axis from the last one).
 */
function followColumns(v: Value | null | undefined, rank: number | undefined): Node | null {
  for (let hops = 0; v && hops < 8; hops++) {
    if (v.isGraphOutput) return null;
    const readers = v.consumers.filter((n) => !SHAPE_ONLY.has(n.opType));
    if (readers.length !== 1 || readers[0].domain) return null;
    const n = readers[0];
    if (n.opType === "LSTM") return n.inputs[0] === v && n.inputs.indexOf(v) === n.inputs.lastIndexOf(v) ? n : null;
    if (n.opType === "Identity") {
      v = n.outputs[0];
      continue;
    }
    if (n.opType === "Gather") {
      // Whole rows picked along an axis other than the features': columns stay in place.
      // The output's rank depends on the indices', unknown here: a later Gather bails out.
      const axis = n.getInt("axis", 0);
      if (rank === undefined || n.inputs[0] !== v || n.inputs[1] === v || axis < -rank || (axis < 0 ? axis + rank : axis) >= rank - 1) return null;
      v = n.outputs[0];
      rank = undefined;
      continue;
    }
    const perm = n.opType === "Transpose" ? n.getInts("perm") : undefined;
    if (!perm || perm[perm.length - 1] !== perm.length - 1) return null;
    rank = perm.length;
    v = n.outputs[0];
  }
  return null;
}
