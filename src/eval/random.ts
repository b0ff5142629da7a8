/**
 * Seeded randomness for noise: a mulberry32 generator (the algorithm of
 * src/calibrate/random.ts; the same seed gives the same stream on every platform) and
 * `mixSeed`, which derives independent streams from a user seed and
 * integer coordinates (noise stage, row), so that one row's noise does not depend on which
 * other rows are evaluated, nor on their order or batching.
 */

/** murmur3's 32-bit finaliser: a bijection that spreads every input bit over the output. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A 32-bit seed from a user seed and any number of non-negative integer coordinates.
 * Safe integers beyond 2^32 fold their high part in.
 */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    if (!Number.isSafeInteger(p)) throw new RangeError(`mixSeed: parts must be safe integers, got ${p}`);
    const lo = p >>> 0;
    const hi = Math.floor(p / 2 ** 32) >>> 0;
    h = fmix32((h ^ lo) + 0x6d2b79f5);
    h = fmix32((h ^ hi) + 0x1b873593);
  }
  return h;
}

export class Rng {
  private state: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    this.state = mixSeed(seed);
  }

  /** Next 32-bit unsigned integer (mulberry32). */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform double in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.nextFloat() < p;
  }

  /** Uniform integer in [0, n), without modulo bias. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new RangeError(`nextInt: n must be in [1, 2^32], got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }
}
