/**
 * A small seeded PRNG (mulberry32, Tommy Ettinger) for choosing calibration rows: the
 * same seed gives the same rows on every run and platform. 32 bits of state are enough
 * for shuffling calibration pools; any safe integer is a seed (the part above 2^32 and the
 * sign are mixed in).
 */
export class Mulberry32 {
  private state: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    // Mix the high 32 bits (sign included) before folding them in, so that seeds 2^32 + k
    // and -1 - k do not alias small seeds; then scramble so that seeds 0, 1, 2 start far apart.
    let s = ((seed >>> 0) ^ mix32((Math.floor(seed / 2 ** 32) >>> 0) ^ 0x9e3779b9)) >>> 0;
    s = mix32(s);
    this.state = s;
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

  /** Uniform integer in [0, n), without modulo bias (rejection sampling). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new RangeError(`nextInt: n must be in [1, 2^32], got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
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

/** A 32-bit finaliser (murmur3's fmix32): a bijection that spreads every input bit. */
function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
