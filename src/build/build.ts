/**
 * `ptq-onnx build` and `ptq-onnx build merge` as library calls: plan the (model x recipe)
 * artifacts, make the ones this shard owns that are not cached, and write the manifest.
 *
 * OUT/
 *   build.json            the plan: models with data hashes, recipes, artifacts with hashes and commands
 *   artifacts/ID.onnx     the quantized model, and ID.calib.json its calibration table
 *   entries/HASH.json     one finished artifact's manifest entry (a rerun skips it)
 *   manifest.json         every finished artifact, in plan order
 *   index.html            the same as a page
 *   run.json              what the last run did
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { checkOutputs, InputError, writeFileAtomic } from "../graph/index.ts";
import { canonicalJson } from "../study/hash.ts";
import { parseShard, shardCells } from "../study/plan.ts";
import { SOURCE_EXT, runTasks, type PoolTask } from "../study/pool.ts";
import { zeroCounters, type TaskCounters } from "../study/tasks.ts";
import { makeManifest, renderIndex, type Manifest } from "./manifest.ts";
import { artifactCost, planBuild, type BuildPlan } from "./plan.ts";
import { readBuildFile } from "./spec.ts";
import { artifactFiles, entryPath, readEntry, type BuildContext, type ManifestEntry } from "./tasks.ts";

const PLAN_FILE = "build.json";
const OWN_FILES = [PLAN_FILE, "manifest.json", "index.html", "run.json"];
const TASKS = new URL(`./tasks${SOURCE_EXT}`, import.meta.url).href;

export interface BuildRunOptions {
  buildFile: string;
  out: string;
  jobs?: number;
  threads?: number;
  /** `i/n` (resolve `auto` with src/study/shard.ts first). */
  shard?: string;
  onLog?: (line: string) => void;
}

export interface BuildSummary {
  out: string;
  artifacts: number;
  shard: string | null;
  shard_artifacts: number;
  cached: number;
  built: number;
  missing: number;
  complete: boolean;
  jobs: number;
  threads: number;
  wall_seconds: number;
  counters: TaskCounters;
  files: { manifest: string; index: string };
}

function checkBuildOutputs(out: string, inputs: { path: string | null | undefined; role: string }[]): void {
  checkOutputs({
    inputs: inputs.map((i) => ({ path: i.path ?? undefined, role: i.role })),
    dirs: [{ path: out, role: "output folder (--out)" }],
    files: OWN_FILES.map((f) => ({ path: join(out, f), role: `output file ${f}` })),
  });
}

function entriesIn(out: string, plan: BuildPlan): Map<string, ManifestEntry> {
  const found = new Map<string, ManifestEntry>();
  for (const a of plan.artifacts) {
    const e = readEntry(out, a.hash);
    if (e) found.set(a.hash, e.entry);
  }
  return found;
}

function writeOutputs(out: string, plan: BuildPlan, info: { merged_from?: string[]; shard?: string | null }): { manifest: Manifest; files: BuildSummary["files"] } {
  const manifest = makeManifest(plan, entriesIn(out, plan));
  const files = { manifest: join(out, "manifest.json"), index: join(out, "index.html") };
  writeFileAtomic(join(out, PLAN_FILE), JSON.stringify(plan, null, 1) + "\n");
  writeFileAtomic(files.manifest, JSON.stringify(manifest, null, 2) + "\n");
  writeFileAtomic(files.index, renderIndex(plan, manifest, info));
  return { manifest, files };
}

function intAtLeast(v: number | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < min) throw new InputError(`--${name} must be an integer of at least ${min}, got ${v}`);
  return v;
}

/** Reads the build file, checks everything, then makes this shard's missing artifacts. */
export async function runBuild(opts: BuildRunOptions): Promise<BuildSummary> {
  const started = performance.now();
  const cores = availableParallelism();
  const jobs = intAtLeast(opts.jobs, "jobs", 1) ?? cores;
  const threads = intAtLeast(opts.threads, "threads", 1) ?? Math.max(1, Math.floor(cores / jobs));
  const shard = parseShard(opts.shard);
  const buildFile = resolve(opts.buildFile);
  const plan = planBuild(readBuildFile(buildFile), buildFile);
  const out = resolve(opts.out);
  checkBuildOutputs(out, [
    { path: buildFile, role: "build file" },
    ...plan.models.flatMap((m) => [
      { path: m.file, role: `model ${m.name}` },
      { path: m.calib_data, role: `calib_data of ${m.name}` },
      { path: m.test_data, role: `test_data of ${m.name}` },
      { path: m.tokenizer, role: `tokenizer of ${m.name}` },
    ]),
  ]);

  mkdirSync(join(out, "entries"), { recursive: true });
  writeFileAtomic(join(out, PLAN_FILE), JSON.stringify(plan, null, 1) + "\n");
  // Contiguous runs of the plan: a shard holds whole models' artifacts where it can (their float model is scored once per process).
  const mine = shardCells(plan.artifacts, shard, (a) => artifactCost(plan, a));
  const cached = mine.filter((a) => readEntry(out, a.hash));
  const todo = mine.filter((a) => !cached.includes(a));
  const log = (line: string) => opts.onLog?.(`[${((performance.now() - started) / 1000).toFixed(1).padStart(7)} s] ${line}`);
  log(`build: ${plan.artifacts.length} artifacts${shard ? `, shard ${opts.shard} has ${mine.length}` : ""}; ${cached.length} cached, ${todo.length} to build; ${jobs} job(s) x ${threads} thread(s)`);

  const tasks: PoolTask[] = todo.map((a, id) => ({ id, ref: { kind: "cell", hash: a.hash }, deps: [], cost: artifactCost(plan, a), label: a.id }));
  const ctx: BuildContext = { plan, out, threads };
  let done = 0;
  const counters = tasks.length ? await runTasks(tasks, ctx, jobs, (task, _c, secs) => log(`artifact ${++done}/${todo.length} ${task.label} in ${secs.toFixed(1)} s`), TASKS) : zeroCounters();

  const { manifest, files } = writeOutputs(out, plan, { shard: opts.shard ?? null });
  const wall = (performance.now() - started) / 1000;
  const summary: BuildSummary = {
    out,
    artifacts: plan.artifacts.length,
    shard: opts.shard ?? null,
    shard_artifacts: mine.length,
    cached: cached.length,
    built: counters.cells,
    missing: manifest.missing.length,
    complete: manifest.complete,
    jobs,
    threads,
    wall_seconds: wall,
    counters,
    files,
  };
  writeFileAtomic(join(out, "run.json"), JSON.stringify(summary, null, 2) + "\n");
  return summary;
}

function readPlan(dir: string): BuildPlan {
  const path = join(dir, PLAN_FILE);
  if (!existsSync(path)) throw new InputError(`no ${PLAN_FILE} (not a build output folder)`, dir);
  try {
    const plan = JSON.parse(readFileSync(path, "utf8")) as BuildPlan;
    if (plan.format !== "ptq-onnx.build.plan" || !Array.isArray(plan.artifacts)) throw new Error("format");
    return plan;
  } catch {
    throw new InputError(`is not a ptq-onnx build plan`, path);
  }
}

export interface BuildMergeSummary {
  out: string;
  from: string[];
  artifacts: number;
  found: number;
  missing: number;
  complete: boolean;
  files: BuildSummary["files"];
}

/**
 * Joins shard outputs of one build into OUT: checks first that every folder holds the same
 * build made by the same tool version and that no two disagree on an artifact, then copies
 * the artifacts and entries and writes the manifest and page. Nothing is written on a refusal.
 */
export function mergeBuilds(dirs: string[], outDir: string): BuildMergeSummary {
  if (dirs.length === 0) throw new InputError("build merge needs at least one build output folder");
  const plans = dirs.map(readPlan);
  const first = plans[0];
  const ident = (p: BuildPlan) => canonicalJson({ build: p.build_sha256, artifacts: p.artifacts.map((a) => a.hash) });
  plans.forEach((p, i) => {
    const where = join(dirs[i], PLAN_FILE);
    if (p.tool_version !== first.tool_version) throw new InputError(`made by ptq-onnx ${p.tool_version}, but ${dirs[0]} by ${first.tool_version}: rebuild with one version`, where);
    if (ident(p) !== ident(first)) throw new InputError(`is a shard of another build (build ${p.build_sha256.slice(0, 12)} from ${p.build_file}) than ${dirs[0]} (build ${first.build_sha256.slice(0, 12)} from ${first.build_file})`, where);
  });
  const out = resolve(outDir);
  checkBuildOutputs(out, []);
  const picked = new Map<string, { dir: string; entry: ManifestEntry }>();
  for (const dir of dirs) {
    for (const a of first.artifacts) {
      const e = readEntry(dir, a.hash);
      if (!e) continue;
      const have = picked.get(a.hash);
      if (have && (have.entry.sha256 !== e.entry.sha256 || have.entry.accuracy !== e.entry.accuracy)) {
        throw new InputError(`artifact ${a.id} differs from the one in ${have.dir} (sha256 ${e.entry.sha256.slice(0, 12)} vs ${have.entry.sha256.slice(0, 12)})`, entryPath(dir, a.hash));
      }
      if (!have) picked.set(a.hash, { dir, entry: e.entry });
    }
  }
  mkdirSync(join(out, "entries"), { recursive: true });
  mkdirSync(join(out, "artifacts"), { recursive: true });
  for (const [hash, { dir, entry }] of picked) {
    if (resolve(dir) === out) continue;
    const files = artifactFiles(entry.id);
    for (const f of [files.model, files.table]) writeFileAtomic(join(out, f), readFileSync(join(dir, f)));
    writeFileAtomic(entryPath(out, hash), readFileSync(entryPath(dir, hash)));
  }
  const { manifest, files } = writeOutputs(out, first, { merged_from: dirs });
  return { out, from: dirs, artifacts: first.artifacts.length, found: manifest.artifacts.length, missing: manifest.missing.length, complete: manifest.complete, files };
}
