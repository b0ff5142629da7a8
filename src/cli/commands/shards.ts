/**
 * What `study` and `build` share as sharded commands: the `--shard`, `--shards` and
 * `--shard-index` options with their resolution (`auto` from the engine, src/study/shard.ts),
 * and the `merge DIR... --out DIR` subcommand that joins the shards' output folders.
 */
import type { Argv, CommandModule } from "yargs";
import { resolveShard } from "../../study/shard.ts";
import { printJson } from "../output.ts";
import { integerArg } from "../options.ts";

/** `--shard`, `--shards` and `--shard-index`, as `study` and `build` both take them (`.options(shardOptions)`). */
export const shardOptions = {
  shard: { type: "string", describe: "i/n: run only this share (merge the outputs); auto: from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or --shard-index" },
  shards: integerArg("shards", 1, { describe: "with --shard auto: the shard count (else PTQ_ONNX_SHARDS)" }),
  "shard-index": integerArg("shard-index", 0, { describe: "with --shard auto: this shard's 0-based index, e.g. a CI matrix index (else JOB_COMPLETION_INDEX)" }),
} as const;

/** `--shard` as `i/n`, resolving `auto` from the options and the environment. */
export function shardArg(args: { shard?: string; shards?: number; "shard-index"?: number }): string | undefined {
  return resolveShard(args.shard, { count: args.shards, index: args["shard-index"], env: process.env });
}

interface MergeArgs {
  dirs: string[];
  out: string;
  json: boolean;
}

/**
 * The `merge <dirs..> --out DIR [--json]` subcommand: `merge` joins the folders (checking them
 * and the output itself) and returns its summary, printed as JSON or by `print`.
 */
export function mergeCommand<R>(spec: { describe: string; folders: string; merge: (dirs: string[], out: string) => R; print: (r: R) => void }): CommandModule<object, MergeArgs> {
  return {
    command: "merge <dirs..>",
    describe: spec.describe,
    builder: (y) =>
      y
        .positional("dirs", { type: "string", array: true, demandOption: true, describe: spec.folders })
        .option("out", { type: "string", demandOption: true, describe: "merged output folder" })
        .option("json", { type: "boolean", default: false, describe: "print one JSON document" }) as unknown as Argv<MergeArgs>,
    handler: (args) => {
      const r = spec.merge(args.dirs.map(String), args.out);
      if (args.json) printJson(r);
      else spec.print(r);
    },
  };
}
