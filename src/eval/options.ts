/**
 * The one parser for numeric options, as the CLI and the library take them. yargs' `type:
 * "number"` turns "abc" into NaN before any command sees it, so the CLI declares numeric
 * options as strings (keeping what was typed; src/cli/options.ts) and converts them here; a
 * bad value is an InputError naming the option and echoing the text as typed.
 */
import { InputError } from "../errors.ts";

export interface NumberRange {
  min: number;
  max?: number;
}

function rangeText(kind: string, { min, max }: NumberRange): string {
  return max === undefined ? `${kind} of at least ${min}` : `${kind} from ${min} to ${max}`;
}

function typed(value: unknown): string {
  return Array.isArray(value) ? value.map(String).join(" ") : String(value);
}

/** `value` (as typed, or a number) as a number; "" and non-decimal text are not numbers. */
function toNumber(value: unknown): number {
  if (typeof value === "number") return value;
  const text = String(value).trim();
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text) ? Number(text) : NaN;
}

export function checkNumber(value: unknown, option: string, range: NumberRange, integer: boolean): number {
  const kind = integer ? "an integer" : "a number";
  if (Array.isArray(value)) throw new InputError(`--${option} was given more than once (${typed(value)})`);
  const n = toNumber(value);
  const ok = (integer ? Number.isSafeInteger(n) : Number.isFinite(n)) && n >= range.min && (range.max === undefined || n <= range.max);
  if (!ok) throw new InputError(`--${option} must be ${rangeText(kind, range)}, got '${typed(value)}'`);
  return n;
}

export const asRange = (range: NumberRange | number): NumberRange => (typeof range === "number" ? { min: range } : range);

/** An integer option within `range` (a bare number is the minimum); undefined stays undefined. */
export function intOption(value: unknown, option: string, range: NumberRange | number): number | undefined {
  if (value === undefined) return undefined;
  return checkNumber(value, option, asRange(range), true);
}

/** A number option (fractions allowed) within `range`; undefined stays undefined. */
export function numberOption(value: unknown, option: string, range: NumberRange): number | undefined {
  if (value === undefined) return undefined;
  return checkNumber(value, option, range, false);
}

/** A comma-separated list of integers (also given as a repeated option), duplicates dropped; each checked as intOption. */
export function intListOption(value: unknown, option: string, range: NumberRange | number): number[] | undefined {
  if (value === undefined) return undefined;
  const r = asRange(range);
  const parts = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(","));
  return [...new Set(parts.map((p) => checkNumber(p.trim(), option, r, true)))];
}

