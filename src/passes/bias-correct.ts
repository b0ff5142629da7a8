/**
 * Bias correction as a pass: after the weight pass put a weight on its grid, the layer's
 * output shifts on average by (W - Q(W)) E[x]; this folds that shift into the bias the layer
 * adds (Nagel et al. 2019; src/quant/bias-correction.ts has the math). Where it lands:
 * - LSTM W and R: the input part Wb and the recurrent part Rb of B, per direction (R's mean
 *   input is the previous hidden state, the zero initial state counted);
 * - Gemm: C, scaled by alpha / beta;
 * - MatMul: the initializer of the one Add that reads its output (a PyTorch Linear).
 * A missing LSTM B or Gemm C is created; a weight with nowhere to put it is reported as skipped.
 * The quantized weight is read back through the one Q/DQ reader, so the correction matches
 * what onnxruntime computes.
 */
import { DataType, Tensor, type Graph, type Node, type Value } from "../graph/index.ts";
import { meanOutputShift } from "../quant/bias-correction.ts";
import { matrixView, readMatrix } from "../quant/layout.ts";
import { dequantize, readQdq } from "../quant/qdq.ts";
import type { Pass } from "./pass.ts";
import type { QuantReport } from "./policy.ts";
import type { WeightTarget } from "./quantize-weights.ts";

/** Per weight, the mean of its layer's inputs (one per LSTM direction for R, or one for all). */
export type InputMeans = ReadonlyMap<string, readonly ArrayLike<number>[]>;

/**
 * The pass. `floats` holds each target's float values (the weight pass has replaced them by
 * a DequantizeLinear by the time this runs); weights without a mean or a GPTQ view are left alone.
 */
export function biasCorrectionPass(targets: readonly WeightTarget[], floats: ReadonlyMap<string, ArrayLike<number>>, means: InputMeans, report: QuantReport): Pass {
  return {
    name: "bias-correction",
    run(model) {
      const qdq = readQdq(model);
      let changed = false;
      for (const t of targets) {
        const mean = means.get(t.value.name);
        const float = floats.get(t.value.name);
        if (!t.gptq || !mean || !float) continue;
        const q = qdq.weights.find((w) => w.name === t.value.name && w.form === "dequantize");
        if (!q) continue;
        const { rule, node } = t.gptq;
        const view = matrixView(q.dims, rule.layout);
        const quantized = dequantize(q);
        const shifts: Float64Array[] = [];
        for (let b = 0; b < view.blocks; b++) {
          const m = mean[Math.min(b, mean.length - 1)];
          if (m.length !== view.cols) throw new Error(`bias correction: the mean input of '${t.value.name}' has ${m.length} values, the layer ${view.cols} inputs`);
          shifts.push(meanOutputShift(readMatrix(float, view, b), readMatrix(quantized, view, b), view.rows, view.cols, m));
        }
        const where = rule.kind === "lstm-w" || rule.kind === "lstm-r" ? correctLstm(node, rule.kind, shifts) : rule.kind === "gemm" ? correctGemm(node, shifts[0]) : correctMatMul(node, shifts[0]);
        report.biasCorrection.push({ weight: t.value.name, ...where });
        changed ||= where.bias !== null;
      }
      return changed;
    },
  };
}

type Where = { bias: string; reason?: undefined } | { bias: null; reason: string };

/** B [dirs, 8H]: Wb is the first 4H of each direction, Rb the last 4H. */
function correctLstm(node: Node, kind: "lstm-w" | "lstm-r", shifts: Float64Array[]): Where {
  const dirs = shifts.length;
  const G = shifts[0].length;
  const B = ownBias(node, 3, [dirs, 2 * G], "B");
  if (typeof B === "string") return { bias: null, reason: B };
  const data = Float32Array.from(B.initializer!.data as Float32Array);
  if (data.length !== dirs * 2 * G) return { bias: null, reason: `B has ${data.length} values, not ${dirs} x ${2 * G}` };
  const offset = kind === "lstm-w" ? 0 : G;
  for (let d = 0; d < dirs; d++) for (let g = 0; g < G; g++) data[d * 2 * G + offset + g] += shifts[d][g];
  setData(B, data);
  return { bias: B.name };
}

/** Y = alpha A B + beta C: C gains alpha / beta times the shift. */
function correctGemm(node: Node, shift: Float64Array): Where {
  const alpha = node.getFloat("alpha", 1) ?? 1;
  const beta = node.getFloat("beta", 1) ?? 1;
  if (beta === 0) return { bias: null, reason: "Gemm has beta 0, so C cannot carry it" };
  const C = ownBias(node, 2, [shift.length], "C");
  if (typeof C === "string") return { bias: null, reason: C };
  return addShift(C, shift, alpha / beta);
}

/** A MatMul whose output only an Add with a constant of the output width reads (a Linear's bias). */
function correctMatMul(node: Node, shift: Float64Array): Where {
  const y = node.outputs[0];
  const add = y?.consumers.length === 1 && !y.isGraphOutput ? y.consumers[0] : null;
  if (!add || add.opType !== "Add" || add.domain) return { bias: null, reason: "no Add after the MatMul to carry it" };
  const other = add.inputs[0] === y ? add.inputs[1] : add.inputs[0];
  if (!other?.initializer || other.consumers.length !== 1) return { bias: null, reason: "the Add after the MatMul has no bias of its own" };
  return addShift(other, shift, 1);
}

/** Adds `scale` x shift to a bias whose last axis is the layer's outputs (and nothing else). */
function addShift(bias: Value, shift: Float64Array, scale: number): Where {
  const t = bias.initializer!;
  if (t.dataType !== DataType.FLOAT || t.dims.reduce((a, b) => a * b, 1) !== shift.length || t.dims[t.dims.length - 1] !== shift.length) {
    return { bias: null, reason: `the bias '${bias.name}' is not a float vector of the ${shift.length} outputs` };
  }
  const data = Float32Array.from(t.data as Float32Array, (v, i) => v + scale * shift[i]);
  setData(bias, data);
  return { bias: bias.name };
}

/** The node's own float bias initializer in `slot`, created as zeros when the slot is empty; or why not. */
function ownBias(node: Node, slot: number, dims: number[], what: string): Value | string {
  const v = node.inputs[slot] ?? null;
  if (!v) {
    const g: Graph = node.graph;
    const created = g.addInitializer(Tensor.float32(g.uniqueName(`${node.name || node.opType}_${what}_corrected`), dims, new Float32Array(dims.reduce((a, b) => a * b, 1))));
    node.setInput(slot, created);
    return created;
  }
  if (!v.initializer || v.initializer.dataType !== DataType.FLOAT) return `${what} is not a float constant`;
  if (v.consumers.length !== 1) return `${what} '${v.name}' is shared with other nodes`;
  return v;
}

function setData(v: Value, data: Float32Array): void {
  v.graph.setInitializer(v, Tensor.float32(v.name, [...v.initializer!.dims], data));
}
