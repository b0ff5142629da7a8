import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers.ts";
import { cli, writeBuildFile } from "./data.ts";

const root = tempDir("ptq-onnx-build-");
const buildFile = writeBuildFile(root);
const full = join(root, "full");
const SHARDS = 3;
const shardDir = (i: number) => join(root, `shard-${i}`);
const merged = join(root, "merged");

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));
/** The manifest without its timings (latency), which differ from run to run. */
const untimed = (path: string) => {
  const m = readJson(path);
  for (const a of m.artifacts) delete a.latency_ms;
  return JSON.stringify(m);
};
const ls = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

function expectOneLine(r: { status: number | null; stderr: string; stdout: string }, ...parts: (string | RegExp)[]) {
  expect(r.status, r.stderr).toBe(2);
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  for (const p of parts) expect(lines[0]).toMatch(p);
  expect(r.stdout).toBe("");
}

beforeAll(() => {
  const r = cli(["build", buildFile, "--out", full, "--jobs", "1", "--json"]);
  expect(r.status, r.stderr).toBe(0);
  // Each shard is its own process with the variables a Kubernetes Indexed Job sets.
  for (let i = 0; i < SHARDS; i++) {
    const s = cli(["build", buildFile, "--shard", "auto", "--out", shardDir(i), "--jobs", "1"], { JOB_COMPLETION_INDEX: String(i), PTQ_ONNX_SHARDS: String(SHARDS) });
    expect(s.status, s.stderr).toBe(0);
  }
  const m = cli(["build", "merge", ...Array.from({ length: SHARDS }, (_, i) => shardDir(i)), "--out", merged]);
  expect(m.status, m.stderr).toBe(0);
});

describe("ptq-onnx build", () => {
  it("makes every (model, recipe) artifact with its manifest entry", () => {
    const m = readJson(join(full, "manifest.json"));
    expect(m).toMatchObject({ format: "ptq-onnx.build.manifest", complete: true, artifacts_total: 4, missing: [], rows: 40 });
    expect(m.artifacts.map((a: { id: string }) => a.id)).toEqual(["tiny-disc.w8", "tiny-disc.w4-int4", "tiny-gen.w8", "tiny-gen.w4-int4"]);
    for (const a of m.artifacts) {
      expect(sha(join(full, a.file))).toBe(a.sha256);
      expect(sha(join(full, a.calib_table))).toBe(a.calib_table_sha256);
      expect(readFileSync(join(full, a.file)).length).toBe(a.bytes);
      expect(a.size_ratio).toBeCloseTo(a.bytes / a.float_bytes, 12);
      expect(a.test.rows).toBe(40);
      for (const k of ["accuracy", "macro_f1", "float_accuracy", "agreement"]) {
        expect(a[k]).toBeGreaterThanOrEqual(0);
        expect(a[k]).toBeLessThanOrEqual(1);
      }
      expect(Object.keys(a.latency_ms)).toEqual(["1", "32"]);
      expect(a.latency_ms["1"]).toBeGreaterThan(0);
      expect(a.tool_version).toBe(JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8")).version);
      expect(a.command).toMatch(new RegExp(`^ptq-onnx quantize \\S+ --bits ${a.wbits} `));
    }
    // 8-bit packs nothing; the packed 4-bit models are smaller.
    expect(m.artifacts[1].bytes).toBeLessThan(m.artifacts[0].bytes);
    const html = readFileSync(join(full, "index.html"), "utf8");
    expect(html).toContain("<svg");
    for (const a of m.artifacts) expect(html).toContain(`href="${a.file}"`);
  });

  it("the recorded quantize command writes the same bytes", () => {
    const m = readJson(join(full, "manifest.json"));
    const a = m.artifacts[1];
    const dir = join(root, "by-hand");
    mkdirSync(dir);
    const args = a.command.split(" ").slice(1);
    const r = cli(args, {}, dir);
    expect(r.status, r.stderr).toBe(0);
    expect(sha(join(dir, `${a.id}.onnx`))).toBe(a.sha256);
    expect(sha(join(dir, `${a.id}.calib.json`))).toBe(a.calib_table_sha256);
  });

  it("shards run as separate processes (JOB_COMPLETION_INDEX) merge to the unsharded run", () => {
    const owned = Array.from({ length: SHARDS }, (_, i) => readJson(join(shardDir(i), "manifest.json")).artifacts.map((a: { id: string }) => a.id));
    // Contiguous runs of the plan (models, then recipes) of about equal cost: a model's artifacts stay together where they can.
    expect(owned.map((o) => o.length)).toEqual([1, 2, 1]);
    expect(owned.flat().sort()).toEqual(readJson(join(full, "manifest.json")).artifacts.map((a: { id: string }) => a.id).sort());
    expect(readJson(join(shardDir(0), "manifest.json")).complete).toBe(false);
    expect(untimed(join(merged, "manifest.json"))).toBe(untimed(join(full, "manifest.json")));
    expect(ls(join(merged, "artifacts"))).toEqual(ls(join(full, "artifacts")));
    for (const f of ls(join(full, "artifacts"))) expect(sha(join(merged, "artifacts", f))).toBe(sha(join(full, "artifacts", f)));
  });

  it("a rerun builds nothing; a changed recipe rebuilds only its artifacts", () => {
    const again = cli(["build", buildFile, "--out", full, "--jobs", "1", "--json"]);
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ built: 0, cached: 4, complete: true });
    const changed = writeBuildFile(root, (b) => ((b.recipes as { calib_size: number }[])[0].calib_size = 20), "BUILD2.json");
    const r = cli(["build", changed, "--out", full, "--jobs", "1", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ built: 2, cached: 2, complete: true });
  });
});

describe("ptq-onnx build: bad input", () => {
  const bad = (edit: (b: Record<string, unknown>) => void, name: string) => writeBuildFile(root, edit, name);
  const refused = (file: string, ...parts: (string | RegExp)[]) => {
    const out = join(root, `refused-${parts.length}-${Math.random().toString(36).slice(2)}`);
    expectOneLine(cli(["build", file, "--out", out]), file, ...parts);
    expect(existsSync(out)).toBe(false);
  };

  it("an unknown key names the file and the entry", () => {
    refused(bad((b) => ((b.recipes as object[])[1] = { name: "w4", bits: 4, calib: "balanced", bitz: 3 }), "unknown.json"), 'recipes[1] "w4"', 'unknown key "bitz"');
    refused(bad((b) => (b.sharding = 2), "unknown-top.json"), 'unknown key "sharding"');
  });

  it("a missing model names its entry", () => {
    refused(bad((b) => ((b.models as object[])[1] = { name: "gone", path: "nowhere/gone.onnx" }), "missing.json"), 'models[1] "gone"', "nowhere/gone.onnx: no such file");
    refused(bad((b) => ((b.models as object[])[0] = { zoo: "no-such-zoo-model" }), "zoo.json"), 'models[0] "no-such-zoo-model"', "no zoo model");
  });

  it("a recipe quantize would reject names its entry", () => {
    refused(bad((b) => ((b.recipes as object[])[0] = { name: "w9", bits: 9, calib: "balanced" }), "bits.json"), 'recipes[0] "w9"', "bits must be an integer from 2 to 8");
    refused(bad((b) => ((b.recipes as object[])[0] = { name: "c7", bits: 4, calib: "classes:7" }), "calib.json"), 'recipes[0] "c7"', /calib/);
    refused(bad((b) => ((b.recipes as object[])[0] = { name: "obs", bits: 4, calib: "balanced", observer: "median" }), "observer.json"), 'recipes[0] "obs"', "observer");
    refused(bad((b) => ((b.recipes as object[])[0] = { name: "nobits", calib: "balanced" }), "nobits.json"), 'recipes[0] "nobits"', "needs bits");
  });

  it("a shard index out of range is refused before anything is written", () => {
    const out = join(root, "out-of-range");
    expectOneLine(cli(["build", buildFile, "--shard", "auto", "--out", out], { JOB_COMPLETION_INDEX: "3", PTQ_ONNX_SHARDS: "3" }), "JOB_COMPLETION_INDEX=3 is out of range for 3 shards");
    expectOneLine(cli(["build", buildFile, "--shard", "auto", "--shard-index", "5", "--shards", "4", "--out", out]), "--shard-index=5 is out of range for 4 shards");
    expectOneLine(cli(["build", buildFile, "--shard", "auto", "--out", out], { JOB_COMPLETION_INDEX: "0" }), "no shard count");
    expectOneLine(cli(["build", buildFile, "--shard", "4/3", "--out", out]), "--shard 4/3");
    expect(existsSync(out)).toBe(false);
  });

  it("merging shards of different build files or tool versions is refused, nothing written", () => {
    const other = writeBuildFile(root, (b) => ((b.recipes as object[]).length = 1), "OTHER.json");
    const otherShard = join(root, "other-shard");
    const r = cli(["build", other, "--shard", "1/2", "--out", otherShard, "--jobs", "1"]);
    expect(r.status, r.stderr).toBe(0);
    const out = join(root, "bad-merge");
    expectOneLine(cli(["build", "merge", shardDir(0), otherShard, "--out", out]), join(otherShard, "build.json"), "another build");
    expect(existsSync(out)).toBe(false);

    const plan = readJson(join(otherShard, "build.json"));
    plan.tool_version = "0.0.1";
    const older = join(root, "older-shard");
    mkdirSync(older);
    writeFileSync(join(older, "build.json"), JSON.stringify(plan));
    expectOneLine(cli(["build", "merge", otherShard, older, "--out", out]), join(older, "build.json"), "made by ptq-onnx 0.0.1");
    expect(existsSync(out)).toBe(false);
  });
});
