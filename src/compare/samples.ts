/**
 * Reading the samples `ptq-onnx stats test` takes: a JSON array of numbers in a file (for
 * McNemar, of booleans or 0/1 correctness). Every problem is an InputError naming the file.
 */
import { InputError } from "../errors.ts";
import { readInputFile } from "../graph/files.ts";
import { ks2samp } from "../stats/ks.ts";
import { mannWhitneyU } from "../stats/mannwhitney.ts";
import { mcnemar } from "../stats/mcnemar.ts";
import type { TestResult } from "../stats/types.ts";
import { wilcoxon } from "../stats/wilcoxon.ts";

export const TEST_NAMES = ["mannwhitney", "wilcoxon", "ks", "mcnemar"] as const;
export type TestName = (typeof TEST_NAMES)[number];

/** What each test's effect_size is, for reports. */
export const EFFECT_SIZE: Record<TestName, string> = {
  mannwhitney: "rank-biserial correlation 2U/(n_a n_b) - 1 (positive: a tends to be larger)",
  wilcoxon: "matched-pairs rank-biserial (r+ - r-)/(r+ + r-) (positive: a tends to exceed b)",
  ks: "the KS distance D = sup |F_a - F_b|",
  mcnemar: "(b - c)/(b + c): b = right in a only, c = right in b only (positive: a is right more often)",
};

function readJsonArray(file: string): unknown[] {
  const text = readInputFile(file, "a JSON file of samples").toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`not valid JSON (${(err as Error).message}); expected an array of numbers`, file);
  }
  if (!Array.isArray(json)) throw new InputError(`expected a JSON array of numbers, got ${json === null ? "null" : typeof json}`, file);
  return json;
}

/** A sample of finite numbers. */
export function readNumberSample(file: string, minLength = 1): number[] {
  const arr = readJsonArray(file);
  arr.forEach((v, i) => {
    if (typeof v !== "number") throw new InputError(`element ${i} is not a number (got ${JSON.stringify(v)?.slice(0, 40) ?? typeof v})`, file);
    if (!Number.isFinite(v)) throw new InputError(`element ${i} is not finite (${v})`, file);
  });
  if (arr.length < minLength) throw new InputError(`has ${arr.length} values; the test needs at least ${minLength}`, file);
  return arr as number[];
}

/** Per-item correctness: booleans, or the numbers 0 and 1. */
export function readCorrectness(file: string): boolean[] {
  const arr = readJsonArray(file);
  const out = arr.map((v, i) => {
    if (typeof v === "boolean") return v;
    if (v === 0 || v === 1) return v === 1;
    throw new InputError(`element ${i} is not a boolean or 0/1 (got ${JSON.stringify(v)?.slice(0, 40) ?? typeof v})`, file);
  });
  if (out.length === 0) throw new InputError("has 0 items; McNemar's test needs at least 1 pair", file);
  return out;
}

/**
 * Runs one test on samples read from files. `b` may be omitted for Wilcoxon (the one-sample
 * form on differences). Library errors are re-thrown naming the file(s) they concern.
 */
export function testFromFiles(test: string, a: string, b: string | undefined): TestResult {
  if (!(TEST_NAMES as readonly string[]).includes(test)) {
    throw new InputError(`unknown test "${test}"; choose one of ${TEST_NAMES.join(", ")}`);
  }
  if (b === undefined && test !== "wilcoxon") throw new InputError(`--b is required for ${test}`);
  const name = test as TestName;
  const both = b === undefined ? a : `${a} and ${b}`;
  const rethrow = (fn: () => TestResult): TestResult => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof InputError) throw new InputError(err.message, both);
      throw err;
    }
  };
  if (name === "mcnemar") {
    const x = readCorrectness(a);
    const y = readCorrectness(b!);
    if (x.length !== y.length) throw new InputError(`paired correctness of different lengths (${x.length} and ${y.length} items)`, both);
    return rethrow(() => mcnemar(x, y));
  }
  const x = readNumberSample(a);
  if (name === "wilcoxon") {
    if (b === undefined) return rethrow(() => wilcoxon(x));
    const y = readNumberSample(b);
    if (x.length !== y.length) throw new InputError(`paired samples of different lengths (${x.length} and ${y.length} values)`, both);
    return rethrow(() => wilcoxon(x, y));
  }
  const y = readNumberSample(b!);
  return rethrow(() => (name === "mannwhitney" ? mannWhitneyU(x, y) : ks2samp(x, y)));
}
