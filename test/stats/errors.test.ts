import { describe, expect, it } from "vitest";
import { InputError } from "../../src/graph/errors.ts";
import { holm, ks2samp, mannWhitneyU, mcnemar, pairedBootstrap, wilcoxon } from "../../src/stats/index.ts";

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

describe("bad input throws InputError", () => {
  it("empty samples", () => {
    expectInputError(() => mannWhitneyU([], [1, 2]), /mannWhitneyU: a is empty/);
    expectInputError(() => mannWhitneyU([1], []), /mannWhitneyU: b is empty/);
    expectInputError(() => ks2samp([], [1]), /ks2samp: a is empty/);
    expectInputError(() => ks2samp([1], []), /ks2samp: b is empty/);
    expectInputError(() => wilcoxon([]), /wilcoxon: x is empty/);
    expectInputError(() => wilcoxon([], []), /wilcoxon: a is empty/);
    expectInputError(() => mcnemar([], []), /mcnemar: correctA is empty/);
  });

  it("non-finite values", () => {
    expectInputError(() => mannWhitneyU([1, NaN], [2]), /a\[1\] is not finite \(NaN\)/);
    expectInputError(() => mannWhitneyU([1], [Infinity]), /b\[0\] is not finite \(Infinity\)/);
    expectInputError(() => ks2samp([1, -Infinity], [2]), /a\[1\] is not finite/);
    expectInputError(() => wilcoxon([1, 2, NaN]), /x\[2\] is not finite/);
    expectInputError(() => wilcoxon([1, 2], [3, NaN]), /b\[1\] is not finite/);
    expectInputError(() => wilcoxon([1e308], [-1e308]), /overflows/);
  });

  it("non-numeric values", () => {
    expectInputError(() => mannWhitneyU([1, "2"] as unknown as number[], [3]), /a\[1\] is not a number \(got string\)/);
    expectInputError(() => ks2samp([1], [null] as unknown as number[]), /b\[0\] is not a number/);
    expectInputError(() => wilcoxon(undefined as unknown as number[]), /must be an array of numbers/);
    expectInputError(() => mcnemar([true, 1] as unknown as boolean[], [true, false]), /correctA\[1\] is not a boolean/);
    expectInputError(() => holm([0.1, Number.NaN]), /pValues\[1\] must be a number in \[0, 1\]/);
    expectInputError(() => holm([0.1, 1.5]), /pValues\[1\]/);
  });

  it("unequal lengths in paired tests", () => {
    expectInputError(() => wilcoxon([1, 2, 3], [1, 2]), /same length \(got 3 and 2\)/);
    expectInputError(() => mcnemar([true], [true, false]), /same length/);
    expectInputError(() => pairedBootstrap([0, 1], [0, 1], [0]), /same length/);
  });

  it("all-zero differences for Wilcoxon", () => {
    expectInputError(() => wilcoxon([0, 0, 0]), /every difference is zero/);
    expectInputError(() => wilcoxon([1, 2, 3], [1, 2, 3]), /every difference is zero/);
  });

  it("bad bootstrap options", () => {
    const y = [0, 1, 0, 1];
    expectInputError(() => pairedBootstrap(y, y, y, { resamples: 0 }), /resamples/);
    expectInputError(() => pairedBootstrap(y, y, y, { confidence: 1 }), /confidence/);
    expectInputError(() => pairedBootstrap(y, y, y, { seed: 1.5 }), /seed/);
    expectInputError(() => pairedBootstrap(y, y, y, { metric: "auc" as "accuracy" }), /metric/);
    expectInputError(() => pairedBootstrap([], [], []), /empty/);
    expectInputError(() => pairedBootstrap([0, NaN], [0, 1], [0, 1]), /yTrue\[1\]/);
  });
});
