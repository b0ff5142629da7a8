import type { Argv, CommandModule } from "yargs";
import { runRobustness, type RobustnessOptions, type RobustnessResult } from "../../eval/robustness.ts";
import { printJson, table } from "../output.ts";
import { integerArg } from "../options.ts";
import { dataOptions, progressReporter } from "./eval.ts";

interface Args extends RobustnessOptions {
  progress?: string;
  "skip-bad-labels"?: boolean;
  json: boolean;
}

function printText(r: RobustnessResult): void {
  const lines = [
    `${r.model} on ${r.data}: ${r.n} rows, seeds ${r.seeds.join(", ")}; clean accuracy ${r.clean.accuracy.toFixed(4)}, ${r.seconds.toFixed(1)} s`,
    "",
  ];
  const rowsOut: (string | number)[][] = [["noise", "level", "accuracy", "std", "min", "max", "macro-F1", "agree clean"]];
  for (const c of r.curves) {
    for (const p of c.points) {
      const agree = p.runs.reduce((a, x) => a + x.agreement_with_clean, 0) / p.runs.length;
      rowsOut.push([c.kind, String(p.level), p.accuracy.mean.toFixed(4), p.accuracy.std.toFixed(4), p.accuracy.min.toFixed(4), p.accuracy.max.toFixed(4), p.macro_f1.mean.toFixed(4), agree.toFixed(4)]);
    }
  }
  lines.push(table(rowsOut));
  process.stdout.write(lines.join("\n") + "\n");
}

export const robustnessCommand: CommandModule<object, Args> = {
  command: "robustness <model>",
  describe: "Accuracy curves under noise: each level of each kind over several seeds, with mean and spread",
  builder: (y) =>
    dataOptions(
      y
        .positional("model", { type: "string", demandOption: true, describe: "ONNX model file" })
        .option("noise", { type: "string", array: true, demandOption: true, describe: "KIND:L1,L2,... (repeatable), e.g. sub:0,0.05,0.1" })
        .option("levels", { type: "string", describe: "L1,L2,... for a --noise given as a bare KIND" })
        .option("seeds", integerArg("seeds", 1, { default: 3, describe: "noise seeds per level" }))
        .option("seed", integerArg("seed", 0, { default: 0, describe: "first seed (seeds are SEED, SEED+1, ...)" })),
    ) as unknown as Argv<Args>,
  handler: async (args) => {
    const progress = progressReporter(args.progress);
    const r = await runRobustness({ ...args, skipBadLabels: args["skip-bad-labels"], onProgress: progress.onProgress }).finally(progress.done);
    if (args.json) printJson(r);
    else printText(r);
  },
};
