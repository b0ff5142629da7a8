/** Numeric options as the CLI and the library take them; a bad one is an InputError naming the option. */
import { InputError } from "../graph/index.ts";

/** An integer option of at least `min` (yargs gives NaN for "abc"); undefined stays undefined. */
export function intOption(value: unknown, option: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new InputError(`--${option} must be an integer of at least ${min}, got ${String(value)}`);
  return n;
}

/** A comma-separated list of integers (also given as a repeated option). */
export function intListOption(value: unknown, option: string, min: number): number[] | undefined {
  if (value === undefined) return undefined;
  const parts = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(","));
  const out = parts.map((p) => {
    const t = p.trim();
    const n = t === "" ? NaN : Number(t);
    if (!Number.isSafeInteger(n) || n < min) throw new InputError(`--${option}: "${t}" is not an integer of at least ${min}`);
    return n;
  });
  return [...new Set(out)];
}
