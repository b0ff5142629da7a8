import { afterAll, describe, expect, it } from "vitest";
import { ks2samp, mannWhitneyU, mcnemar, wilcoxon } from "../../src/stats/index.ts";
import { chi2Sf1, kolmogorovSf, kstwoSf, normSf, smirnovSf } from "../../src/stats/special.ts";
import type { TestResult } from "../../src/stats/types.ts";
import { loadReference, relErr, RTOL } from "./reference.ts";

const ref = loadReference();
const maxErr: Record<string, number> = {};

function record(key: string, err: number): void {
  maxErr[key] = Math.max(maxErr[key] ?? 0, err);
}

function check(test: string, name: string, got: TestResult, want: { statistic: number; p_value: number; method: string }): void {
  const statErr = relErr(got.statistic, want.statistic);
  const pErr = relErr(got.p_value, want.p_value);
  record(`${test}.statistic`, statErr);
  record(`${test}.p_value`, pErr);
  expect(got.method, `${name} method`).toBe(want.method);
  expect(statErr, `${name} statistic ${got.statistic} vs ${want.statistic}`).toBeLessThanOrEqual(RTOL);
  expect(pErr, `${name} p ${got.p_value} vs ${want.p_value}`).toBeLessThanOrEqual(RTOL);
}

const sample = (a: number[] | string): number[] => (typeof a === "string" ? ref.shared_samples[a] : a);

afterAll(() => {
  // Printed so a run shows how close to scipy each test is, not just that it passed.
  const lines = Object.entries(maxErr)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `  ${k}: ${v.toExponential(2)}`);
  console.log(`max relative error vs scipy ${ref.scipy_version}:\n${lines.join("\n")}`);
});

describe("mannWhitneyU matches scipy.stats.mannwhitneyu", () => {
  it.each(ref.mannwhitneyu.map((c) => [c.name, c] as const))("%s", (name, c) => {
    check("mannwhitneyu", name, mannWhitneyU(sample(c.a), c.b), c);
  });
});

describe("wilcoxon matches scipy.stats.wilcoxon", () => {
  it.each(ref.wilcoxon.map((c) => [c.name, c] as const))("%s", (name, c) => {
    check("wilcoxon", name, c.y === undefined ? wilcoxon(c.x) : wilcoxon(c.x, c.y), c);
  });
});

describe("ks2samp matches scipy.stats.ks_2samp", () => {
  it.each(ref.ks_2samp.map((c) => [c.name, c] as const))("%s", (name, c) => {
    check("ks_2samp", name, ks2samp(sample(c.a), c.b), c);
  });
});

describe("mcnemar matches scipy.stats.binom / chi2", () => {
  it.each(ref.mcnemar.map((c) => [c.name, c] as const))("%s", (name, c) => {
    // Interleave the four kinds of item so the test does not depend on their order.
    const a: boolean[] = [];
    const b: boolean[] = [];
    const kinds: [number, boolean, boolean][] = [
      [c.b, true, false],
      [c.c, false, true],
      [c.both_right, true, true],
      [c.both_wrong, false, false],
    ];
    for (let left = true; left; ) {
      left = false;
      for (const kind of kinds) {
        if (kind[0] > 0) {
          kind[0]--;
          a.push(kind[1]);
          b.push(kind[2]);
          left = true;
        }
      }
    }
    const got = mcnemar(a, b);
    check("mcnemar", name, got, c);
    expect(got.effect_size).toBe(c.b + c.c === 0 ? 0 : (c.b - c.c) / (c.b + c.c));
  });
});

describe("special functions match scipy", () => {
  it("norm.sf", () => {
    for (const [z, want] of ref.special.norm_sf) {
      const err = relErr(normSf(z), want);
      record("special.norm_sf", err);
      expect(err, `z=${z}`).toBeLessThanOrEqual(RTOL);
    }
  });
  it("chi2.sf with 1 dof", () => {
    for (const [x, want] of ref.special.chi2_sf_df1) {
      const err = relErr(chi2Sf1(x), want);
      record("special.chi2_sf_df1", err);
      expect(err, `x=${x}`).toBeLessThanOrEqual(RTOL);
    }
  });
  it("kstwo.sf", () => {
    for (const [n, x, want] of ref.special.kstwo_sf) {
      const got = kstwoSf(n, x);
      const err = relErr(got, want);
      record("special.kstwo_sf", err);
      expect(err, `n=${n} x=${x}: ${got} vs ${want}`).toBeLessThanOrEqual(RTOL);
    }
  });
  it("smirnov", () => {
    for (const [n, x, want] of ref.special.smirnov_sf) {
      const got = smirnovSf(n, x);
      const err = relErr(got, want);
      record("special.smirnov_sf", err);
      expect(err, `n=${n} x=${x}: ${got} vs ${want}`).toBeLessThanOrEqual(RTOL);
    }
  });
  it("kstwobign.sf", () => {
    for (const [x, want] of ref.special.kstwobign_sf) {
      const err = relErr(kolmogorovSf(x), want);
      record("special.kstwobign_sf", err);
      expect(err, `x=${x}`).toBeLessThanOrEqual(RTOL);
    }
  });
});
