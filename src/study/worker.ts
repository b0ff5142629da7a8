/**
 * The body of a study worker process (started by pool.ts through worker.mjs): receives the
 * plan once, then runs one task at a time and reports its counters or its error. It exits
 * when its parent goes away, so a killed study leaves no workers behind.
 */
import { InputError } from "../graph/index.ts";
import type { TaskCounters, TaskRef } from "./tasks.ts";

type RunTask = (ctx: unknown, ref: TaskRef) => Promise<TaskCounters>;
/** `runner`: the URL of the module whose runTask does the work (the study's or a build's). */
type Message = { type: "init"; ctx: unknown; runner: string } | { type: "task"; id: number; task: TaskRef };

let ctx: unknown;
let runTask: Promise<RunTask> | undefined;

/** Sends to the parent; a parent that is gone ends the worker (its finished files are whole). */
function send(message: unknown): void {
  if (!process.connected) process.exit(0);
  process.send!(message, undefined, {}, (err) => {
    if (err) process.exit(0);
  });
}

process.on("disconnect", () => process.exit(0));
process.on("message", (msg: Message) => {
  if (msg.type === "init") {
    ctx = msg.ctx;
    runTask = import(msg.runner).then((m: { runTask: RunTask }) => m.runTask);
    return;
  }
  if (msg.type !== "task" || !runTask) return;
  runTask.then((run) => run(ctx, msg.task)).then(
    (counters) => send({ type: "done", id: msg.id, counters }),
    (err: unknown) =>
      send({
        type: "error",
        id: msg.id,
        message: err instanceof Error ? err.message : String(err),
        input: err instanceof InputError,
        stack: err instanceof Error ? err.stack : undefined,
      }),
  );
});
send({ type: "ready" });
