/** Result shape shared by every hypothesis test in this module. */
export interface TestResult {
  /** Which test produced the result. */
  test: "mann_whitney_u" | "wilcoxon" | "ks_2samp" | "mcnemar";
  /** The statistic as scipy reports it (see each test for its definition). */
  statistic: number;
  /** Two-sided p-value. */
  p_value: number;
  /** Effect size; its definition is documented on each test. */
  effect_size: number;
  /** Whether the p-value comes from the exact null distribution or an approximation. */
  method: "exact" | "asymptotic";
  /** Size of the first sample (number of pairs for paired tests). */
  n_a: number;
  /** Size of the second sample (number of pairs for paired tests, 0 for one-sample Wilcoxon). */
  n_b: number;
}
