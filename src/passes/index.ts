import type { Model, Value } from "../graph/index.ts";
import { cleanupPass, PassManager, type Pass } from "./pass.ts";
import { upgradeOpsetPass } from "./opset.ts";
import { quantizeActivationsPass } from "./quantize-activations.ts";
import { quantizeWeightsPass, type Hessians } from "./quantize-weights.ts";
import type { QuantPolicy, QuantReport } from "./policy.ts";
import { decomposeLstm } from "./decompose-lstm.ts";
import { lstmInternals, type LstmRole } from "./lstm-internals.ts";
import { gatherQuantizedRule } from "./gather-quantized.ts";
import { rulePass } from "./rewrite.ts";
import { equalizeEmbeddingPass, type EqualizedPair } from "./equalize-embedding.ts";

export { cleanupPass, PassManager, type Pass, type PassResult } from "./pass.ts";
export { upgradeOpsetPass } from "./opset.ts";
export { UnsupportedLstmError, decomposeLstm, decomposeLstmPass } from "./decompose-lstm.ts";
export { LSTM_ROLES, lstmInternals, type LstmInternals, type LstmRole } from "./lstm-internals.ts";
export { activationTargets, activationTargetsPass, quantizeActivationsPass, type ActivationTarget } from "./quantize-activations.ts";
export { planWeights, quantizeWeightsPass, weightTargetsPass, type Hessians, type NearestCodes, type WeightPlan, type WeightTarget } from "./quantize-weights.ts";
export { OPS, PASS_THROUGH, activationSlots, matrixRowAxis, ruleFor, type GptqRule, type GptqLayout, type OpRule } from "./ops.ts";
export { gptqTargets, type GptqTarget } from "./gptq-targets.ts";
export { biasCorrectionPass, type InputMeans } from "./bias-correct.ts";
export * from "./policy.ts";
export { gatherQuantizedRule } from "./gather-quantized.ts";
export { gatheredTable, readerHessian, splitGatheredCodes, tableReaders, type GatheredCodes, type TableReader } from "./gathered-codes.ts";
export { rulePass, type RewriteRule, type RuleOutcome } from "./rewrite.ts";
export { equalizeEmbeddingPass, type EmbeddingEqualizationOptions, type EqualizedPair } from "./equalize-embedding.ts";

/** The default-domain opset a policy needs: per-channel DequantizeLinear 13, INT4 and blocked scales 21. */
export function requiredOpset(model: Model, policy: QuantPolicy): number {
  const current = model.opset("") ?? 13;
  const packs = policy.packInt4 && Math.min(policy.wbits, ...[...Object.values(policy.byOpType), ...Object.values(policy.byNode)].map((o) => o.wbits ?? 8)) <= 4;
  return Math.max(current, 13, packs || policy.groupSize !== undefined ? 21 : 0);
}

/** The decomposed LSTM tensors quantized every step, as Brevitas' QuantLSTM does. */
export const QUANTIZED_LSTM_ROLES: readonly LstmRole[] = ["gates", "gates_i", "gates_f", "gates_o", "i", "f", "o", "g", "c", "c_act", "h"];

/** The internal LSTM tensors a policy quantizes (none unless `lstmInternals`). */
export function lstmInternalTargets(model: Model, policy: QuantPolicy): Value[] {
  if (!policy.lstmInternals) return [];
  return lstmInternals(model).flatMap((l) => l.tensors.filter((t) => QUANTIZED_LSTM_ROLES.includes(t.role)).map((t) => t.value));
}

/**
 * Passes that change the graph before calibration (so that calibration sees the tensors that
 * will be quantized): the opset upgrade, with `equalize` the exact embedding equalization (the
 * pairs it scaled pushed onto `equalized`; before decomposition, which removes the LSTM op it
 * looks for) and, with `lstmInternals`, LSTM decomposition.
 */
export function preparationPasses(model: Model, policy: QuantPolicy, equalized: EqualizedPair[] = []): Pass[] {
  return [
    upgradeOpsetPass(requiredOpset(model, policy)),
    ...(policy.equalize ? [equalizeEmbeddingPass({ alpha: policy.equalizeAlpha }, equalized)] : []),
    ...(policy.lstmInternals ? [decomposeLstm()] : []),
  ];
}

export interface PipelineOptions {
  /** Extra activations to quantize (the decomposed LSTM's internals), found after earlier passes. */
  internals?: (model: Model) => Value[];
  /** Passes to run before quantization (LSTM decomposition). */
  before?: Pass[];
  /** Layer-input second moments for GPTQ rounding of the weights that have them. */
  hessians?: Hessians;
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
    ...preparationPasses(model, policy),
    ...(opts.before ?? []),
    quantizeWeightsPass(policy, report, opts.hessians),
    rulePass(gatherQuantizedRule),
    quantizeActivationsPass(policy, ranges, report, opts.internals ?? ((m) => lstmInternalTargets(m, policy))),
    cleanupPass,
  ]);
}
