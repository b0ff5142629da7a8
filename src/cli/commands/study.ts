import type { Argv, CommandModule } from "yargs";
import { join } from "node:path";
import { InputError, checkOutputs, type NamedPath } from "../../graph/index.ts";
import { ROUNDINGS, type Rounding } from "../../passes/policy.ts";
import { presetNames } from "../../pipeline/presets.ts";
import { mergeStudies, runStudy, type MergeSummary, type RunSummary } from "../../study/study.ts";
import { printJson } from "../output.ts";
import { integerArg } from "../options.ts";
import { makeProgress, progressMode, progressOption } from "../progress.ts";
import { mergeCommand, shardArg, shardOptions } from "./shards.ts";
import { intListOption, intOption } from "./eval.ts";

interface Args {
  models?: string[];
  bits?: string[];
  calib?: string[];
  noise?: string[];
  seeds?: number;
  "calib-seeds"?: number;
  "calib-size"?: number;
  observer?: string;
  "lstm-internals"?: boolean;
  rounding?: string;
  recipe?: string;
  rows?: number;
  "calib-data"?: string;
  "test-data"?: string;
  tokenizer?: string;
  batch?: number;
  kinds?: string[];
  resamples?: number;
  quick?: boolean;
  out: string;
  jobs?: number;
  threads?: number;
  shard?: string;
  shards?: number;
  "shard-index"?: number;
  "max-cells"?: number;
  plan?: string;
  "keep-models"?: boolean;
  progress?: string;
  json: boolean;
}

/**
 * Comma-separated specs, also given as a repeated option. A part that starts with a digit,
 * a dot or a minus continues the spec before it, so `classes:0,2,balanced` is two modes and
 * `gauss:0.002,0.006,sub:0.1` two noise kinds.
 */
export function specList(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const out: string[] = [];
  for (const part of (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(","))) {
    const t = part.trim();
    if (t === "") continue;
    if (/^[\d.\-]/.test(t) && out.length && out[out.length - 1].includes(":")) out[out.length - 1] += `,${t}`;
    else out.push(t);
  }
  return out;
}

function list(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(",")).map((s) => s.trim()).filter(Boolean);
}

function printRun(r: RunSummary): void {
  const lines = [
    `study in ${r.out}: ${r.cells} cells${r.shard ? ` (shard ${r.shard}: ${r.shard_cells})` : ""}; ${r.computed} computed, ${r.cached} cached, ${r.missing} missing; ` +
      `${r.counters.calibrations} calibrations, ${r.counters.quantizations} quantizations, ${r.counters.evaluations} evaluations; ` +
      `${r.jobs} job(s) x ${r.threads} thread(s); wall ${(r.wall_seconds / 60).toFixed(1)} min`,
  ];
  for (const f of r.findings) lines.push(`${f.id}: ${f.verdict} (${f.summary})`);
  lines.push(`wrote ${r.files.results}, ${r.files.csv}, ${r.files.report}`);
  process.stdout.write(lines.join("\n") + "\n");
}

function printMerge(r: MergeSummary): void {
  const lines = [`merged ${r.from.join(", ")} into ${r.out}: ${r.found} of ${r.cells} cells${r.complete ? "" : ` (${r.missing} missing)`}`];
  for (const f of r.findings) lines.push(`${f.id}: ${f.verdict} (${f.summary})`);
  lines.push(`wrote ${r.files.results}, ${r.files.csv}, ${r.files.report}`);
  process.stdout.write(lines.join("\n") + "\n");
}

/** The study's own files in OUT; cells, calibration tables and models go in its subfolders. */
const STUDY_FILES = ["study.json", "results.json", "results.csv", "report.html", "run.json"];

/** Checks OUT before any work: a writable folder (or creatable), none of whose files is an input. */
function checkStudyOutputs(out: string, inputs: NamedPath[] = []): void {
  checkOutputs({ inputs, dirs: [{ path: out, role: "output folder (--out)" }], files: STUDY_FILES.map((f) => ({ path: join(out, f), role: `output file ${f}` })) });
}

const studyMerge = mergeCommand({
  describe: "Join the output folders of shards (--shard i/n) of one study into one, with its results and report",
  folders: "study output folders",
  merge: (dirs, out) => {
    checkStudyOutputs(out);
    return mergeStudies(dirs, out);
  },
  print: printMerge,
});

export const studyCommand: CommandModule<object, Args> = {
  command: "study",
  describe: "The calibration, bit-width and noise study over models: quantize, evaluate, test, report (cached, parallel, shardable)",
  builder: (y) =>
    y
      .command(studyMerge)
      .option("models", { type: "string", array: true, describe: "A.onnx,B.onnx (float models; repeatable)" })
      .option("bits", { type: "string", array: true, describe: "bit widths (default 3,4,5,6,8; quick 8,4)" })
      .option("calib", { type: "string", array: true, describe: "calibration modes (default balanced,natural,classes:0; quick balanced,classes:0)" })
      .option("noise", { type: "string", array: true, describe: "KIND:L1,L2,... per kind, repeatable, or none (default gauss:0.002,0.006,0.01; quick gauss:0.006)" })
      .option("seeds", integerArg("seeds", 1, { describe: "noise seeds per level (default 3; quick 1)" }))
      .option("calib-seeds", integerArg("calib-seeds", 1, { describe: "calibration sampling seeds per cell (default 1)" }))
      .option("calib-size", integerArg("calib-size", 1, { describe: "calibration rows (default 512; quick 256)" }))
      .option("observer", { type: "string", describe: "activation range observer (default percentile:99.99; mse with --lstm-internals)" })
      .option("lstm-internals", { type: "boolean", describe: "decompose LSTMs and quantize their internals" })
      .option("rounding", { type: "string", choices: [...ROUNDINGS], describe: "weight rounding (default nearest)" })
      .option("recipe", { type: "string", describe: `a named recipe (${presetNames().join(", ")}) for the options above that are not given` })
      .option("rows", integerArg("rows", 0, { describe: "test rows: a fixed random sample of N, 0 for all (default all; quick 300)" }))
      .option("calib-data", { type: "string", describe: "labelled JSONL calibration pool (default: each zoo model's validation split)" })
      .option("test-data", { type: "string", describe: "labelled JSONL test data (default: each zoo model's test split)" })
      .option("tokenizer", { type: "string", describe: "tokenizer JSON (default: the model's metadata)" })
      .option("batch", integerArg("batch", 1, { describe: "rows per onnxruntime run (default: eval's rule per model)" }))
      .option("kinds", { type: "string", array: true, describe: "discriminative|generative per model, for models without ptq-onnx.kind metadata" })
      .option("resamples", integerArg("resamples", 1, { describe: "bootstrap resamples (default 10000; quick 2000)" }))
      .option("quick", { type: "boolean", default: false, describe: "small grid for CI (defaults above)" })
      .option("out", { type: "string", default: "study-out", describe: "output folder (cells are cached there)" })
      .option("jobs", integerArg("jobs", 1, { describe: "worker processes (default: the cores available)" }))
      .option("threads", integerArg("threads", 1, { describe: "onnxruntime threads per job (default: cores / jobs)" }))
      .options(shardOptions)
      .option("max-cells", integerArg("max-cells", 0, { describe: "compute at most N cells this run (rerun to finish)" }))
      .option("plan", { type: "string", describe: "the study.json of a run with the same options (plan once with --max-cells 0): a shard then loads only its own cells' models" })
      .option("keep-models", { type: "boolean", default: false, describe: "keep the quantized models in OUT/models" })
      .option("progress", progressOption)
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }) as unknown as Argv<Args>,
  handler: async (args) => {
    const shard = shardArg(args);
    const models = list(args.models);
    if (!models || models.length === 0) throw new InputError("--models A.onnx,B.onnx is required");
    checkStudyOutputs(args.out, [
      ...models.map((path) => ({ path, role: "input model" })),
      { path: args["calib-data"], role: "--calib-data file" },
      { path: args["test-data"], role: "--test-data file" },
      { path: args.tokenizer, role: "--tokenizer file" },
    ]);
    const noiseSpecs = specList(args.noise);
    const noise = noiseSpecs && noiseSpecs.length === 1 && noiseSpecs[0] === "none" ? [] : noiseSpecs;
    const r = await runStudy({
      models,
      bits: intListOption(args.bits, "bits", 2),
      calib: specList(args.calib),
      noise,
      seeds: intOption(args.seeds, "seeds", 1),
      calibSeeds: intOption(args["calib-seeds"], "calib-seeds", 1),
      calibSize: intOption(args["calib-size"], "calib-size", 1),
      observer: args.observer,
      lstmInternals: args["lstm-internals"],
      rounding: args.rounding as Rounding | undefined,
      recipe: args.recipe,
      rows: intOption(args.rows, "rows", 0),
      calibData: args["calib-data"],
      testData: args["test-data"],
      tokenizer: args.tokenizer,
      batch: intOption(args.batch, "batch", 1),
      kinds: list(args.kinds),
      resamples: intOption(args.resamples, "resamples", 1),
      quick: args.quick,
      out: args.out,
      jobs: intOption(args.jobs, "jobs", 1),
      threads: intOption(args.threads, "threads", 1),
      shard,
      maxCells: intOption(args["max-cells"], "max-cells", 0),
      plan: args.plan,
      keepModels: args["keep-models"],
      onLog: makeProgress(progressMode(args.progress), "study")?.message,
    });
    if (args.json) printJson(r);
    else printRun(r);
  },
};
