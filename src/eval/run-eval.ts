import { embeddingRows } from "../data/resolve.ts";
import { InputError, loadValidModel } from "../graph/index.ts";
import { compareScores, defaultBatch, defaultThreads, loadEvalData, metricsFor, ModelRunner, noisyIds, type Agreement, type EvalMetrics } from "./evaluate.ts";
import { formatNoiseSpec, parseNoiseSpec, type GaussInsertion, type NoiseStage } from "./noise.ts";
import { intOption } from "./options.ts";

export interface EvalOptions {
  model: string;
  /** JSONL data; default the zoo model's test split. */
  data?: string;
  tokenizer?: string;
  /** KIND:LEVEL joined by + (see noise.ts). */
  noise?: string;
  seed?: number;
  batch?: number;
  threads?: number;
  /** A fixed random sample of this many rows. */
  rows?: number;
  /** A float model to compare with: top-1 agreement and mean KL. */
  reference?: string;
  /** Leave out rows whose label is not a class of the model, with a warning on stderr. */
  skipBadLabels?: boolean;
  /** Rows scored so far, per model file. */
  onProgress?: (model: string, done: number, total: number) => void;
}

export interface EvalResult extends EvalMetrics {
  model: string;
  data: string;
  data_sha256: string;
  labels: string[] | null;
  noise: { spec: string; stages: { kind: string; level: number }[]; seed: number; gauss: GaussInsertion[] } | null;
  batch: number;
  threads: number;
  seconds: number;
  reference?: Agreement & { model: string; accuracy: number };
}

/**
 * `ptq-onnx eval`: accuracy, macro-F1, per-class metrics and confusion of a model on labelled
 * data, optionally under noise and against a reference model. Throws InputError for bad input.
 */
export async function runEval(args: EvalOptions): Promise<EvalResult> {
  const started = performance.now();
  const batchOption = intOption(args.batch, "batch", 1);
  const threads = intOption(args.threads, "threads", 1) ?? defaultThreads();
  const seed = intOption(args.seed, "seed", 0) ?? 0;
  const rows = intOption(args.rows, "rows", 1);
  const stages: NoiseStage[] = args.noise !== undefined ? parseNoiseSpec(args.noise) : [];
  const model = loadValidModel(args.model);
  const refModel = args.reference ? loadValidModel(args.reference) : undefined;
  const data = loadEvalData(model, { data: args.data, tokenizer: args.tokenizer, rows, skipBadLabels: args.skipBadLabels });
  const batch = batchOption ?? defaultBatch(model, data.tokenizer, data.labelNames);
  const ids = noisyIds(data, stages, seed);
  const runner = new ModelRunner(args.model, model, { batch, threads, padId: data.padId, onProgress: args.onProgress ? (d, t) => args.onProgress!(args.model, d, t) : undefined });
  const { result, gauss } = await runner.score(ids, stages, seed);
  await runner.release();
  const metrics = metricsFor(data.labels, result, data.labelNames, args.model, data);
  const out: EvalResult = {
    model: args.model,
    data: data.source,
    data_sha256: data.sha256,
    labels: data.labelNames ?? null,
    ...metrics,
    noise: args.noise !== undefined
      ? { spec: formatNoiseSpec(stages), stages: stages.map(({ kind, level }) => ({ kind, level })), seed, gauss }
      : null,
    batch,
    threads,
    seconds: 0,
  };
  if (refModel) {
    const refRows = embeddingRows(refModel);
    const tooBig = refRows === undefined ? -1 : ids.findIndex((r) => r.some((id) => id >= refRows));
    if (tooBig >= 0) throw new InputError(`row ${tooBig + 1}: token id outside the reference's embedding (${refRows} rows)`, args.reference);
    const refRunner = new ModelRunner(args.reference!, refModel, { batch, threads, padId: data.padId, onProgress: args.onProgress ? (d, t) => args.onProgress!(args.reference!, d, t) : undefined });
    const ref = (await refRunner.score(ids, stages, seed)).result;
    await refRunner.release();
    if (ref.classes !== result.classes) {
      throw new InputError(`the reference outputs ${ref.classes} scores per row, the model ${result.classes}`, args.reference);
    }
    const refMetrics = metricsFor(data.labels, ref, data.labelNames, args.reference, data);
    out.reference = { model: args.reference!, accuracy: refMetrics.accuracy, ...compareScores(ref.scores, result.scores, ref.predictions, result.predictions) };
  }
  out.seconds = (performance.now() - started) / 1000;
  return out;
}
