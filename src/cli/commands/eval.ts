import type { Argv, CommandModule } from "yargs";
import { runEval, type EvalOptions, type EvalResult } from "../../eval/run-eval.ts";
import { integerArg } from "../options.ts";
import { printJson, table } from "../output.ts";
import { makeProgress, progressMode, progressOption } from "../progress.ts";

// The shared numeric-option parsers, re-exported for the commands that import them from here.
export { intListOption, intOption } from "../options.ts";

/**
 * The library's onProgress for `--progress` (auto|plain|none): one reporter whose label is
 * the file or run being scored. Call `done` before printing results.
 */
export function progressReporter(mode: unknown): { onProgress?: (label: string, done: number, total: number) => void; done: () => void } {
  let label = "";
  const bar = makeProgress(progressMode(mode), () => label);
  if (!bar) return { done: () => {} };
  return {
    onProgress: (l, done, total) => {
      if (l !== label) bar.done();
      label = l;
      bar.update(done, total);
    },
    done: bar.done,
  };
}

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

interface Args extends EvalOptions {
  progress?: string;
  "skip-bad-labels"?: boolean;
  json: boolean;
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
    const progress = progressReporter(args.progress);
    const r = await runEval({ ...args, skipBadLabels: args["skip-bad-labels"], onProgress: progress.onProgress }).finally(progress.done);
    if (args.json) printJson(r);
    else printText(r);
  },
};
