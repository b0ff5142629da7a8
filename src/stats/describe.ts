/**
 * Descriptive helpers for comparing two quantizations: summaries of a sample and
 * deterministic subsampling.
 */
import { Xoshiro128 } from "./random.ts";

export interface Summary {
  n: number;
  mean: number;
  std: number;
  min: number;
  median: number;
  max: number;
  mean_abs: number;
  rms: number;
}

/** n, mean, population std, min, median, max, mean |x| and root mean square of a sample. */
export function summarize(values: ArrayLike<number>): Summary {
  const n = values.length;
  if (n === 0) return { n: 0, mean: NaN, std: NaN, min: NaN, median: NaN, max: NaN, mean_abs: NaN, rms: NaN };
  let sum = 0;
  let sumAbs = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    sum += v;
    sumAbs += Math.abs(v);
    sumSq += v * v;
  }
  const mean = sum / n;
  let m2 = 0;
  for (let i = 0; i < n; i++) m2 += (values[i] - mean) ** 2;
  const sorted = Float64Array.from(values).sort();
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return { n, mean, std: Math.sqrt(m2 / n), min: sorted[0], median, max: sorted[n - 1], mean_abs: sumAbs / n, rms: Math.sqrt(sumSq / n) };
}

/** FNV-1a hash of a string, for deriving a per-item seed from a name. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * `k` distinct indices of [0, n), ascending, drawn uniformly by a partial Fisher-Yates
 * shuffle seeded by `seed`; all indices when k >= n. The same (n, k, seed) always gives the
 * same indices, so two samples of one shape can be cut at the same positions.
 */
export function subsampleIndices(n: number, k: number, seed: number): Uint32Array {
  if (k >= n) return Uint32Array.from({ length: n }, (_, i) => i);
  const rng = new Xoshiro128(seed);
  // Sparse Fisher-Yates: only the swapped positions are stored, so memory is O(k).
  const swapped = new Map<number, number>();
  const out = new Uint32Array(k);
  for (let i = 0; i < k; i++) {
    const j = i + rng.nextInt(n - i);
    const vi = swapped.get(i) ?? i;
    const vj = swapped.get(j) ?? j;
    out[i] = vj;
    swapped.set(j, vi);
  }
  return out.sort();
}

export function pick(values: ArrayLike<number>, idx: Uint32Array): Float64Array {
  const out = new Float64Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = values[idx[i]];
  return out;
}
