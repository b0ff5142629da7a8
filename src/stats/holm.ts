import { InputError } from "../errors.ts";

/**
 * Holm-Bonferroni adjusted p-values, in the order given. With the p-values sorted
 * ascending, p_(i) is scaled by (m - i) for i = 0..m-1, made non-decreasing by a running
 * maximum (so an adjusted p is never below one ranked ahead of it) and capped at 1.
 * Rejecting where the adjusted p <= alpha controls the family-wise error rate at alpha.
 */
export function holm(pValues: ArrayLike<number>): number[] {
  const m = pValues.length;
  const p: number[] = [];
  for (let i = 0; i < m; i++) {
    const v = pValues[i];
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
      throw new InputError(`holm: pValues[${i}] must be a number in [0, 1] (got ${String(v)})`);
    }
    p.push(v);
  }
  // Stable sort keeps equal p-values in input order, which only matters for ties.
  const order = p.map((_, i) => i).sort((i, j) => p[i] - p[j]);
  const adjusted = new Array<number>(m);
  let running = 0;
  for (let rank = 0; rank < m; rank++) {
    const i = order[rank];
    running = Math.max(running, Math.min(1, (m - rank) * p[i]));
    adjusted[i] = running;
  }
  return adjusted;
}
