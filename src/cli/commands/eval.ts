import type { Argv, CommandModule } from "yargs";
import { runEval, type EvalOptions, type EvalResult } from "../../eval/run-eval.ts";
import { printJson, table } from "../output.ts";

export { intListOption, intOption } from "../../eval/options.ts";

/** Progress lines on stderr, only when stderr is a terminal (the contract keeps pipes clean). */
export function progressLines(): ((label: string, done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (label, done, total) => process.stderr.write(`\r\x1b[K${label}: ${done}/${total} rows${done === total ? "\r\x1b[K" : ""}`);
}

/** Options `eval` and `robustness` share. */
export function dataOptions<T>(y: Argv<T>) {
  return y
    .option("data", { type: "string", describe: "JSONL data file (default: the zoo model's test split)" })
    .option("tokenizer", { type: "string", describe: "tokenizer.json (default: the model's metadata, or MODEL.tokenizer.json)" })
    .option("rows", { type: "number", describe: "use a fixed random sample of N rows (the same for every model and seed)" })
    .option("batch", { type: "number", describe: "rows per onnxruntime run (default: 256 for discriminative models, about 50 M log-softmax floats for generative ones, else 64)" })
    .option("threads", { type: "number", describe: "onnxruntime intra-op threads (default: all cores)" })
    .option("json", { type: "boolean", default: false, describe: "print one JSON document" });
}

interface Args extends EvalOptions {
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
        .option("seed", { type: "number", default: 0, describe: "noise seed" })
        .option("reference", { type: "string", describe: "float model to compare with: top-1 agreement and mean KL divergence" }),
    ) as unknown as Argv<Args>,
  handler: async (args) => {
    const r = await runEval({ ...args, onProgress: progressLines() });
    if (args.json) printJson(r);
    else printText(r);
  },
};
