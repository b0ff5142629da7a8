/**
 * One build task: make one artifact. Quantizes the model with its recipe into
 * OUT/artifacts/ID.onnx and ID.calib.json (installed as a pair), scores the float and the
 * quantized model on the test rows, times the artifact at 1 thread (each batch size in its
 * own process, as `bench` does) and writes the manifest entry OUT/entries/HASH.json
 * atomically. Runs in the main process or in the study's worker processes (src/study/pool.ts).
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { quantizeModel } from "../pipeline/quantize-file.ts";
import { quantizeToOrt } from "../lower/index.ts";
import { benchModels } from "../eval/bench.ts";
import { loadEvalData, metricsFor, ModelRunner, type EvalData } from "../eval/evaluate.ts";
import type { PredictResult } from "../eval/predict.ts";
import { InputError, loadModel, writeFileAtomic, type Model } from "../graph/index.ts";
import { fileSha256 } from "../study/hash.ts";
import { zeroCounters, type TaskCounters, type TaskRef } from "../study/tasks.ts";
import { quantizeOptions, recipeLowerOptions, type ArtifactSpec, type BuildModel, type BuildPlan } from "./plan.ts";
import { TOOL_VERSION, type Format } from "./spec.ts";

export const ENTRY_FORMAT = "ptq-onnx.build.entry";

/** One artifact in manifest.json. `latency_ms` is the only part that is not deterministic. */
export interface ManifestEntry {
  id: string;
  hash: string;
  model: string;
  recipe: string;
  wbits: number;
  abits: number;
  /** `qdq`: the Q/DQ model; `ort`: lowered to onnxruntime's integer kernels (`quantize --format ort`). */
  format: Format;
  /** Relative to the build output folder. */
  file: string;
  calib_table: string;
  sha256: string;
  bytes: number;
  calib_table_sha256: string;
  float_bytes: number;
  size_ratio: number;
  test: { source: string; rows: number };
  accuracy: number;
  macro_f1: number;
  float_accuracy: number;
  float_macro_f1: number;
  /** Fraction of test rows whose top-1 equals the float model's. */
  agreement: number;
  /** p50 latency in ms by batch size, 1 onnxruntime thread; null when the build does not time. */
  latency_ms: Record<string, number> | null;
  tool_version: string;
  command: string;
}

export interface EntryFile {
  format: typeof ENTRY_FORMAT;
  version: 1;
  hash: string;
  entry: ManifestEntry;
  /** Not part of the manifest: how long each part took. */
  seconds: { quantize: number; eval: number; bench: number; total: number };
}

export interface BuildContext {
  plan: BuildPlan;
  out: string;
  threads: number;
}

export const entryPath = (out: string, hash: string): string => join(out, "entries", `${hash}.json`);
export const artifactFiles = (id: string) => ({ model: `artifacts/${id}.onnx`, table: `artifacts/${id}.calib.json` });

/** The entry file when it is whole, the one asked for, and its artifact files are still the ones it describes. */
export function readEntry(out: string, hash: string, checkFiles = true): EntryFile | undefined {
  const path = entryPath(out, hash);
  if (!existsSync(path)) return undefined;
  try {
    const e = JSON.parse(readFileSync(path, "utf8")) as EntryFile;
    if (e.format !== ENTRY_FORMAT || e.version !== 1 || e.hash !== hash || !e.entry) return undefined;
    if (checkFiles) {
      const model = join(out, e.entry.file);
      const table = join(out, e.entry.calib_table);
      if (!existsSync(model) || !existsSync(table)) return undefined;
      if (fileSha256(model) !== e.entry.sha256 || fileSha256(table) !== e.entry.calib_table_sha256) return undefined;
    }
    return e;
  } catch {
    return undefined;
  }
}

/** Per-process caches: each float model, its test rows and its scores are made once. */
const floats = new Map<number, { model: Model; data: EvalData; result: PredictResult; accuracy: number; macro_f1: number }>();

async function score(path: string, model: Model, m: BuildModel, data: EvalData, threads: number): Promise<PredictResult> {
  const runner = new ModelRunner(path, model, { batch: m.batch, threads, padId: data.padId });
  try {
    return (await runner.score(data.ids)).result;
  } finally {
    await runner.release();
  }
}

async function floatOf(ctx: BuildContext, m: BuildModel) {
  let f = floats.get(m.index);
  if (!f) {
    const model = loadModel(m.file);
    const data = loadEvalData(model, { data: m.test_data ?? undefined, tokenizer: m.tokenizer ?? undefined, rows: ctx.plan.rows ?? undefined });
    if (data.sha256 !== m.test.sha256) throw new InputError(`the test rows changed since the build was planned`, m.test_data ?? m.file);
    const result = await score(m.file, model, m, data, ctx.threads);
    const metrics = metricsFor(data.labels, result, data.labelNames, m.file);
    f = { model, data, result, accuracy: metrics.accuracy, macro_f1: metrics.macro_f1 };
    floats.set(m.index, f);
  }
  return f;
}

export async function runArtifact(ctx: BuildContext, spec: ArtifactSpec): Promise<TaskCounters> {
  const started = performance.now();
  const { plan, out } = ctx;
  const m = plan.models[spec.model];
  const r = plan.recipes[spec.recipe];
  const counters = zeroCounters();
  const files = artifactFiles(spec.id);
  mkdirSync(join(out, "artifacts"), { recursive: true });
  // quantize --format ort: quantized and lowered in memory, the lowered model and its table written as one pair.
  const opts = quantizeOptions(m, r, { model: join(out, files.model), table: join(out, files.table) });
  const q = r.format === "ort" ? await quantizeToOrt(opts, recipeLowerOptions(r)) : await quantizeModel(opts);
  counters.calibrations++;
  counters.quantizations++;
  const tQuant = performance.now();

  const f = await floatOf(ctx, m);
  const path = join(out, files.model);
  const result = await score(path, loadModel(path), m, f.data, ctx.threads);
  const metrics = metricsFor(f.data.labels, result, f.data.labelNames, path);
  let same = 0;
  for (let i = 0; i < result.predictions.length; i++) if (result.predictions[i] === f.result.predictions[i]) same++;
  counters.evaluations += 1;
  const tEval = performance.now();

  let latency: ManifestEntry["latency_ms"] = null;
  if (plan.bench) {
    const [bench] = benchModels([{ path, model: loadModel(path) }], { ...plan.bench, threads: [1], seed: 0, data: m.test_data ?? undefined, tokenizer: m.tokenizer ?? undefined });
    latency = Object.fromEntries(bench.results.map((b) => [String(b.batch), b.latency_ms.p50]));
  }
  const tBench = performance.now();

  const entry: ManifestEntry = {
    id: spec.id,
    hash: spec.hash,
    model: m.name,
    recipe: r.name,
    wbits: q.wbits,
    abits: q.abits,
    format: r.format,
    file: files.model,
    calib_table: files.table,
    sha256: fileSha256(path),
    bytes: q.bytes.output,
    calib_table_sha256: fileSha256(join(out, files.table)),
    float_bytes: q.bytes.input,
    size_ratio: q.bytes.output / q.bytes.input,
    test: { source: f.data.source, rows: f.data.ids.length },
    accuracy: metrics.accuracy,
    macro_f1: metrics.macro_f1,
    float_accuracy: f.accuracy,
    float_macro_f1: f.macro_f1,
    agreement: result.predictions.length ? same / result.predictions.length : 0,
    latency_ms: latency,
    tool_version: TOOL_VERSION,
    command: spec.command,
  };
  const s = (a: number, b: number) => (b - a) / 1000;
  const file: EntryFile = { format: ENTRY_FORMAT, version: 1, hash: spec.hash, entry, seconds: { quantize: s(started, tQuant), eval: s(tQuant, tEval), bench: s(tEval, tBench), total: s(started, tBench) } };
  mkdirSync(join(out, "entries"), { recursive: true });
  writeFileAtomic(entryPath(out, spec.hash), JSON.stringify(file, null, 1) + "\n");
  counters.cells++;
  return counters;
}

/** The pool's entry point (src/study/pool.ts): a build task is an artifact, named by its hash. */
export async function runTask(ctx: BuildContext, task: TaskRef): Promise<TaskCounters> {
  const spec = ctx.plan.artifacts.find((a) => a.hash === task.hash);
  if (!spec) throw new Error(`no artifact ${task.hash} in the build plan`);
  return runArtifact(ctx, spec);
}
