import { InputError } from "../graph/errors.ts";
import { readInputFile, writeFileAtomic } from "../graph/files.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** One example of a data file (docs/contract.md section 3), with its label resolved to a class index. */
export type Row = { text?: string; ids?: number[]; label: number; id?: string };

/** A row left out because its label is not a class of the model (see readLabelledRows). */
export interface SkippedRow {
  line: number;
  label: unknown;
}

export interface ReadOptions {
  /** Class names: a line may give its label by name. */
  labels?: string[];
  /** Number of classes (default: the number of labels); a label index must be below it. */
  classes?: number;
  /** Leave out rows whose label is not a class (listed in `skipped`) instead of failing. */
  skipBadLabels?: boolean;
}

export interface LabelledRows {
  rows: Row[];
  /** The 1-based line of each row in the file. */
  lines: number[];
  skipped: SkippedRow[];
}

/**
 * Reads a JSONL data file. Every problem is an InputError naming the file and the 1-based
 * line; a label that is not a class (an index out of range, an unknown name) names the label
 * and the class count, unless `skipBadLabels` leaves such rows out.
 */
export function readLabelledRows(file: string, opts: ReadOptions = {}): LabelledRows {
  let content = readInputFile(file, "a JSONL data file").toString("utf8");
  // Editors on Windows may leave a byte-order mark that JSON.parse rejects.
  if (content.charCodeAt(0) === 0xfeff) content = content.slice(1);
  const out: LabelledRows = { rows: [], lines: [], skipped: [] };
  const classes = opts.classes ?? opts.labels?.length;
  const lines = content.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    const bad = (problem: string) => new InputError(`line ${i + 1}: ${problem}`, file);
    const row = parseRow(line, bad);
    const label = classIndex(row.label, opts.labels, classes, opts.skipBadLabels ?? false, bad);
    if (label === undefined) {
      out.skipped.push({ line: i + 1, label: row.label });
      continue;
    }
    out.rows.push({ ...row, label });
    out.lines.push(i + 1);
  }
  if (out.rows.length === 0) {
    throw new InputError(out.skipped.length ? `data file has no rows with a label of the model (${out.skipped.length} skipped)` : "data file has no rows", file);
  }
  return out;
}

/**
 * The class index of a raw label; undefined when it is not a class of the model (an index
 * at or above `count`, a name not in `names`) and `skip` is set, else such a label throws.
 */
function classIndex(label: number | string, names: string[] | undefined, count: number | undefined, skip: boolean, bad: (problem: string) => InputError): number | undefined {
  const notAClass = (problem: string): undefined => {
    if (skip) return undefined;
    throw bad(problem);
  };
  if (typeof label === "string") {
    if (!names) return notAClass(`label "${label}" is a class name, but no class names are known (give labels)`);
    const index = names.indexOf(label);
    return index >= 0 ? index : notAClass(`unknown label name "${label}" (the model's ${names.length} classes: ${names.join(", ")})`);
  }
  if (count !== undefined && label >= count) return notAClass(`label index ${label} out of range (the model has ${count} classes: 0 to ${count - 1})`);
  return label;
}

/** Reads a JSONL data file (see readLabelledRows); `labels` are the class names. */
export function readRows(file: string, labels?: string[]): Row[] {
  return readLabelledRows(file, { labels }).rows;
}

/** A parsed line; its label is checked for shape only (a non-negative integer or a string). */
type RawRow = Omit<Row, "label"> & { label: number | string };

function parseRow(line: string, bad: (problem: string) => InputError): RawRow {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad("not a JSON object");
  const obj = value as Record<string, unknown>;

  const row: RawRow = { label: parseLabel(obj.label, bad) };
  if (obj.text !== undefined) {
    if (typeof obj.text !== "string") throw bad("text must be a string");
    row.text = obj.text;
  }
  if (obj.ids !== undefined) {
    const ids = obj.ids;
    // An empty row would give a zero-length sequence, which an LSTM cannot classify.
    if (!Array.isArray(ids) || ids.length === 0) throw bad("ids must be a non-empty array of non-negative integers");
    const badAt = ids.findIndex((x) => !Number.isSafeInteger(x) || (x as number) < 0);
    if (badAt >= 0) throw bad(`ids must be non-negative integers (ids[${badAt}] is ${JSON.stringify(ids[badAt])})`);
    row.ids = ids as number[];
  }
  if (row.text === undefined && row.ids === undefined) throw bad("has neither text nor ids");
  if (obj.id !== undefined) {
    if (typeof obj.id !== "string" && typeof obj.id !== "number") throw bad("id must be a string or number");
    row.id = String(obj.id);
  }
  return row;
}

function parseLabel(label: unknown, bad: (problem: string) => InputError): number | string {
  if (label === undefined || label === null) throw bad("missing label");
  if (typeof label === "string") return label;
  if (typeof label === "number") {
    if (!Number.isInteger(label) || label < 0) throw bad(`label index must be a non-negative integer, got ${label}`);
    return label;
  }
  throw bad(`label must be a class index or name, got ${JSON.stringify(label)}`);
}

/** One JSON document per line, each line ending in "\n". */
export function toJsonl(objects: Iterable<unknown>): string {
  let out = "";
  for (const obj of objects) out += JSON.stringify(obj) + "\n";
  return out;
}

/** Writes one JSON document per line, atomically (readers never see half a file). */
export function writeJsonl(file: string, objects: Iterable<unknown>): void {
  writeFileAtomic(file, toJsonl(objects));
}

/**
 * The token ids of each row: its own ids when it has them (the contract says ids win over
 * text), else the tokenizer's encoding of its text; either way the first max_len ids.
 */
export function rowsToIds(rows: Row[], tokenizer?: Tokenizer): number[][] {
  return rows.map((row, i) => {
    if (row.ids) {
      if (!tokenizer) return row.ids;
      const ids = tokenizer.truncate(row.ids);
      const tooBig = ids.find((id) => id >= tokenizer.vocabSize);
      if (tooBig !== undefined) {
        throw new InputError(`row ${i + 1}${row.id ? ` (id ${row.id})` : ""}: token id ${tooBig} is outside the vocabulary (size ${tokenizer.vocabSize})`);
      }
      return ids;
    }
    if (!tokenizer) throw new InputError(`row ${i + 1}${row.id ? ` (id ${row.id})` : ""} has text but no ids, and no tokenizer was given`);
    return tokenizer.encode(row.text!);
  });
}
