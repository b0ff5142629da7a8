/**
 * GPFQ's calibration, layer by layer (Lybrand and Saab; Zhang and Saab's moment form; as
 * Brevitas' gpfq mode runs it): for each rounded weight in data-flow order, the model is
 * realized with the layers before it already carrying their GPFQ codes (the later ones
 * rounded to nearest, activations quantized as planned), run beside the float model on the
 * calibration rows, and the layer's H̃ = Σ x̃ x̃ᵀ and G = Σ x̃ xᵀ recorded; realize then walks
 * each row against them. One extra pass over the rows per layer, holding one layer's 2 n²
 * sums at a time: memory flat in the number of rows.
 *
 * Unlike the rest of a calibration table, these moments belong to one quantization setting
 * (the widths, grids and activation ranges that made x̃): `gpfqSetting` (gpfq-setting.ts) names
 * it and realize refuses moments recorded for another.
 */
import { findRoles, InputError, type Model, type Node } from "../graph/index.ts";
import { recordGpfqMoments } from "../calibrate/gpfq-moments.ts";
import { parseObserver } from "../calibrate/observers.ts";
import { parseCalibMode, selectCalibrationRows } from "../calibrate/select.ts";
import type { CalibrationTable } from "../calibrate/table.ts";
import type { CalibrationData } from "../calibrate/calibrate.ts";
import type { WeightTarget } from "../passes/index.ts";
import type { QuantPlan } from "./plan.ts";
import { gpfqSetting } from "./gpfq-setting.ts";
import { realize } from "./realize.ts";

export interface GpfqStageOptions {
  /** The observer spec realize evaluates the ranges with (default: the table's). */
  observer?: string;
  numClasses: number;
  onProgress?: (layer: number, layers: number) => void;
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
  const layers = plan.weights.filter((w) => w.gptq && plan.gptq.some((t) => t.weight === w.value)).sort((a, b) => compareFlow(a.gptq!.node, b.gptq!.node));
  for (const [k, w] of layers.entries()) {
    const target = plan.gptq.find((t) => t.weight === w.value)!;
    // The model as quantized so far: earlier layers on their GPFQ codes, this one and later ones nearest.
    const quant = realize(plan, out, { observer }).model;
    const quantInput = layerInput(quant, w);
    out.gpfq!.moments[w.value.name] = await recordGpfqMoments(plan.model, quant, target.kind, target.input.name, quantInput, data, selection.indices, roles);
    opts.onProgress?.(k + 1, layers.length);
  }
  return out;
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
