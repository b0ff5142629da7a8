/**
 * Sharding figures (issue 17): a zoo study run as one process and as 4 shard processes (each
 * with JOB_COMPLETION_INDEX and PTQ_ONNX_SHARDS set, as a Kubernetes Indexed Job would set
 * them), merged; prints whether the merged results.json has the same bytes as the
 * one-process run, where a shard process's time goes, and its fixed cost as a share of its
 * work. Then a small zoo build in one process, for the per-artifact cost (quantize, evaluate,
 * time) the README's estimate uses.
 *
 *   npx tsx scripts/build/shards.ts [--rows N] [--out DIR] [--no-build] [--no-single] [--cli dist|src] [--before DIR] [--zoo M]
 *
 * --cli dist (default) compiles src/ (`npm run build`) and runs `node dist/cli/main.js`, as the
 * container image does; --cli src runs bin/ptq-onnx.js in this checkout, which compiles the
 * sources through tsx at every start. --before DIR: another checkout of ptq-onnx (e.g. `git
 * worktree add DIR COMMIT`, with node_modules), run the same way, each of its measurements
 * right after this checkout's, so that both see the same load: prints both and their ratio.
 *
 * The shards run one after another (this machine has 2 shared cores; running them at once
 * would time contention, not overhead). On a shared machine wall times stretch with the other
 * load, so the figures are CPU seconds (user + system of the process and its children, the
 * median of 3 runs for the short ones): node alone (`node -e 0`); start-up (`study --help`:
 * node, module loading, argument parsing); the fixed cost of a shard process (`--max-cells 0`:
 * start-up, planning every model with its data, writing the outputs), as a share of each real
 * shard's CPU seconds. The calibrations and quantizations each shard redoes (a shard makes those
 * its own cells need) are counted against the one-process run's. Defaults: the WordNet-8 disc
 * and gen models, the study's --quick grid (bits 8,4; balanced and classes:0; gauss:0.006, 1
 * seed; 256 calibration rows) on 200 test rows: 10 cells.
 *
 * A checkout whose study takes `--plan` is run as the README says: one `--max-cells 0`
 * process plans once (its CPU seconds are printed, a one-off cost), then every shard reads
 * that plan; its fixed cost is then measured per shard (`--max-cells 0 --plan P --shard i/4`).
 * A checkout without it (`--before`) plans in every shard. --zoo M (default 50; 0: skip): the
 * fixed cost of shard 1 of 25 of a quick study of M model files (hard links to wordnet8-disc,
 * so that planning them is cheap; their tokenizations are shared, which a shard with a plan
 * does not do anyway), with and without the plan: how it grows with the zoo.
 */
import { spawnSync } from "node:child_process";
import { linkSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const rows = opt("rows", "200");
const out = resolve(opt("out", join(ROOT, "out", "shards")));
const mode = opt("cli", "dist");
if (mode !== "dist" && mode !== "src") throw new Error(`--cli must be dist or src, got ${mode}`);
const beforeRoot = argv.includes("--before") ? resolve(opt("before", "")) : undefined;
const SHARDS = 4;
const models = ["wordnet8-disc", "wordnet8-gen"].map((m) => join(ROOT, "models", `${m}.onnx`)).join(",");
const grid = ["--models", models, "--quick", "--rows", rows, "--jobs", "1", "--threads", "1"];

interface Tree {
  name: string;
  /** node's arguments before the CLI's own. */
  entry: string[];
  /** Whether its study takes --plan (plan once, the shards read it). */
  plan: boolean;
}

function tree(root: string, name: string): Tree {
  let entry = [join(root, "bin", "ptq-onnx.js")];
  if (mode === "dist") {
    const r = spawnSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: root, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`compiling ${root} failed: ${r.stdout}${r.stderr}`);
    entry = [join(root, "dist", "cli", "main.js")];
  }
  const help = spawnSync(process.execPath, [...entry, "study", "--help"], { encoding: "utf8" });
  return { name, entry, plan: help.stdout.includes("--plan") };
}

const trees = [tree(ROOT, "this checkout"), ...(beforeRoot ? [tree(beforeRoot, "before")] : [])];

interface Timed {
  wall: number;
  cpu: number;
}

/** Runs node with `args`; returns its wall seconds and CPU seconds (bash's `times`: user + system of its children). */
function runTimed(args: string[], env: Record<string, string> = {}): Timed {
  const t = performance.now();
  const r = spawnSync("bash", ["-c", `"$0" "$@" >/dev/null || exit $?; times >&2`, process.execPath, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${args.join(" ")} failed (${r.status}): ${r.stderr.trim().split("\n").pop()}`);
  const wall = (performance.now() - t) / 1000;
  const secs = (m: string) => Number(m.split("m")[0]) * 60 + Number(m.split("m")[1].replace("s", ""));
  const children = r.stderr.trim().split("\n").pop()!.trim().split(/\s+/);
  return { wall, cpu: secs(children[0]) + secs(children[1]) };
}
const cli = (t: Tree, args: string[], env: Record<string, string> = {}) => runTimed([...t.entry, ...args], env);

/** The median CPU seconds of 3 runs, alternating between the trees. */
function medianCpu(args: (t: Tree) => string[]): number[] {
  const runs = trees.map(() => [] as number[]);
  for (let r = 0; r < 3; r++) trees.forEach((t, i) => runs[i].push(runTimed(args(t)).cpu));
  return runs.map((v) => v.sort((a, b) => a - b)[1]);
}

/** Seconds of the tasks a run logged (`... in X s` lines) by kind, and when planning ended (the first line). */
function logPhases(dir: string): { plan: number; calibration: number; quantization: number; cell: number } {
  const p = { plan: 0, calibration: 0, quantization: 0, cell: 0 };
  for (const line of readFileSync(join(dir, "study.log"), "utf8").split("\n")) {
    const stamp = /^\[\s*(\d+(?:\.\d+)?) s\] (\w+)/.exec(line);
    if (stamp && stamp[2] === "study") p.plan = Number(stamp[1]);
    const m = / in (\d+(?:\.\d+)?) s$/.exec(line);
    if (m && stamp && (stamp[2] === "calibration" || stamp[2] === "quantization" || stamp[2] === "cell")) p[stamp[2]] += Number(m[1]);
  }
  return p;
}

const runJson = (dir: string) => JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as { counters: { calibrations: number; quantizations: number; cells: number }; wall_seconds: number };
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const both = (v: number[], fmt: (x: number) => string = f2) => (v.length === 1 ? fmt(v[0]) : `${fmt(v[0])} (before ${fmt(v[1])}, ratio ${f2(v[0] / v[1])})`);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
console.log(`zoo study, ${SHARDS} shards: ${models.split(",").length} models, --quick grid, ${rows} test rows, 1 job x 1 thread per process; CLI: ${mode === "dist" ? "compiled dist/ (as the image runs it)" : "bin/ptq-onnx.js through tsx"}`);
const loadNow = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
console.log(`load average at start: ${loadNow()}`);

const node = medianCpu(() => ["-e", "0"])[0];
const startup = medianCpu((t) => [...t.entry, "study", "--help"]);
const tag = (t: Tree) => t.name.replace(/\s/g, "-");
// Planning once: the plan every shard of a checkout with --plan reads.
const planFile = (t: Tree) => join(out, `plan-${tag(t)}`, "study.json");
const planOnce = trees.map((t) => (t.plan ? cli(t, ["study", ...grid, "--max-cells", "0", "--out", join(out, `plan-${tag(t)}`)]).cpu : 0));
const planArgs = (t: Tree) => (t.plan ? ["--plan", planFile(t)] : []);
// The fixed cost of shard i: with a plan it depends on the shard (the model files it hashes).
const fixedOf = (i: number) => medianCpu((t) => [...t.entry, "study", ...grid, ...planArgs(t), "--shard", `${i + 1}/${SHARDS}`, "--max-cells", "0", "--out", join(out, `fixed-${tag(t)}-${i}`)]);
const fixedPer = Array.from({ length: SHARDS }, (_, i) => fixedOf(i));
const fixed = trees.map((_, ti) => fixedPer.map((f) => f[ti]).sort((a, b) => a - b)[Math.floor(SHARDS / 2)]);
console.log(
  `CPU s (median of 3): node alone ${f2(node)}; start-up (study --help) ${both(startup)}; fixed cost of a shard process (--max-cells 0${trees[0].plan ? " --plan" : ""}), median over the ${SHARDS} shards ${both(fixed)}, of which planning and outputs ${both(fixed.map((f, i) => f - startup[i]))}` +
    (trees[0].plan ? `; planning once (--max-cells 0, all models) ${f2(planOnce[0])}` : ""),
);

const dirs = trees.map(() => [] as string[]);
const shardCpu = trees.map(() => [] as number[]);
const redone = trees.map(() => ({ calibrations: 0, quantizations: 0 }));
for (let i = 0; i < SHARDS; i++) {
  trees.forEach((t, ti) => {
    const dir = join(out, `${ti ? "before-" : ""}shard-${i}`);
    dirs[ti].push(dir);
    const { wall, cpu } = cli(t, ["study", ...grid, ...planArgs(t), "--shard", "auto", "--out", dir], { JOB_COMPLETION_INDEX: String(i), PTQ_ONNX_SHARDS: String(SHARDS) });
    shardCpu[ti].push(cpu);
    const ph = logPhases(dir);
    const r = runJson(dir);
    redone[ti].calibrations += r.counters.calibrations;
    redone[ti].quantizations += r.counters.quantizations;
    console.log(
      `${ti ? "  before: " : ""}shard ${i + 1}/${SHARDS}: ${r.counters.cells} cells, ${r.counters.calibrations} calibrations, ${r.counters.quantizations} quantizations; ` +
        `CPU ${f1(cpu)} s, fixed cost ${f2(fixedPer[i][ti])} s = ${pct(fixedPer[i][ti] / cpu)} of it; wall ${f1(wall)} s: planned after ${f1(ph.plan)} s, calibrations ${f1(ph.calibration)} s, quantizations ${f1(ph.quantization)} s, cells ${f1(ph.cell)} s`,
    );
  });
}
const worst = trees.map((_, ti) => Math.max(...shardCpu[ti].map((c, i) => fixedPer[i][ti] / c)));
const totalShards = shardCpu.map((v) => v.reduce((a, b) => a + b, 0));
const average = trees.map((_, ti) => fixedPer.reduce((a, f) => a + f[ti], 0) / shardCpu[ti].reduce((a, b) => a + b, 0));
console.log(`fixed cost of a shard: ${both(average, pct)} of an average shard's CPU seconds, ${both(worst, pct)} of the shard where it weighs most (target under 10 %)`);
const work = (r: { calibrations: number; quantizations: number }) => `${r.calibrations} calibrations, ${r.quantizations} quantizations`;
console.log(`all ${SHARDS} shards: CPU ${both(totalShards, f1)} s; ${work(redone[0])}${trees.length > 1 ? ` (before: ${work(redone[1])})` : ""}`);

if (!argv.includes("--no-single")) {
  const single = join(out, "single");
  const s = cli(trees[0], ["study", ...grid, "--out", single]);
  const r = runJson(single);
  console.log(`one process: CPU ${f1(s.cpu)} s, wall ${f1(s.wall)} s, ${r.counters.calibrations} calibrations, ${r.counters.quantizations} quantizations; the ${SHARDS} shards took ${f2(totalShards[0] / s.cpu)}x its CPU seconds`);
  const merged = join(out, "merged");
  cli(trees[0], ["study", "merge", ...dirs[0], "--out", merged]);
  const same = readFileSync(join(single, "results.json"), "utf8") === readFileSync(join(merged, "results.json"), "utf8");
  console.log(`merged results.json ${same ? "has the same bytes as" : "DIFFERS from"} the one-process run's`);
}

const zoo = Number(opt("zoo", "50"));
if (zoo > 0) {
  // M model files, each a hard link to wordnet8-disc: shard 1 of 25 of a quick study over them.
  const zooDir = join(out, "zoo");
  mkdirSync(zooDir, { recursive: true });
  const files = Array.from({ length: zoo }, (_, i) => join(zooDir, `m${String(i).padStart(3, "0")}-disc.onnx`));
  for (const f of files) linkSync(join(ROOT, "models", "wordnet8-disc.onnx"), f);
  const zgrid = ["--models", files.join(","), "--quick", "--rows", rows, "--jobs", "1", "--threads", "1", "--shard", "1/25", "--max-cells", "0"];
  const t = trees[0];
  const planned = cli(t, ["study", ...zgrid.slice(0, -4), "--max-cells", "0", "--out", join(zooDir, "plan")]).cpu;
  const withPlan = t.plan ? medianCpu((x) => (x === t ? [...t.entry, "study", ...zgrid, "--plan", join(zooDir, "plan", "study.json"), "--out", join(zooDir, "with")] : ["-e", "0"]))[0] : NaN;
  const without = medianCpu((x) => (x === t ? [...t.entry, "study", ...zgrid, "--out", join(zooDir, "without")] : ["-e", "0"]))[0];
  console.log(`a zoo of ${zoo} model files, shard 1/25 (--max-cells 0), CPU s (median of 3): with the plan ${f2(withPlan)}, planning every model ${f2(without)}; planning once ${f2(planned)}`);
}
console.log(`load average at end: ${loadNow()}`);

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
  const { wall } = cli(trees[0], ["build", file, "--out", join(buildDir, "out"), "--jobs", "1", "--threads", "1"]);
  console.log(`zoo build (2 models x 2 recipes, ${rows} test rows, latency at batch 1 and 32): wall ${f1(wall)} s`);
  for (const f of readdirSync(join(buildDir, "out", "entries")).sort()) {
    const e = JSON.parse(readFileSync(join(buildDir, "out", "entries", f), "utf8"));
    const s = e.seconds;
    console.log(`  ${e.entry.id}: quantize ${f1(s.quantize)} s, evaluate ${f1(s.eval)} s, time ${f1(s.bench)} s, total ${f1(s.total)} s; accuracy ${(100 * e.entry.accuracy).toFixed(2)} %, p50 ${e.entry.latency_ms["1"].toFixed(3)} / ${e.entry.latency_ms["32"].toFixed(3)} ms`);
  }
}
