/** Activations: the ranges each model's QuantizeLinear (+Clip) pairs encode, A against B. */
import { DataType, type Model, type Node, type Value } from "../graph/index.ts";
import { wilcoxon } from "../stats/wilcoxon.ts";
import { arraysEqual, ran, skipped } from "./outcomes.ts";
import type { ActivationComparison, ActivationRange, CompareReport, Outcome } from "./report.ts";

function scalarOf(v: Value | null | undefined): number | undefined {
  const t = v?.initializer;
  if (!t || t.size !== 1) return undefined;
  return t.toNumbers()[0];
}

/** Each activation's QuantizeLinear (+Clip) parameters, by the quantized value's name. */
export function activationRanges(model: Model): Map<string, ActivationRange> {
  const out = new Map<string, ActivationRange>();
  for (const node of model.allNodes()) {
    if (node.opType !== "QuantizeLinear" || node.domain) continue;
    const value = node.inputs[0];
    if (!value || value.initializer) continue;
    const scale = scalarOf(node.inputs[1]);
    if (scale === undefined) continue;
    const zpV = node.inputs[2];
    const zp = scalarOf(zpV) ?? 0;
    const signed = zpV?.initializer ? zpV.initializer.dataType === DataType.INT8 : false;
    let qmin = signed ? -128 : 0;
    let qmax = signed ? 127 : 255;
    const clip: Node | undefined = node.outputs[0]?.consumers.find((n) => n.opType === "Clip");
    if (clip) {
      qmin = scalarOf(clip.inputs[1]) ?? qmin;
      qmax = scalarOf(clip.inputs[2]) ?? qmax;
    }
    const bits = Math.ceil(Math.log2(qmax - qmin + 1));
    out.set(value.name, { scale, zero_point: zp, bits, range: [(qmin - zp) * scale, (qmax - zp) * scale] });
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
