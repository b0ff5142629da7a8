/** Seeded samples for the calibration tests. */
import { Mulberry32 } from "../../src/data/random.ts";

export function rng(seed: number): Mulberry32 {
  return new Mulberry32(seed);
}

export function gaussian(r: Mulberry32, n: number, mean = 0, sd = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - r.nextFloat();
    const v = r.nextFloat();
    out[i] = mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

export function laplacian(r: Mulberry32, n: number, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = r.nextFloat() - 0.5;
    out[i] = -scale * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  }
  return out;
}

export function uniform(r: Mulberry32, n: number, lo: number, hi: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r.nextFloat();
  return out;
}

export function concat(...parts: ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p as ArrayLike<number>, at);
    at += p.length;
  }
  return out;
}

/** Exact q-quantile (numpy's linear interpolation) of a copy, by sorting. */
export function exactQuantile(values: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(values).sort();
  const r = q * (s.length - 1);
  const k = Math.floor(r);
  const f = r - k;
  return f === 0 ? s[k] : s[k] + f * (s[k + 1] - s[k]);
}

/** Feeds `data` to `observe` in consecutive batches of the given sizes (cycled). */
export function feed(data: Float64Array, sizes: number[], observe: (batch: Float64Array) => void): void {
  let at = 0;
  for (let k = 0; at < data.length; k++) {
    const n = sizes[k % sizes.length];
    observe(data.subarray(at, at + n));
    at += n;
  }
}
