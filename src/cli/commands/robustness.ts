import type { Argv, CommandModule } from "yargs";
import { InputError } from "../../graph/index.ts";
import { compareScores, defaultThreads, loadEvalData, metricsFor, ModelRunner, noisyIds, spread, defaultBatch } from "../../eval/evaluate.ts";
import { parseNoiseLevels, type NoiseKind } from "../../eval/noise.ts";
import { printJson, table } from "../output.ts";
import { integerArg } from "../options.ts";
import { makeProgress, progressMode } from "../progress.ts";
import { dataOptions, intOption } from "./eval.ts";
import { loadValidModel } from "./inspect.ts";

interface Args {
  model: string;
  noise: string[];
  levels?: string;
  seeds?: number;
  seed?: number;
  data?: string;
  tokenizer?: string;
  rows?: number;
  batch?: number;
  threads?: number;
  progress?: string;
  "skip-bad-labels"?: boolean;
  json: boolean;
}

export interface RobustnessRun {
  seed: number;
  accuracy: number;
  macro_f1: number;
  /** Fraction of rows predicted as without noise. */
  agreement_with_clean: number;
}

export interface RobustnessPoint {
  level: number;
  accuracy: { mean: number; std: number; min: number; max: number };
  macro_f1: { mean: number; std: number; min: number; max: number };
  runs: RobustnessRun[];
}

export interface RobustnessResult {
  model: string;
  data: string;
  data_sha256: string;
  n: number;
  seeds: number[];
  batch: number;
  threads: number;
  clean: { accuracy: number; macro_f1: number };
  curves: { kind: NoiseKind; points: RobustnessPoint[] }[];
  seconds: number;
}

export async function runRobustness(args: Args): Promise<RobustnessResult> {
  const started = performance.now();
  const batchOption = intOption(args.batch, "batch", 1);
  const threads = intOption(args.threads, "threads", 1) ?? defaultThreads();
  const nSeeds = intOption(args.seeds, "seeds", 1) ?? 3;
  const seed0 = intOption(args.seed, "seed", 0) ?? 0;
  const rows = intOption(args.rows, "rows", 1);
  const specs = (args.noise ?? []).map(String);
  if (specs.length === 0) throw new InputError("--noise KIND:L1,L2,... is required");
  if (args.levels !== undefined && specs.length > 1) throw new InputError("--levels goes with a single --noise KIND");
  const curvesSpec = specs.map((s) => parseNoiseLevels(s, args.levels));
  const model = loadValidModel(args.model);
  const data = loadEvalData(model, { data: args.data, tokenizer: args.tokenizer, rows, skipBadLabels: args["skip-bad-labels"] });
  const batch = batchOption ?? defaultBatch(model, data.tokenizer, data.labelNames);
  const seeds = Array.from({ length: nSeeds }, (_, i) => seed0 + i);
  let label = "clean";
  const bar = makeProgress(progressMode(args.progress), () => `${args.model} ${label}`);
  const runner = new ModelRunner(args.model, model, { batch, threads, padId: data.padId, onProgress: bar?.update });
  try {
    const clean = (await runner.score(data.ids)).result;
    const cleanMetrics = metricsFor(data.labels, clean, data.labelNames, args.model, data);
    const curves: RobustnessResult["curves"] = [];
    for (const { kind, levels } of curvesSpec) {
      const points: RobustnessPoint[] = [];
      for (const level of levels) {
        const runs: RobustnessRun[] = [];
        for (const seed of seeds) {
          if (level === 0) {
            // Level 0 changes nothing: the clean run stands for every seed.
            runs.push({ seed, accuracy: cleanMetrics.accuracy, macro_f1: cleanMetrics.macro_f1, agreement_with_clean: 1 });
            continue;
          }
          label = `${kind}:${level} seed ${seed}`;
          const stages = [{ kind, level, index: 0 }];
          const { result } = await runner.score(noisyIds(data, stages, seed), stages, seed);
          const m = metricsFor(data.labels, result, data.labelNames, args.model);
          const agree = compareScores(clean.scores, result.scores, clean.predictions, result.predictions).agreement;
          runs.push({ seed, accuracy: m.accuracy, macro_f1: m.macro_f1, agreement_with_clean: agree });
        }
        points.push({ level, accuracy: spread(runs.map((r) => r.accuracy)), macro_f1: spread(runs.map((r) => r.macro_f1)), runs });
      }
      curves.push({ kind, points });
    }
    return {
      model: args.model,
      data: data.source,
      data_sha256: data.sha256,
      n: data.ids.length,
      seeds,
      batch,
      threads,
      clean: { accuracy: cleanMetrics.accuracy, macro_f1: cleanMetrics.macro_f1 },
      curves,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    bar?.done();
    await runner.release();
  }
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
    const r = await runRobustness(args);
    if (args.json) printJson(r);
    else printText(r);
  },
};
