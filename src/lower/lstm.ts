import { Builder, DataType, Tensor, type Node, type Value } from "../graph/index.ts";
import type { RewriteRule } from "../passes/rewrite.ts";
import { weightOf, type QuantizedWeight } from "../quant/qdq.ts";
import { MS_DOMAIN, centered, channelScale, unsupportedWeight, type LowerContext } from "./common.ts";

interface LstmMatch {
  lstm: Node;
  w: QuantizedWeight;
  r: QuantizedWeight;
}

/** Ops whose output elements are some of their first input's (or zero casts of them). */
const SELECTING = new Set(["Slice", "Gather", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Expand", "Cast"]);

/**
 * Whether a value is all zeros: a ConstantOfShape of 0 (its default) or an all-zero
 * initializer, or a selection of one (the packed-sequence export slices each layer's zero
 * state out of one ConstantOfShape).
 */
function isZeros(v: Value | null): boolean {
  if (!v) return false;
  if (v.initializer) return v.initializer.toNumbers().every((x) => x === 0);
  const p = v.producer;
  if (p && !p.domain && SELECTING.has(p.opType) && p.outputs[0] === v) return isZeros(p.inputs[0] ?? null);
  if (!p || p.opType !== "ConstantOfShape" || p.domain) return false;
  const value = p.getTensor("value");
  return !value || value.toNumbers().every((x) => x === 0);
}

/** LSTM attributes DynamicQuantizeLSTM shares (it has no `layout`). */
const SHARED_ATTRIBUTES = ["direction", "hidden_size", "activations", "activation_alpha", "activation_beta", "clip", "input_forget"];

/**
 * LSTM with quantized W and R -> com.microsoft.DynamicQuantizeLSTM. The kernel multiplies
 * int8 weights by activations it quantizes to 8 bits itself, every step, and takes one scale
 * per direction ([num_directions]) or per gate row ([num_directions, 4*hidden]) with zero
 * point 0 for int8; W and R are stored transposed, [num_directions, input, 4*hidden]. The
 * n-bit codes keep their grid in int8 storage, so the weights are exactly the Q/DQ model's.
 * Asymmetric codes are stored as q - z with zero point 0 (the kernel takes int8 weights only
 * with zero points all 0, or uint8 with one zero point for every channel), which fits int8 up
 * to 7 bits; blocked scales stay Q/DQ (the kernel takes one scale per gate row).
 */
export function lstmRule(ctx: LowerContext): RewriteRule<LstmMatch> {
  return {
    name: "lstm-to-dynamic-quantize-lstm",
    anchor: "LSTM",
    match(lstm) {
      const w = weightOf(ctx.qdq, lstm.inputs[1] ?? null);
      const r = weightOf(ctx.qdq, lstm.inputs[2] ?? null);
      if (!w && !r) return "W and R are float";
      if (!w || !r) return `only ${w ? "W" : "R"} is quantized; DynamicQuantizeLSTM needs both`;
      if (lstm.getInt("layout", 0) !== 0) return "layout=1 (batch first): DynamicQuantizeLSTM has no layout attribute";
      for (const q of [w, r]) {
        const why = unsupportedWeight(q, "DynamicQuantizeLSTM", "gate row");
        if (why) return why;
        if (q.dims.length !== 3) return `${q.name} is not [num_directions, 4*hidden, size]`;
        if (q.axis !== null && q.axis !== 1) return `${q.name} has scales along axis ${q.axis}, not per gate row`;
      }
      return { lstm, w, r };
    },
    apply({ lstm, w, r }) {
      const b = new Builder(lstm.graph);
      const [dirs, gates] = w.dims;
      const transposed = (original: QuantizedWeight, label: string) => {
        const q = centered(original);
        const [, rows, cols] = q.dims;
        const codes = new Int8Array(q.codes.length);
        // [dirs, 4H, cols] -> [dirs, cols, 4H]
        for (let d = 0; d < dirs; d++) for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) codes[(d * cols + c) * rows + r] = q.codes[(d * rows + r) * cols + c];
        const scales = new Float32Array(dirs * gates);
        for (let d = 0; d < dirs; d++) for (let c = 0; c < gates; c++) scales[d * gates + c] = channelScale(q, 1, c);
        // One scale per direction when the Q/DQ model has one (per-tensor weights), and the zero
        // points (all 0) per direction where that is exact: the kernel takes both shapes, and the
        // per-direction ones measured faster (spam-disc, batch 1, 112 steps: zero points 2 %,
        // scales 8 %). Not per-direction zero points beside per-row scales in a bidirectional
        // LSTM: onnxruntime 1.30 then computes the second direction wrongly (scores off by units).
        const oneScale = Array.from({ length: dirs }, (_, d) => scales.subarray(d * gates, (d + 1) * gates).every((s) => s === scales[d * gates])).every(Boolean);
        const zeroPointDims = oneScale || dirs === 1 ? [dirs] : [dirs, gates];
        return [
          b.initializer(Tensor.fromData(`${q.name}_int8`, DataType.INT8, [dirs, cols, rows], codes)),
          oneScale
            ? b.initializer(Tensor.fromData(`${q.name}_${label}_scale`, DataType.FLOAT, [dirs], Float32Array.from({ length: dirs }, (_, d) => scales[d * gates])))
            : b.initializer(Tensor.fromData(`${q.name}_${label}_scale`, DataType.FLOAT, [dirs, gates], scales)),
          b.initializer(Tensor.fromData(`${q.name}_${label}_zero_point`, DataType.INT8, zeroPointDims, new Int8Array(dirs * (zeroPointDims[1] ?? 1)))),
        ];
      };
      const [wq, ws, wz] = transposed(w, "W");
      const [rq, rs, rz] = transposed(r, "R");
      // Zero initial states are the kernel's default: dropping them frees the Shape/Gather/Concat/
      // ConstantOfShape chain exporters build for them, a measurable share of a batch-1 run.
      const state = (i: number) => (isZeros(lstm.inputs[i] ?? null) ? null : (lstm.inputs[i] ?? null));
      const inputs = [lstm.inputs[0] ?? null, wq, rq, lstm.inputs[3] ?? null, lstm.inputs[4] ?? null, state(5), state(6), lstm.inputs[7] ?? null, ws, wz, rs, rz];
      const node = b.replace(lstm, "DynamicQuantizeLSTM", inputs, { domain: MS_DOMAIN, keep: SHARED_ATTRIBUTES });
      ctx.lowered.set(node, {
        from: "LSTM",
        weights: [w, r].map((q) => ({ name: q.name, bits: q.bits, storage: q.zeroPoints.some((z) => z !== 0) ? "int8 (q - z, zero point 0)" : "int8" })),
      });
    },
  };
}
