import type { Argv, CommandModule } from "yargs";
import { mergeBuilds, runBuild, type BuildMergeSummary, type BuildSummary } from "../../build/build.ts";
import { InputError } from "../../graph/index.ts";
import { printJson } from "../output.ts";
import { integerArg } from "../options.ts";
import { makeProgress, progressMode, progressOption } from "../progress.ts";
import { mergeCommand, shardArg, shardOptions } from "./shards.ts";

interface Args {
  file?: string;
  out: string;
  jobs?: number;
  threads?: number;
  shard?: string;
  shards?: number;
  "shard-index"?: number;
  progress?: string;
  json: boolean;
}

function printRun(r: BuildSummary): void {
  process.stdout.write(
    `build in ${r.out}: ${r.artifacts} artifacts${r.shard ? ` (shard ${r.shard}: ${r.shard_artifacts})` : ""}; ${r.built} built, ${r.cached} cached, ${r.missing} missing; ` +
      `${r.jobs} job(s) x ${r.threads} thread(s); wall ${(r.wall_seconds / 60).toFixed(1)} min\nwrote ${r.files.manifest}, ${r.files.index}\n`,
  );
}

function printMerge(r: BuildMergeSummary): void {
  process.stdout.write(`merged ${r.from.join(", ")} into ${r.out}: ${r.found} of ${r.artifacts} artifacts${r.complete ? "" : ` (${r.missing} missing)`}\nwrote ${r.files.manifest}, ${r.files.index}\n`);
}

const buildMerge = mergeCommand({
  describe: "Join the output folders of shards of one build into one manifest.json and index.html",
  folders: "build output folders",
  merge: mergeBuilds,
  print: printMerge,
});

export const buildCommand: CommandModule<object, Args> = {
  // [file], not <file>: yargs would otherwise demand it before it sees the merge subcommand.
  command: "build [file]",
  describe: "Build a model zoo from a build file: every model x recipe quantized, evaluated, timed and checksummed into a manifest (cached, parallel, shardable)",
  builder: (y) =>
    y
      .command(buildMerge)
      .positional("file", { type: "string", describe: "BUILD.json: models and recipes (see src/build/README.md)" })
      .option("out", { type: "string", default: "build-out", describe: "output folder (artifacts are cached there)" })
      .option("jobs", integerArg("jobs", 1, { describe: "worker processes (default: the cores available)" }))
      .option("threads", integerArg("threads", 1, { describe: "onnxruntime threads per job for scoring (default: cores / jobs; latency is timed at 1)" }))
      .options(shardOptions)
      .option("progress", progressOption)
      .option("json", { type: "boolean", default: false, describe: "print one JSON document" }) as unknown as Argv<Args>,
  handler: async (args) => {
    if (args.file === undefined) throw new InputError("build needs a build file: ptq-onnx build BUILD.json [--out DIR]");
    const r = await runBuild({
      buildFile: args.file,
      out: args.out,
      jobs: args.jobs,
      threads: args.threads,
      shard: shardArg(args),
      onLog: makeProgress(progressMode(args.progress), "build")?.message,
    });
    if (args.json) printJson(r);
    else printRun(r);
  },
};
