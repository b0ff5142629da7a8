/** A test's outcome in the report: ran (with its Holm-adjusted p) or skipped with the reason. */
import { holm } from "../stats/holm.ts";
import type { TestResult } from "../stats/types.ts";
import type { Outcome } from "./report.ts";

export function arraysEqual(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function ran(r: TestResult, method = r.method as string): Outcome {
  return { ...r, method, p_holm: NaN };
}

export function skipped(test: TestResult["test"], why: string): Outcome {
  return { test, skipped: why, p_value: null, p_holm: null };
}

/** Fills p_holm in each family (tests that ran), in place. */
export function holmFamily(outcomes: Outcome[]): void {
  const idx = outcomes.map((o, i) => (o.skipped === undefined ? i : -1)).filter((i) => i >= 0);
  const adjusted = holm(idx.map((i) => outcomes[i].p_value as number));
  idx.forEach((i, k) => ((outcomes[i] as { p_holm: number }).p_holm = adjusted[k]));
}
