import { hash } from "node:crypto";

/** One labelled example of a zoo data set. `id` is stable across releases of the source. */
export interface Example {
  id: string;
  text: string;
  label: number;
}

export type SplitName = "train" | "val" | "test";
export const splitNames: readonly SplitName[] = ["train", "val", "test"];

export interface Splits {
  train: Example[];
  val: Example[];
  test: Example[];
}

/**
 * The split an id belongs to: 80% train, 10% val, 10% test, from the first 4 bytes of
 * sha256(id) read as a big-endian uint32, modulo 100. A hash of the id alone (not of the
 * position, nor of anything random) keeps an example in the same split whatever else the
 * source adds or removes. sha256 rather than FNV-1a: FNV-1a's low bits depend only on the low
 * bits of the input bytes (its last step is a multiply), and a modulo 100 leans on them.
 */
export function splitOf(id: string): SplitName {
  // crypto.hash (one call, no Hash object) and the first 8 hex digits are the same uint32 as
  // createHash(...).digest().readUInt32BE(0), about 4x faster: every process that loads a zoo
  // data set splits all its ids (WordNet-8: 60k), study and build shards included.
  const bucket = parseInt(hash("sha256", id, "hex").slice(0, 8), 16) % 100;
  return bucket < 80 ? "train" : bucket < 90 ? "val" : "test";
}

export function splitExamples(examples: Example[]): Splits {
  const splits: Splits = { train: [], val: [], test: [] };
  for (const ex of examples) splits[splitOf(ex.id)].push(ex);
  return splits;
}

/** Collapses runs of whitespace to one space and trims, the form texts are compared in. */
export function normaliseSpace(text: string): string {
  // Most texts are already normal (single spaces, none at the ends): testing is cheaper than rewriting.
  return NOT_NORMAL.test(text) ? text.replace(/\s+/g, " ").trim() : text;
}

/** Whitespace other than a single space between two other characters. */
const NOT_NORMAL = /[^\S ]|\s\s|^\s|\s$/;

export interface DedupeResult {
  kept: Example[];
  /** Copies removed because an earlier example had the same text and label. */
  repeats: number;
  /** Texts dropped entirely because their copies carry different labels. */
  conflicting: number;
}

/**
 * Keeps the first example of each text (compared after normaliseSpace). A text that appears
 * with two different labels is dropped with all its copies: a model cannot be right on both,
 * and keeping one label would be an arbitrary choice.
 */
export function dedupeByText(examples: Example[]): DedupeResult {
  // Each text's label, or CONFLICT once two labels were seen (a number, not a Set per text:
  // WordNet-8 has 60k texts, deduplicated by every process that loads it).
  const CONFLICT = -1;
  const labelOf = new Map<string, number>();
  const keys = examples.map((ex) => normaliseSpace(ex.text));
  examples.forEach((ex, i) => {
    const seen = labelOf.get(keys[i]);
    if (seen === undefined) labelOf.set(keys[i], ex.label);
    else if (seen !== ex.label) labelOf.set(keys[i], CONFLICT);
  });
  const seen = new Set<string>();
  const kept: Example[] = [];
  let repeats = 0;
  let conflicting = 0;
  for (const [i, ex] of examples.entries()) {
    const key = keys[i];
    if (labelOf.get(key) === CONFLICT) {
      if (!seen.has(key)) conflicting++;
      seen.add(key);
      continue;
    }
    if (seen.has(key)) {
      repeats++;
      continue;
    }
    seen.add(key);
    kept.push(ex);
  }
  return { kept, repeats, conflicting };
}

/** A zoo data set, cleaned, deduplicated and split. */
export interface Dataset {
  name: string;
  /** Class names; an example's label is an index into this list. */
  labels: string[];
  splits: Splits;
  /** The licence the data is under, in a few words; the full text is in noticeFile. */
  license: string;
  /** Where the data comes from (package and version). */
  source: string;
  /** The licence notice that must travel with the data (a file under data/ in this repository). */
  noticeFile: string;
  /** What cleaning removed, for reports. */
  stats: { raw: number; repeats: number; conflicting: number; empty: number };
}

/** Counts per class, indexed like the labels. */
export function classCounts(examples: Example[], numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (const ex of examples) counts[ex.label]++;
  return counts;
}
