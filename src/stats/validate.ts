import { InputError } from "../errors.ts";

/**
 * Copies a sample into a plain array, rejecting anything that is not a finite number: a
 * NaN or infinity in a sample almost always means an upstream bug, and the rank tests
 * would otherwise give a confident-looking answer for it.
 */
export function finiteSample(values: ArrayLike<unknown>, name: string, test: string): number[] {
  if (values === null || typeof values !== "object" || typeof values.length !== "number") {
    throw new InputError(`${test}: ${name} must be an array of numbers`);
  }
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== "number") {
      throw new InputError(`${test}: ${name}[${i}] is not a number (got ${typeof v})`);
    }
    if (!Number.isFinite(v)) {
      throw new InputError(`${test}: ${name}[${i}] is not finite (${v})`);
    }
    out[i] = v;
  }
  return out;
}

export function requireNonEmpty(values: readonly unknown[], name: string, test: string): void {
  if (values.length === 0) throw new InputError(`${test}: ${name} is empty; the test needs at least one value`);
}

export function requireSameLength(a: readonly unknown[], b: readonly unknown[], test: string): void {
  if (a.length !== b.length) {
    throw new InputError(`${test}: paired samples must have the same length (got ${a.length} and ${b.length})`);
  }
}
