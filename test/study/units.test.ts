import { describe, expect, it } from "vitest";
import { specList } from "../../src/cli/commands/study.ts";
import { pairedBootstrap } from "../../src/stats/index.ts";
import { BootstrapBatch, bootstrapMean } from "../../src/stats/bootstrap.ts";
import type { Pooled } from "../../src/study/aggregate.ts";
import { verdictOf } from "../../src/study/findings.ts";
import { canonicalJson, keyHash } from "../../src/study/hash.ts";
import { decodeLabels, encodeLabels, normalizeSettings, parseShard, shardCells, type CellSpec } from "../../src/study/plan.ts";
import { RECIPE_PRESETS } from "../../src/pipeline/presets.ts";
import { linePlot, niceTicks, whiskerPlot } from "../../src/study/svg.ts";

describe("study pieces", () => {
  it("splits spec lists without breaking classes:i,j or KIND:L1,L2", () => {
    expect(specList("balanced,natural,classes:0")).toEqual(["balanced", "natural", "classes:0"]);
    expect(specList(["classes:0,2,balanced", "dist:0.7,0.1,0.2"])).toEqual(["classes:0,2", "balanced", "dist:0.7,0.1,0.2"]);
    expect(specList(["gauss:0.002,0.006,0.01", "sub:0.05,0.1"])).toEqual(["gauss:0.002,0.006,0.01", "sub:0.05,0.1"]);
    expect(specList("gauss:0.002,0.006,sub:0.1")).toEqual(["gauss:0.002,0.006", "sub:0.1"]);
  });

  it("hashes canonical JSON: key order does not matter, values do", () => {
    expect(canonicalJson({ b: 1, a: [2, { d: null, c: "x" }], u: undefined })).toBe('{"a":[2,{"c":"x","d":null}],"b":1}');
    expect(keyHash({ a: 1, b: 2 })).toBe(keyHash({ b: 2, a: 1 }));
    expect(keyHash({ a: 1, b: 2 })).not.toBe(keyHash({ a: 1, b: 3 }));
    expect(keyHash({})).toMatch(/^[0-9a-f]{24}$/);
  });

  it("shards partition the cells deterministically", () => {
    const cells = Array.from({ length: 11 }, (_, i) => ({ hash: `h${i}` }) as CellSpec);
    const parts = [1, 2, 3].map((i) => shardCells(cells, parseShard(`${i}/3`)).map((c) => c.hash));
    expect(parts.flat().sort()).toEqual(cells.map((c) => c.hash).sort());
    expect(new Set(parts.flat()).size).toBe(11);
    expect(shardCells(cells, parseShard("2/3")).map((c) => c.hash)).toEqual(parts[1]);
    expect(shardCells(cells, null)).toHaveLength(11);
    expect(() => parseShard("0/2")).toThrow(/i must be from 1 to n/);
    // Contiguous runs of the plan, of about equal count without costs.
    expect(parts).toEqual([["h0", "h1", "h2", "h3"], ["h4", "h5", "h6"], ["h7", "h8", "h9", "h10"]]);
    expect(() => parseShard("a/b")).toThrow(/i\/n/);
  });

  it("shards balance the cells' cost in contiguous runs, so a shard holds few models", () => {
    // Two models of 5 cells each, the second 10 times as costly (a generative one).
    const cells = Array.from({ length: 10 }, (_, i) => ({ hash: `h${i}`, cost: i < 5 ? 1 : 10 }));
    const parts = [1, 2, 3, 4].map((i) => shardCells(cells, parseShard(`${i}/4`), (c) => c.cost).map((c) => c.hash));
    expect(parts).toEqual([["h0", "h1", "h2", "h3", "h4", "h5"], ["h6"], ["h7", "h8"], ["h9"]]);
    // More shards than costly cells: some runs are empty, none is lost.
    const seven = Array.from({ length: 7 }, (_, i) => shardCells(cells, parseShard(`${i + 1}/7`), (c) => c.cost).length);
    expect(seven.reduce((a, b) => a + b, 0)).toBe(10);
    // Costs all zero: equal counts.
    expect(shardCells(cells, parseShard("2/2"), () => 0).map((c) => c.hash)).toEqual(["h5", "h6", "h7", "h8", "h9"]);
  });

  it("encodes predictions compactly and back", () => {
    const v = [0, 3, 7, 2, 35];
    expect(encodeLabels(v, 36)).toBe("0372z");
    expect(Array.from(decodeLabels(encodeLabels(v, 36), 36))).toEqual(v);
    expect(Array.from(decodeLabels(encodeLabels([40, 1], 50), 50))).toEqual([40, 1]);
  });

  it("normalizes the grid: sorted bits, quick defaults, balanced as the reference", () => {
    const s = normalizeSettings({ models: ["m"], bits: [8, 3, 4, 4], calib: ["classes:0", "balanced"] });
    expect(s.bits).toEqual([3, 4, 8]);
    expect(s.reference_calib).toBe("balanced");
    expect(s.noise).toEqual([{ kind: "gauss", levels: [0.002, 0.006, 0.01] }]);
    expect(s.seeds).toEqual([0, 1, 2]);
    const q = normalizeSettings({ models: ["m"], quick: true, seeds: 2 });
    expect(q).toMatchObject({ bits: [4, 8], calib: ["balanced", "classes:0"], rows: 300, seeds: [0, 1] });
    expect(normalizeSettings({ models: ["m"], lstmInternals: true }).observer).toBe("mse");
    expect(() => normalizeSettings({ models: ["m"], noise: ["gauss:0.1", "gauss:0.2"] })).toThrow(/given twice/);
    expect(normalizeSettings({ models: ["m"], rounding: "gpfq" }).rounding).toBe("gpfq");
    expect(() => normalizeSettings({ models: ["m"], rounding: "gpfx" as "gpfq" })).toThrow("--rounding must be nearest, gptq, gpfq, got gpfx");
  });

  it("--recipe fills in the options not given; unknown names and settings the study cannot take are refused", () => {
    const study = normalizeSettings({ models: ["m"], recipe: "study" });
    expect(study).toMatchObject({ granularity: "per-tensor", lstm_internals: true, rounding: "gpfq", weight_clip: "mse", observer: "mse-tanh", recipe: "study" });
    expect(study.bias_correction).toBeUndefined();
    // An option given wins over the recipe.
    expect(normalizeSettings({ models: ["m"], recipe: "study", rounding: "gptq" }).rounding).toBe("gptq");
    expect(normalizeSettings({ models: ["m"], recipe: "best" })).toMatchObject({ granularity: "per-channel", rounding: "gptq", weight_clip: "mse", observer: "percentile:99.9", act_order: true, weight_symmetric: false, embedding_gptq: true, gather_pass_through: true });
    // Without a recipe the settings hold no new keys, so earlier studies keep their bytes.
    expect(Object.keys(normalizeSettings({ models: ["m"] }))).not.toContain("recipe");
    expect(() => normalizeSettings({ models: ["m"], recipe: "fastest" })).toThrow("--recipe: unknown recipe 'fastest' (known: default, study, best)");
    // The low-bit settings a recipe may set reach the study's settings (and so its cache keys).
    RECIPE_PRESETS.test_low = { describe: "x", settings: { rounding: "gptq", actOrder: true, weightSymmetric: false, gatherPassThrough: true, embeddingGptq: true } };
    try {
      expect(normalizeSettings({ models: ["m"], recipe: "test_low" })).toMatchObject({ act_order: true, weight_symmetric: false, gather_pass_through: true, embedding_gptq: true });
    } finally {
      delete RECIPE_PRESETS.test_low;
    }
    expect(normalizeSettings({ models: ["m"] })).not.toHaveProperty("act_order");
    RECIPE_PRESETS.test_eq = { describe: "x", settings: { equalize: true, equalizeAlpha: 0.25 } };
    try {
      expect(normalizeSettings({ models: ["m"], recipe: "test_eq" }).equalize).toBe(0.25);
      expect(() => normalizeSettings({ models: ["m"], equalizeAlpha: 0.25 })).toThrow("--equalize-alpha applies to --equalize only");
    } finally {
      delete RECIPE_PRESETS.test_eq;
    }
    expect(normalizeSettings({ models: ["m"] })).not.toHaveProperty("equalize");
    RECIPE_PRESETS.test_only = { describe: "x", settings: { calib: "natural" } };
    try {
      expect(() => normalizeSettings({ models: ["m"], recipe: "test_only" })).toThrow(/sets calib, which the study runner does not take/);
    } finally {
      delete RECIPE_PRESETS.test_only;
    }
  });

  it("bootstraps a mean with an interval around it, reproducibly", () => {
    const v = Float64Array.from({ length: 400 }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const a = bootstrapMean(v, 2000, 0);
    expect(a.mean).toBe(0.25);
    expect(a.ci[0]).toBeLessThan(0.25);
    expect(a.ci[1]).toBeGreaterThan(0.25);
    expect(a.ci[1] - a.ci[0]).toBeGreaterThan(0.05);
    expect(a.ci[1] - a.ci[0]).toBeLessThan(0.12);
    expect(bootstrapMean(v, 2000, 0)).toEqual(a);
  });

  it("a bootstrap batch gives each vector's own bootstrap, and pairedBootstrap's interval for accuracy", () => {
    let x = 3;
    const rand = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
    const labels = Array.from({ length: 300 }, () => Math.floor(rand() * 4));
    const predA = labels.map((l) => (rand() < 0.8 ? l : (l + 1) % 4));
    const predB = labels.map((l) => (rand() < 0.7 ? l : (l + 2) % 4));
    const diff = Float64Array.from(labels, (l, i) => Number(predA[i] === l) - Number(predB[i] === l));
    const other = Float64Array.from({ length: 300 }, () => rand());
    const short = Float64Array.from({ length: 50 }, () => rand());
    const batch = new BootstrapBatch(1000, 0);
    const got: { mean: number; ci: [number, number] }[] = [];
    for (const v of [diff, other, short]) batch.add(v, (r) => got.push(r));
    batch.run();
    expect(got[0]).toEqual(bootstrapMean(diff, 1000, 0));
    expect(got[1]).toEqual(bootstrapMean(other, 1000, 0));
    expect(got[2]).toEqual(bootstrapMean(short, 1000, 0));
    const lib = pairedBootstrap(labels, predA, predB, { resamples: 1000, seed: 0 });
    expect(got[0].mean).toBeCloseTo(lib.observed, 12);
    expect(got[0].ci[0]).toBeCloseTo(lib.ci_low, 12);
    expect(got[0].ci[1]).toBeCloseTo(lib.ci_high, 12);
  });

  it("gives verdicts from each pair's pooled interval", () => {
    const p = (difference: number, ci: [number, number] | null): Pooled => ({ pair: { discriminative: "d", generative: "g" }, conditions: 3, difference, ci });
    expect(verdictOf([p(0.02, [0.01, 0.03])])).toBe("holds");
    expect(verdictOf([p(-0.02, [-0.03, -0.01])])).toBe("reversed");
    expect(verdictOf([p(0.01, [-0.01, 0.03])])).toBe("not shown");
    expect(verdictOf([p(0.02, [0.01, 0.03]), p(0.01, [-0.01, 0.03])])).toBe("not shown");
    expect(verdictOf([p(0.02, null)])).toBe("holds");
    expect(verdictOf([])).toBe("not testable");
  });

  it("draws plots with their marks", () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    const svg = linePlot({ id: "t", title: "T <&>", xLabel: "x", yLabel: "y", categorical: true, series: [{ name: "a", points: [{ x: 3, y: 1, lo: 0.5, hi: 1.5 }, { x: 8, y: 2 }] }] });
    expect(svg).toMatch(/^<svg [^>]*class="plot" data-plot="t"/);
    expect(svg).toContain("T &lt;&amp;&gt;");
    expect(svg.match(/class="point"/g)).toHaveLength(2);
    expect(svg.match(/class="line"/g)).toHaveLength(1);
    expect(svg.match(/class="errorbar"/g)).toHaveLength(1);
    const w = whiskerPlot({ id: "w", title: "W", xLabel: "x", rows: [{ label: "r", value: 1, lo: 0, hi: 2 }] });
    expect(w.match(/class="whisker"/g)).toHaveLength(1);
  });
});
