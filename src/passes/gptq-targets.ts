import type { Value } from "../graph/index.ts";
import type { WeightTarget } from "./quantize-weights.ts";

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

/** The planned weights whose one reader has a GPTQ view in the op table, with the input to observe. */
export function gptqTargets(weights: readonly WeightTarget[]): GptqTarget[] {
  const out: GptqTarget[] = [];
  for (const w of weights) {
    // A table's row view has no layer input to record (its H comes from the reading weight).
    if (!w.gptq) continue;
    const { rule, node } = w.gptq;
    const kind = rule.kind;
    if (kind === "table") continue;
    const input = "input" in rule.from ? node.inputs[rule.from.input] : node.outputs[rule.from.previousOutput];
    if (input) out.push({ weight: w.value, input, kind });
  }
  return out;
}
