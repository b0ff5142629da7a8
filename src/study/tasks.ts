/**
 * The three kinds of work a study does, each writing its file atomically: a calibration
 * (OUT/calib/<hash>.calib.json, one per model, mode and seed, reused by every bit width), a
 * quantization (OUT/quantized/<calibration>.w<bits>.onnx, one per calibration and bit width,
 * read by its own cell and by the cells compared with it) and a cell (OUT/cells/<hash>.json:
 * evaluate clean and under every noise level and seed, compare with the reference
 * calibration). They call the pipeline's stages directly and run in the main process
 * (--jobs 1) or in worker processes.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { numClasses } from "../pipeline/quantize-file.ts";
import { quantizationStamp } from "../pipeline/stamp.ts";
import { readCalibrationTable, writeCalibrationTable } from "../calibrate/table.ts";
import { loadLabelledData } from "../data/resolve.ts";
import { loadEvalData, metricsFor, ModelRunner, noisyIds, type EvalData } from "../eval/evaluate.ts";
import type { NoiseStage } from "../eval/noise.ts";
import { InputError, findRoles, loadModel, serializeModel, writeFileAtomic, type Model } from "../graph/index.ts";
import { makePolicy } from "../passes/index.ts";
import { calibrate, needsGpfqMoments, plan as planQuantization, realize, RealizeMemo, recordGpfq, type QuantPlan } from "../pipeline/index.ts";
import { compareModels, type CompareReport } from "../compare/compare.ts";
import { encodeLabels, type CalibrationSpec, type CellSpec, type Plan, type PlanModel } from "./plan.ts";

export const CELL_FORMAT = "ptq-onnx.study.cell";

export interface EvalRun {
  seed: number;
  accuracy: number;
  macro_f1: number;
  /** Predicted class per test row (encodeLabels). */
  predictions: string;
}

/** What a quantized cell's comparison with the reference calibration found (from stats compare). */
export interface CompareSummary {
  reference: string;
  weights: { layers: number; max_changed_fraction: number; only_in_a: number; only_in_b: number };
  activations: {
    tensors: number;
    wider_in_b: number;
    narrower_in_b: number;
    /** Wilcoxon signed-rank on log scale(cell) - log scale(reference) across activation tensors. */
    scales_wilcoxon: { statistic: number | null; p_value: number | null; effect_size: number | null; method: string | null; skipped?: string };
    most_different: { name: string; log2_scale_ratio: number }[];
  };
  profiles: { status: string; most_different: { name: string; ks_distance: number; wasserstein: number }[] };
}

export interface CellResult {
  n: number;
  accuracy: number;
  macro_f1: number;
  predictions: string;
  noise: { kind: string; level: number; runs: EvalRun[] }[];
  quantize: {
    wbits: number;
    abits: number;
    bytes: { input: number; output: number };
    quantized: number;
    left_float: number;
    calibration: { mode: string; size: number; per_class: number[]; observer: string };
  } | null;
  compare: CompareSummary | null;
}

export interface CellFile {
  format: typeof CELL_FORMAT;
  version: 1;
  hash: string;
  type: "float" | "quant";
  key: Record<string, unknown>;
  result: CellResult;
  /** Not part of the results: how long each part took. */
  seconds: { quantize: number; eval: number; compare: number; total: number };
}

export interface TaskCounters {
  calibrations: number;
  quantizations: number;
  evaluations: number;
  cells: number;
}

export const zeroCounters = (): TaskCounters => ({ calibrations: 0, quantizations: 0, evaluations: 0, cells: 0 });

export function addCounters(a: TaskCounters, b: TaskCounters): void {
  a.calibrations += b.calibrations;
  a.quantizations += b.quantizations;
  a.evaluations += b.evaluations;
  a.cells += b.cells;
}

export const cellPath = (out: string, hash: string): string => join(out, "cells", `${hash}.json`);
export const calibPath = (out: string, hash: string): string => join(out, "calib", `${hash}.calib.json`);
/** A quantized model of the study (and its summary beside it, `.json` in place of `.onnx`). */
export const quantizedPath = (out: string, calibration: string, bits: number): string => join(out, "quantized", `${calibration}.w${bits}.onnx`);

/** A cell file, when it exists and is whole and the one asked for; else undefined. */
export function readCell(path: string, hash?: string): CellFile | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const cell = JSON.parse(readFileSync(path, "utf8")) as CellFile;
    if (cell.format !== CELL_FORMAT || cell.version !== 1 || !cell.result || (hash && cell.hash !== hash)) return undefined;
    return cell;
  } catch {
    return undefined;
  }
}

export interface TaskContext {
  plan: Plan;
  out: string;
  /** onnxruntime intra-op threads. */
  threads: number;
  keepModels: boolean;
}

/** Per-process caches: the float models and their test data are read once. */
const floatModels = new Map<string, Model>();
const testData = new Map<string, EvalData>();

function floatModel(m: PlanModel): Model {
  // Keyed by file and hash, not plan position: one process may run several studies (--jobs 1).
  const key = `${m.sha256}:${m.file}`;
  let model = floatModels.get(key);
  if (!model) floatModels.set(key, (model = loadModel(m.file)));
  return model;
}

function dataFor(plan: Plan, m: PlanModel): EvalData {
  const key = `${m.sha256}:${m.file}:${m.test.sha256}`;
  let data = testData.get(key);
  if (!data) {
    const s = plan.settings;
    data = loadEvalData(floatModel(m), { data: s.test_data ?? undefined, tokenizer: s.tokenizer ?? undefined, rows: s.rows ?? undefined });
    if (data.sha256 !== m.test.sha256) throw new InputError(`the test rows changed since the study was planned (sha256 ${data.sha256.slice(0, 12)}..., planned ${m.test.sha256.slice(0, 12)}...)`, m.file);
    testData.set(key, data);
  }
  return data;
}

/** What a cell records of its model's quantization (written beside the model). */
export type QuantizedSummary = NonNullable<CellResult["quantize"]>;

/** The study's plan of a model at one width (each task plans once; plan() leaves the float model untouched). */
function planFor(plan: Plan, m: PlanModel, bits: number): QuantPlan {
  const s = plan.settings;
  const model = floatModel(m);
  const policy = makePolicy({
    bits,
    granularity: s.granularity,
    lstmInternals: s.lstm_internals,
    rounding: s.rounding,
    weightClip: s.weight_clip,
    biasCorrection: s.bias_correction,
    actOrder: s.act_order,
    weightSymmetric: s.weight_symmetric,
    gatherPassThrough: s.gather_pass_through,
    embeddingGptq: s.embedding_gptq,
    equalize: s.equalize !== undefined,
    equalizeAlpha: s.equalize,
    exclude: [findRoles(model).scores.name],
  });
  return planQuantization(model, policy);
}

/**
 * Calibrates once for (model, mode, seed) and writes the table every bit width reuses. The
 * activation targets do not depend on the width, so the 8-bit plan serves all.
 */
export async function runCalibration(ctx: TaskContext, spec: CalibrationSpec): Promise<TaskCounters> {
  const m = ctx.plan.models[spec.model];
  const s = ctx.plan.settings;
  const table = calibPath(ctx.out, spec.hash);
  const counters = zeroCounters();
  if (existsSync(table)) return counters;
  mkdirSync(join(ctx.out, "calib"), { recursive: true });
  const model = floatModel(m);
  const data = loadLabelledData(model, { data: s.calib_data ?? undefined, tokenizer: s.tokenizer ?? undefined, split: "val" });
  // A plan read with --plan was made elsewhere: the pool must be the one it was planned with
  // (a --calib-data file's own bytes are hashed and checked where the plan is read).
  const calibSha = s.calib_data ? undefined : data.sha256;
  if (calibSha !== undefined && calibSha !== m.calib_data.sha256) {
    throw new InputError(`the calibration rows changed since the study was planned (sha256 ${calibSha.slice(0, 12)}..., planned ${m.calib_data.sha256.slice(0, 12)}...)`, m.file);
  }
  const calibration = await calibrate(planFor(ctx.plan, m, 8), data, {
    mode: spec.mode,
    size: s.calib_size,
    seed: spec.seed,
    observer: s.observer,
    numClasses: numClasses(model, data.labels),
    modelFile: m.file,
    modelSha256: m.sha256,
  });
  writeCalibrationTable(table, calibration.table);
  counters.calibrations++;
  return counters;
}

/** Quantizes a model at one bit width from its calibration table: the model a cell scores. */
export async function runQuantization(ctx: TaskContext, calibration: string, bits: number): Promise<TaskCounters> {
  const spec = ctx.plan.calibrations.find((c) => c.hash === calibration);
  if (!spec) throw new Error(`no calibration ${calibration} in the plan`);
  const m = ctx.plan.models[spec.model];
  const path = quantizedPath(ctx.out, calibration, bits);
  const counters = zeroCounters();
  if (existsSync(path)) return counters;
  mkdirSync(join(ctx.out, "quantized"), { recursive: true });
  const stored = readCalibrationTable(calibPath(ctx.out, calibration));
  let table = stored;
  const p = planFor(ctx.plan, m, bits);
  // GPFQ's passes and the last realize share their ranges and weight grids.
  const memo = new RealizeMemo();
  if (needsGpfqMoments(p.policy)) {
    // GPFQ's moments belong to one width: recorded here, layer by layer, on the table's own rows.
    const model = floatModel(m);
    const data = loadLabelledData(model, { data: ctx.plan.settings.calib_data ?? undefined, tokenizer: ctx.plan.settings.tokenizer ?? undefined, split: "val" });
    table = await recordGpfq(p, table, data, { observer: ctx.plan.settings.observer, numClasses: numClasses(model, data.labels), memo });
  }
  const { model, report, observer } = realize(p, table, { observer: ctx.plan.settings.observer, memo });
  // The stamp names the table file the cell reads (GPFQ's per-width moments are not written to it).
  model.setMetadata("ptq-onnx.quantization", quantizationStamp(p.policy, stored, m.sha256, observer));
  const bytes = serializeModel(model);
  const summary: QuantizedSummary = {
    wbits: p.policy.wbits,
    abits: p.policy.abits,
    bytes: { input: statSync(m.file).size, output: bytes.length },
    quantized: report.quantized.length,
    left_float: report.leftFloat.length,
    calibration: { mode: table.options.mode, size: table.composition.per_class.reduce((a, b) => a + b, 0), per_class: table.composition.per_class, observer },
  };
  // The summary first: the model's presence says both are whole.
  writeFileAtomic(path.replace(/\.onnx$/, ".json"), JSON.stringify(summary) + "\n");
  writeFileAtomic(path, bytes);
  counters.quantizations++;
  return counters;
}

async function evaluate(runner: ModelRunner, data: EvalData, classes: number, stages: NoiseStage[], seed: number, file: string) {
  const { result } = await runner.score(stages.length ? noisyIds(data, stages, seed) : data.ids, stages, seed);
  const metrics = metricsFor(data.labels, result, data.labelNames, file);
  return { accuracy: metrics.accuracy, macro_f1: metrics.macro_f1, predictions: encodeLabels(result.predictions, classes) };
}

function summarizeCompare(reference: string, r: CompareReport): CompareSummary {
  const w = r.activations.scales_wilcoxon;
  return {
    reference,
    weights: {
      layers: r.weights.layers.length,
      max_changed_fraction: r.weights.layers.reduce((a, l) => Math.max(a, l.changed_fraction), 0),
      only_in_a: r.weights.only_in_a.length,
      only_in_b: r.weights.only_in_b.length,
    },
    activations: {
      tensors: r.activations.tensors.length,
      wider_in_b: r.activations.wider_in_b,
      narrower_in_b: r.activations.narrower_in_b,
      scales_wilcoxon: w.skipped !== undefined
        ? { statistic: null, p_value: null, effect_size: null, method: null, skipped: w.skipped }
        : { statistic: w.statistic, p_value: w.p_value, effect_size: w.effect_size, method: w.method },
      most_different: r.activations.most_different.slice(0, 3),
    },
    profiles: {
      status: r.profiles.status.startsWith("from ") ? "compared" : r.profiles.status,
      most_different: r.profiles.most_different.slice(0, 3),
    },
  };
}

/** Quantizes (quantized cells), evaluates clean and noisy, compares, and writes the cell file. */
export async function runCell(ctx: TaskContext, spec: CellSpec): Promise<TaskCounters> {
  const started = performance.now();
  const { plan, out } = ctx;
  const m = plan.models[spec.model];
  const counters = zeroCounters();
  const data = dataFor(plan, m);
  const seconds = { quantize: 0, eval: 0, compare: 0, total: 0 };
  let path = m.file;
  let quantized: QuantizedSummary | null = null;
  if (spec.type === "quant") {
    // Quantized by its own task (seconds.quantize stays 0 here), shared with the cells compared with it.
    path = quantizedPath(out, spec.calibration!, spec.bits!);
    if (!existsSync(path)) throw new Error(`the quantized model ${path} is missing (its quantization task did not run)`);
    quantized = JSON.parse(readFileSync(path.replace(/\.onnx$/, ".json"), "utf8")) as QuantizedSummary;
  }
  const t = performance.now();
  const runner = new ModelRunner(path, spec.type === "quant" ? loadModel(path) : floatModel(m), { batch: m.batch, threads: ctx.threads, padId: data.padId });
  let clean: Awaited<ReturnType<typeof evaluate>>;
  const noise: CellResult["noise"] = [];
  try {
    clean = await evaluate(runner, data, m.classes, [], 0, path);
    counters.evaluations++;
    for (const { kind, levels } of plan.settings.noise) {
      for (const level of levels) {
        const stages: NoiseStage[] = [{ kind, level, index: 0 }];
        const runs: EvalRun[] = [];
        for (const seed of plan.settings.seeds) {
          runs.push({ seed, ...(await evaluate(runner, data, m.classes, stages, seed, path)) });
          counters.evaluations++;
        }
        noise.push({ kind, level, runs });
      }
    }
  } finally {
    await runner.release();
  }
  seconds.eval = (performance.now() - t) / 1000;

  let compare: CompareSummary | null = null;
  if (spec.type === "quant" && spec.reference) {
    const t2 = performance.now();
    const report = await compareModels({
      a: quantizedPath(out, spec.reference, spec.bits!),
      b: path,
      float: m.file,
      calibA: calibPath(out, spec.reference),
      calibB: calibPath(out, spec.calibration!),
      predictions: false,
      seed: 0,
    });
    compare = summarizeCompare(plan.settings.reference_calib, report);
    seconds.compare = (performance.now() - t2) / 1000;
  }

  const result: CellResult = {
    n: data.ids.length,
    accuracy: clean.accuracy,
    macro_f1: clean.macro_f1,
    predictions: clean.predictions,
    noise,
    quantize: quantized,
    compare,
  };
  seconds.total = (performance.now() - started) / 1000;
  const cell: CellFile = { format: CELL_FORMAT, version: 1, hash: spec.hash, type: spec.type, key: spec.key, result, seconds };
  mkdirSync(join(out, "cells"), { recursive: true });
  if (ctx.keepModels && spec.type === "quant") {
    mkdirSync(join(out, "models"), { recursive: true });
    copyFileSync(path, join(out, "models", `${m.name}.w${spec.bits}.${spec.calib!.replace(/[^a-z0-9.]+/gi, "_")}.s${spec.calib_seed}.${spec.hash}.onnx`));
  }
  writeFileAtomic(cellPath(out, spec.hash), JSON.stringify(cell) + "\n");
  counters.cells++;
  return counters;
}

export type TaskRef =
  | { kind: "calibration"; hash: string }
  | { kind: "quantization"; hash: string; calibration: string; bits: number }
  | { kind: "cell"; hash: string };

/** Runs one task of the plan by its hash. */
export async function runTask(ctx: TaskContext, task: TaskRef): Promise<TaskCounters> {
  if (task.kind === "calibration") {
    const spec = ctx.plan.calibrations.find((c) => c.hash === task.hash);
    if (!spec) throw new Error(`no calibration ${task.hash} in the plan`);
    return runCalibration(ctx, spec);
  }
  if (task.kind === "quantization") return runQuantization(ctx, task.calibration, task.bits);
  const spec = ctx.plan.cells.find((c) => c.hash === task.hash);
  if (!spec) throw new Error(`no cell ${task.hash} in the plan`);
  return runCell(ctx, spec);
}
