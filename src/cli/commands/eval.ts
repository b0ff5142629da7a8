import type { Argv, CommandModule } from "yargs";
import { embeddingRows } from "../../data/resolve.ts";
import { InputError } from "../../graph/index.ts";
import { compareScores, loadEvalData, metricsFor, ModelRunner, noisyIds, defaultThreads, defaultBatch, type Agreement, type EvalMetrics } from "../../eval/evaluate.ts";
import { formatNoiseSpec, parseNoiseSpec, type GaussInsertion, type NoiseStage } from "../../eval/noise.ts";
import { integerArg, intOption } from "../options.ts";
import { printJson, table } from "../output.ts";
import { makeProgress, progressMode, progressOption } from "../progress.ts";
import { loadValidModel } from "./inspect.ts";

// The shared numeric-option parsers, re-exported for the commands that import them from here.
export { intListOption, intOption } from "../options.ts";

/** Options `eval` and `robustness` share. */
export function dataOptions<T>(y: Argv<T>) {
  return y
    .option("data", { type: "string", describe: "JSONL data file (default: the zoo model's test split)" })
    .option("tokenizer", { type: "string", describe: "tokenizer.json (default: the model's metadata, or MODEL.tokenizer.json)" })
    .option("rows", integerArg("rows", 1, { describe: "use a fixed random sample of N rows (the same for every model and seed)" }))
    .option("batch", integerArg("batch", 1, { describe: "rows per onnxruntime run (default: 256 for discriminative models, about 50 M log-softmax floats for generative ones, else 64)" }))
    .option("threads", integerArg("threads", 1, { describe: "onnxruntime intra-op threads (default: all cores)" }))
    .option("progress", progressOption)
    .option("skip-bad-labels", { type: "boolean", default: false, describe: "leave out rows whose label is not a class of the model (with a warning) instead of failing" })
    .option("json", { type: "boolean", default: false, describe: "print one JSON document" });
}

interface Args {
  model: string;
  data?: string;
  tokenizer?: string;
  noise?: string;
  seed?: number;
  batch?: number;
  threads?: number;
  rows?: number;
  reference?: string;
  progress?: string;
  "skip-bad-labels"?: boolean;
  json: boolean;
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

function f4(x: number): string {
  return x.toFixed(4);
}

function printText(r: EvalResult): void {
  const lines: string[] = [];
  const noise = r.noise ? `, noise ${r.noise.spec} (seed ${r.noise.seed})` : "";
  lines.push(`${r.model} on ${r.data}: ${r.n} rows${noise}, ${r.seconds.toFixed(1)} s`);
  lines.push(`accuracy ${f4(r.accuracy)}  macro-F1 ${f4(r.macro_f1)}`);
  lines.push("");
  const name = (c: number) => (r.per_class[c].name ? `${c} ${r.per_class[c].name}` : String(c));
  lines.push(
    table([
      ["class", "precision", "recall", "f1", "support"],
      ...r.per_class.map((c) => [name(c.label), f4(c.precision), f4(c.recall), f4(c.f1), c.support]),
    ]),
  );
  lines.push("", "confusion (rows: true class, columns: predicted)");
  lines.push(table([["", ...r.confusion.map((_, c) => String(c))], ...r.confusion.map((row, t) => [name(t), ...row])]));
  if (r.reference) {
    lines.push("", `reference ${r.reference.model}: accuracy ${f4(r.reference.accuracy)}, top-1 agreement ${f4(r.reference.agreement)}, mean KL ${r.reference.mean_kl.toExponential(3)} nats`);
  }
  process.stdout.write(lines.join("\n") + "\n");
}

export async function runEval(args: Args): Promise<EvalResult> {
  const started = performance.now();
  const batchOption = intOption(args.batch, "batch", 1);
  const threads = intOption(args.threads, "threads", 1) ?? defaultThreads();
  const seed = intOption(args.seed, "seed", 0) ?? 0;
  const rows = intOption(args.rows, "rows", 1);
  const stages: NoiseStage[] = args.noise !== undefined ? parseNoiseSpec(args.noise) : [];
  const model = loadValidModel(args.model);
  const refModel = args.reference ? loadValidModel(args.reference) : undefined;
  const data = loadEvalData(model, { data: args.data, tokenizer: args.tokenizer, rows, skipBadLabels: args["skip-bad-labels"] });
  const batch = batchOption ?? defaultBatch(model, data.tokenizer, data.labelNames);
  const ids = noisyIds(data, stages, seed);
  const mode = progressMode(args.progress);
  const bar = makeProgress(mode, args.model);
  const runner = new ModelRunner(args.model, model, { batch, threads, padId: data.padId, onProgress: bar?.update });
  const { result, gauss } = await runner.score(ids, stages, seed);
  await runner.release();
  bar?.done();
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
    const refBar = makeProgress(mode, args.reference!);
    const refRunner = new ModelRunner(args.reference!, refModel, { batch, threads, padId: data.padId, onProgress: refBar?.update });
    const ref = (await refRunner.score(ids, stages, seed)).result;
    await refRunner.release();
    refBar?.done();
    if (ref.classes !== result.classes) {
      throw new InputError(`the reference outputs ${ref.classes} scores per row, the model ${result.classes}`, args.reference);
    }
    const refMetrics = metricsFor(data.labels, ref, data.labelNames, args.reference, data);
    out.reference = { model: args.reference!, accuracy: refMetrics.accuracy, ...compareScores(ref.scores, result.scores, ref.predictions, result.predictions) };
  }
  out.seconds = (performance.now() - started) / 1000;
  return out;
}

export const evalCommand: CommandModule<object, Args> = {
  command: "eval <model>",
  describe: "Accuracy, macro-F1, per-class metrics and confusion matrix on labelled data, optionally under noise or against a reference",
  builder: (y) =>
    dataOptions(
      y
        .positional("model", { type: "string", demandOption: true, describe: "ONNX model file" })
        .option("noise", { type: "string", describe: "KIND:LEVEL joined by +, e.g. sub:0.1+typo:0.02 (kinds: sub, sub-unigram, del, ins, swap, typo, gauss)" })
        .option("seed", integerArg("seed", 0, { default: 0, describe: "noise seed" }))
        .option("reference", { type: "string", describe: "float model to compare with: top-1 agreement and mean KL divergence" }),
    ) as unknown as Argv<Args>,
  handler: async (args) => {
    const r = await runEval(args);
    if (args.json) printJson(r);
    else printText(r);
  },
};
