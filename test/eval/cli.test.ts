import { statSync } from "node:fs";
import { cpus } from "node:os";
import { describe, expect, it } from "vitest";
import { fixtureModel, runCli } from "../helpers.ts";
import { writeTestData } from "./testdata.ts";

const td = writeTestData();
const disc = fixtureModel("disc-tiny");
const gen = fixtureModel("gen-tiny");
const data = ["--data", td.text, "--tokenizer", td.tokenizer];

function json(args: string[]) {
  const r = runCli(args);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
}

describe("ptq-onnx eval", () => {
  it("--json prints the contract's fields, consistent with each other", () => {
    const r = json(["eval", disc, ...data, "--json"]);
    expect(r.n).toBe(60);
    expect(r.per_class).toHaveLength(3);
    for (const c of r.per_class) expect(Object.keys(c).sort()).toEqual(["f1", "label", "precision", "recall", "support"]);
    expect(r.per_class.map((c: { support: number }) => c.support)).toEqual([20, 20, 20]);
    expect(r.confusion).toHaveLength(3);
    const total = r.confusion.flat().reduce((a: number, b: number) => a + b, 0);
    const diag = r.confusion.reduce((a: number, row: number[], i: number) => a + row[i], 0);
    expect(total).toBe(60);
    expect(r.accuracy).toBeCloseTo(diag / 60, 12);
    const f1 = r.per_class.reduce((a: number, c: { f1: number }) => a + c.f1, 0) / 3;
    expect(r.macro_f1).toBeCloseTo(f1, 12);
    expect(r.noise).toBeNull();
    expect(r.data).toBe(td.text);
  });

  it("ids rows without a tokenizer give the same result as the text rows", () => {
    const a = json(["eval", disc, ...data, "--json"]);
    const b = json(["eval", disc, "--data", td.ids, "--json", "--batch", "7"]);
    expect(b.confusion).toEqual(a.confusion);
  });

  it("--reference on itself: agreement 1 and KL 0, also under noise", () => {
    const r = json(["eval", gen, ...data, "--reference", gen, "--noise", "sub:0.2+gauss:0.1", "--seed", "4", "--json"]);
    expect(r.reference.agreement).toBe(1);
    expect(r.reference.mean_kl).toBe(0);
    expect(r.reference.accuracy).toBe(r.accuracy);
    expect(r.noise.stages).toEqual([
      { kind: "sub", level: 0.2 },
      { kind: "gauss", level: 0.1 },
    ]);
    expect(r.noise.gauss).toHaveLength(1);
  });

  it("prints a readable report without --json", () => {
    const r = runCli(["eval", disc, ...data, "--noise", "del:0.1"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/accuracy \d\.\d{4}\s+macro-F1 \d\.\d{4}/);
    expect(r.stdout).toMatch(/confusion \(rows: true class/);
    expect(r.stdout).toMatch(/noise del:0\.1 \(seed 0\)/);
  });
});

describe("bad input: one line on stderr, exit 2, nothing on stdout", () => {
  it.each([
    ["unknown noise kind", ["--noise", "blur:0.1"], /unknown noise kind "blur"/],
    ["level above 1", ["--noise", "sub:1.5"], /level 1\.5 of sub is outside \[0, 1\]/],
    ["level below 0", ["--noise", "gauss:-0.01"], /outside \[0, 1\]/],
    ["typo on ids-only rows", ["--noise", "typo:0.1", "--data", "IDS"], /typo noise acts on text before tokenizing, but row 1 has only ids/],
    ["empty data", ["--data", "EMPTY"], /empty\.jsonl: data file has no rows/],
    ["bad batch", ["--batch", "0"], /--batch must be an integer of at least 1/],
  ])("%s", (_, extra, message) => {
    const args = extra.map((a) => (a === "IDS" ? td.ids : a === "EMPTY" ? td.empty : a));
    const withData = args.includes("--data") ? ["--tokenizer", td.tokenizer] : data;
    const r = runCli(["eval", disc, ...withData, ...args]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it("robustness with an unknown kind", () => {
    const r = runCli(["robustness", disc, ...data, "--noise", "jitter:0.1"]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/unknown noise kind "jitter"/);
  });
});

describe("ptq-onnx robustness", () => {
  it("--json: a curve per kind, level 0 equal to clean, mean and spread over seeds", () => {
    const r = json(["robustness", gen, ...data, "--noise", "sub:0,0.2,0.5", "--noise", "gauss:0.3", "--seeds", "2", "--json"]);
    expect(r.n).toBe(60);
    expect(r.seeds).toEqual([0, 1]);
    expect(r.curves.map((c: { kind: string }) => c.kind)).toEqual(["sub", "gauss"]);
    const sub = r.curves[0].points;
    expect(sub.map((p: { level: number }) => p.level)).toEqual([0, 0.2, 0.5]);
    expect(sub[0].accuracy).toEqual({ mean: r.clean.accuracy, std: 0, min: r.clean.accuracy, max: r.clean.accuracy });
    for (const p of sub) {
      expect(p.runs).toHaveLength(2);
      expect(p.accuracy.min).toBeLessThanOrEqual(p.accuracy.mean);
      expect(p.accuracy.max).toBeGreaterThanOrEqual(p.accuracy.mean);
      expect(p.accuracy.std).toBeGreaterThanOrEqual(0);
    }
    expect(sub[2].runs[0].agreement_with_clean).toBeLessThan(1);
  });
});

describe("ptq-onnx bench", () => {
  it("--json: latency percentiles, throughput, peak memory, size and ratios to the first model", () => {
    const r = json(["bench", disc, gen, ...data, "--batch", "1,4", "--threads", "1", "--runs", "3", "--warmup", "1", "--json"]);
    expect(r.machine).toMatchObject({ arch: process.arch, platform: process.platform, cores: cpus().length, node: process.version });
    expect(r.settings).toMatchObject({ batches: [1, 4], threads: [1], runs: 3, warmup: 1 });
    expect(r.models.map((m: { model: string }) => m.model)).toEqual([disc, gen]);
    r.models.forEach((m: { model: string; bytes: number; inputs: string; results: Record<string, any>[] }, mi: number) => {
      expect(m.bytes).toBe(statSync(m.model).size);
      expect(m.inputs).toBe(td.text);
      expect(m.results.map((x) => [x.batch, x.threads])).toEqual([[1, 1], [4, 1]]);
      for (const x of m.results) {
        const l = x.latency_ms;
        // Order statistics of the same 3 timings, all of them real (positive) durations.
        expect(l.min).toBeGreaterThan(0);
        expect([l.min, l.p50, l.p90, l.p99, l.max]).toEqual([...[l.min, l.p50, l.p90, l.p99, l.max]].sort((a, b) => a - b));
        expect(l.mean).toBeGreaterThanOrEqual(l.min);
        expect(l.mean).toBeLessThanOrEqual(l.max);
        // Rows per second over the timed runs: batch rows per run at the mean latency.
        expect(x.throughput_rows_per_s).toBeCloseTo((x.batch * 1000) / l.mean, 6);
        expect(x.peak_rss_bytes).toBeGreaterThanOrEqual(x.baseline_rss_bytes);
        const first = r.models[0].results.find((f: { batch: number }) => f.batch === x.batch);
        expect(x.vs_first.p50).toBeCloseTo(l.p50 / first.latency_ms.p50, 12);
        expect(x.vs_first.throughput).toBeCloseTo(x.throughput_rows_per_s / first.throughput_rows_per_s, 12);
        if (mi === 0) expect(x.vs_first).toEqual({ p50: 1, throughput: 1, peak_rss: 1 });
      }
    });
    expect(r.models[0].bytes_vs_first).toBe(1);
    expect(r.models[0].results[0].vs_first).toEqual({ p50: 1, throughput: 1, peak_rss: 1 });
    expect(r.models[1].bytes_vs_first).toBeCloseTo(r.models[1].bytes / r.models[0].bytes, 12);
  });

  it("times synthetic rows with --seq-len and prints a table", () => {
    const r = runCli(["bench", disc, "--seq-len", "5", "--batch", "2", "--threads", "1", "--runs", "2", "--warmup", "0"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/inputs synthetic \(5 tokens\)/);
    expect(r.stdout).toMatch(/p50 ms\s+p90 ms\s+p99 ms\s+rows\/s\s+peak RSS/);
  });
});
