/**
 * The evaluation API of the package (`ptq-onnx/eval`): one call for a model's metrics on
 * labelled data, and the pieces the `eval` and `robustness` commands build from.
 */
import { InputError, loadModel, validateModel } from "../graph/index.ts";
import { defaultBatch, loadEvalData, metricsFor, ModelRunner, type DataSelection, type EvalMetrics, type RunOptions } from "./evaluate.ts";

export * from "./evaluate.ts";
export type { Metrics, ClassMetrics } from "./metrics.ts";

export interface ModelEvaluation extends EvalMetrics {
  model: string;
  /** Where the rows came from (a file, or the zoo split). */
  data: string;
  data_sha256: string;
  labels: string[] | null;
}

/**
 * Accuracy, macro-F1, per-class metrics and confusion of a model file on clean labelled data
 * (`opts.data`, else the zoo test split its metadata names), as `ptq-onnx eval` reports them.
 */
export async function evaluateModel(path: string, opts: DataSelection & RunOptions = {}): Promise<ModelEvaluation> {
  const model = loadModel(path);
  const problems = validateModel(model);
  if (problems.length) throw new InputError(problems[0], path);
  const data = loadEvalData(model, opts);
  // The batch rule of `ptq-onnx eval`, so that a generative model scores as it does there.
  const batch = opts.batch ?? defaultBatch(model, data.tokenizer, data.labelNames);
  const runner = new ModelRunner(path, model, { batch, threads: opts.threads, padId: data.padId });
  try {
    const { result } = await runner.score(data.ids);
    const metrics = metricsFor(data.labels, result, data.labelNames, path);
    return { model: path, data: data.source, data_sha256: data.sha256, labels: data.labelNames ?? null, ...metrics };
  } finally {
    await runner.release();
  }
}
