/**
 * Runs study tasks with their dependencies (a quantization waits for its calibration, a cell
 * for its quantized models), in the main process (one job) or in `jobs` worker processes.
 * Among the ready tasks, calibrations go first, then quantizations (they unblock cells), then
 * the costliest cells, so short cells fill the tail.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { InputError } from "../graph/index.ts";
import { addCounters, zeroCounters, type TaskCounters, type TaskRef } from "./tasks.ts";

export interface PoolTask {
  id: number;
  ref: TaskRef;
  /** Hashes of tasks (calibrations, quantizations) that must finish first. */
  deps: string[];
  /** Relative cost, for ordering. */
  cost: number;
  label: string;
}

export type TaskDone = (task: PoolTask, counters: TaskCounters, seconds: number) => void;

/** `.ts` when running from the sources, `.js` in the compiled package (tsc rewrites imports, not URLs). */
export const SOURCE_EXT = import.meta.url.endsWith(".ts") ? ".ts" : ".js";

// From the sources, worker.mjs registers tsx before loading worker.ts; compiled, worker.js runs as is.
export const WORKER = fileURLToPath(new URL(SOURCE_EXT === ".ts" ? "./worker.mjs" : "./worker.js", import.meta.url));

const PRIORITY: Record<TaskRef["kind"], number> = { calibration: 2, quantization: 1, cell: 0 };

/**
 * The module whose `runTask(ctx, ref)` does the work: the study's tasks by default; a build
 * passes its own (src/build/tasks.ts), so both share this scheduler and its workers.
 */
export const STUDY_TASKS = new URL(`./tasks${SOURCE_EXT}`, import.meta.url).href;

type TaskModule<C> = { runTask(ctx: C, ref: TaskRef): Promise<TaskCounters> };

class Scheduler {
  private pending: PoolTask[];
  private readonly done = new Set<string>();

  constructor(tasks: PoolTask[]) {
    const known = new Set(tasks.map((t) => t.ref.hash));
    // Dependencies outside this task list are already satisfied (cached).
    this.pending = tasks.map((t) => ({ ...t, deps: t.deps.filter((d) => known.has(d)) }));
  }

  get remaining(): number {
    return this.pending.length;
  }

  next(): PoolTask | undefined {
    let best: PoolTask | undefined;
    for (const t of this.pending) {
      if (!t.deps.every((d) => this.done.has(d))) continue;
      if (!best) best = t;
      else {
        const tc = PRIORITY[t.ref.kind];
        const bc = PRIORITY[best.ref.kind];
        if (tc > bc || (tc === bc && (t.cost > best.cost || (t.cost === best.cost && t.id < best.id)))) best = t;
      }
    }
    if (best) this.pending = this.pending.filter((t) => t !== best);
    return best;
  }

  finish(task: PoolTask): void {
    this.done.add(task.ref.hash);
  }
}

export async function runTasks<C>(tasks: PoolTask[], ctx: C, jobs: number, onDone: TaskDone, runner: string = STUDY_TASKS): Promise<TaskCounters> {
  const total = zeroCounters();
  if (tasks.length === 0) return total;
  const sched = new Scheduler(tasks);
  if (jobs <= 1) {
    const { runTask } = (await import(runner)) as TaskModule<C>;
    for (let task = sched.next(); task; task = sched.next()) {
      const t = performance.now();
      const c = await runTask(ctx, task.ref);
      addCounters(total, c);
      sched.finish(task);
      onDone(task, c, (performance.now() - t) / 1000);
    }
    if (sched.remaining) throw new Error(`${sched.remaining} study tasks wait on tasks that are not in the plan`);
    return total;
  }
  return runInWorkers(sched, ctx, runner, Math.min(jobs, tasks.length), onDone, total);
}

function runInWorkers(sched: Scheduler, ctx: unknown, runner: string, jobs: number, onDone: TaskDone, total: TaskCounters): Promise<TaskCounters> {
  return new Promise((resolve, reject) => {
    const workers: { child: ChildProcess; ready: boolean; busy?: { task: PoolTask; started: number } }[] = [];
    let failed = false;
    let running = 0;

    const stopAll = () => {
      for (const w of workers) {
        w.child.removeAllListeners("exit");
        if (w.child.connected) w.child.disconnect();
        w.child.kill();
      }
    };
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      stopAll();
      reject(err);
    };
    const dispatch = () => {
      if (failed) return;
      for (const w of workers) {
        if (w.busy || !w.ready || !w.child.connected) continue;
        const task = sched.next();
        if (!task) break;
        w.busy = { task, started: performance.now() };
        running++;
        w.child.send({ type: "task", id: task.id, task: task.ref });
      }
      if (running === 0) {
        stopAll();
        if (sched.remaining) reject(new Error(`${sched.remaining} study tasks wait on tasks that are not in the plan`));
        else resolve(total);
      }
    };

    for (let i = 0; i < jobs; i++) {
      const child = fork(WORKER, [], { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"], serialization: "advanced" });
      const w: (typeof workers)[number] = { child, ready: false };
      workers.push(w);
      child.on("message", (msg: { type: string; id?: number; counters?: TaskCounters; message?: string; input?: boolean; stack?: string }) => {
        if (msg.type === "ready") {
          w.ready = true;
          child.send({ type: "init", ctx, runner });
          dispatch();
          return;
        }
        const busy = w.busy;
        if (!busy) return;
        w.busy = undefined;
        running--;
        if (msg.type === "done") {
          addCounters(total, msg.counters!);
          sched.finish(busy.task);
          onDone(busy.task, msg.counters!, (performance.now() - busy.started) / 1000);
          dispatch();
        } else {
          if (process.env.PTQ_ONNX_DEBUG && msg.stack) process.stderr.write(`${msg.stack}\n`);
          fail(msg.input ? new InputError(msg.message!) : new Error(`${busy.task.label}: ${msg.message}`));
        }
      });
      child.on("error", (err) => fail(err));
      child.on("exit", (code, signal) => {
        if (!failed) fail(new Error(`study worker ${i + 1} exited (${signal ?? `code ${code}`})${w.busy ? ` during ${w.busy.task.label}` : w.ready ? "" : " before it started"}`));
      });
    }
  });
}
