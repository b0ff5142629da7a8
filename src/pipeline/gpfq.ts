/**
 * GPFQ's calibration, layer by layer (Lybrand and Saab; Zhang and Saab's moment form; as
 * Brevitas' gpfq mode runs it): for each rounded weight in data-flow order, the model is
 * realized with the layers before it already carrying their GPFQ codes (the later ones
 * rounded to nearest, activations quantized as planned), run beside the float model on the
 * calibration rows, and the layer's H̃ = Σ x̃ x̃ᵀ and G = Σ x̃ xᵀ recorded; realize then walks
 * each row against them. Memory is flat in the number of rows: a pass holds its layers' 2 n²
 * sums.
 *
 * What keeps it cheap (Brevitas' GPxQ does the same: it stops the forward pass once the layer's
 * input is seen, and processes layers that share an input together):
 * - each pass runs only the part of the float and the quantized graph that its layers' inputs
 *   need (runPairedCalibration prunes the rest);
 * - consecutive layers whose inputs do not depend on each other's weights share one pass
 *   (`gpfqPasses`): their inputs are the same whether the others are rounded yet or not;
 * - the passes' realizes share one RealizeMemo: the activation ranges and the weights' grids
 *   (the mse searches) are computed once, not once per pass.
 *
 * Unlike the rest of a calibration table, these moments belong to one quantization setting
 * (the widths, grids and activation ranges that made x̃): `gpfqSetting` (gpfq-setting.ts) names
 * it and realize refuses moments recorded for another.
 */
import { findRoles, InputError, type Model, type Node, type Value } from "../graph/index.ts";
import { recordGpfqMoments } from "../calibrate/gpfq-moments.ts";
import { parseObserver } from "../calibrate/observers.ts";
import { parseCalibMode, selectCalibrationRows } from "../calibrate/select.ts";
import type { CalibrationTable } from "../calibrate/table.ts";
import type { CalibrationData } from "../calibrate/calibrate.ts";
import type { WeightTarget } from "../passes/index.ts";
import type { QuantPlan } from "./plan.ts";
import { gpfqSetting } from "./gpfq-setting.ts";
import { realize, RealizeMemo } from "./realize.ts";

export interface GpfqStageOptions {
  /** The observer spec realize evaluates the ranges with (default: the table's). */
  observer?: string;
  numClasses: number;
  /** Called after each pass with the layers done so far and in all. */
  onProgress?: (layer: number, layers: number) => void;
  /** Shared with the realize that follows (quantize-file.ts), so that it computes nothing again. */
  memo?: RealizeMemo;
}

/**
 * Returns a copy of `table` with `gpfq` holding every planned weight's moments against the
 * quantized model's inputs (the table itself is not changed). `data` must be the rows the
 * table was calibrated on (its sha256): the same selection is drawn again from its options.
 */
export async function recordGpfq(plan: QuantPlan, table: CalibrationTable, data: CalibrationData, opts: GpfqStageOptions): Promise<CalibrationTable> {
  if (data.sha256 !== table.data.sha256) {
    throw new InputError(`GPFQ needs the calibration table's own rows (${table.data.file}, sha256 ${table.data.sha256.slice(0, 12)}...), not ${data.source}`);
  }
  const observer = parseObserver(opts.observer ?? table.options.observer).spec;
  const selection = selectCalibrationRows(data.labels.map((label) => ({ label })), parseCalibMode(table.options.mode, opts.numClasses), table.options.size, table.options.seed);
  const roles = findRoles(plan.model);
  const out: CalibrationTable = { ...table, gpfq: { setting: gpfqSetting(plan.policy, observer), moments: {} } };
  const memo = opts.memo ?? new RealizeMemo();
  const passes = gpfqPasses(plan);
  const total = passes.reduce((a, p) => a + p.length, 0);
  let done = 0;
  for (const layers of passes) {
    // The model as quantized so far: earlier passes' layers on their GPFQ codes, this pass's and later ones nearest.
    const quant = realize(plan, out, { observer, memo }).model;
    const paired = layers.map((w) => ({ kind: targetOf(plan, w).kind, input: targetOf(plan, w).input.name, quantInput: layerInput(quant, w) }));
    const entries = await recordGpfqMoments(plan.model, quant, paired, data, selection.indices, roles);
    layers.forEach((w, i) => (out.gpfq!.moments[w.value.name] = entries[i]));
    opts.onProgress?.((done += layers.length), total);
  }
  // Data-flow order in the table whatever the passes were.
  out.gpfq!.moments = Object.fromEntries(passes.flat().map((w) => [w.value.name, out.gpfq!.moments[w.value.name]]));
  return out;
}

/**
 * The plan's GPFQ layers in data-flow order, cut into passes: a layer joins the current pass
 * unless its input depends on the weight of a layer already in it (that weight must carry its
 * GPFQ codes before the layer's x̃ is recorded). Layers that read one input (or independent
 * inputs) so share a pass; a chain (LSTM W, then R, then the head) is one pass per layer.
 */
export function gpfqPasses(plan: QuantPlan): WeightTarget[][] {
  const layers = plan.weights.filter((w) => w.gptq && plan.gptq.some((t) => t.weight === w.value)).sort((a, b) => compareFlow(a.gptq!.node, b.gptq!.node));
  const passes: WeightTarget[][] = [];
  let current: WeightTarget[] = [];
  for (const w of layers) {
    const inPass = new Set(current.map((c) => c.value));
    if (current.length && reachesInput(targetOf(plan, w).input, inPass)) {
      passes.push(current);
      current = [];
    }
    current.push(w);
  }
  if (current.length) passes.push(current);
  return passes;
}

function targetOf(plan: QuantPlan, w: WeightTarget) {
  return plan.gptq.find((t) => t.weight === w.value)!;
}

/**
 * Whether any of `weights` can change `input`: a walk up through producers, where a node with
 * subgraphs (the decomposed LSTM's Scan) depends on everything its body reads, and a body value
 * on everything its Scan reads (the loop-carried state reaches every step).
 */
function reachesInput(input: Value, weights: ReadonlySet<Value>): boolean {
  const seen = new Set<Value>();
  const seenNodes = new Set<Node>();
  const stack: Value[] = [input];
  const visit = (n: Node | null) => {
    if (!n || seenNodes.has(n)) return;
    seenNodes.add(n);
    for (const v of n.inputs) if (v) stack.push(v);
    for (const graphs of n.subgraphs.values()) for (const g of graphs) for (const inner of g.nodes) visit(inner);
  };
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    if (weights.has(v)) return true;
    visit(v.producer);
    visit(v.graph.owner);
  }
  return false;
}

/** The value the weight's layer reads in the realized model (same node names as the plan's). */
function layerInput(quant: Model, w: WeightTarget): string {
  const { node, rule } = w.gptq!;
  const twin = quant.allNodes().find((n) => n.name === node.name && n.opType === node.opType);
  if (!twin) throw new Error(`the quantized model has no node '${node.name}'`);
  const v = "input" in rule.from ? twin.inputs[rule.from.input] : twin.outputs[rule.from.previousOutput];
  if (!v) throw new Error(`node '${node.name}' has no layer input in the quantized model`);
  return v.name;
}

/** Data-flow order of two nodes: by their main-graph ancestors' places, then inside the subgraph. */
function compareFlow(a: Node, b: Node): number {
  const pa = place(a), pb = place(b);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return pa.length - pb.length;
}

function place(n: Node): number[] {
  const out: number[] = [];
  for (let node: Node | null = n; node; node = node.graph.owner) out.unshift(node.graph.nodes.indexOf(node));
  return out;
}
