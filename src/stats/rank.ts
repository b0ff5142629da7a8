/** Average ranks (1-based, ties share the mean of their positions) and the tie group sizes. */
export interface Ranking {
  ranks: Float64Array;
  /** Sizes of the groups of equal values, including groups of one. */
  tieCounts: number[];
}

/** scipy.stats.rankdata(values) with the default 'average' method. */
export function rankAverage(values: readonly number[]): Ranking {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => values[i] - values[j]);
  const ranks = new Float64Array(n);
  const tieCounts: number[] = [];
  let start = 0;
  while (start < n) {
    let end = start + 1;
    while (end < n && values[order[end]] === values[order[start]]) end++;
    // positions start+1 .. end share the average rank
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k]] = rank;
    tieCounts.push(end - start);
    start = end;
  }
  return { ranks, tieCounts };
}

/** Whether any value occurs more than once. */
export function hasTies(values: readonly number[]): boolean {
  return new Set(values).size !== values.length; // SameValueZero: -0 and 0 count as tied
}
