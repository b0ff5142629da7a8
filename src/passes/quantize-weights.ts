import { Builder, DataType, InputError, Tensor, type Graph, type Model, type Node, type Value } from "../graph/index.ts";
import { blockedScaleDims, groupCount, intRange, quantizeTensor, quantizeTensorBlocked, type QuantizedTensor } from "../quant/math.ts";
import { inputAxis, roundInLayout, type RoundingMethod } from "../quant/round.ts";
import { ruleFor, type GptqRule } from "./ops.ts";
import type { Pass } from "./pass.ts";
import { weightBits, weightFormat, type QuantPolicy, type QuantReport } from "./policy.ts";

/** A weight the plan quantizes: its value, width, channel axis, readers and GPTQ view. */
export interface WeightTarget {
  value: Value;
  bits: number;
  /** Per-channel axis, or null for one scale. */
  axis: number | null;
  /** The op types that read it, joined by "+" (for the report). */
  op: string;
  /** GPTQ's view of the weight when exactly one op reads it and the op table has one. */
  gptq: { rule: GptqRule; node: Node } | null;
  /** Group-wise scales: blocks of `size` along the input axis `axis` (policy.groupSize). */
  block?: { axis: number; size: number };
}

export interface WeightPlan {
  targets: WeightTarget[];
  leftFloat: QuantReport["leftFloat"];
}

/** Per weight, the second moments of its layer's inputs (one matrix per LSTM direction). */
export type Hessians = ReadonlyMap<string, readonly { n: number; data: ArrayLike<number>; cross?: ArrayLike<number> }[]>;

/**
 * Every float initializer of the model and its subgraphs that the policy quantizes, with its
 * channel axis from the op table (ops.ts), and the ones left float with the reason. A weight
 * read by an op the table does not know is refused (InputError), never half-quantized.
 */
export function planWeights(model: Model, policy: QuantPolicy): WeightPlan {
  const plan: WeightPlan = { targets: [], leftFloat: [] };
  for (const g of model.graphs()) for (const value of g.initializers) planOne(model, value, policy, plan);
  return plan;
}

type Use = { axis: number | null; node: Node } | { keep: string; node: Node };

function planOne(model: Model, value: Value, policy: QuantPolicy, plan: WeightPlan): void {
  const t = value.initializer!;
  if (t.dataType !== DataType.FLOAT || value.consumers.length === 0) return;
  if (t.dims.length < 2) {
    if (value.consumers.some((n) => isCompute(n))) plan.leftFloat.push({ name: value.name, reason: "bias or vector (kept float)" });
    return;
  }
  if (policy.exclude.has(value.name)) {
    plan.leftFloat.push({ name: value.name, reason: "excluded by policy" });
    return;
  }
  const uses: Use[] = value.consumers.map((node) => {
    const rule = ruleFor(node);
    if (!rule) {
      const op = `${node.domain ? `${node.domain}.` : ""}${node.opType}`;
      throw new InputError(`${node.label} reads the weight '${value.name}', but ptq-onnx has no quantization rule for ${op} (see src/passes/ops.ts)`, model.path);
    }
    return { ...rule.weight(node, node.inputs.indexOf(value), t.dims), node };
  });
  const kept = uses.find((u): u is { keep: string; node: Node } => "keep" in u);
  if (kept) {
    plan.leftFloat.push({ name: value.name, reason: kept.keep });
    return;
  }
  const bitsList = uses.map((u) => weightBits(policy, u.node));
  if (bitsList.some((b) => b === null)) {
    plan.leftFloat.push({ name: value.name, reason: `policy skips ${uses[bitsList.indexOf(null)].node.label}` });
    return;
  }
  // A weight shared by ops with different widths gets the widest.
  const bits = Math.max(...(bitsList as number[]));
  const axes = new Set(uses.map((u) => (u as { axis: number | null }).axis));
  const axis = policy.granularity === "per-channel" && axes.size === 1 ? [...axes][0] : null;
  const only = uses.length === 1 ? uses[0].node : null;
  const rule = only ? (ruleFor(only)!.gptq?.(only, only.inputs.indexOf(value), t.dims.length) ?? null) : null;
  const op = [...new Set(uses.map((u) => u.node.opType))].join("+");
  // Blocks only along a last (input) axis: onnxruntime fuses DequantizeLinear into MatMulIntegerToFloat
  // for [inputs, outputs] weights and then rejects blocked scales, so those stay per channel.
  const block = policy.groupSize !== undefined && rule && rule.layout !== "in-out" && axis !== null ? groupBlock(model, value, rule, policy.groupSize) : undefined;
  plan.targets.push({ value, bits, axis, op, gptq: rule && only ? { rule, node: only } : null, ...(block ? { block } : {}) });
}

/** The input axis of a weight in its op's layout, checked against the group size. */
function groupBlock(model: Model, value: Value, rule: GptqRule, size: number): { axis: number; size: number } {
  const axis = inputAxis(rule.layout);
  try {
    groupCount(value.initializer!.dims[axis], size);
  } catch (err) {
    throw new InputError(`weight '${value.name}': ${(err as Error).message}`, model.path);
  }
  return { axis, size };
}

/**
 * Replaces float weight initializers by integer codes on the n-bit grid behind a
 * DequantizeLinear, keeping the value (and so every consumer) as it was. Weights with a
 * Hessian in `hessians` are rounded with GPTQ's error compensation, the rest to nearest.
 */
export function quantizeWeightsPass(policy: QuantPolicy, report: QuantReport, hessians?: Hessians): Pass {
  return {
    name: "quantize-weights",
    run(model: Model): boolean {
      const plan = planWeights(model, policy);
      report.leftFloat.push(...plan.leftFloat);
      return applyWeights(model, plan.targets, policy, report, hessians);
    },
  };
}

/**
 * Each weight's grid and nearest codes by name, as computed for one plan (its policy and float
 * weights): a caller that applies the same targets again (GPFQ's layer-by-layer realizes)
 * passes the same map so that the grid search (`--weight-clip mse`) runs once per weight.
 */
export type NearestCodes = Map<string, QuantizedTensor>;

/** The planned weights' quantization as a pass over the model that holds them. */
export function weightTargetsPass(targets: readonly WeightTarget[], policy: QuantPolicy, report: QuantReport, hessians?: Hessians, nearest?: NearestCodes): Pass {
  return { name: "quantize-weights", run: (model) => applyWeights(model, targets, policy, report, hessians, nearest) };
}

function applyWeights(model: Model, targets: readonly WeightTarget[], policy: QuantPolicy, report: QuantReport, hessians?: Hessians, nearest?: NearestCodes): boolean {
  for (const target of targets) quantizeOne(model, target, policy, report, hessians, nearest);
  return targets.length > 0;
}

function quantizeOne(model: Model, target: WeightTarget, policy: QuantPolicy, report: QuantReport, hessians?: Hessians, nearest?: NearestCodes): void {
  const { value, bits, axis } = target;
  const g = value.graph;
  const t = value.initializer!;
  const format = weightFormat(policy, bits);
  const known = nearest?.get(value.name);
  // roundInLayout rewrites q.codes in place, so the memo keeps its own copy of the nearest codes.
  const q = known
    ? { ...known, codes: known.codes.slice() }
    : target.block
      ? quantizeTensorBlocked(t.data as Float32Array, t.dims, target.block.axis, target.block.size, format, policy.weightSymmetric, policy.weightClip)
      : quantizeTensor(t.data as Float32Array, t.dims, axis, format, policy.weightSymmetric, policy.weightClip);
  if (nearest && !known) nearest.set(value.name, { ...q, codes: q.codes.slice() });
  const h = hessians?.get(value.name);
  const method: RoundingMethod | null =
    policy.rounding === "gptq" ? { kind: "gptq", actOrder: policy.actOrder, dampening: policy.dampening } : policy.rounding === "gpfq" ? { kind: "gpfq", actOrder: policy.actOrder } : null;
  const compensated = h && target.gptq && method && roundInLayout(t.data as Float32Array, t.dims, target.gptq.rule.layout, target.gptq.rule.channelAxis, q, h, format, method);
  const rounding = compensated && method ? method.kind : "nearest";

  const packed = policy.packInt4 && bits <= 4;
  if (packed && (model.opset("") ?? 0) < 21) throw new Error(`INT4 weights need opset 21; the model is at ${model.opset("")}`);
  const codeType = packed ? DataType.INT4 : DataType.INT8;
  const { qmin, qmax } = intRange(format);
  const codes = Int8Array.from(q.codes, (c) => Math.min(qmax, Math.max(qmin, c)));
  const name = value.name;
  const channels = q.scales.length;
  const paramDims = target.block ? blockedScaleDims(t.dims, target.block.axis, target.block.size) : axis === null ? [] : [channels];
  const b = new Builder(g, { prefix: name, separator: "_", before: g.nodes[0] });
  const codesValue = b.initializer(Tensor.fromData(b.name("quantized"), codeType, t.dims, codes));
  const scaleValue = b.initializer(Tensor.fromData(b.name("scale"), DataType.FLOAT, paramDims, q.scales));
  const zeroValue = b.initializer(Tensor.fromData(b.name("zero_point"), codeType, paramDims, Int8Array.from(q.zeroPoints)));

  // The float initializer becomes the DequantizeLinear's output under the same name.
  g.initializers.splice(g.initializers.indexOf(value), 1);
  value.initializer = undefined;
  b.node("DequantizeLinear", [codesValue, scaleValue, zeroValue], [value], { attributes: target.block ? { axis: target.block.axis, block_size: target.block.size } : axis === null ? {} : { axis } });
  report.quantized.push({ name, kind: "weight", bits, granularity: target.block ? `per-group(axis ${target.block.axis}, size ${target.block.size})` : axis === null ? "per-tensor" : `per-channel(axis ${axis})`, op: target.op, rounding });
}

function isCompute(n: Node): boolean {
  return ["Gemm", "MatMul", "LSTM", "GRU", "RNN", "Add", "Conv"].includes(n.opType);
}
