// Where a model's time goes, per op: runs each model in onnxruntime-node with profiling on
// (1 thread, graph optimisation "all", as `ptq-onnx bench`), on batches of zoo test rows
// (the same seeded batches as bench), and prints the mean ms per run of each op type and of
// the five slowest nodes (medians over the runs), with the wall and CPU time per run.
//
//   npx tsx scripts/lower/profile-ops.ts MODEL... [--batch 32] [--runs 5]
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { loadModel } from "../../src/graph/index.ts";
import { firstBenchBatch, median, takeOption, timeRuns } from "./common.ts";

const args = process.argv.slice(2);
const batch = Number(takeOption(args, "--batch", "32"));
const runs = Number(takeOption(args, "--runs", "5"));
const dir = mkdtempSync(join(tmpdir(), "ptq-profile-"));
try {
  for (const path of args) {
    const { rows, steps, feeds } = firstBenchBatch(loadModel(path), batch);
    const session = await ort.InferenceSession.create(path, {
      executionProviders: ["cpu"], intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all",
      enableProfiling: true, profileFilePrefix: join(dir, "p"), logSeverityLevel: 4,
    });
    await session.run(feeds); // warm-up, not counted below
    const { wall, cpu } = await timeRuns(session, feeds, runs);
    session.endProfiling();
    await session.release();
    const file = readdirSync(dir).map((f) => join(dir, f)).find((f) => f.endsWith(".json"));
    const events = JSON.parse(readFileSync(file!, "utf8")) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
    const nodes = events.filter((e) => e.cat === "Node" && e.name.endsWith("_kernel_time"));
    // The first run was the warm-up: keep the last `runs` runs' events.
    const perRun = nodes.length / (runs + 1);
    const counted = nodes.slice(nodes.length - perRun * runs);
    // Per op type and node: the median over the runs of its time in each run (a mean would
    // carry the preemptions of a loaded machine, which land on whichever op is running).
    const byOpRuns = new Map<string, number[]>();
    const byNodeRuns = new Map<string, number[]>();
    counted.forEach((e, i) => {
      const run = Math.floor(i / perRun);
      const op = e.args?.op_name ?? "?";
      const node = `${op} ${e.name.replace(/_kernel_time$/, "")}`;
      for (const [map, key] of [[byOpRuns, op], [byNodeRuns, node]] as const) {
        const xs = map.get(key) ?? map.set(key, new Array<number>(runs).fill(0)).get(key)!;
        xs[run] += e.dur / 1000;
      }
    });
    const byOp = new Map([...byOpRuns].map(([k, xs]) => [k, median(xs)]));
    const byNode = new Map([...byNodeRuns].map(([k, xs]) => [k, median(xs)]));
    const total = [...byOp.values()].reduce((a, x) => a + x, 0);
    rmSync(file!);
    console.log(`${path}: batch ${rows} x ${steps} tokens, ${wall.toFixed(2)} ms per run (wall), ${cpu.toFixed(2)} ms CPU, ${total.toFixed(2)} ms in kernels (sum of the medians)`);
    for (const [op, ms] of [...byOp].sort((x, y) => y[1] - x[1]).slice(0, 10)) console.log(`  ${op.padEnd(28)} ${ms.toFixed(3).padStart(10)} ms  ${((100 * ms) / total).toFixed(1)} %`);
    console.log("  slowest nodes:");
    for (const [n, ms] of [...byNode].sort((x, y) => y[1] - x[1]).slice(0, 5)) console.log(`    ${n.padEnd(60)} ${ms.toFixed(3).padStart(10)} ms`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
