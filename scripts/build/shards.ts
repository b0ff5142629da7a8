/**
 * Sharding figures (issue 17): a zoo study run as one process and as 4 shard processes (each
 * with JOB_COMPLETION_INDEX and PTQ_ONNX_SHARDS set, as a Kubernetes Indexed Job would set
 * them), merged; prints whether the merged results.json has the same bytes as the
 * one-process run, and each shard's overhead (process start-up, planning: loading the models
 * and hashing the data, writing the outputs) as a share of its wall time. Then a small zoo
 * build in one process, for the per-artifact cost (quantize, evaluate, time) the README's
 * estimate uses.
 *
 *   npx tsx scripts/build/shards.ts [--rows N] [--out DIR] [--no-build]
 *
 * The shards run one after another (this machine has 2 shared cores; running them at once
 * would time contention, not overhead). On a shared machine wall times stretch with the
 * other load, so overhead is also given in CPU seconds (user + system of the process and its
 * children): the fixed cost is that of a shard process that computes no cell (`--max-cells 0`:
 * start-up, planning, writing the outputs), as a share of a real shard's CPU seconds. Defaults: the WordNet-8 disc and gen models, the
 * study's --quick grid (bits 8,4; balanced and classes:0; gauss:0.006, 1 seed; 256
 * calibration rows) on 200 test rows: 10 cells.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const CLI = join(ROOT, "bin", "ptq-onnx.js");
const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const rows = opt("rows", "200");
const out = resolve(opt("out", join(ROOT, "out", "shards")));
const SHARDS = 4;
const models = ["wordnet8-disc", "wordnet8-gen"].map((m) => join(ROOT, "models", `${m}.onnx`)).join(",");
const grid = ["--models", models, "--quick", "--rows", rows, "--jobs", "1", "--threads", "1"];

/** Runs the CLI; returns its wall seconds and CPU seconds (bash's `times`: user + system of its children). */
function runTimed(args: string[], env: Record<string, string> = {}): { wall: number; cpu: number } {
  const t = performance.now();
  const r = spawnSync("bash", ["-c", `"$0" "$@" >/dev/null || exit $?; times >&2`, process.execPath, CLI, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`ptq-onnx ${args.join(" ")} failed (${r.status}): ${r.stderr.trim().split("\n").pop()}`);
  const wall = (performance.now() - t) / 1000;
  const secs = (m: string) => Number(m.split("m")[0]) * 60 + Number(m.split("m")[1].replace("s", ""));
  const children = r.stderr.trim().split("\n").pop()!.trim().split(/\s+/);
  return { wall, cpu: secs(children[0]) + secs(children[1]) };
}
const run = (args: string[], env: Record<string, string> = {}) => runTimed(args, env).wall;

/** Seconds of the tasks a run logged (`... in X s` lines), i.e. its work. */
function taskSeconds(dir: string): number {
  let s = 0;
  for (const line of readFileSync(join(dir, "study.log"), "utf8").split("\n")) {
    const m = / in (\d+(?:\.\d+)?) s$/.exec(line);
    if (m) s += Number(m[1]);
  }
  return s;
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
console.log(`zoo study, ${SHARDS} shards: ${models.split(",").length} models, --quick grid, ${rows} test rows, 1 job x 1 thread per process`);
const single = join(out, "single");
const singleWall = run(["study", ...grid, "--out", single]);
const singleWork = taskSeconds(single);
console.log(`one process: wall ${singleWall.toFixed(1)} s, tasks ${singleWork.toFixed(1)} s, overhead ${(100 * (1 - singleWork / singleWall)).toFixed(1)} %`);

const fixed = runTimed(["study", ...grid, "--max-cells", "0", "--out", join(out, "fixed")]);
console.log(`fixed cost of a shard process (no cell computed): wall ${fixed.wall.toFixed(1)} s, CPU ${fixed.cpu.toFixed(1)} s`);
const dirs: string[] = [];
let worst = 0;
let worstCpu = 0;
for (let i = 0; i < SHARDS; i++) {
  const dir = join(out, `shard-${i}`);
  dirs.push(dir);
  const { wall, cpu } = runTimed(["study", ...grid, "--shard", "auto", "--out", dir], { JOB_COMPLETION_INDEX: String(i), PTQ_ONNX_SHARDS: String(SHARDS) });
  const work = taskSeconds(dir);
  const share = 1 - work / wall;
  worst = Math.max(worst, share);
  worstCpu = Math.max(worstCpu, fixed.cpu / cpu);
  const cells = readdirSync(join(dir, "cells")).filter((f) => f.endsWith(".json")).length;
  console.log(
    `shard ${i + 1}/${SHARDS}: ${cells} cells, wall ${wall.toFixed(1)} s, tasks ${work.toFixed(1)} s, overhead ${(wall - work).toFixed(1)} s = ${(100 * share).toFixed(1)} % of its wall time; ` +
      `CPU ${cpu.toFixed(1)} s, fixed cost ${(100 * fixed.cpu / cpu).toFixed(1)} % of it`,
  );
}
const merged = join(out, "merged");
run(["study", "merge", ...dirs, "--out", merged]);
const same = readFileSync(join(single, "results.json"), "utf8") === readFileSync(join(merged, "results.json"), "utf8");
console.log(`merged results.json ${same ? "has the same bytes as" : "DIFFERS from"} the one-process run's`);
console.log(`largest per-shard overhead: ${(100 * worstCpu).toFixed(1)} % of CPU seconds, ${(100 * worst).toFixed(1)} % of wall time on this shared machine (target under 10 %)`);

if (!argv.includes("--no-build")) {
  const buildDir = join(out, "build");
  mkdirSync(buildDir, { recursive: true });
  const file = join(buildDir, "BUILD.json");
  writeFileSync(
    file,
    JSON.stringify({
      models: [{ zoo: "wordnet8-disc" }, { zoo: "wordnet8-gen" }],
      recipes: [
        { name: "w8", bits: 8, calib: "balanced" },
        { name: "w4-gptq", bits: 4, calib: "balanced", rounding: "gptq" },
      ],
      rows: Number(rows),
      bench: { batches: [1, 32], runs: 50, warmup: 5 },
    }),
  );
  const wall = run(["build", file, "--out", join(buildDir, "out"), "--jobs", "1", "--threads", "1"]);
  console.log(`zoo build (2 models x 2 recipes, ${rows} test rows, latency at batch 1 and 32): wall ${wall.toFixed(1)} s`);
  for (const f of readdirSync(join(buildDir, "out", "entries")).sort()) {
    const e = JSON.parse(readFileSync(join(buildDir, "out", "entries", f), "utf8"));
    const s = e.seconds;
    console.log(`  ${e.entry.id}: quantize ${s.quantize.toFixed(1)} s, evaluate ${s.eval.toFixed(1)} s, time ${s.bench.toFixed(1)} s, total ${s.total.toFixed(1)} s; accuracy ${(100 * e.entry.accuracy).toFixed(2)} %, p50 ${e.entry.latency_ms["1"].toFixed(3)} / ${e.entry.latency_ms["32"].toFixed(3)} ms`);
  }
}
