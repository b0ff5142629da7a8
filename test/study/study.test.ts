import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { mergeStudies, runStudy, type RunSummary } from "../../src/study/study.ts";
import { ROOT, runCli, tempDir } from "../helpers.ts";
import { quickArgs, quickGrid, writeStudyData } from "./data.ts";

const data = writeStudyData();
const grid = quickGrid(data);
const root = tempDir("ptq-onnx-study-out-");
const full = join(root, "full");
let first: RunSummary;

const cellFiles = (out: string) => readdirSync(join(out, "cells")).filter((f) => /^[0-9a-f]{24}\.json$/.test(f)).sort();
const read = (path: string) => readFileSync(path, "utf8");

beforeAll(async () => {
  first = await runStudy({ ...grid, out: full, jobs: 2 });
});

describe("ptq-onnx study", () => {
  it("runs every cell in worker processes and writes results, CSV and report", () => {
    expect(first).toMatchObject({ cells: 10, computed: 10, cached: 0, missing: 0, complete: true, jobs: 2, threads: 1 });
    expect(first.counters).toMatchObject({ calibrations: 4, cells: 10 });
    // One quantization per (calibration, width): the 4 balanced models serve their own cells and
    // the classes:0 cells compared with them; one calibration per (model, mode) serves both widths.
    expect(first.counters.quantizations).toBe(8);
    expect(existsSync(join(full, "quantized"))).toBe(false);
    expect(cellFiles(full)).toHaveLength(10);
    expect(readdirSync(join(full, "calib"))).toHaveLength(4);
    expect(existsSync(join(full, "tmp"))).toBe(false);

    const r = JSON.parse(read(join(full, "results.json")));
    expect(r.complete).toBe(true);
    expect(r.models.map((m: { kind: string }) => m.kind)).toEqual(["discriminative", "generative"]);
    expect(r.float).toHaveLength(2);
    expect(r.cells).toHaveLength(8);
    for (const c of r.cells) {
      expect(c.drop).toBeCloseTo(c.float_accuracy - c.accuracy, 12);
      expect(c.drop_ci[0]).toBeLessThanOrEqual(c.drop + 1e-12);
      expect(c.drop_ci[1]).toBeGreaterThanOrEqual(c.drop - 1e-12);
      expect(c.mcnemar.p_holm).toBeGreaterThanOrEqual(c.mcnemar.p_value);
      expect(c.noise.map((p: { kind: string; level: number }) => `${p.kind}:${p.level}`)).toEqual(["gauss:0.2", "sub:0.2"]);
    }
    expect(r.calibration_comparisons).toHaveLength(4);
    expect(r.calibration_comparisons[0].compare.activations.tensors).toBeGreaterThan(0);
    expect(r.findings.map((f: { id: string }) => f.id)).toEqual(["bits", "calibration", "noise"]);
    for (const f of r.findings) {
      // The verdict is the documented rule applied to the pooled intervals (generative minus
      // discriminative): holds when every interval lies above 0, reversed when every one lies
      // below, else not shown; the counts are the conditions whose interval excludes 0.
      const cis: [number, number][] = f.pooled.map((p: { ci: [number, number] }) => p.ci);
      expect(cis.length).toBe(1); // one (discriminative, generative) pair in the quick grid
      const rule = cis.every((c) => c[0] > 0) ? "holds" : cis.every((c) => c[1] < 0) ? "reversed" : "not shown";
      expect(f.verdict).toBe(rule);
      const conds: [number, number][] = f.conditions.map((c: { ci: [number, number] }) => c.ci);
      expect(conds.length).toBe({ bits: 2, calibration: 2, noise: 6 }[f.id as string]);
      expect(f.significant_more).toBe(conds.filter((c) => c[0] > 0).length);
      expect(f.significant_less).toBe(conds.filter((c) => c[1] < 0).length);
    }

    const csv = read(join(full, "results.csv")).trim().split("\n");
    expect(csv).toHaveLength(1 + 10);
    expect(csv[0]).toMatch(/^cell,model,kind,type,bits,calib,/);
    expect(csv[0]).toContain("float_accuracy_gauss:0.2");
  });

  it("a rerun finds every cell cached and quantizes nothing", async () => {
    const before = read(join(full, "results.json"));
    const again = await runStudy({ ...grid, out: full, jobs: 2 });
    expect(again).toMatchObject({ computed: 0, cached: 10, complete: true });
    expect(again.counters).toEqual({ calibrations: 0, quantizations: 0, evaluations: 0, cells: 0 });
    expect(read(join(full, "results.json"))).toBe(before);
    expect(read(join(full, "study.log"))).toMatch(/10 cached, 0 to compute, 0 calibrations/);
  });

  it("two shards merged equal one unsharded run", async () => {
    const a = join(root, "shard1");
    const b = join(root, "shard2");
    const sa = await runStudy({ ...grid, out: a, jobs: 1, shard: "1/2" });
    const sb = await runStudy({ ...grid, out: b, jobs: 1, shard: "2/2" });
    expect(sa.shard_cells + sb.shard_cells).toBe(10);
    expect(sa.complete).toBe(false);
    const ca = cellFiles(a);
    const cb = cellFiles(b);
    expect(ca.filter((f) => cb.includes(f))).toEqual([]);
    expect([...ca, ...cb].sort()).toEqual(cellFiles(full));
    const merged = join(root, "merged");
    const m = mergeStudies([a, b], merged);
    expect(m).toMatchObject({ cells: 10, found: 10, complete: true });
    expect(read(join(merged, "results.json"))).toBe(read(join(full, "results.json")));
    expect(read(join(merged, "results.csv"))).toBe(read(join(full, "results.csv")));
    expect(read(join(merged, "report.html"))).toMatch(/all 10 cells finished/);
  });

  it("killed after 3 cells, a rerun computes only the 7 missing ones", async () => {
    const out = join(root, "killed");
    const options = JSON.stringify({ ...grid, out, jobs: 1 });
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "test", "study", "killed-run.ts"), options, "3"], { cwd: ROOT, stdio: "ignore" });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, sig) => resolve(sig)));
    expect(signal).toBe("SIGKILL");
    expect(cellFiles(out)).toHaveLength(3);
    expect(existsSync(join(out, "results.json"))).toBe(false);
    const r = runCli(["study", ...quickArgs(data), "--out", out, "--jobs", "1", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ cached: 3, computed: 7, complete: true });
    expect(read(join(out, "results.json"))).toBe(read(join(full, "results.json")));
  });

  it("--max-cells stops early; deleted cells are redone, the others are not", async () => {
    const out = join(root, "limited");
    const part = await runStudy({ ...grid, out, jobs: 1, maxCells: 3 });
    expect(part).toMatchObject({ computed: 3, missing: 7, complete: false });
    const report = read(join(out, "report.html"));
    expect(report).toMatch(/incomplete<\/b>: 7 of 10 cells missing/);
    expect(JSON.parse(read(join(out, "results.json"))).missing).toHaveLength(7);
    rmSync(join(out, "cells", cellFiles(out)[0]));
    const rest = await runStudy({ ...grid, out, jobs: 2 });
    expect(rest).toMatchObject({ cached: 2, computed: 8, complete: true });
    expect(read(join(out, "results.json"))).toBe(read(join(full, "results.json")));
  });

  it("report.html is one self-contained file with the expected SVG plots", () => {
    const html = read(join(full, "report.html"));
    const count = (re: RegExp) => (html.match(re) ?? []).length;
    expect(count(/<svg [^>]*data-plot="accuracy-vs-bits"/g)).toBe(2);
    expect(count(/<svg [^>]*data-plot="drop-vs-bits"/g)).toBe(1);
    expect(count(/<svg [^>]*data-plot="robustness"/g)).toBe(4); // 2 models x 2 noise kinds
    expect(count(/<svg [^>]*data-plot="drops-ci"/g)).toBe(1);
    expect(count(/<svg [^>]*data-plot="calibration-ci"/g)).toBe(1);
    expect(count(/data-verdict="/g)).toBe(3);
    for (const id of ["findings", "accuracy", "robustness", "drops", "tests", "settings"]) expect(html).toContain(`id="${id}"`);
    // Nothing fetched from anywhere: no scripts, stylesheets, images or links to load.
    expect(html).not.toMatch(/<script|<link|<img|src=|href=|@import|url\(/i);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });
});

describe("ptq-onnx study (command line)", () => {
  it("bad input exits 2 with one line", () => {
    const cases: [string[], RegExp][] = [
      [["study", "--out", join(root, "bad")], /--models .* is required/],
      [["study", ...quickArgs(data), "--bits", "9", "--out", join(root, "bad")], /--bits: 9 is not an integer from 2 to 8/],
      [["study", ...quickArgs(data), "--calib", "classes:7", "--out", join(root, "bad")], /class/],
      [["study", ...quickArgs(data), "--noise", "blur:0.1", "--out", join(root, "bad")], /unknown noise kind "blur"/],
      [["study", ...quickArgs(data), "--shard", "3/2", "--out", join(root, "bad")], /--shard 3\/2/],
      [["study", ...quickArgs(data), "--recipe", "fastest", "--out", join(root, "bad")], /unknown recipe 'fastest' \(known: default, study, best\)/],
      [["study", "merge", join(root, "nothing-here"), "--out", join(root, "bad")], /no study\.json/],
    ];
    for (const [args, re] of cases) {
      const r = runCli(args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stdout).toBe("");
    }
  });

  it("merge refuses folders of different studies", async () => {
    const other = join(root, "other");
    await runStudy({ ...grid, bits: [8], calib: ["balanced"], noise: [], out: other, jobs: 1 });
    const r = runCli(["study", "merge", full, other, "--out", join(root, "bad-merge")]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toEqual([`ptq-onnx: ${other}: is not a shard of the same study as ${full} (its grid or models differ)`]);
    expect(existsSync(join(root, "bad-merge"))).toBe(false);
  });
});
