import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/graph/errors.ts";
import { ks2samp, mannWhitneyU, mcnemar, wilcoxon } from "../../src/stats/index.ts";
import { testFromFiles } from "../../src/compare/samples.ts";
import type { TestResult } from "../../src/stats/types.ts";
import { runCli, tempDir } from "../helpers.ts";
import { loadReference, relErr, RTOL } from "./reference.ts";

const ref = loadReference();
const dir = tempDir("ptq-onnx-stats-cli-");
let fileNo = 0;
function write(value: unknown, raw = false): string {
  const path = join(dir, `s${fileNo++}.json`);
  writeFileSync(path, raw ? String(value) : JSON.stringify(value));
  return path;
}
const sample = (a: number[] | string): number[] => (typeof a === "string" ? ref.shared_samples[a] : a);
const byName = <T extends { name: string }>(cases: T[], name: string): T => {
  const c = cases.find((x) => x.name === name);
  if (!c) throw new Error(`no reference case ${name}`);
  return c;
};

/** Correctness vectors with the reference case's b, c and concordant counts, as 0/1 (A) and booleans (B). */
function mcnemarVectors(c: { b: number; c: number; both_right: number; both_wrong: number }): [number[], boolean[]] {
  const a: number[] = [];
  const b: boolean[] = [];
  const push = (x: number, y: boolean, n: number) => {
    for (let i = 0; i < n; i++) (a.push(x), b.push(y));
  };
  push(1, false, c.b);
  push(0, true, c.c);
  push(1, true, c.both_right);
  push(0, false, c.both_wrong);
  return [a, b];
}

function expectMatches(got: Record<string, unknown>, lib: TestResult, want: { statistic: number; p_value: number; method: string }): void {
  for (const k of ["test", "statistic", "p_value", "effect_size", "method", "n_a", "n_b"] as const) expect(got[k], k).toEqual(lib[k]);
  expect(got.method).toBe(want.method);
  expect(relErr(got.statistic as number, want.statistic)).toBeLessThanOrEqual(RTOL);
  expect(relErr(got.p_value as number, want.p_value)).toBeLessThanOrEqual(RTOL);
}

describe("ptq-onnx stats test", () => {
  it("prints the contract's fields, equal to the library and to scipy's committed values", () => {
    const mw = byName(ref.mannwhitneyu, "small_ties");
    const wx = byName(ref.wilcoxon, "paired_with_zero");
    const ks = byName(ref.ks_2samp, "n60_n90_ties");
    const mc = byName(ref.mcnemar, "chi2_moderate");
    const [mcA, mcB] = mcnemarVectors(mc);
    const cases: [string, string, string, TestResult, typeof mw | typeof wx | typeof mc][] = [
      ["mannwhitney", write(sample(mw.a)), write(mw.b), mannWhitneyU(sample(mw.a), mw.b), mw],
      ["wilcoxon", write(wx.x), write(wx.y), wilcoxon(wx.x, wx.y), wx],
      ["ks", write(sample(ks.a)), write(ks.b), ks2samp(sample(ks.a), ks.b), ks],
      ["mcnemar", write(mcA), write(mcB), mcnemar(mcA.map((x) => x === 1), mcB), mc],
    ];
    for (const [test, a, b, lib, want] of cases) {
      const r = runCli(["stats", "test", "--test", test, "--a", a, "--b", b, "--json"]);
      expect(r.stderr, test).toBe("");
      expect(r.status, test).toBe(0);
      expectMatches(JSON.parse(r.stdout), lib, want);
    }
  });

  it("bad input: one line naming the file, exit 2", () => {
    const bad = write("[1, 2,", true);
    const good = write([1, 2, 3]);
    let r = runCli(["stats", "test", "--test", "ks", "--a", good, "--b", bad]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`${bad}: not valid JSON`);
    r = runCli(["stats", "test", "--test", "ttest", "--a", good, "--b", good]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown test "ttest"/);
  });
});

describe("testFromFiles (what stats test runs)", () => {
  function expectInputError(fn: () => unknown, message: RegExp): void {
    let thrown: unknown;
    try {
      fn();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InputError);
    expect((thrown as Error).message).toMatch(message);
  }
  const good = write([1, 2, 3]);

  it("rejects bad samples, naming the file", () => {
    const text = write([1, "2", 3]);
    expectInputError(() => testFromFiles("mannwhitney", good, text), new RegExp(`^${text}: element 1 is not a number \\(got "2"\\)`));
    const obj = write({ a: 1 });
    expectInputError(() => testFromFiles("ks", obj, good), new RegExp(`^${obj}: expected a JSON array`));
    const empty = write([]);
    expectInputError(() => testFromFiles("mannwhitney", empty, good), new RegExp(`^${empty}: has 0 values; the test needs at least 1`));
    const inf = write("[1, 1e999]", true);
    expectInputError(() => testFromFiles("ks", good, inf), new RegExp(`^${inf}: element 1 is not finite`));
    const nullish = write([1, null]);
    expectInputError(() => testFromFiles("ks", good, nullish), /element 1 is not a number \(got null\)/);
    expectInputError(() => testFromFiles("ks", join(dir, "missing.json"), good), /missing\.json: no such file/);
    expectInputError(() => testFromFiles("ks", good, undefined), /--b is required for ks/);
  });

  it("paired tests: lengths must agree, Wilcoxon needs a nonzero difference", () => {
    const four = write([1, 2, 3, 4]);
    expectInputError(() => testFromFiles("wilcoxon", good, four), new RegExp(`^${good} and ${four}: paired samples of different lengths \\(3 and 4 values\\)`));
    expectInputError(() => testFromFiles("wilcoxon", good, good), new RegExp(`^${good} and ${good}: wilcoxon: every difference is zero`));
    const bools = write([true, false, true]);
    expectInputError(() => testFromFiles("mcnemar", bools, write([1, 0, 0, 1])), /paired correctness of different lengths \(3 and 4 items\)/);
    const two = write([1, 0, 2]);
    expectInputError(() => testFromFiles("mcnemar", bools, two), new RegExp(`^${two}: element 2 is not a boolean or 0/1`));
  });

  it("Wilcoxon without --b tests the differences in --a; McNemar takes 0/1 or booleans", () => {
    const d = write([0.5, -1.25, 2, 3.5, -0.75, 4]);
    expect(testFromFiles("wilcoxon", d, undefined)).toEqual(wilcoxon([0.5, -1.25, 2, 3.5, -0.75, 4]));
    const a = write([1, 1, 0, 1, 0]);
    const b = write([false, true, true, false, false]);
    expect(testFromFiles("mcnemar", a, b)).toEqual(mcnemar([true, true, false, true, false], [false, true, true, false, false]));
  });
});
