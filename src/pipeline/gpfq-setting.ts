/** The quantization setting GPFQ's layer-by-layer moments belong to (gpfq.ts records them, realize checks them). */
import { parseObserver } from "../calibrate/observers.ts";
import type { QuantPolicy } from "../passes/index.ts";

/** Whether realizing `policy` needs GPFQ's layer-by-layer moments in the table. */
export function needsGpfqMoments(policy: QuantPolicy): boolean {
  return policy.rounding === "gpfq" && policy.gpfqInputs === "quantized";
}

/** The setting GPFQ's moments were recorded under: everything that shapes the quantized model's layer inputs. */
export function gpfqSetting(policy: QuantPolicy, observer: string): string {
  return JSON.stringify({
    wbits: policy.wbits,
    abits: policy.abits,
    granularity: policy.granularity,
    group: policy.groupSize ?? null,
    weight_symmetric: policy.weightSymmetric,
    activation_symmetric: policy.activationSymmetric,
    lstm_internals: policy.lstmInternals,
    weight_clip: policy.weightClip,
    bias_correction: policy.biasCorrection,
    // Only when on, so that tables recorded before the option keep matching.
    ...(policy.gatherPassThrough ? { gather_pass_through: true } : {}),
    ...(policy.equalize ? { equalize: policy.equalizeAlpha } : {}),
    act_order: policy.actOrder,
    observer: parseObserver(observer).spec,
    by_op_type: policy.byOpType,
    by_node: policy.byNode,
    exclude: [...policy.exclude].sort(),
  });
}

