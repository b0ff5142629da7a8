/** Predictions: McNemar's test and paired-bootstrap intervals of A against B on the test rows. */
import { loadLabelledData, modelTokenizer } from "../data/resolve.ts";
import { defaultBatch, sampleRows } from "../eval/evaluate.ts";
import { predictScores } from "../eval/predict.ts";
import { InputError, type Model } from "../graph/index.ts";
import { pairedBootstrap } from "../stats/bootstrap.ts";
import { mcnemar } from "../stats/mcnemar.ts";
import type { CompareOptions, PredictionComparison } from "./report.ts";

export async function comparePredictions(opts: CompareOptions, ma: Model, seed: number, resamples: number): Promise<PredictionComparison> {
  const data = loadLabelledData(ma, { data: opts.data, tokenizer: opts.tokenizer, split: "test" });
  const pickRows = sampleRows(data.ids.length, opts.rows);
  const ids = pickRows ? pickRows.map((i) => data.ids[i]) : data.ids;
  const labels = pickRows ? pickRows.map((i) => data.labels[i]) : data.labels;
  const tokenizer = modelTokenizer(ma, opts.tokenizer);
  const batch = opts.batch ?? defaultBatch(ma, tokenizer, data.labelNames);
  const padId = tokenizer?.spec.pad_id ?? 0;
  const run = async (file: string, which: string) => {
    try {
      return await predictScores(file, ids, {
        batch,
        padId,
        intraOpThreads: opts.threads,
        onProgress: opts.onProgress ? (d, t) => opts.onProgress!(`scoring ${which}`, d, t) : undefined,
      });
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(`cannot score the test rows: ${(err as Error).message}`, file);
    }
  };
  const pa = await run(opts.a, "A");
  const pb = await run(opts.b, "B");
  const correctA = labels.map((y, i) => pa.predictions[i] === y);
  const correctB = labels.map((y, i) => pb.predictions[i] === y);
  const acc = pairedBootstrap(labels, pa.predictions, pb.predictions, { metric: "accuracy", seed, resamples });
  const f1 = pairedBootstrap(labels, pa.predictions, pb.predictions, { metric: "macro_f1", seed, resamples });
  return {
    data: data.source,
    data_sha256: data.sha256,
    n: labels.length,
    accuracy_a: acc.metric_a,
    accuracy_b: acc.metric_b,
    macro_f1_a: f1.metric_a,
    macro_f1_b: f1.metric_b,
    mcnemar: mcnemar(correctA, correctB),
    bootstrap: { accuracy: acc, macro_f1: f1 },
  };
}
