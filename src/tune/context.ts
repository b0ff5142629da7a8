/**
 * What `sensitivity` and `tune` share: the float model, one calibration (its table serves
 * every bit width and every per-layer setting), the fixed validation sample and the float
 * model's scores on it, and the scoring of a realized model against them, all in memory.
 */
import { statSync } from "node:fs";
import { InputError, checkWeights, findRoles, loadModel, serializeModel, validateModel, type Model } from "../graph/index.ts";
import { loadLabelledData } from "../data/resolve.ts";
import { parseObserver } from "../calibrate/observers.ts";
import { sha256File, type CalibrationTable } from "../calibrate/table.ts";
import { defaultBatch, defaultThreads, loadEvalData, metricsFor, type EvalData } from "../eval/evaluate.ts";
import { predictScores, type PredictResult } from "../eval/predict.ts";
import { makePolicy, type PolicyOptions, type QuantPolicy } from "../passes/index.ts";
import { calibrate, plan, realize, type QuantPlan } from "../pipeline/index.ts";
import { DEFAULT_CALIB_SIZE, DEFAULT_INTERNALS_OBSERVER, DEFAULT_OBSERVER, numClasses } from "../pipeline/quantize-file.ts";
import { quantizationStamp } from "../pipeline/stamp.ts";

export const MIN_BITS = 2;
export const MAX_BITS = 8;
export const DEFAULT_SENSITIVITY_BITS = [2, 3, 4, 6, 8];

/** Options shared by sensitivity and tune: the calibration, as quantize takes it, and the validation sample. */
export interface ContextOptions {
  model: string;
  /** Labelled JSONL: the calibration pool and the validation sample (default: the zoo model's validation split). */
  data?: string;
  tokenizer?: string;
  /** Rows of the validation sample (default: every row; eval --rows N's sample). */
  rows?: number;
  calib?: string;
  calibSize?: number;
  seed?: number;
  observer?: string;
  granularity?: "per-channel" | "per-tensor";
  lstmInternals?: boolean;
  packInt4?: boolean;
  /** onnxruntime threads (default: the cores available). */
  threads?: number;
  onLog?: (line: string) => void;
}

export interface Scored {
  accuracy: number;
  /** Fraction of sample rows whose top-1 class is the float model's. */
  agreement: number;
  /** 10 log10(sum s^2 / sum (s - s_q)^2) over every score of the sample, in dB (Infinity when equal). */
  scores_sqnr_db: number;
  predictions: number[];
}

export interface Context {
  file: string;
  source: Model;
  sha256: string;
  /** The name of the scores output (never quantized). */
  scores: string;
  policyOptions: PolicyOptions;
  observer: string;
  table: CalibrationTable;
  sample: EvalData;
  float: PredictResult & { accuracy: number };
  batch: number;
  threads: number;
  floatBytes: number;
  seconds: { calibrate: number; float: number };
}

/** 10 log10(signal / noise) in dB; Infinity for no noise, -Infinity for no signal. */
export function sqnrDb(signal: number, noise: number): number {
  if (noise === 0) return Infinity;
  return 10 * Math.log10(signal / noise);
}

export function checkBitsList(bits: readonly number[], what = "--bits"): number[] {
  if (bits.length === 0) throw new InputError(`${what} lists no bit width`);
  for (const b of bits) {
    if (!Number.isInteger(b) || b < MIN_BITS || b > MAX_BITS) throw new InputError(`${what} must list integers from ${MIN_BITS} to ${MAX_BITS}, got ${b}`);
  }
  return [...new Set(bits)].sort((a, b) => a - b);
}

/** Loads and checks the model, calibrates once (the 8-bit plan: activation targets do not depend on the width) and scores the float model on the sample. */
export async function prepareContext(opts: ContextOptions): Promise<Context> {
  const source = loadModel(opts.model);
  const problems = validateModel(source);
  if (problems.length) throw new InputError(problems[0], opts.model);
  const weights = checkWeights(source);
  if (weights.errors.length) throw new InputError(weights.errors[0], opts.model);
  const scores = findRoles(source).scores.name;
  const policyOptions: PolicyOptions = {
    granularity: opts.granularity,
    lstmInternals: opts.lstmInternals,
    packInt4: opts.packInt4,
    exclude: [scores],
  };
  makePolicy(policyOptions); // bad options fail before the long work
  const observer = parseObserver(opts.observer ?? (opts.lstmInternals ? DEFAULT_INTERNALS_OBSERVER : DEFAULT_OBSERVER)).spec;
  const sample = loadEvalData(source, { data: opts.data, tokenizer: opts.tokenizer, rows: opts.rows, split: "val" });
  if (sample.ids.length === 0) throw new InputError("the validation sample has no rows", opts.data ?? opts.model);
  const sha256 = sha256File(opts.model);
  const threads = opts.threads ?? defaultThreads();
  const batch = defaultBatch(source, sample.tokenizer, sample.labelNames);

  let t = performance.now();
  const data = loadLabelledData(source, { data: opts.data, tokenizer: opts.tokenizer, split: "val" });
  const calibration = await calibrate(plan(source, makePolicy({ ...policyOptions, bits: 8 })), data, {
    mode: opts.calib ?? "balanced",
    size: opts.calibSize ?? DEFAULT_CALIB_SIZE,
    seed: opts.seed ?? 0,
    observer,
    numClasses: numClasses(source, data.labels),
    modelFile: opts.model,
    modelSha256: sha256,
  });
  const calibrateSeconds = (performance.now() - t) / 1000;
  opts.onLog?.(`calibrated on ${calibration.selection.indices.length} rows of ${data.source} (${calibrateSeconds.toFixed(1)} s)`);

  t = performance.now();
  const f = await predictScores(serializeModel(source), sample.ids, { batch, padId: sample.padId, intraOpThreads: threads, file: opts.model });
  const accuracy = metricsFor(sample.labels, f, sample.labelNames, sample.source).accuracy;
  const floatSeconds = (performance.now() - t) / 1000;
  opts.onLog?.(`float model: accuracy ${(accuracy * 100).toFixed(2)} % on ${sample.ids.length} rows of ${sample.source} (${floatSeconds.toFixed(1)} s)`);
  return {
    file: opts.model,
    source,
    sha256,
    scores,
    policyOptions,
    observer,
    table: calibration.table,
    sample,
    float: { ...f, accuracy },
    batch,
    threads,
    floatBytes: statSync(opts.model).size,
    seconds: { calibrate: calibrateSeconds, float: floatSeconds },
  };
}

/** The plan of the context's model under a policy with these widths and overrides. */
export function planWith(ctx: Context, opts: PolicyOptions): QuantPlan {
  return plan(ctx.source, makePolicy({ ...ctx.policyOptions, ...opts }));
}

/** The realized model of a plan (or part of one) with quantize's metadata stamp, serialized. */
export function realizeBytes(ctx: Context, p: QuantPlan, recipe?: string): { model: Model; bytes: Uint8Array; policy: QuantPolicy } {
  const r = realize(p, ctx.table, { observer: ctx.observer });
  r.model.setMetadata("ptq-onnx.quantization", quantizationStamp(p.policy, ctx.table, ctx.sha256, r.observer, recipe));
  return { model: r.model, bytes: serializeModel(r.model), policy: p.policy };
}

/** Scores model bytes on the validation sample against the float model's scores. */
export async function scoreBytes(ctx: Context, bytes: Uint8Array, label = "quantized"): Promise<Scored> {
  const q = await predictScores(bytes, ctx.sample.ids, { batch: ctx.batch, padId: ctx.sample.padId, intraOpThreads: ctx.threads, file: `${ctx.file} (${label})` });
  const accuracy = metricsFor(ctx.sample.labels, q, ctx.sample.labelNames, ctx.sample.source).accuracy;
  let same = 0;
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < q.scores.length; i++) {
    if (q.predictions[i] === ctx.float.predictions[i]) same++;
    const a = ctx.float.scores[i];
    const b = q.scores[i];
    for (let j = 0; j < a.length; j++) {
      signal += a[j] * a[j];
      noise += (a[j] - b[j]) ** 2;
    }
  }
  return { accuracy, agreement: same / q.scores.length, scores_sqnr_db: sqnrDb(signal, noise), predictions: q.predictions };
}
