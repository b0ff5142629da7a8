import { InputError } from "../errors.ts";
import { normSf } from "./special.ts";
import { rankAverage } from "./rank.ts";
import type { TestResult } from "./types.ts";
import { finiteSample, requireNonEmpty, requireSameLength } from "./validate.ts";

const TEST = "wilcoxon";

/** Sample size up to which scipy 1.10's method='auto' uses the exact distribution. */
const EXACT_MAX_N = 50;

/**
 * Wilcoxon signed-rank test, matching scipy.stats.wilcoxon in scipy 1.10 with its defaults
 * (zero_method='wilcox', correction=False, alternative='two-sided', method='auto').
 *
 * Called as wilcoxon(a, b) it tests the paired differences d = a - b; wilcoxon(d) tests d.
 *
 * - statistic: min(r_plus, r_minus), the smaller of the rank sums of positive and negative
 *   differences (zeros dropped).
 * - method: 'exact' when there are at most 50 differences (counting zeros) and none is
 *   zero; otherwise 'asymptotic' (normal approximation with tie correction, no continuity
 *   correction), computed on the nonzero differences.
 *   Like scipy 1.10, the exact branch does not look at ties: with tied |d| it still uses
 *   the exact distribution, at r_plus truncated to an integer.
 * - effect_size: matched-pairs rank-biserial correlation (r_plus - r_minus)/(r_plus + r_minus)
 *   over the nonzero differences, in [-1, 1]; positive when `a` tends to exceed `b`.
 *
 * n_a and n_b are both the number of pairs; for the one-sample form n_b is 0.
 */
export function wilcoxon(a: ArrayLike<number>, b?: ArrayLike<number>): TestResult {
  const x = finiteSample(a, b === undefined ? "x" : "a", TEST);
  let d: number[];
  if (b === undefined) {
    d = x;
  } else {
    const y = finiteSample(b, "b", TEST);
    requireSameLength(x, y, TEST);
    d = x.map((v, i) => v - y[i]);
    if (d.some((v) => !Number.isFinite(v))) throw new InputError(`${TEST}: a - b overflows to infinity`);
  }
  requireNonEmpty(d, b === undefined ? "x" : "a", TEST);
  const nZero = d.filter((v) => v === 0).length;
  if (nZero === d.length) {
    throw new InputError(`${TEST}: every difference is zero; the signed-rank test needs at least one nonzero difference`);
  }
  const exact = d.length <= EXACT_MAX_N && nZero === 0;
  const nonzero = d.filter((v) => v !== 0);
  const count = nonzero.length;

  const { ranks, tieCounts } = rankAverage(nonzero.map(Math.abs));
  let rPlus = 0;
  let rMinus = 0;
  for (let i = 0; i < count; i++) {
    if (nonzero[i] > 0) rPlus += ranks[i];
    else rMinus += ranks[i];
  }
  const statistic = Math.min(rPlus, rMinus);

  let p: number;
  if (exact) {
    p = signedRankTwoSidedP(Math.trunc(rPlus), count);
  } else {
    const mean = count * (count + 1) * 0.25;
    let variance = count * (count + 1) * (2 * count + 1);
    for (const t of tieCounts) if (t > 1) variance -= 0.5 * (t * (t * t - 1));
    const se = Math.sqrt(variance / 24);
    const z = (statistic - mean) / se;
    p = 2 * normSf(Math.abs(z));
  }
  return {
    test: "wilcoxon",
    statistic,
    p_value: Math.min(1, Math.max(0, p)),
    effect_size: (rPlus - rMinus) / (rPlus + rMinus),
    method: exact ? "exact" : "asymptotic",
    n_a: x.length,
    n_b: b === undefined ? 0 : x.length,
  };
}

/**
 * Null distribution of r_plus for n nonzero differences: P(r_plus = r), r = 0..n(n+1)/2.
 * Each step halves and shifts, so every entry is an exact dyadic rational for n <= 50 and
 * the tail sums below are exact too.
 */
export function signedRankPmf(n: number): Float64Array {
  let c = new Float64Array([1]);
  for (let k = 1; k <= n; k++) {
    const next = new Float64Array((k * (k + 1)) / 2 + 1);
    for (let r = 0; r < c.length; r++) {
      next[r] += c[r] * 0.5;
      next[r + k] += c[r] * 0.5;
    }
    c = next;
  }
  return c;
}

function signedRankTwoSidedP(rPlus: number, n: number): number {
  const pmf = signedRankPmf(n);
  if (rPlus === Math.floor((pmf.length - 1) / 2)) return 1;
  let pLess = 0;
  for (let r = 0; r <= rPlus; r++) pLess += pmf[r];
  let pGreater = 0;
  for (let r = rPlus; r < pmf.length; r++) pGreater += pmf[r];
  return 2 * Math.min(pLess, pGreater);
}
