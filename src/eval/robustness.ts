import { InputError, loadValidModel } from "../graph/index.ts";
import { compareScores, defaultBatch, defaultThreads, loadEvalData, metricsFor, ModelRunner, noisyIds, spread } from "./evaluate.ts";
import { parseNoiseLevels, type NoiseKind } from "./noise.ts";
import { intOption } from "./options.ts";

export interface RobustnessOptions {
  model: string;
  /** One KIND:L1,L2,... per curve (or KIND alone with `levels`). */
  noise: string[];
  levels?: string;
  /** Number of seeds per level (default 3), from `seed` up. */
  seeds?: number;
  seed?: number;
  data?: string;
  tokenizer?: string;
  rows?: number;
  batch?: number;
  threads?: number;
  /** Leave out rows whose label is not a class of the model, with a warning on stderr. */
  skipBadLabels?: boolean;
  /** Rows scored so far, per run (labelled with the model and noise). */
  onProgress?: (label: string, done: number, total: number) => void;
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

/**
 * `ptq-onnx robustness`: accuracy curves under noise over several seeds (mean and spread per
 * level), against the clean run. Throws InputError for bad input.
 */
export async function runRobustness(args: RobustnessOptions): Promise<RobustnessResult> {
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
  const data = loadEvalData(model, { data: args.data, tokenizer: args.tokenizer, rows, skipBadLabels: args.skipBadLabels });
  const batch = batchOption ?? defaultBatch(model, data.tokenizer, data.labelNames);
  const seeds = Array.from({ length: nSeeds }, (_, i) => seed0 + i);
  let label = "clean";
  const onProgress = args.onProgress ? (d: number, t: number) => args.onProgress!(`${args.model} ${label}`, d, t) : undefined;
  const runner = new ModelRunner(args.model, model, { batch, threads, padId: data.padId, onProgress });
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
    await runner.release();
  }
}
