import { describe, expect, it } from "vitest";
import { pairedBootstrap } from "../../src/stats/index.ts";
import { quantileSorted } from "../../src/stats/bootstrap.ts";
import { Xoshiro128 } from "../../src/stats/random.ts";

/**
 * A 3-class problem where model A is right on ~88% of items and model B on ~78%. Both
 * models use the same per-item difficulty draw, so their errors are correlated (B is wrong
 * on nearly every item A gets wrong), as with two models scored on one test set.
 */
function syntheticPredictions(n: number, seed: number): { y: number[]; a: number[]; b: number[] } {
  const rng = new Xoshiro128(seed);
  const y: number[] = [];
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = rng.nextInt(3);
    const difficulty = rng.nextFloat();
    const wrongLabel = (label + 1 + rng.nextInt(2)) % 3;
    y.push(label);
    a.push(difficulty < 0.88 ? label : wrongLabel);
    b.push(difficulty < 0.78 ? label : wrongLabel);
  }
  return { y, a, b };
}

describe("pairedBootstrap", () => {
  const { y, a, b } = syntheticPredictions(400, 7);

  it("is deterministic for a seed and changes with the seed", () => {
    const r1 = pairedBootstrap(y, a, b, { metric: "accuracy", resamples: 2000, seed: 42, confidence: 0.95 });
    const r2 = pairedBootstrap(y, a, b, { metric: "accuracy", resamples: 2000, seed: 42, confidence: 0.95 });
    const r3 = pairedBootstrap(y, a, b, { metric: "accuracy", resamples: 2000, seed: 43, confidence: 0.95 });
    expect(r2).toEqual(r1);
    expect([r3.ci_low, r3.ci_high]).not.toEqual([r1.ci_low, r1.ci_high]);
    expect(r3.observed).toBe(r1.observed);
  });

  it("reports the observed accuracy difference inside its percentile interval", () => {
    const r = pairedBootstrap(y, a, b, { metric: "accuracy", resamples: 4000, seed: 1, confidence: 0.95 });
    const accuracy = (p: number[]): number => p.filter((v, i) => v === y[i]).length / y.length;
    expect(r.metric_a).toBe(accuracy(a));
    expect(r.metric_b).toBe(accuracy(b));
    expect(r.observed).toBeCloseTo(accuracy(a) - accuracy(b), 15);
    expect(r.observed).toBeGreaterThan(0);
    expect(r.ci_low).toBeLessThanOrEqual(r.observed);
    expect(r.ci_high).toBeGreaterThanOrEqual(r.observed);
    // ~0.1 difference on 400 items: the interval should exclude 0 but not be degenerate.
    expect(r.ci_low).toBeGreaterThan(0);
    expect(r.ci_high - r.ci_low).toBeGreaterThan(0.02);
    expect(r.ci_high - r.ci_low).toBeLessThan(0.2);
    expect(r).toMatchObject({ metric: "accuracy", resamples: 4000, seed: 1, confidence: 0.95, n: 400 });
  });

  it("computes macro F1 like scikit-learn and brackets the observed difference", () => {
    const r = pairedBootstrap(y, a, b, { metric: "macro_f1", resamples: 2000, seed: 3, confidence: 0.9 });
    expect(r.metric_a).toBeCloseTo(macroF1(y, a), 15);
    expect(r.metric_b).toBeCloseTo(macroF1(y, b), 15);
    expect(r.ci_low).toBeLessThanOrEqual(r.observed);
    expect(r.ci_high).toBeGreaterThanOrEqual(r.observed);
  });

  it("hand-checked macro F1 with string labels and a label only in the predictions", () => {
    // labels: cat (2 true), dog (1 true), bird (never true, predicted once by A)
    const truth = ["cat", "cat", "dog"];
    const predA = ["cat", "bird", "dog"]; // cat F1 = 2/3, dog F1 = 1, bird F1 = 0 -> 5/9
    const predB = ["cat", "cat", "cat"]; // cat F1 = 4/5, dog F1 = 0 -> 2/5
    const r = pairedBootstrap(truth, predA, predB, { metric: "macro_f1", resamples: 10, seed: 0 });
    expect(r.metric_a).toBeCloseTo(5 / 9, 15);
    expect(r.metric_b).toBeCloseTo(2 / 5, 15);
  });

  it("identical models give a zero interval", () => {
    const r = pairedBootstrap(y, a, a, { resamples: 200, seed: 5 });
    expect([r.observed, r.ci_low, r.ci_high]).toEqual([0, 0, 0]);
  });

  it("percentile interpolation follows numpy's linear method", () => {
    const sorted = new Float64Array([1, 2, 3, 4, 10]);
    expect(quantileSorted(sorted, 0)).toBe(1);
    expect(quantileSorted(sorted, 1)).toBe(10);
    expect(quantileSorted(sorted, 0.5)).toBe(3);
    expect(quantileSorted(sorted, 0.975)).toBeCloseTo(4 + 0.9 * 6, 12); // h = 3.9
  });
});

function macroF1(truth: number[], pred: number[]): number {
  const labels = [...new Set([...truth, ...pred])];
  let sum = 0;
  for (const l of labels) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < truth.length; i++) {
      if (pred[i] === l && truth[i] === l) tp++;
      else if (pred[i] === l) fp++;
      else if (truth[i] === l) fn++;
    }
    sum += (2 * tp) / (2 * tp + fp + fn);
  }
  return sum / labels.length;
}
