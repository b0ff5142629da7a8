/** Reading and writing an observer's stored state (calibration tables), shared by every observer. */
import { InputError } from "../graph/errors.ts";

export function extent(count: number, lo: number, hi: number): { count: number; min: number | null; max: number | null } {
  return count === 0 ? { count: 0, min: null, max: null } : { count, min: lo, max: hi };
}

export function stateObject(state: unknown): Record<string, unknown> {
  if (typeof state !== "object" || state === null || Array.isArray(state)) {
    throw new InputError("malformed observer state: expected an object");
  }
  return state as Record<string, unknown>;
}

/** count, min and max of a stored state (min/max as +-Infinity when empty). */
export function readExtent(st: Record<string, unknown>): { count: number; min: number; max: number } {
  const { count, min, max } = st;
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) {
    throw new InputError("malformed observer state: count must be an integer >= 0");
  }
  if (count === 0) {
    if (min !== null || max !== null) throw new InputError("malformed observer state: min and max must be null when count is 0");
    return { count, min: Infinity, max: -Infinity };
  }
  if (typeof min !== "number" || typeof max !== "number" || !Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new InputError("malformed observer state: min and max must be finite numbers with min <= max");
  }
  return { count, min, max };
}
