import type { Model, Value } from "../graph/index.ts";

/**
 * A weight that error-compensating rounding can treat, with the activation whose second
 * moment (the layer Hessian) it needs. `lstm-r`: the input is the LSTM's Y output, from which
 * each direction's previous hidden states are taken.
 */
export interface GptqTarget {
  weight: Value;
  input: Value;
  kind: "matmul" | "gemm" | "lstm-w" | "lstm-r";
}

/** Weights read by exactly one MatMul, Gemm or LSTM whose input can be observed in calibration. */
export function gptqTargets(model: Model): GptqTarget[] {
  const out: GptqTarget[] = [];
  for (const g of model.graphs()) {
    for (const weight of g.initializers) {
      const t = weight.initializer!;
      if (t.dims.length < 2 || weight.consumers.length !== 1) continue;
      const node = weight.consumers[0];
      const slot = node.inputs.indexOf(weight);
      if (node.domain) continue;
      if (node.opType === "MatMul" && slot === 1 && t.dims.length === 2 && node.inputs[0]) {
        out.push({ weight, input: node.inputs[0], kind: "matmul" });
      } else if (node.opType === "Gemm" && slot === 1 && node.inputs[0] && node.getInt("transA", 0) === 0) {
        out.push({ weight, input: node.inputs[0], kind: "gemm" });
      } else if (node.opType === "LSTM" && node.getInt("layout", 0) === 0 && node.inputs[0]) {
        if (slot === 1) out.push({ weight, input: node.inputs[0], kind: "lstm-w" });
        // R reads the previous hidden states: Y shifted by a step. The initial state counts as
        // zeros (what PyTorch exports feed); a non-zero one would only be missing from the moments.
        const y = node.outputs[0];
        if (slot === 2 && y) out.push({ weight, input: y, kind: "lstm-r" });
      }
    }
  }
  return out;
}
