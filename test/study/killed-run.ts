/**
 * A study run that SIGKILLs its own process right after the N-th cell is reported done, for
 * the kill test in study.test.ts: the interruption lands at the same point every time (after
 * exactly N cell files), where a timed kill from outside would race the run. Its one worker
 * exits when the parent goes away (study/worker.ts), so no later cell is written.
 * Usage: node --import tsx test/study/killed-run.ts OPTIONS_JSON N
 */
import { runStudy } from "../../src/study/study.ts";

const [options, after] = [JSON.parse(process.argv[2]), Number(process.argv[3])];
let cells = 0;
await runStudy({
  ...options,
  onLog: (line: string) => {
    if (/\bcell \d+\/\d+ /.test(line) && ++cells === after) process.kill(process.pid, "SIGKILL");
  },
});
