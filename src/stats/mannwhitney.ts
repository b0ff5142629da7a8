import { binomialCoefficient, normSf } from "./special.ts";
import { hasTies, rankAverage } from "./rank.ts";
import type { TestResult } from "./types.ts";
import { finiteSample, requireNonEmpty } from "./validate.ts";

const TEST = "mannWhitneyU";

/**
 * Mann-Whitney U test, matching scipy.stats.mannwhitneyu(a, b) in scipy 1.10 with its
 * defaults (two-sided, use_continuity=True, method='auto').
 *
 * - statistic: U1, the U statistic of `a` (number of pairs with a > b, ties counting 1/2).
 * - method: 'exact' when the smaller sample has at most 8 values and there are no ties in
 *   the pooled data (scipy switches to the normal approximation only when both samples have
 *   more than 8 values, or when there are ties); otherwise 'asymptotic': normal
 *   approximation with tie correction and continuity correction.
 * - effect_size: rank-biserial correlation 2*U1/(n_a*n_b) - 1, in [-1, 1]; positive when
 *   values in `a` tend to be larger than those in `b`.
 */
export function mannWhitneyU(a: ArrayLike<number>, b: ArrayLike<number>): TestResult {
  const x = finiteSample(a, "a", TEST);
  const y = finiteSample(b, "b", TEST);
  requireNonEmpty(x, "a", TEST);
  requireNonEmpty(y, "b", TEST);
  const n1 = x.length;
  const n2 = y.length;
  const pooled = x.concat(y);
  const exact = (n1 <= 8 || n2 <= 8) && !hasTies(pooled);

  const { ranks, tieCounts } = rankAverage(pooled);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i];
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  const u = Math.max(u1, u2);

  let p: number;
  if (exact) {
    p = 2 * mwuSf(u, n1, n2);
  } else {
    const n = n1 + n2;
    let tieTerm = 0;
    for (const t of tieCounts) tieTerm += t ** 3 - t;
    const s = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
    // Subtracting 1/2 moves U toward the mean since U = max(U1, U2) >= mean.
    const z = (u - (n1 * n2) / 2 - 0.5) / s;
    p = 2 * normSf(z);
  }
  return {
    test: "mann_whitney_u",
    statistic: u1,
    p_value: Math.min(1, Math.max(0, p)),
    effect_size: (2 * u1) / (n1 * n2) - 1,
    method: exact ? "exact" : "asymptotic",
    n_a: n1,
    n_b: n2,
  };
}

/**
 * P(U >= u) under the null for samples of sizes m and n without ties. By symmetry this is
 * P(U <= m*n - u), the sum of the pmf from 0 to m*n - u.
 */
export function mwuSf(u: number, m: number, n: number): number {
  const k = m * n - Math.round(u);
  if (k < 0) return 0;
  const counts = mwuCounts(m, n, k);
  const total = binomialCoefficient(m + n, m);
  let cdf = 0;
  for (let i = 0; i <= k; i++) cdf += counts[i] / total;
  return cdf;
}

/**
 * Number of rank arrangements giving U = 0..kMax, via the recurrence of Di Bucchianico
 * (1999) Theorem 2.5 that scipy's _MWU uses: f(m, n, k) = f(m-1, n, k-n) + f(m, n-1, k).
 * The counts are integers (exact while below 2^53, then rounded as scipy's are).
 * Only U <= kMax is needed for the tail, so the table stays (min(m,n)+1) x (kMax+1).
 */
function mwuCounts(m: number, n: number, kMax: number): Float64Array {
  const small = Math.min(m, n);
  const large = Math.max(m, n);
  // row[i][k] holds f(i, j, k) for the current j (f is symmetric in its first two arguments).
  const rows: Float64Array[] = [];
  for (let i = 0; i <= small; i++) {
    const row = new Float64Array(kMax + 1);
    row[0] = 1;
    rows.push(row);
  }
  for (let j = 1; j <= large; j++) {
    for (let i = 1; i <= small; i++) {
      const row = rows[i];
      const prev = rows[i - 1]; // already advanced to column j
      const top = Math.min(kMax, i * j);
      for (let k = j; k <= top; k++) row[k] += prev[k - j];
    }
  }
  return rows[small];
}
