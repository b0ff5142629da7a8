import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { InputError, findRoles, tokenLookups, type Model } from "../graph/index.ts";
import type { SplitName } from "./dataset.ts";
import { readLabelledRows, type Row, type SkippedRow } from "./jsonl.ts";
import { loadDataset } from "./registry.ts";
import { MAX_BATCH_TOKENS, Tokenizer, readTokenizer } from "./tokenizer.ts";

/** Labelled token-id rows ready for a model, with where they came from. */
export interface LabelledIds {
  ids: number[][];
  labels: number[];
  texts: (string | undefined)[];
  labelNames: string[] | undefined;
  /** A file path, or `zoo:<dataset>/<split>`. */
  source: string;
  /** Each row's 1-based line in the data file; undefined for zoo splits. */
  lines: number[] | undefined;
  /** sha256 of the rows as fed (ids and labels), for calibration tables and caches. */
  sha256: string;
}

/** The model's class names from its `ptq-onnx.labels` metadata, when it has them. */
export function modelLabels(model: Model): string[] | undefined {
  const raw = model.metadata.get("ptq-onnx.labels");
  if (!raw) return undefined;
  try {
    const labels = JSON.parse(raw);
    if (Array.isArray(labels) && labels.every((l) => typeof l === "string")) return labels;
  } catch {
    // fall through to the error below
  }
  throw new InputError("metadata ptq-onnx.labels is not a JSON array of strings", model.path);
}

/**
 * The number of classes: the model's labels, else the static width of its scores output;
 * undefined when neither says.
 */
export function modelClasses(model: Model): number | undefined {
  const names = modelLabels(model);
  if (names) return names.length;
  const outputs = model.graph.outputs;
  const scores = outputs.find((v) => v.name === "logits" || v.name === "scores") ?? outputs[0];
  const width = scores?.shape?.length === 2 ? scores.shape[1] : undefined;
  return typeof width === "number" && width > 0 ? width : undefined;
}

/**
 * The longest row of token ids accepted when nothing else bounds it (no tokenizer max_len, no
 * fixed sequence length in the model): one row fills a run (a row of millions of ids would ask
 * onnxruntime for tens of gigabytes).
 */
export const MAX_UNBOUNDED_IDS = MAX_BATCH_TOKENS;

/**
 * Tokenizers built from model metadata, by the metadata's text: models of one data set carry
 * the same tokenizer, and a study or build asks for it once per model and split (parsing and
 * checking a 10k-word vocabulary each time). A Tokenizer holds no state between calls. The
 * last METADATA_TOKENIZERS used are kept (with their tokenized splits, about 3 MB each for
 * WordNet-8), so a plan of many models with tokenizers of their own does not keep them all.
 */
const metadataTokenizers = new Map<string, Tokenizer>();
const METADATA_TOKENIZERS = 8;

/**
 * Zoo splits as token ids, per tokenizer object and split: planning a study or build hashes
 * every model's test and validation rows, and its tasks read them again; models that share a
 * tokenizer (see metadataTokenizers) share the work. Callers must not modify the arrays.
 */
const tokenizedSplits = new WeakMap<Tokenizer, Map<string, { ids: number[][]; sha256: string }>>();

/**
 * The tokenizer, first match wins (docs/contract.md section 2): the given file, the model's
 * `ptq-onnx.tokenizer` metadata, `MODEL.tokenizer.json` beside the model. Undefined if none.
 */
export function modelTokenizer(model: Model, file?: string): Tokenizer | undefined {
  if (file) return readTokenizer(file);
  const meta = model.metadata.get("ptq-onnx.tokenizer");
  if (meta) {
    const known = metadataTokenizers.get(meta);
    if (known) {
      // Most recently used last: the first key is the one to drop.
      metadataTokenizers.delete(meta);
      metadataTokenizers.set(meta, known);
      return known;
    }
    let spec: unknown;
    try {
      spec = JSON.parse(meta);
    } catch {
      throw new InputError("metadata ptq-onnx.tokenizer is not valid JSON", model.path);
    }
    const tokenizer = new Tokenizer(spec, `${model.path}: metadata ptq-onnx.tokenizer`);
    metadataTokenizers.set(meta, tokenizer);
    if (metadataTokenizers.size > METADATA_TOKENIZERS) metadataTokenizers.delete(metadataTokenizers.keys().next().value!);
    return tokenizer;
  }
  const beside = model.path?.replace(/\.onnx$/, "") + ".tokenizer.json";
  if (model.path && existsSync(beside)) return readTokenizer(beside);
  return undefined;
}

/** Rows of the embedding table the token ids index, when the model has a recognisable one. */
export function embeddingRows(model: Model): number | undefined {
  return tokenLookups(model)[0]?.table.initializer?.dims[0];
}

export interface DataOptions {
  /** A JSONL file per docs/contract.md section 3; else the zoo data set named in the model's metadata. */
  data?: string;
  tokenizer?: string;
  /** Which zoo split to use when no file is given. */
  split: SplitName;
  /** Leave out rows whose label is not a class of the model, with a warning, instead of failing. */
  skipBadLabels?: boolean;
  /** Where that warning goes (default: stderr). */
  warn?: (message: string) => void;
}

/** A row's place for messages: its line in a data file, else its position in a zoo split. */
function rowPlace(lines: number[] | undefined, index: number): string {
  return lines ? `line ${lines[index]}` : `row ${index + 1}`;
}

function skippedWarning(skipped: SkippedRow[], classes: number | undefined): string {
  const shown = skipped.slice(0, 5).map((s) => `line ${s.line} (label ${JSON.stringify(s.label)})`).join(", ");
  const more = skipped.length > 5 ? `, and ${skipped.length - 5} more` : "";
  const of = classes !== undefined ? `the model's ${classes} classes` : "the model's classes";
  return `skipped ${skipped.length} rows whose label is not one of ${of}: ${shown}${more}`;
}

/**
 * Loads labelled data for a model and turns it into the token ids the model reads: given ids
 * and text alike are cut to the tokenizer's max_len. A label that is not a class of the model
 * is an InputError naming the data file and line, unless skipBadLabels.
 */
export function loadLabelledData(model: Model, opts: DataOptions): LabelledIds {
  const labelNames = modelLabels(model);
  const classes = modelClasses(model);
  let rows: Row[];
  let source: string;
  let lines: number[] | undefined;
  if (opts.data) {
    const read = readLabelledRows(opts.data, { labels: labelNames, classes, skipBadLabels: opts.skipBadLabels });
    rows = read.rows;
    lines = read.lines;
    source = opts.data;
    if (read.skipped.length > 0) {
      const warn = opts.warn ?? ((m: string) => void process.stderr.write(`warning: ${m}\n`));
      warn(`${opts.data}: ${skippedWarning(read.skipped, classes)}`);
    }
  } else {
    const name = model.metadata.get("ptq-onnx.dataset");
    if (!name) throw new InputError("no --data given and the model names no zoo data set (metadata ptq-onnx.dataset)", model.path);
    rows = loadDataset(name).splits[opts.split].map((ex) => ({ text: ex.text, label: ex.label, id: ex.id }));
    source = `zoo:${name}/${opts.split}`;
  }
  if (rows.length === 0) throw new InputError("no usable rows", opts.data ?? source);
  const needsTokenizer = rows.some((r) => !r.ids);
  const tokenizer = modelTokenizer(model, opts.tokenizer);
  if (needsTokenizer && !tokenizer) {
    throw new InputError("rows have text but no tokenizer was found (give --tokenizer, or add ptq-onnx.tokenizer metadata)", opts.data ?? model.path);
  }
  const zooKey = opts.data || !tokenizer ? undefined : source;
  const memo = zooKey ? tokenizedSplits.get(tokenizer!)?.get(zooKey) : undefined;
  const ids = memo?.ids ?? rows.map((r) => (r.ids ? (tokenizer ? tokenizer.truncate(r.ids) : r.ids) : tokenizer!.encode(r.text!)));
  const labels = rows.map((r) => r.label);
  if (classes !== undefined) {
    const bad = labels.findIndex((l) => l >= classes);
    if (bad >= 0) throw new InputError(`${rowPlace(lines, bad)}: label ${labels[bad]} is outside the model's ${classes} classes`, opts.data ?? source);
  }
  if (!tokenizer && fixedSeqLen(model) === undefined) {
    const long = ids.findIndex((r) => r.length > MAX_UNBOUNDED_IDS);
    if (long >= 0) {
      throw new InputError(
        `${rowPlace(lines, long)}: ${ids[long].length} ids, more than the ${MAX_UNBOUNDED_IDS} accepted when no tokenizer max_len and no fixed sequence length bound a row (give --tokenizer)`,
        opts.data ?? source,
      );
    }
  }
  const rowsLimit = embeddingRows(model);
  if (rowsLimit !== undefined) {
    if (tokenizer && tokenizer.vocabSize > rowsLimit) {
      throw new InputError(`tokenizer vocabulary (${tokenizer.vocabSize} tokens) does not fit the model's embedding (${rowsLimit} rows)`, opts.tokenizer ?? model.path);
    }
    const tooBig = ids.findIndex((r) => r.some((id) => id >= rowsLimit));
    if (tooBig >= 0) throw new InputError(`${rowPlace(lines, tooBig)}: token id outside the model's embedding (${rowsLimit} rows)`, opts.data ?? source);
  }
  let sha256 = memo?.sha256;
  if (sha256 === undefined) {
    const hash = createHash("sha256");
    for (let i = 0; i < ids.length; i++) hash.update(`${labels[i]}:${ids[i].join(",")}\n`);
    sha256 = hash.digest("hex");
    if (zooKey) {
      const bySplit = tokenizedSplits.get(tokenizer!) ?? new Map();
      tokenizedSplits.set(tokenizer!, bySplit.set(zooKey, { ids, sha256 }));
    }
  }
  return { ids, labels, texts: rows.map((r) => r.text), labelNames, source, lines, sha256 };
}

/** The fixed sequence length of the model's token-ids input, if it has one. */
function fixedSeqLen(model: Model): number | undefined {
  try {
    return findRoles(model).tokenIds.seqLen ?? undefined;
  } catch {
    // A model without a recognisable token-ids input fails later, where it is fed.
    return undefined;
  }
}
