/**
 * One-line usage errors. yargs checks required options before unknown ones, so `--bitz 4`
 * would only say "Missing required argument: bits"; an unknown flag is the likelier cause
 * and is named first, with the closest known option.
 */

/** The options a command knows: yargs' `getOptions()` shape, reduced to what we read. */
export interface KnownOptions {
  key: Record<string, unknown>;
  alias: Record<string, string[]>;
  boolean: string[];
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

function knownNames(known: KnownOptions): Set<string> {
  const names = new Set<string>();
  for (const k of Object.keys(known.key)) names.add(kebab(k));
  for (const [k, aliases] of Object.entries(known.alias)) [k, ...aliases].forEach((a) => names.add(kebab(a)));
  return names;
}

/** Flags in `argv` (before a `--`) that name no known option; `--no-X` counts for a boolean X. */
export function unknownFlags(argv: readonly string[], known: KnownOptions): string[] {
  const names = knownNames(known);
  const booleans = new Set(known.boolean.map(kebab));
  const out: string[] = [];
  for (const arg of argv) {
    if (arg === "--") break;
    const m = /^--?([^=]+)/.exec(arg);
    if (!m || /^-\d/.test(arg)) continue;
    // Single-dash groups (-abc) are short flags; each letter is one.
    const flags = arg.startsWith("--") ? [kebab(m[1])] : [...m[1]];
    for (const f of flags) {
      const negated = f.startsWith("no-") && booleans.has(f.slice(3));
      if (!names.has(f) && !negated && !out.includes(f)) out.push(f);
    }
  }
  return out;
}

/** The known option closest to `flag`, when one is close enough to be a typo of it. */
export function closestOption(flag: string, known: KnownOptions): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const name of knownNames(known)) {
    const d = distance(flag, name);
    if (d < bestD) [best, bestD] = [name, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(flag.length / 3)) ? best : undefined;
}

function describeUnknown(flags: string[], known: KnownOptions): string {
  const parts = flags.map((f) => {
    const near = closestOption(f, known);
    return near ? `${f} (did you mean --${near}?)` : f;
  });
  return `Unknown argument${flags.length > 1 ? "s" : ""}: ${parts.join(", ")}`;
}

/** The line to print for a yargs usage failure `message`, given the raw arguments. */
export function usageMessage(message: string, argv: readonly string[], known: KnownOptions): string {
  const unknown = unknownFlags(argv, known);
  if (unknown.length && /^(Missing required argument|Unknown argument)/.test(message)) return describeUnknown(unknown, known);
  // Some yargs messages span lines ("Invalid values:\n  Argument: ..."); the contract wants one.
  return message.split("\n").map((l) => l.trim()).filter(Boolean).join(" ");
}
