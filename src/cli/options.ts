/**
 * yargs declarations of numeric command-line options: declared as strings (keeping what was
 * typed) and converted by the one parser, src/eval/options.ts, which the library shares.
 */
import type { Options } from "yargs";
import { asRange, checkNumber, type NumberRange } from "../eval/options.ts";

export { intListOption, intOption, numberOption, type NumberRange } from "../eval/options.ts";

type Spec = Omit<Options, "type" | "coerce" | "requiresArg" | "default"> & { default?: number };

/** The declaration's shape, so that yargs types the parsed option as a number. */
type NumericArg<S> = S & { type: "string"; requiresArg: true; coerce: (v: unknown) => number };

/**
 * A yargs option declaration for an integer: parsed from the text as typed by the same check
 * as intOption, so bad input is reported (one line, exit 2) before the command runs.
 */
export function integerArg<S extends Spec>(option: string, range: NumberRange | number, spec: S = {} as S): NumericArg<S> {
  return { ...spec, type: "string", requiresArg: true, coerce: (v: unknown) => checkNumber(v, option, asRange(range), true) };
}

/** A yargs option declaration for a number with fractions, as integerArg. */
export function numberArg<S extends Spec>(option: string, range: NumberRange, spec: S = {} as S): NumericArg<S> {
  return { ...spec, type: "string", requiresArg: true, coerce: (v: unknown) => checkNumber(v, option, range, false) };
}
