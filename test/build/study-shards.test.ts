import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.ts";
import { MODELS, writeStudyData } from "../study/data.ts";
import { cli } from "./data.ts";

describe("ptq-onnx study --shard auto", () => {
  it("shards run as separate processes with an Indexed Job's variables merge to the unsharded results", () => {
    const data = writeStudyData();
    const root = tempDir("ptq-onnx-study-shards-");
    const grid = ["--models", MODELS.join(","), "--bits", "4", "--calib", "balanced", "--noise", "none", "--seeds", "1", "--calib-size", "30", "--calib-data", data.calib, "--test-data", data.test, "--resamples", "200", "--jobs", "1"];
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

    const out = join(root, "out-of-range");
    const bad = cli(["study", ...grid, "--shard", "auto", "--out", out], { JOB_COMPLETION_INDEX: "2", PTQ_ONNX_SHARDS: "2" });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split("\n")).toEqual(["ptq-onnx: --shard auto: JOB_COMPLETION_INDEX=2 is out of range for 2 shards (0 to 1)"]);
    expect(existsSync(out)).toBe(false);
  });
});
