/**
 * The last stage: a new model with the plan's weights on their integer grids behind
 * DequantizeLinear and Q/DQ on its activations, ranges taken from a calibration table.
 * The plan's model is copied, never changed; no file I/O.
 */
import { InputError, validateModel, type Model } from "../graph/index.ts";
import { parseObserver } from "../calibrate/observers.ts";
import { rangesFor, type CalibrationTable } from "../calibrate/table.ts";
import {
  PassManager,
  activationFormat,
  activationTargetsPass,
  biasCorrectionPass,
  cleanupPass,
  emptyReport,
  gatherQuantizedRule,
  readerHessian,
  rulePass,
  tableReaders,
  weightTargetsPass,
  type ActivationTarget,
  type Hessians,
  type NearestCodes,
  type QuantReport,
  type WeightTarget,
} from "../passes/index.ts";
import { copyModel } from "./copy.ts";
import { gpfqSetting, needsGpfqMoments } from "./gpfq-setting.ts";
import type { QuantPlan } from "./plan.ts";

/** One weight's layer-input moments (one entry per matrix of its view). */
type Moments = Hessians extends ReadonlyMap<string, infer V> ? V : never;

export interface RealizeOptions {
  /** Evaluate the stored observer states with this spec (default: the table's own). */
  observer?: string;
  /** Shares the ranges and nearest weight codes between realizes of one plan (GPFQ's passes). */
  memo?: RealizeMemo;
}

/**
 * What realize computes alike on every call for one plan, one table's activation statistics
 * and one observer: the activation ranges (`mse` searches every histogram) and each weight's
 * grid and nearest codes (`--weight-clip mse` searches every channel's clipping). GPFQ's
 * layer-by-layer recording realizes the model once per pass with only some weights' codes
 * changed, so it shares one memo between its realizes and the last one: the same model, each
 * search done once. A memo bound to another plan, statistics or observer starts over.
 */
export class RealizeMemo {
  private key?: { plan: QuantPlan; tensors: CalibrationTable["tensors"]; observer: string };
  ranges?: Map<string, [number, number]>;
  nearest: NearestCodes = new Map();

  /** Forgets what was computed for another plan, table statistics or observer. */
  bind(plan: QuantPlan, table: CalibrationTable, observer: string): this {
    const k = this.key;
    if (!k || k.plan !== plan || k.tensors !== table.tensors || k.observer !== observer) {
      this.key = { plan, tensors: table.tensors, observer };
      this.ranges = undefined;
      if (k?.plan !== plan) this.nearest = new Map();
    }
    return this;
  }
}

export interface Realized {
  model: Model;
  report: QuantReport;
  /** The observer spec the ranges came from. */
  observer: string;
}

export function realize(plan: QuantPlan, table: CalibrationTable, opts: RealizeOptions = {}): Realized {
  const { policy } = plan;
  const factory = parseObserver(opts.observer ?? table.options.observer);
  const memo = opts.memo?.bind(plan, table, factory.spec);
  const ranges = memo?.ranges ?? activationRanges(plan, table, factory.spec);
  if (memo) memo.ranges = ranges;
  let hessians: Map<string, Moments> | undefined;
  if (needsGpfqMoments(policy)) {
    // GPFQ against the quantized model's inputs: moments recorded layer by layer for this very setting (gpfq.ts).
    if (!table.gpfq) throw new InputError("the calibration table has no GPFQ moments of the quantized model's layer inputs (recordGpfq; or --gpfq-inputs float)");
    const setting = gpfqSetting(policy, factory.spec);
    if (table.gpfq.setting !== setting) throw new InputError(`the calibration table's GPFQ moments were recorded for another setting (${table.gpfq.setting}), not ${setting}`);
    hessians = new Map(Object.entries(table.gpfq.moments));
  } else if (policy.rounding !== "nearest") {
    if (!table.hessians) {
      throw new InputError(`the calibration table has no layer-input moments for ${policy.rounding.toUpperCase()} rounding (calibrate with --rounding gptq or gpfq)`);
    }
    hessians = new Map(Object.entries(table.hessians));
  }
  if (policy.biasCorrection && !table.means) {
    throw new InputError("the calibration table has no layer-input means for bias correction (calibrate with --bias-correction)");
  }
  const means = policy.biasCorrection ? new Map(Object.entries(table.means ?? {}).map(([name, list]) => [name, list.map((m) => m.mean)])) : undefined;
  // The float weights, read before the weight pass replaces them (the plan's model is never changed).
  const floats = new Map(plan.weights.map((w) => [w.value.name, w.value.initializer!.data as Float32Array]));

  const copy = copyModel(plan.model);
  const weights: WeightTarget[] = plan.weights.map((w) => ({
    ...w,
    value: copy.value(w.value),
    gptq: w.gptq && { rule: w.gptq.rule, node: copy.node(w.gptq.node) },
  }));
  const activations: ActivationTarget[] = plan.activations.map((t) => ({
    ...t,
    value: copy.value(t.value),
    uses: t.uses.map((u) => ({ node: copy.node(u.node), input: u.input })),
  }));
  const rounded = policy.embeddingGptq ? withTableReaders(plan, weights, floats, (hessians ??= new Map())) : weights;
  const report = emptyReport();
  report.leftFloat.push(...plan.leftFloat);
  const planned = new Set(plan.weights.map((w) => w.value));
  for (const g of plan.gathered.filter((x) => planned.has(x.table))) {
    const readers = [...new Set(g.value.consumers.map((n) => n.opType))].join("+");
    report.quantized.push({ name: g.value.name, kind: "activation", bits: g.bits, granularity: `per-row (the codes of ${g.table.name})`, op: readers });
  }
  new PassManager([
    weightTargetsPass(rounded, policy, report, hessians, memo?.nearest),
    ...(means ? [biasCorrectionPass(weights, floats, means, report)] : []),
    rulePass(gatherQuantizedRule),
    activationTargetsPass(activations, policy, ranges, report),
    cleanupPass,
  ]).run(copy.model);
  const problems = validateModel(copy.model);
  if (problems.length) throw new Error(`the quantized model is invalid: ${problems[0]}`);
  return { model: copy.model, report, observer: factory.spec };
}

/**
 * `--embedding-gptq`: the weights with each table that one layer reads whole (tableReaders)
 * given GPTQ's row view and H = Wᵀ W of that layer's float weight, added to `hessians`.
 * Bias correction keeps the plain targets (a table has no bias).
 */
function withTableReaders(plan: QuantPlan, weights: WeightTarget[], floats: ReadonlyMap<string, Float32Array>, hessians: Map<string, Moments>): WeightTarget[] {
  const readers = new Map(tableReaders(plan.model, plan.weights).map((r) => [r.table.value.name, r]));
  return weights.map((w) => {
    const r = readers.get(w.value.name);
    if (!r) return w;
    const dims = r.weight.value.initializer!.dims;
    const H = readerHessian(floats.get(r.weight.value.name)!, dims, r.layout);
    hessians.set(w.value.name, [{ n: w.value.initializer!.dims[1], data: H }]);
    return { ...w, gptq: { rule: { layout: "out-in", channelAxis: 0, from: { input: 0 }, kind: "table" }, node: w.value.consumers[0]! } };
  });
}

/** Each planned activation's range under `observer`; a tensor that never saw a value (or only zeros) has none and stays float. */
function activationRanges(plan: QuantPlan, table: CalibrationTable, observer: string): Map<string, [number, number]> {
  const { policy } = plan;
  const names = plan.activations.map((t) => t.value.name);
  const bits = new Map(plan.activations.map((t) => [t.value.name, t.bits]));
  const ranges = new Map<string, [number, number]>();
  // The op type that reads a tensor's quantized copy, when all its readers share one (mse-tanh measures the error after a Tanh).
  const readers = new Map(plan.activations.map((t) => [t.value.name, new Set(t.uses.map((u) => u.node.opType))]));
  const reader = (name: string) => {
    const types = readers.get(name);
    return types?.size === 1 ? [...types][0] : undefined;
  };
  const all = rangesFor(table, (name) => activationFormat(policy, bits.get(name)!), policy.activationSymmetric, observer, names, reader);
  for (const [name, range] of all) if (range[0] < range[1]) ranges.set(name, range);
  return ranges;
}
