/**
 * `ptq-onnx study` and `ptq-onnx study merge` as library calls: plan the grid, run what is
 * not cached (in worker processes), and write results.json, results.csv and report.html.
 *
 * OUT/
 *   study.json        the plan: settings, models with data hashes, calibrations, cells
 *   cells/<hash>.json one finished cell each (written atomically; a rerun skips them)
 *   calib/<hash>.calib.json  calibration tables, shared by every bit width
 *   quantized/<calibration>.w<bits>.onnx  quantized models while the run needs them (removed after)
 *   results.json      deterministic: the same for one run and for merged shards
 *   results.csv       one row per finished cell
 *   report.html       the report (timings included)
 *   run.json          what the last run did (cells computed and cached, wall time)
 *   study.log         one line per finished task, with times
 */
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { InputError, processAlive, writeFileAtomic } from "../graph/index.ts";
import { aggregate, type StudyResults } from "./aggregate.ts";
import { resultsCsv } from "./csv.ts";
import { canonicalJson } from "./hash.ts";
import { buildPlan, cellCost, normalizeSettings, parseShard, planFromFile, shardCells, type Plan, type StudyOptions } from "./plan.ts";
import { runTasks, type PoolTask } from "./pool.ts";
import { renderReport, type RunInfo } from "./report.ts";
import { calibPath, cellPath, quantizedPath, readCell, zeroCounters, type CellFile, type TaskCounters } from "./tasks.ts";

export interface RunOptions {
  out: string;
  /** Worker processes (default: the cores available). */
  jobs?: number;
  /** onnxruntime threads per job (default: cores / jobs, at least 1). */
  threads?: number;
  /** `i/n`: run only that deterministic share of the cells. */
  shard?: string;
  /** Compute at most this many cells in this run (the rest stay missing until a rerun). */
  maxCells?: number;
  /**
   * A study.json another run of the same options wrote (e.g. a `--max-cells 0` run, once,
   * before the shards): the plan is read from it rather than made; only the model files of this
   * run's own cells are read (hashed, checked against it: planFromFile), no other model or data.
   */
  plan?: string;
  /** Keep the quantized models in OUT/models. */
  keepModels?: boolean;
  /** Called with each progress line (also appended to OUT/study.log). */
  onLog?: (line: string) => void;
}

export interface RunSummary {
  out: string;
  cells: number;
  /** Cells of this shard (all cells without --shard). */
  shard_cells: number;
  cached: number;
  computed: number;
  missing: number;
  counters: TaskCounters;
  wall_seconds: number;
  jobs: number;
  threads: number;
  shard: string | null;
  complete: boolean;
  findings: { id: string; verdict: string; summary: string }[];
  files: { results: string; csv: string; report: string };
}

const PLAN_FILE = "study.json";

function readPlan(dir: string): Plan {
  const path = join(dir, PLAN_FILE);
  if (!existsSync(path)) throw new InputError(`no ${PLAN_FILE} (not a study output folder)`, dir);
  try {
    const plan = JSON.parse(readFileSync(path, "utf8")) as Plan;
    if (plan.format !== "ptq-onnx.study.plan") throw new Error("format");
    return plan;
  } catch {
    throw new InputError(`${PLAN_FILE} is not a ptq-onnx study plan`, dir);
  }
}

function readPlanText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new InputError(`--plan: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, file);
  }
}

/** The plan's finished cells found in OUT/cells. */
function loadCells(out: string, plan: Plan): Map<string, CellFile> {
  const cells = new Map<string, CellFile>();
  for (const c of plan.cells) {
    const file = readCell(cellPath(out, c.hash), c.hash);
    if (file) cells.set(c.hash, file);
  }
  return cells;
}

/** Writes results.json, results.csv and report.html for the plan and whatever cells OUT holds. */
export function writeOutputs(out: string, plan: Plan, info: Omit<RunInfo, "cellSeconds">): { results: StudyResults; files: RunSummary["files"] } {
  const cells = loadCells(out, plan);
  const results = aggregate(plan, cells);
  const cellSeconds: Record<string, number> = {};
  for (const [hash, c] of cells) cellSeconds[hash] = c.seconds?.total ?? 0;
  const files = { results: join(out, "results.json"), csv: join(out, "results.csv"), report: join(out, "report.html") };
  writeFileAtomic(files.results, JSON.stringify(results, null, 2) + "\n");
  writeFileAtomic(files.csv, resultsCsv(results));
  writeFileAtomic(files.report, renderReport(results, { ...info, cellSeconds }));
  return { results, files };
}

/**
 * Removes what a killed run left: temporary files of atomic writes in cells/ and calib/ and
 * models in tmp/, each named with the id of the process that wrote it, when that process is gone.
 */
function removeStaleTemporaries(out: string): void {
  for (const dir of ["cells", "calib", "quantized", "tmp"]) {
    const path = join(out, dir);
    if (!existsSync(path)) continue;
    for (const f of readdirSync(path)) {
      const m = /\.(\d+)\.(?:tmp|onnx|calibration\.onnx|reference\.onnx)$/.exec(f);
      if (m && Number(m[1]) !== process.pid && !processAlive(Number(m[1]))) rmSync(join(path, f), { force: true });
    }
  }
}

function intAtLeast(v: number | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < min) throw new InputError(`--${name} must be an integer of at least ${min}, got ${v}`);
  return v;
}

export async function runStudy(opts: StudyOptions & RunOptions): Promise<RunSummary> {
  const started = performance.now();
  const cores = availableParallelism();
  const jobs = intAtLeast(opts.jobs, "jobs", 1) ?? cores;
  const threads = intAtLeast(opts.threads, "threads", 1) ?? Math.max(1, Math.floor(cores / jobs));
  const maxCells = intAtLeast(opts.maxCells, "max-cells", 0);
  const shard = parseShard(opts.shard);
  const settings = normalizeSettings(opts);
  const byCost = (p: Plan) => shardCells(p.cells, shard, (c) => cellCost(p, c));
  const plan = opts.plan === undefined ? buildPlan(opts, settings) : planFromFile(opts, opts.plan, readPlanText(opts.plan), (p) => byCost(p).map((c) => c.model), settings);
  const out = opts.out;
  mkdirSync(join(out, "cells"), { recursive: true });
  removeStaleTemporaries(out);
  writeFileAtomic(join(out, PLAN_FILE), JSON.stringify(plan, null, 1) + "\n");

  const logFile = join(out, "study.log");
  const log = (line: string) => {
    const stamped = `[${((performance.now() - started) / 1000).toFixed(1).padStart(7)} s] ${line}`;
    appendFileSync(logFile, stamped + "\n");
    opts.onLog?.(stamped);
  };

  const mine = byCost(plan);
  const cached = mine.filter((c) => readCell(cellPath(out, c.hash), c.hash));
  let todo = mine.filter((c) => !cached.includes(c));
  if (maxCells !== undefined) todo = todo.slice(0, maxCells);
  // Each quantized model the cells read (their own and the reference they are compared with) is
  // made once, from its calibration, by one task; each calibration runs once for every width.
  const quantUsed = new Map<string, { calibration: string; bits: number }>();
  for (const c of todo) for (const h of [c.calibration, c.reference]) if (h) quantUsed.set(`${h}.w${c.bits}`, { calibration: h, bits: c.bits! });
  const quantNeeded = new Map([...quantUsed].filter(([, q]) => !existsSync(quantizedPath(out, q.calibration, q.bits))));
  const calibNeeded = new Set<string>();
  for (const q of quantNeeded.values()) if (!existsSync(calibPath(out, q.calibration))) calibNeeded.add(q.calibration);

  const models = plan.models;
  const tasks: PoolTask[] = [];
  let id = 0;
  const calibrations = new Map(plan.calibrations.map((c) => [c.hash, c]));
  for (const cal of plan.calibrations) {
    if (!calibNeeded.has(cal.hash)) continue;
    tasks.push({ id: id++, ref: { kind: "calibration", hash: cal.hash }, deps: [], cost: 0, label: `calibration ${models[cal.model].name} ${cal.mode} seed ${cal.seed}` });
  }
  for (const [hash, q] of quantNeeded) {
    const cal = calibrations.get(q.calibration)!;
    tasks.push({ id: id++, ref: { kind: "quantization", hash, ...q }, deps: [q.calibration], cost: 0, label: `quantization ${models[cal.model].name} ${q.bits} bits ${cal.mode} seed ${cal.seed}` });
  }
  for (const c of todo) {
    const m = models[c.model];
    tasks.push({
      id: id++,
      ref: { kind: "cell", hash: c.hash },
      deps: [c.calibration, c.reference].filter((h): h is string => h !== null).map((h) => `${h}.w${c.bits}`),
      cost: cellCost(plan, c),
      label: c.type === "float" ? `${m.name} float` : `${m.name} ${c.bits} bits ${c.calib}${settings.calib_seeds.length > 1 ? ` seed ${c.calib_seed}` : ""}`,
    });
  }
  log(`study: ${plan.cells.length} cells${shard ? `, shard ${opts.shard} has ${mine.length}` : ""}; ${cached.length} cached, ${todo.length} to compute, ${calibNeeded.size} calibrations, ${quantNeeded.size} quantizations; ${jobs} job(s) x ${threads} thread(s)`);

  let done = 0;
  const counters = tasks.length
    ? await runTasks(tasks, { plan, out: resolve(out), threads, keepModels: opts.keepModels ?? false }, jobs, (task, _c, secs) => {
        if (task.ref.kind === "cell") {
          done++;
          const cell = readCell(cellPath(out, task.ref.hash));
          const acc = cell ? ` accuracy ${(100 * cell.result.accuracy).toFixed(2)}%` : "";
          log(`cell ${done}/${todo.length} ${task.label}:${acc} in ${secs.toFixed(1)} s`);
        } else log(`${task.label} in ${secs.toFixed(1)} s`);
      })
    : zeroCounters();

  // The quantized models were only needed by this run's cells (--keep-models copies them).
  for (const q of quantUsed.values()) {
    const path = quantizedPath(out, q.calibration, q.bits);
    rmSync(path, { force: true });
    rmSync(path.replace(/\.onnx$/, ".json"), { force: true });
  }
  for (const dir of ["tmp", "quantized"]) {
    try {
      rmdirSync(join(out, dir));
    } catch {
      // not there, or holds another run's files
    }
  }
  const wall = (performance.now() - started) / 1000;
  const run = { wall_seconds: wall, jobs, threads, shard: opts.shard ?? null, computed: counters.cells, cached: cached.length, calibrations: counters.calibrations, quantizations: counters.quantizations };
  const { results, files } = writeOutputs(out, plan, { run });
  const summary: RunSummary = {
    out,
    cells: plan.cells.length,
    shard_cells: mine.length,
    cached: cached.length,
    computed: counters.cells,
    missing: results.missing.length,
    counters,
    wall_seconds: wall,
    jobs,
    threads,
    shard: opts.shard ?? null,
    complete: results.complete,
    findings: results.findings.map((f) => ({ id: f.id, verdict: f.verdict, summary: f.summary })),
    files,
  };
  writeFileAtomic(join(out, "run.json"), JSON.stringify(summary, null, 2) + "\n");
  log(`done: ${counters.cells} cells computed, ${results.missing.length} of ${plan.cells.length} missing; wall ${(wall / 60).toFixed(1)} min`);
  return summary;
}

export interface MergeSummary {
  out: string;
  cells: number;
  found: number;
  missing: number;
  complete: boolean;
  from: string[];
  files: RunSummary["files"];
  findings: RunSummary["findings"];
}

/** Joins shard outputs: every cell file of the same plan into OUT, then the results and report. */
export function mergeStudies(dirs: string[], out: string): MergeSummary {
  if (dirs.length === 0) throw new InputError("study merge needs at least one study output folder");
  const plans = dirs.map(readPlan);
  const cellsOf = (p: Plan) => canonicalJson({ settings: p.settings, cells: p.cells.map((c) => c.hash) });
  const ref = cellsOf(plans[0]);
  plans.forEach((p, i) => {
    if (cellsOf(p) !== ref) throw new InputError(`is not a shard of the same study as ${dirs[0]} (its grid or models differ)`, dirs[i]);
  });
  const plan = plans[0];
  mkdirSync(join(out, "cells"), { recursive: true });
  mkdirSync(join(out, "calib"), { recursive: true });
  const same = (a: string, b: string) => resolve(a) === resolve(b);
  for (const dir of dirs) {
    if (same(dir, out)) continue;
    for (const c of plan.cells) {
      const src = cellPath(dir, c.hash);
      const cell = readCell(src, c.hash);
      if (!cell) continue;
      const dst = cellPath(out, c.hash);
      const have = readCell(dst, c.hash);
      if (have) {
        if (canonicalJson(have.result) !== canonicalJson(cell.result)) throw new InputError(`cell ${c.hash} differs from the one already in ${out}`, dir);
        continue;
      }
      copyFileSync(src, dst);
    }
    const calibDir = join(dir, "calib");
    if (existsSync(calibDir)) {
      for (const f of readdirSync(calibDir)) if (f.endsWith(".calib.json") && !existsSync(join(out, "calib", f))) copyFileSync(join(calibDir, f), join(out, "calib", f));
    }
  }
  writeFileAtomic(join(out, PLAN_FILE), JSON.stringify(plan, null, 1) + "\n");
  const { results, files } = writeOutputs(out, plan, { merged_from: dirs });
  return {
    out,
    cells: plan.cells.length,
    found: plan.cells.length - results.missing.length,
    missing: results.missing.length,
    complete: results.complete,
    from: dirs,
    files,
    findings: results.findings.map((f) => ({ id: f.id, verdict: f.verdict, summary: f.summary })),
  };
}
