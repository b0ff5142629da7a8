import { describe, expect, it } from "vitest";
import { percentile } from "../../src/eval/bench.ts";
import { compareScores, metricsFor, spread } from "../../src/eval/evaluate.ts";
import { accuracy, argmax, classificationReport, confusionMatrix, macroF1 } from "../../src/eval/metrics.ts";

describe("classification metrics against hand-computed values", () => {
  // true:      0 0 1 1 2 2
  // predicted: 0 1 1 1 0 0
  const labels = [0, 0, 1, 1, 2, 2];
  const preds = [0, 1, 1, 1, 0, 0];

  it("accuracy and confusion", () => {
    expect(accuracy(labels, preds)).toBe(0.5);
    expect(confusionMatrix(labels, preds)).toEqual([
      [1, 1, 0],
      [0, 2, 0],
      [2, 0, 0],
    ]);
  });

  it("per-class precision, recall, F1 and support; a class never predicted has F1 0", () => {
    const r = classificationReport(labels, preds);
    // class 0: tp 1, predicted 3, support 2 -> P 1/3, R 1/2, F1 = 2PR/(P+R) = 0.4
    // class 1: tp 2, predicted 3, support 2 -> P 2/3, R 1, F1 0.8
    // class 2: tp 0, never predicted -> precision defined as 0 (zero_division=0), F1 0
    expect(r.per_class.map((c) => c.support)).toEqual([2, 2, 2]);
    expect(r.per_class[0].precision).toBeCloseTo(1 / 3, 12);
    expect(r.per_class[0].recall).toBeCloseTo(0.5, 12);
    expect(r.per_class[0].f1).toBeCloseTo(0.4, 12);
    expect(r.per_class[1].precision).toBeCloseTo(2 / 3, 12);
    expect(r.per_class[1].recall).toBe(1);
    expect(r.per_class[1].f1).toBeCloseTo(0.8, 12);
    expect(r.per_class[2]).toEqual({ label: 2, precision: 0, recall: 0, f1: 0, support: 2 });
    expect(r.macro_f1).toBeCloseTo(0.4, 12);
    expect(macroF1(labels, preds)).toBeCloseTo(0.4, 12);
    expect(r.n).toBe(6);
  });

  it("a class with neither support nor predictions counts 0 in macro-F1", () => {
    const r = classificationReport([0, 1], [0, 1], 4);
    expect(r.per_class[3]).toEqual({ label: 3, precision: 0, recall: 0, f1: 0, support: 0 });
    expect(r.macro_f1).toBe(0.5);
    expect(r.confusion).toHaveLength(4);
  });

  it("argmax takes the first of ties and never NaN", () => {
    expect(argmax([1, 3, 3])).toBe(1);
    expect(argmax([NaN, 2, 1])).toBe(1);
    expect(argmax([])).toBe(-1);
  });

  it("metricsFor names classes and rejects labels beyond the model's scores", () => {
    const result = { scores: [], predictions: [0, 1, 1], classes: 2 };
    const m = metricsFor([0, 1, 0], result, ["ham", "spam"]);
    expect(m.per_class.map((c) => c.name)).toEqual(["ham", "spam"]);
    expect(m.accuracy).toBeCloseTo(2 / 3, 12);
    expect(() => metricsFor([0, 2, 0], result, undefined)).toThrow(/label 2 is outside the model's 2 classes/);
    expect(() => metricsFor([0, 1, 0], result, ["a", "b", "c"])).toThrow(/3 classes/);
  });
});

describe("agreement and KL divergence", () => {
  it("identical scores agree fully with KL 0", () => {
    const s = [Float32Array.from([1, 2, 3]), Float32Array.from([-5, 0, 50])];
    expect(compareScores(s, s, [2, 2], [2, 2])).toEqual({ agreement: 1, mean_kl: 0 });
  });

  it("KL(softmax(ref) || softmax(x)) by hand", () => {
    // p = softmax([0, 0]) = [1/2, 1/2]; q = softmax([ln 3, 0]) = [3/4, 1/4]
    // KL = 1/2 ln(2/3) + 1/2 ln(2) = 1/2 ln(4/3)
    const r = compareScores([[0, 0]], [[Math.log(3), 0]], [0], [0]);
    expect(r.mean_kl).toBeCloseTo(0.5 * Math.log(4 / 3), 12);
    expect(r.agreement).toBe(1);
    const two = compareScores([[0, 0], [0, 0]], [[Math.log(3), 0], [0, 0]], [0, 0], [0, 1]);
    expect(two.mean_kl).toBeCloseTo(0.25 * Math.log(4 / 3), 12);
    expect(two.agreement).toBe(0.5);
  });

  it("is stable for large log-probabilities (generative scores)", () => {
    const r = compareScores([[-1000, -1001]], [[-2000, -2001]], [0], [0]);
    expect(r.mean_kl).toBeCloseTo(0, 12);
  });
});

describe("summaries", () => {
  it("spread: mean, sample std, min, max", () => {
    expect(spread([1, 2, 3])).toEqual({ mean: 2, std: 1, min: 1, max: 3 });
    expect(spread([0.5])).toEqual({ mean: 0.5, std: 0, min: 0.5, max: 0.5 });
  });

  it("percentile interpolates linearly (numpy's default)", () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([1, 2, 3, 4], 90)).toBeCloseTo(3.7, 12);
    expect(percentile([7], 99)).toBe(7);
  });
});
