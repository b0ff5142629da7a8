import { Builder, DataType, Tensor, type Graph, type Model, type Node, type Value } from "../graph/index.ts";
import { intRange, paramsFromRange } from "../quant/math.ts";
import { readQdq, weightOf, type QdqModel } from "../quant/qdq.ts";
import { activationSlots } from "./ops.ts";
import type { Pass } from "./pass.ts";
import { activationBits, activationFormat, type QuantPolicy, type QuantReport } from "./policy.ts";

/** One activation to quantize: a value and the input slots that should read its quantized copy. */
export interface ActivationTarget {
  value: Value;
  uses: { node: Node; input: number }[];
  bits: number;
  /** Also hand the quantized copy to the graph's outputs (a Scan body's carried state). */
  replaceOutputs?: boolean;
}

/** Whether a value is a weight: an initializer (possibly behind Identity), or a quantized weight as the Q/DQ reader finds it. */
function isWeight(v: Value, qdq: QdqModel): boolean {
  for (let cur: Value | null = v, hops = 0; cur && hops < 4; hops++) {
    if (cur.initializer) return true;
    const p: Node | null = cur.producer;
    if (!p || p.opType !== "Identity") break;
    cur = p.inputs[0];
  }
  return weightOf(qdq, v) !== undefined;
}

/**
 * Every activation the passes will quantize, in this graph and its subgraphs: the float
 * inputs (ops.ts: MatMul, Gemm, LSTM, GRU, RNN) that are not weights, plus the values named in `extra`
 * (the decomposed LSTM's gates, cell and hidden state). Exposed so that calibration
 * observes exactly these tensors.
 */
export function activationTargets(model: Model, policy: QuantPolicy, extra: Value[] = []): ActivationTarget[] {
  const byValue = new Map<Value, ActivationTarget>();
  const add = (value: Value, node: Node | null, input: number, bits: number): void => {
    if (policy.exclude.has(value.name)) return;
    let t = byValue.get(value);
    if (!t) byValue.set(value, (t = { value, uses: [], bits }));
    t.bits = Math.max(t.bits, bits);
    if (node) t.uses.push({ node, input });
  };
  const qdq = readQdq(model);
  for (const node of model.allNodes()) {
    if (node.domain) continue;
    const bits = activationBits(policy, node);
    if (bits === null) continue;
    for (const i of activationSlots(node)) {
      const v = node.inputs[i];
      if (!v || isWeight(v, qdq) || (v.elemType !== undefined && v.elemType !== DataType.FLOAT)) continue;
      // A decomposed LSTM's carried hidden state arrives already quantized where it was produced.
      if (policy.lstmInternals && v.graph.parent && v.isGraphInput) continue;
      add(v, node, i, bits);
    }
  }
  for (const v of extra) {
    const bits = v.consumers.map((n) => activationBits(policy, n)).find((b) => b !== null) ?? policy.abits;
    // Every reader of an internal LSTM tensor sees the quantized copy, as in QuantLSTM.
    add(v, null, -1, bits);
    const t = byValue.get(v);
    if (!t) continue;
    t.uses = [];
    for (const n of new Set(v.consumers)) n.inputs.forEach((x, i) => x === v && t.uses.push({ node: n, input: i }));
    t.replaceOutputs = true;
  }
  return [...byValue.values()];
}

/**
 * Inserts QuantizeLinear -> DequantizeLinear (8 bits) or QuantizeLinear -> Clip ->
 * DequantizeLinear (fewer bits) on each target, with the range from the calibration table.
 * Targets without a range are left float and reported.
 */
export function quantizeActivationsPass(
  policy: QuantPolicy,
  ranges: ReadonlyMap<string, readonly [number, number]>,
  report: QuantReport,
  extra: (model: Model) => Value[] = () => [],
): Pass {
  return {
    name: "quantize-activations",
    run: (model: Model): boolean => applyActivations(activationTargets(model, policy, extra(model)), policy, ranges, report),
  };
}

/** The planned activations' Q/DQ as a pass (targets found on the model it runs on). */
export function activationTargetsPass(
  targets: readonly ActivationTarget[],
  policy: QuantPolicy,
  ranges: ReadonlyMap<string, readonly [number, number]>,
  report: QuantReport,
): Pass {
  return { name: "quantize-activations", run: () => applyActivations(targets, policy, ranges, report) };
}

function applyActivations(
  targets: readonly ActivationTarget[],
  policy: QuantPolicy,
  ranges: ReadonlyMap<string, readonly [number, number]>,
  report: QuantReport,
): boolean {
  let changed = false;
  for (const target of targets) {
    const range = ranges.get(target.value.name);
    if (!range) {
      report.leftFloat.push({ name: target.value.name, reason: "no calibration range" });
      continue;
    }
    insertQdq(target, range, policy);
    const ops = [...new Set(target.uses.map((u) => u.node.opType))].join("+");
    report.quantized.push({ name: target.value.name, kind: "activation", bits: target.bits, granularity: "per-tensor", op: ops });
    changed = true;
  }
  return changed;
}

function insertQdq(target: ActivationTarget, range: readonly [number, number], policy: QuantPolicy): void {
  const { value, bits } = target;
  const g: Graph = value.graph;
  const format = activationFormat(policy, bits);
  const p = paramsFromRange(range[0], range[1], format, policy.activationSymmetric);
  // Codes are stored as 8-bit integers; narrower widths are enforced by a Clip (QCDQ).
  const storage = format.signed ? DataType.INT8 : DataType.UINT8;
  const int8 = (name: string, v: number): Tensor =>
    Tensor.fromData(name, storage, [], format.signed ? Int8Array.of(v) : Uint8Array.of(v));
  // Right after the producer, or first in the graph for an input; the nodes follow each other.
  const anchor = value.producer && value.producer.graph === g ? { after: value.producer } : { before: g.nodes[0] };
  const b = new Builder(g, { prefix: value.name, separator: "_", ...anchor });
  const scale = b.initializer(Tensor.float32(b.name("scale"), [], [p.scale]));
  const zero = b.initializer(int8(b.name("zero_point"), p.zeroPoint));
  let codes = b.op("QuantizeLinear", [value, scale, zero], "quantized");
  if (bits < 8) {
    const { qmin, qmax } = intRange(format);
    const lo = b.initializer(int8(b.name("qmin"), qmin));
    const hi = b.initializer(int8(b.name("qmax"), qmax));
    codes = b.op("Clip", [codes, lo, hi], "clipped");
  }
  const dequantized = b.op("DequantizeLinear", [codes, scale, zero], "dequantized");
  for (const use of target.uses) use.node.setInput(use.input, dequantized);
  if (target.replaceOutputs && value.isGraphOutput) {
    // Only graph outputs move here: the consumers were rewired above, and the Quantize must keep reading the value.
    const g2 = value.graph;
    g2.outputs = g2.outputs.map((v) => (v === value ? dequantized : v));
    const info = g2.outputInfo.get(value);
    if (info) g2.outputInfo.set(dequantized, info);
  }
}
