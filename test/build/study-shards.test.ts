import { appendFileSync, copyFileSync, existsSync, readFileSync, renameSync } from "node:fs";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.ts";
import { MODELS, writeStudyData } from "../study/data.ts";
import { cli } from "./data.ts";

describe("ptq-onnx study --shard auto", () => {
  it("shards run as separate processes with an Indexed Job's variables merge to the unsharded results", () => {
    const data = writeStudyData();
    const root = tempDir("ptq-onnx-study-shards-");
    // Copies of the models, so that the --plan part below can hide and change them.
    const models = MODELS.map((m) => join(root, basename(m)));
    MODELS.forEach((m, i) => copyFileSync(m, models[i]));
    const grid = ["--models", models.join(","), "--bits", "4", "--calib", "balanced", "--noise", "none", "--seeds", "1", "--calib-size", "30", "--calib-data", data.calib, "--test-data", data.test, "--resamples", "200", "--jobs", "1"];
    const full = join(root, "full");
    const one = cli(["study", ...grid, "--out", full]);
    expect(one.status, one.stderr).toBe(0);
    const SHARDS = 2;
    const dirs = Array.from({ length: SHARDS }, (_, i) => join(root, `shard-${i}`));
    const owned = dirs.map((dir, i) => {
      const r = cli(["study", ...grid, "--shard", "auto", "--out", dir, "--json"], { JOB_COMPLETION_INDEX: String(i), PTQ_ONNX_SHARDS: String(SHARDS) });
      expect(r.status, r.stderr).toBe(0);
      const summary = JSON.parse(r.stdout);
      expect(summary).toMatchObject({ shard: `${i + 1}/${SHARDS}`, complete: false });
      return summary.shard_cells as number;
    });
    // 4 cells (float and 4-bit, two models) in contiguous runs balanced by cost: the generative model's quantized cell alone is the larger half.
    expect(owned).toEqual([3, 1]);
    const merged = join(root, "merged");
    const m = cli(["study", "merge", ...dirs, "--out", merged]);
    expect(m.status, m.stderr).toBe(0);
    const results = (dir: string) => readFileSync(join(dir, "results.json"), "utf8");
    expect(JSON.parse(results(merged)).complete).toBe(true);
    expect(results(merged)).toBe(results(full));

    // Planned once (--max-cells 0), then each shard reads that plan: it loads only its own
    // cells' models (shard 2 holds only the generative model's quantized cell, so it runs with
    // the other model's file gone) and the merge is the same as the unsharded run's.
    const planDir = join(root, "plan");
    expect(cli(["study", ...grid, "--max-cells", "0", "--out", planDir]).status).toBe(0);
    const planFile = join(planDir, "study.json");
    const planned = dirs.map((_, i) => join(root, `planned-${i}`));
    const hidden = `${models[0]}.away`;
    renameSync(models[0], hidden);
    const second = cli(["study", ...grid, "--plan", planFile, "--shard", "auto", "--out", planned[1]], { JOB_COMPLETION_INDEX: "1", PTQ_ONNX_SHARDS: "2" });
    expect(second.status, second.stderr).toBe(0);
    renameSync(hidden, models[0]);
    const first = cli(["study", ...grid, "--plan", planFile, "--shard", "1/2", "--out", planned[0]]);
    expect(first.status, first.stderr).toBe(0);
    expect(readFileSync(join(planned[1], "study.json"), "utf8")).toBe(readFileSync(planFile, "utf8"));
    const mergedPlanned = join(root, "merged-planned");
    expect(cli(["study", "merge", ...planned, "--out", mergedPlanned]).status).toBe(0);
    expect(results(mergedPlanned)).toBe(results(full));
    // A plan of another grid, or of a model file that changed since: one line, exit 2, no output.
    const refused = (args: string[], line: string) => {
      const o = join(root, `refused-${line.length}`);
      const r = cli(["study", ...args, "--plan", planFile, "--shard", "2/2", "--out", o]);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split("\n")).toEqual([`ptq-onnx: ${planFile}: --plan: ${line}`]);
      expect(existsSync(o)).toBe(false);
    };
    refused([...grid, "--bits", "8"], "its grid settings differ from these options");
    appendFileSync(models[1], "x");
    refused(grid, `${models[1]} changed since the plan was written (plan the study again)`);

    const out = join(root, "out-of-range");
    const bad = cli(["study", ...grid, "--shard", "auto", "--out", out], { JOB_COMPLETION_INDEX: "2", PTQ_ONNX_SHARDS: "2" });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split("\n")).toEqual(["ptq-onnx: --shard auto: JOB_COMPLETION_INDEX=2 is out of range for 2 shards (0 to 1)"]);
    expect(existsSync(out)).toBe(false);
  });
});
