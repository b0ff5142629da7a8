/** A small build over the zoo's tiny fixture models: 2 models x 2 recipes on 40 test rows. */
import { writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { spawnSync } from "node:child_process";
import { ROOT } from "../helpers.ts";

export const TINY = join(ROOT, "test", "zoo", "fixtures");

/** Writes BUILD.json into `dir` (paths relative to it, as users write them); `edit` changes the object first. */
export function writeBuildFile(dir: string, edit: (b: Record<string, unknown>) => void = () => {}, name = "BUILD.json"): string {
  const rel = (f: string) => relative(dir, join(TINY, f));
  const model = (f: string) => ({ path: rel(f), calib_data: rel("tiny-test.jsonl"), test_data: rel("tiny-test.jsonl") });
  const build: Record<string, unknown> = {
    models: [model("tiny-disc.onnx"), model("tiny-gen.onnx")],
    recipes: [
      { name: "w8", bits: 8, calib: "balanced", calib_size: 30 },
      { name: "w4-int4", bits: 4, calib: "natural", calib_size: 30, rounding: "gptq", pack_int4: true },
    ],
    rows: 40,
    bench: { batches: [1, 32], runs: 3, warmup: 1 },
  };
  edit(build);
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(build, null, 2) + "\n");
  return file;
}

/** Runs the real CLI with extra environment variables (as an engine sets them). */
export function cli(args: string[], env: Record<string, string> = {}, cwd = ROOT) {
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "ptq-onnx.js"), ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, PTQ_ONNX_DEBUG: "", JOB_COMPLETION_INDEX: "", PTQ_ONNX_SHARDS: "", ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
