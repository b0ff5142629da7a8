/**
 * The first stage (TVM's "annotate"): what a policy quantizes in a model, decided once, on
 * the graph that calibration will run and realize will rewrite.
 */
import type { Model, Value } from "../graph/index.ts";
import {
  PassManager,
  activationTargets,
  gptqTargets,
  lstmInternalTargets,
  planWeights,
  preparationPasses,
  splitGatheredCodes,
  type GatheredCodes,
  type ActivationTarget,
  type GptqTarget,
  type QuantPolicy,
  type QuantReport,
  type WeightTarget,
  type EqualizedPair,
} from "../passes/index.ts";
import { copyModel } from "./copy.ts";

export interface QuantPlan {
  policy: QuantPolicy;
  /**
   * The prepared float model (opset raised for the policy, LSTMs decomposed when it quantizes
   * their internals): calibration runs it, realize copies and rewrites it. Targets point into it.
   */
  model: Model;
  /** Weights with width, channel axis and GPTQ view (ops.ts). */
  weights: WeightTarget[];
  /** Activations with width and the input slots that will read the quantized copy. */
  activations: ActivationTarget[];
  /** The decomposed LSTMs' gates, cell and hidden state (also in `activations`). */
  internals: Value[];
  /** Weights rounded with GPTQ or GPFQ and the inputs whose moments calibration records (not for nearest). */
  gptq: GptqTarget[];
  /** With bias correction: the weights whose layer-input means calibration records. */
  means: GptqTarget[];
  /** With `gatherPassThrough`: activations left as the codes of the table they were gathered from. */
  gathered: GatheredCodes[];
  /**
   * With `equalize`: the embedding / LSTM input-weight pairs the preparation equalized in
   * `model` (empty where the graph allows none); null when the policy does not equalize.
   */
  equalized: EqualizedPair[] | null;
  /** Weights left float, and why. */
  leftFloat: QuantReport["leftFloat"];
}

/**
 * Plans the quantization of `model` under `policy`; `model` itself is not changed. Throws
 * InputError for a weight read by an op the op table does not know.
 */
export function plan(model: Model, policy: QuantPolicy): QuantPlan {
  const prepared = copyModel(model).model;
  // The copy, never `model`, is equalized: calibration then sees the equalized float model.
  const equalized: EqualizedPair[] = [];
  new PassManager(preparationPasses(prepared, policy, equalized)).run(prepared);
  const internals = lstmInternalTargets(prepared, policy);
  const weights = planWeights(prepared, policy);
  const all = activationTargets(prepared, policy, internals);
  const { quantize, gathered } = policy.gatherPassThrough ? splitGatheredCodes(all, weights.targets, policy) : { quantize: all, gathered: [] };
  return {
    policy,
    model: prepared,
    weights: weights.targets,
    activations: quantize,
    gathered,
    internals,
    gptq: policy.rounding !== "nearest" ? gptqTargets(weights.targets) : [],
    means: policy.biasCorrection ? gptqTargets(weights.targets) : [],
    equalized: policy.equalize ? equalized : null,
    leftFloat: weights.leftFloat,
  };
}
