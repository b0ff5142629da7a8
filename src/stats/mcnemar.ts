import { InputError } from "../errors.ts";
import { binomCdfHalf, chi2Sf1 } from "./special.ts";
import type { TestResult } from "./types.ts";
import { requireNonEmpty, requireSameLength } from "./validate.ts";

const TEST = "mcnemar";

/** Below this many discordant pairs the exact binomial test is used. */
const EXACT_MAX_DISCORDANT = 25;

/**
 * McNemar's test for two classifiers scored on the same items.
 *
 * b = items A got right and B got wrong, c = items A got wrong and B got right.
 *
 * - b + c < 25 ('exact'): statistic = min(b, c), p = min(1, 2 * P(Binom(b+c, 1/2) <= min(b, c))).
 * - otherwise ('asymptotic'): statistic = (|b - c| - 1)^2 / (b + c) (continuity-corrected),
 *   p = chi-square(1) survival function. When b = c the corrected difference is taken as 0
 *   (statistic 0, p = 1), as R's mcnemar.test does, rather than squaring -1.
 * - effect_size: (b - c) / (b + c), in [-1, 1]; positive when A is right where B is wrong
 *   more often than the reverse. 0 when there are no discordant pairs. (The odds ratio
 *   b/c is not used because it is infinite whenever c = 0.)
 */
export function mcnemar(correctA: ArrayLike<boolean>, correctB: ArrayLike<boolean>): TestResult {
  const a = booleanSample(correctA, "correctA");
  const bArr = booleanSample(correctB, "correctB");
  requireSameLength(a, bArr, TEST);
  requireNonEmpty(a, "correctA", TEST);
  let b = 0;
  let c = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && !bArr[i]) b++;
    else if (!a[i] && bArr[i]) c++;
  }
  const discordant = b + c;
  const exact = discordant < EXACT_MAX_DISCORDANT;
  let statistic: number;
  let p: number;
  if (exact) {
    statistic = Math.min(b, c);
    p = Math.min(1, 2 * binomCdfHalf(statistic, discordant));
  } else {
    statistic = Math.max(Math.abs(b - c) - 1, 0) ** 2 / discordant;
    p = chi2Sf1(statistic);
  }
  return {
    test: "mcnemar",
    statistic,
    p_value: p,
    effect_size: discordant === 0 ? 0 : (b - c) / discordant,
    method: exact ? "exact" : "asymptotic",
    n_a: a.length,
    n_b: bArr.length,
  };
}

function booleanSample(values: ArrayLike<unknown>, name: string): boolean[] {
  if (values === null || typeof values !== "object" || typeof values.length !== "number") {
    throw new InputError(`${TEST}: ${name} must be an array of booleans`);
  }
  const out = new Array<boolean>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== "boolean") throw new InputError(`${TEST}: ${name}[${i}] is not a boolean (got ${typeof v})`);
    out[i] = v;
  }
  return out;
}
