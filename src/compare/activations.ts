/** Activations: the ranges each model's QuantizeLinear (+Clip) pairs encode, A against B. */
import type { Model } from "../graph/index.ts";
import { readQdq } from "../quant/qdq.ts";
import { wilcoxon } from "../stats/wilcoxon.ts";
import { arraysEqual, ran, skipped } from "./outcomes.ts";
import type { ActivationComparison, ActivationRange, CompareReport, Outcome } from "./report.ts";

/** Each activation's QuantizeLinear (+Clip) parameters, by the quantized value's name, from the one Q/DQ reader. */
export function activationRanges(model: Model): Map<string, ActivationRange> {
  const out = new Map<string, ActivationRange>();
  for (const a of readQdq(model).activations) {
    out.set(a.value.name, { scale: a.scale, zero_point: a.zeroPoint, bits: a.bits, range: [(a.qmin - a.zeroPoint) * a.scale, (a.qmax - a.zeroPoint) * a.scale] });
  }
  return out;
}

export function compareActivations(ma: Model, mb: Model, top: number): CompareReport["activations"] {
  const ra = activationRanges(ma);
  const rb = activationRanges(mb);
  const names = [...ra.keys()].filter((n) => rb.has(n)).sort();
  const tensors: ActivationComparison[] = names.map((name) => {
    const a = ra.get(name)!;
    const b = rb.get(name)!;
    return { name, a, b, log2_scale_ratio: Math.log2(b.scale / a.scale), min_diff: b.range[0] - a.range[0], max_diff: b.range[1] - a.range[1] };
  });
  let test: Outcome;
  const la = tensors.map((t) => Math.log(t.a.scale));
  const lb = tensors.map((t) => Math.log(t.b.scale));
  if (tensors.length === 0) test = skipped("wilcoxon", "no quantized activation in both models");
  else if (arraysEqual(la, lb)) test = skipped("wilcoxon", "every activation scale is equal in A and B");
  else test = ran(wilcoxon(lb, la)); // B - A: a positive effect means B's ranges are wider
  if (test.skipped === undefined) test.p_holm = test.p_value; // a family of one
  return {
    tensors,
    only_in_a: [...ra.keys()].filter((n) => !rb.has(n)).sort(),
    only_in_b: [...rb.keys()].filter((n) => !ra.has(n)).sort(),
    scales_wilcoxon: test,
    wider_in_b: tensors.filter((t) => t.log2_scale_ratio > 0).length,
    narrower_in_b: tensors.filter((t) => t.log2_scale_ratio < 0).length,
    most_different: [...tensors]
      .sort((x, y) => Math.abs(y.log2_scale_ratio) - Math.abs(x.log2_scale_ratio) || (x.name < y.name ? -1 : 1))
      .slice(0, top)
      .map((t) => ({ name: t.name, log2_scale_ratio: t.log2_scale_ratio })),
  };
}
