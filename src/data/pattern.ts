/**
 * Token patterns matched in linear time.
 *
 * A tokenizer's pattern comes from the model or a tokenizer file, so it is untrusted: run by
 * JavaScript's backtracking RegExp, `(a+)+b` stalls on a 41-character text. RE2 (re2js, a
 * pure-JS port) matches in time linear in the text, but its syntax and a few of its meanings
 * differ from a JavaScript RegExp without flags, which is what docs/contract.md section 2 specifies.
 * So the pattern is translated construct by construct into RE2 syntax with JavaScript's
 * meaning, and anything outside that subset (backreferences, lookaround, escapes whose meaning
 * differs) is refused rather than matched differently:
 *
 * - `.` and `\s`/`\S` get JavaScript's sets (RE2's `.` takes `\r`, its `\s` is ASCII only).
 * - Literals become `\x{..}`, so RE2-only syntax (`\pL`, `[[:alpha:]]`, `\z`) never applies.
 * - A RegExp without the `u` flag matches UTF-16 code units, RE2 code points. Texts with
 *   surrogates are matched with each surrogate unit widened to its own code point in plane 15
 *   (U+F0000 + unit - 0xD800), and the pattern's surrogate units and ranges mapped the same
 *   way; matches are narrowed back. So a pattern can split a surrogate pair exactly as the
 *   RegExp would.
 * - Global matching follows String.prototype.matchAll: after an empty match the search moves
 *   on one code unit.
 */
import { RE2JS } from "re2js";

/** The pattern cannot be matched with JavaScript's meaning in linear time; says why. */
export class UnsupportedPattern extends Error {}

/** JavaScript's WhiteSpace and LineTerminator code points (the `\s` class without the u flag). */
const JS_SPACE = "\\x{9}-\\x{d}\\x{20}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}";
/** What `.` matches without the s flag: anything but line terminators. */
const JS_DOT = "[^\\x{a}\\x{d}\\x{2028}\\x{2029}]";
const SURROGATE_LO = 0xd800;
const SURROGATE_HI = 0xdfff;
const WIDE_BASE = 0xf0000;

/** The code point RE2 sees for one UTF-16 code unit of the (widened) text. */
function wide(unit: number): number {
  return unit >= SURROGATE_LO && unit <= SURROGATE_HI ? WIDE_BASE + unit - SURROGATE_LO : unit;
}

const hex = (cp: number) => `\\x{${cp.toString(16)}}`;

/** Class ranges for the code units lo..hi, the surrogate part widened. */
function rangePieces(lo: number, hi: number): string {
  const pieces: [number, number][] = [];
  if (lo < SURROGATE_LO) pieces.push([lo, Math.min(hi, SURROGATE_LO - 1)]);
  if (lo <= SURROGATE_HI && hi >= SURROGATE_LO) pieces.push([wide(Math.max(lo, SURROGATE_LO)), wide(Math.min(hi, SURROGATE_HI))]);
  if (hi > SURROGATE_HI) pieces.push([Math.max(lo, SURROGATE_HI + 1), hi]);
  return pieces.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join("");
}

type Atom = { unit: number } | { cls: string };

/** A counted repetition `{n}`, `{n,}` or `{n,m}`, sticky so it is tried only where it stands. */
const QUANTIFIER = /\{\d+(?:,\d*)?\}/y;

/** Translates a JavaScript RegExp source (no flags) into RE2 syntax with the same matches. */
export function toRe2(source: string): string {
  let i = 0;
  const at = (k = 0) => source[i + k];
  const refuse = (what: string): never => {
    throw new UnsupportedPattern(`${what} (at offset ${i}) cannot be matched in linear time with JavaScript's meaning`);
  };

  /** One escape after a backslash at i; inside a class `\b` is a backspace. */
  const escape = (inClass: boolean): Atom => {
    const e = at(1);
    const two = (atom: Atom): Atom => ((i += 2), atom);
    if (e === undefined) refuse("a trailing backslash");
    if ("dDwW".includes(e)) return two({ cls: `\\${e}` });
    if (e === "s") return two({ cls: inClass ? JS_SPACE : `[${JS_SPACE}]` });
    if (e === "S" && !inClass) return two({ cls: `[^${JS_SPACE}]` });
    if (e === "b" || e === "B") {
      if (!inClass) return two({ cls: `\\${e}` });
      if (e === "b") return two({ unit: 8 });
    }
    const control: Record<string, number> = { t: 9, n: 10, v: 11, f: 12, r: 13 };
    if (e in control) return two({ unit: control[e] });
    if (e === "0" && !/[0-9]/.test(at(2) ?? "")) return two({ unit: 0 });
    const hexDigits = (n: number) => source.slice(i + 2, i + 2 + n);
    if (e === "x" && /^[0-9a-fA-F]{2}$/.test(hexDigits(2))) {
      const unit = parseInt(hexDigits(2), 16);
      i += 4;
      return { unit };
    }
    if (e === "u" && /^[0-9a-fA-F]{4}$/.test(hexDigits(4))) {
      const unit = parseInt(hexDigits(4), 16);
      i += 6;
      return { unit };
    }
    if (e === "c" && /^[a-zA-Z]$/.test(at(2) ?? "")) {
      const unit = at(2).charCodeAt(0) % 32;
      i += 3;
      return { unit };
    }
    if (/[1-9]/.test(e)) refuse(`a backreference or octal escape \\${e}`);
    if (/[0-9a-zA-Z]/.test(e)) refuse(`the escape \\${e}`);
    // An identity escape of punctuation or a non-ASCII character: the character itself.
    return two({ unit: e.charCodeAt(0) });
  };

  const charClass = (): string => {
    i++;
    const negate = at() === "^";
    if (negate) i++;
    if (at() === "]") {
      i++;
      // [^] is any code unit; [] matches nothing, which no token pattern means to do.
      if (negate) return "[\\x{0}-\\x{10ffff}]";
      refuse("the empty class []");
    }
    const atom = (): Atom => {
      if (at() === undefined) refuse("an unterminated class");
      if (at() === "\\") return escape(true);
      return { unit: source.charCodeAt(i++) };
    };
    let body = "";
    while (at() !== "]") {
      const first = atom();
      if (at() === "-" && at(1) !== "]" && at(1) !== undefined) {
        i++;
        const last = atom();
        if (!("unit" in first) || !("unit" in last)) refuse("a class range with a class escape at one end");
        body += rangePieces((first as { unit: number }).unit, (last as { unit: number }).unit);
      } else {
        body += "unit" in first ? rangePieces(first.unit, first.unit) : first.cls;
      }
    }
    i++;
    return `[${negate ? "^" : ""}${body}]`;
  };

  let out = "";
  while (i < source.length) {
    const c = at();
    if (c === "\\") {
      const a = escape(false);
      out += "unit" in a ? hex(wide(a.unit)) : a.cls;
    } else if (c === "[") {
      out += charClass();
    } else if (c === "(") {
      if (source.startsWith("(?:", i)) i += 3;
      else if (/^\(\?<?[=!]/.test(source.slice(i, i + 4))) refuse("a lookaround");
      else if (source.startsWith("(?<", i)) {
        const close = source.indexOf(">", i);
        if (close < 0) refuse("an unterminated group name");
        i = close + 1;
      } else if (at(1) === "?") refuse("the group syntax (?");
      else i++;
      // Only the whole match is used, so groups need not capture (and RE2 is faster without).
      out += "(?:";
    } else if (c === "{") {
      QUANTIFIER.lastIndex = i;
      const q = QUANTIFIER.exec(source);
      if (q) {
        out += q[0];
        i += q[0].length;
      } else {
        out += hex(wide(source.charCodeAt(i++)));
      }
    } else if (")|^$*+?".includes(c)) {
      out += c;
      i++;
    } else if (c === ".") {
      out += JS_DOT;
      i++;
    } else {
      out += hex(wide(source.charCodeAt(i++)));
    }
  }
  return out;
}

const HAS_SURROGATE = /[\ud800-\udfff]/;

function widen(text: string): string {
  return text.replace(/[\ud800-\udfff]/g, (u) => String.fromCodePoint(wide(u.charCodeAt(0))));
}

function narrow(token: string): string {
  let out = "";
  for (const ch of token) {
    const cp = ch.codePointAt(0)!;
    out += cp >= WIDE_BASE && cp <= wide(SURROGATE_HI) ? String.fromCharCode(cp - WIDE_BASE + SURROGATE_LO) : ch;
  }
  return out;
}

/**
 * A JavaScript RegExp source compiled once for linear-time global matching. Throws
 * UnsupportedPattern for patterns outside the subset it can translate (or that RE2 refuses,
 * e.g. a repeat count over 1000).
 */
export class LinearRegex {
  readonly source: string;
  private readonly re: RE2JS;

  constructor(source: string) {
    this.source = source;
    try {
      this.re = RE2JS.compile(toRe2(source));
    } catch (err) {
      if (err instanceof UnsupportedPattern) throw err;
      throw new UnsupportedPattern(`RE2 refuses it: ${(err as Error).message}`);
    }
  }

  /**
   * Calls `visit` with each match, in order, as `text.matchAll(new RegExp(source, "g"))`
   * would give them; stops early when `visit` returns false.
   */
  scan(text: string, visit: (match: string) => boolean | void): void {
    const widened = HAS_SURROGATE.test(text);
    const input = widened ? widen(text) : text;
    const m = this.re.matcher(input);
    let found = m.find();
    while (found) {
      const start = m.start();
      const end = m.end();
      const match = input.slice(start, end);
      if (visit(widened ? narrow(match) : match) === false) return;
      if (end > start) {
        // The next search starts where this match ended, as with a RegExp's lastIndex.
        found = m.find();
      } else {
        // After an empty match, one code unit on (a widened unit is two in the input).
        const next = end + (widened && input.charCodeAt(end) >= SURROGATE_LO && input.charCodeAt(end) <= SURROGATE_HI ? 2 : 1);
        found = next <= input.length && m.find(next);
      }
    }
  }

  /** Whether the whole pattern matches the empty string (like `^(?:source)$` on ""). */
  matchesEmpty(): boolean {
    return this.re.testExact("");
  }

  /** All matches, like `Array.from(text.matchAll(regex), (m) => m[0])`. */
  matches(text: string): string[] {
    const out: string[] = [];
    this.scan(text, (m) => void out.push(m));
    return out;
  }
}
