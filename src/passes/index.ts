import type { Model, Value } from "../graph/index.ts";
import { cleanupPass, PassManager, type Pass } from "./pass.ts";
import { upgradeOpsetPass } from "./opset.ts";
import { quantizeActivationsPass } from "./quantize-activations.ts";
import { quantizeWeightsPass } from "./quantize-weights.ts";
import type { QuantPolicy, QuantReport } from "./policy.ts";

export { cleanupPass, PassManager, type Pass, type PassResult } from "./pass.ts";
export { upgradeOpsetPass } from "./opset.ts";
export { activationTargets, quantizeActivationsPass, type ActivationTarget } from "./quantize-activations.ts";
export { quantizeWeightsPass } from "./quantize-weights.ts";
export * from "./policy.ts";

/** The default-domain opset a policy needs: per-channel DequantizeLinear 13, INT4 21. */
export function requiredOpset(model: Model, policy: QuantPolicy): number {
  const current = model.opset("") ?? 13;
  const packs = policy.packInt4 && Math.min(policy.wbits, ...Object.values(policy.byOpType).map((o) => o.wbits ?? 8)) <= 4;
  return Math.max(current, 13, packs ? 21 : 0);
}

export interface PipelineOptions {
  /** Extra activations to quantize (the decomposed LSTM's internals), found after earlier passes. */
  internals?: (model: Model) => Value[];
  /** Passes to run before quantization (LSTM decomposition). */
  before?: Pass[];
}

/** The passes `quantize` runs, in order. */
export function quantizationPipeline(
  model: Model,
  policy: QuantPolicy,
  ranges: ReadonlyMap<string, readonly [number, number]>,
  report: QuantReport,
  opts: PipelineOptions = {},
): PassManager {
  return new PassManager([
    upgradeOpsetPass(requiredOpset(model, policy)),
    ...(opts.before ?? []),
    quantizeWeightsPass(policy, report),
    quantizeActivationsPass(policy, ranges, report, opts.internals),
    cleanupPass,
  ]);
}
