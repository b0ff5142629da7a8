/**
 * Seeded randomness for every random choice in ptq-onnx (calibration rows, noise, benchmark
 * inputs): mulberry32 (Tommy Ettinger), the same stream for the same seed on every platform,
 * and `mixSeed`, which derives independent streams from a user seed and integer coordinates
 * (noise stage, row), so that one row's noise does not depend on which other rows are
 * evaluated, nor on their order or batching.
 */

/** murmur3's 32-bit finaliser: a bijection that spreads every input bit over the output. */
function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
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
    h = mix32((h ^ lo) + 0x6d2b79f5);
    h = mix32((h ^ hi) + 0x1b873593);
  }
  return h;
}

/** A uniform integer in [0, n) from a source of 32-bit words, without modulo bias (rejection sampling). */
export function uniformInt(nextUint32: () => number, n: number): number {
  if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new RangeError(`nextInt: n must be in [1, 2^32], got ${n}`);
  const limit = 2 ** 32 - (2 ** 32 % n);
  for (;;) {
    const x = nextUint32();
    if (x < limit) return x % n;
  }
}

export class Mulberry32 {
  private state: number;

  /** Any safe integer is a seed (the part above 2^32 and the sign are mixed in). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    // Mix the high 32 bits (sign included) before folding them in, so that seeds 2^32 + k
    // and -1 - k do not alias small seeds; then scramble so that seeds 0, 1, 2 start far apart.
    const s = ((seed >>> 0) ^ mix32((Math.floor(seed / 2 ** 32) >>> 0) ^ 0x9e3779b9)) >>> 0;
    this.state = mix32(s);
  }

  /** A generator starting from a given 32-bit state (e.g. from `mixSeed`), unscrambled. */
  static fromState(state: number): Mulberry32 {
    const r = new Mulberry32(0);
    r.state = state >>> 0;
    return r;
  }

  /** Next 32-bit unsigned integer. */
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
    return uniformInt(() => this.nextUint32(), n);
  }

  /** Shuffles `a` in place (Fisher-Yates) and returns it. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /**
   * The first k elements of a uniformly random permutation of `a` (a partial Fisher-Yates
   * on a copy), so taking k of n rows costs O(n) copying and O(k) draws.
   */
  sample<T>(a: readonly T[], k: number): T[] {
    const c = a.slice();
    const m = Math.min(Math.max(0, k), c.length);
    for (let i = 0; i < m; i++) {
      const j = i + this.nextInt(c.length - i);
      const t = c[i];
      c[i] = c[j];
      c[j] = t;
    }
    return c.slice(0, m);
  }
}

/** The generator for a user seed, scrambled through `mixSeed` (the noise and benchmark streams). */
export function seededRng(seed: number): Mulberry32 {
  return Mulberry32.fromState(mixSeed(seed));
}
