import { InputError } from "../graph/errors.ts";
import { readInputFile, writeFileAtomic } from "../graph/files.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** One example of a data file (CONTRACT section 3), with its label resolved to a class index. */
export type Row = { text?: string; ids?: number[]; label: number; id?: string };

/**
 * Reads a JSONL data file. `labels` (the class names) lets a line give its label by name, and
 * bounds label indices. Every problem is an InputError naming the file and the 1-based line.
 */
export function readRows(file: string, labels?: string[]): Row[] {
  let content = readInputFile(file, "a JSONL data file").toString("utf8");
  // Editors on Windows may leave a byte-order mark that JSON.parse rejects.
  if (content.charCodeAt(0) === 0xfeff) content = content.slice(1);
  const rows: Row[] = [];
  const lines = content.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    rows.push(parseRow(line, labels, (problem) => new InputError(`line ${i + 1}: ${problem}`, file)));
  }
  if (rows.length === 0) throw new InputError("data file has no rows", file);
  return rows;
}

function parseRow(line: string, labels: string[] | undefined, bad: (problem: string) => InputError): Row {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad("not a JSON object");
  const obj = value as Record<string, unknown>;

  const row: Row = { label: parseLabel(obj.label, labels, bad) };
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

function parseLabel(label: unknown, labels: string[] | undefined, bad: (problem: string) => InputError): number {
  if (label === undefined || label === null) throw bad("missing label");
  if (typeof label === "string") {
    if (!labels) throw bad(`label "${label}" is a class name, but no class names are known (give labels)`);
    const index = labels.indexOf(label);
    if (index < 0) throw bad(`unknown label name "${label}" (known: ${labels.join(", ")})`);
    return index;
  }
  if (typeof label === "number") {
    if (!Number.isInteger(label) || label < 0) throw bad(`label index must be a non-negative integer, got ${label}`);
    if (labels && label >= labels.length) {
      throw bad(`label index ${label} out of range (${labels.length} classes: 0 to ${labels.length - 1})`);
    }
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
 * text), else the tokenizer's encoding of its text. Given ids are not truncated here; padBatch
 * does that when the model has a fixed length.
 */
export function rowsToIds(rows: Row[], tokenizer?: Tokenizer): number[][] {
  return rows.map((row, i) => {
    if (row.ids) {
      if (tokenizer) {
        const tooBig = row.ids.find((id) => id >= tokenizer.vocabSize);
        if (tooBig !== undefined) {
          throw new InputError(`row ${i + 1}${row.id ? ` (id ${row.id})` : ""}: token id ${tooBig} is outside the vocabulary (size ${tokenizer.vocabSize})`);
        }
      }
      return row.ids;
    }
    if (!tokenizer) throw new InputError(`row ${i + 1}${row.id ? ` (id ${row.id})` : ""} has text but no ids, and no tokenizer was given`);
    return tokenizer.encode(row.text!);
  });
}
