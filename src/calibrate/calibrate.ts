import { findRoles, type Model, type Value } from "../graph/index.ts";
import type { GptqTarget } from "../passes/index.ts";
import { exposeScanInternals } from "./expose.ts";
import { HessianAccumulator, addLstmPreviousStates, type RowAccumulator } from "./hessian.ts";
import { MeanAccumulator } from "./moments.ts";
import { parseObserver, type Observer } from "./observers.ts";
import { runCalibration, type ExposeFn } from "./runner.ts";
import { parseCalibMode, selectCalibrationRows, type CalibrationSelection } from "./select.ts";
import { TensorStats } from "./stats.ts";
import { makeCalibrationTable, tensorEntry, type CalibrationTable } from "./table.ts";

export interface CalibrationData {
  ids: number[][];
  labels: number[];
  /** Where the rows came from (a file or `zoo:<dataset>/<split>`) and their hash. */
  source: string;
  sha256: string;
}

export interface CalibrateOptions {
  mode: string;
  size: number;
  seed: number;
  observer: string;
  numClasses: number;
  /** The model file and its hash, recorded in the table. */
  modelFile: string;
  modelSha256: string;
  /** Rows per logical calibration batch. */
  batch?: number;
  /** Weights whose layer-input second moments to record, for GPTQ rounding. */
  gptq?: GptqTarget[];
  /** Weights whose layer-input means to record, for bias correction. */
  means?: GptqTarget[];
  onProgress?: (done: number, total: number) => void;
}

export interface Calibration {
  table: CalibrationTable;
  selection: CalibrationSelection;
}

/** Exposes main-graph values as outputs and Scan-body values as stacked scan outputs. */
const exposeAll: ExposeFn = (copy, values) =>
  new Map(exposeScanInternals(copy, values).map((e) => [e.value.name, e.output.name]));

/**
 * Chooses the calibration rows, runs them through the model and records, per target tensor,
 * its statistics (overall and per class) and the observer's state, as a calibration table.
 */
export async function calibrate(model: Model, targets: Value[], data: CalibrationData, opts: CalibrateOptions): Promise<Calibration> {
  const mode = parseCalibMode(opts.mode, opts.numClasses);
  const selection = selectCalibrationRows(data.labels.map((label) => ({ label })), mode, opts.size, opts.seed);
  const factory = parseObserver(opts.observer);
  const names = targets.map((v) => v.name);
  const observers = new Map<string, Observer>(names.map((n) => [n, factory.create()]));
  const stats = new Map(names.map((n) => [n, new TensorStats({ numClasses: opts.numClasses })]));
  const hessians = new Map<GptqTarget, HessianAccumulator[]>();
  const byInput = new Map<string, GptqTarget[]>();
  for (const t of opts.gptq ?? []) (byInput.get(t.input.name) ?? byInput.set(t.input.name, []).get(t.input.name)!).push(t);
  // Means: n numbers per weight (per direction for R), whatever the number of rows.
  const means = new Map<GptqTarget, MeanAccumulator[]>();
  const meanByInput = new Map<string, GptqTarget[]>();
  for (const t of opts.means ?? []) (meanByInput.get(t.input.name) ?? meanByInput.set(t.input.name, []).get(t.input.name)!).push(t);
  const fetched = [...new Set([...names, ...byInput.keys(), ...meanByInput.keys()])];
  await runCalibration(
    model,
    fetched,
    data,
    selection.indices,
    {
      tensor(name, values, label, dims) {
        observers.get(name)?.observe(values);
        stats.get(name)?.observe(values, label);
        for (const t of byInput.get(name) ?? []) addRows(hessians, t, values, dims, (n) => new HessianAccumulator(n));
        for (const t of meanByInput.get(name) ?? []) addRows(means, t, values, dims, (n) => new MeanAccumulator(n));
      },
      endBatch() {
        for (const o of observers.values()) o.endBatch?.();
      },
    },
    { batch: opts.batch, onProgress: opts.onProgress, expose: exposeAll },
    findRoles(model),
  );
  const tensors: CalibrationTable["tensors"] = {};
  for (const v of targets) tensors[v.name] = tensorEntry(stats.get(v.name)!, observers.get(v.name)!, graphPath(v));
  const table = makeCalibrationTable({
    model: { file: opts.modelFile, sha256: opts.modelSha256 },
    data: { file: data.source, sha256: data.sha256, rows: data.ids.length },
    options: { mode: mode.spec, size: opts.size, seed: opts.seed, observer: factory.spec },
    composition: { per_class: selection.perClass, shortfalls: selection.shortfalls },
    tensors,
  });
  if (hessians.size) {
    table.hessians = {};
    for (const [t, accs] of hessians) {
      table.hessians[t.weight.name] = accs.map((a) => ({ input: t.input.name, n: a.n, count: a.count, data: Array.from(a.matrix()) }));
    }
  }
  if (means.size) {
    table.means = {};
    for (const [t, accs] of means) {
      table.means[t.weight.name] = accs.map((a) => ({ input: t.input.name, n: a.n, count: a.count, mean: Array.from(a.mean()) }));
    }
  }
  return { table, selection };
}

/** Adds one batch of a weight's input to its accumulators (one per LSTM direction for R: the previous states). */
function addRows<A extends RowAccumulator>(into: Map<GptqTarget, A[]>, t: GptqTarget, values: Float32Array, dims: readonly number[], make: (n: number) => A): void {
  const n = dims[dims.length - 1];
  if (t.kind === "lstm-r") {
    const accs = into.get(t) ?? Array.from({ length: dims[1] }, () => make(n));
    into.set(t, accs);
    addLstmPreviousStates(accs, values, dims);
    return;
  }
  const accs = into.get(t) ?? [make(n)];
  into.set(t, accs);
  accs[0].addRows(values);
}

/** "main", or the names of the nodes whose subgraphs lead to the value's graph. */
function graphPath(v: Value): string {
  const parts: string[] = [];
  for (let g = v.graph; g.parent; g = g.parent) parts.unshift(g.owner?.name ?? "?");
  return parts.length ? parts.join("/") : "main";
}
