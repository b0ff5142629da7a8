import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { InputError, tokenLookups, type Model } from "../graph/index.ts";
import type { SplitName } from "./dataset.ts";
import { readRows, type Row } from "./jsonl.ts";
import { loadDataset } from "./registry.ts";
import { Tokenizer, readTokenizer } from "./tokenizer.ts";

/** Labelled token-id rows ready for a model, with where they came from. */
export interface LabelledIds {
  ids: number[][];
  labels: number[];
  texts: (string | undefined)[];
  labelNames: string[] | undefined;
  /** A file path, or `zoo:<dataset>/<split>`. */
  source: string;
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
 * The tokenizer, first match wins (CONTRACT section 2): the given file, the model's
 * `ptq-onnx.tokenizer` metadata, `MODEL.tokenizer.json` beside the model. Undefined if none.
 */
export function modelTokenizer(model: Model, file?: string): Tokenizer | undefined {
  if (file) return readTokenizer(file);
  const meta = model.metadata.get("ptq-onnx.tokenizer");
  if (meta) {
    let spec: unknown;
    try {
      spec = JSON.parse(meta);
    } catch {
      throw new InputError("metadata ptq-onnx.tokenizer is not valid JSON", model.path);
    }
    return new Tokenizer(spec, `${model.path}: metadata ptq-onnx.tokenizer`);
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
  /** A JSONL file per CONTRACT section 3; else the zoo data set named in the model's metadata. */
  data?: string;
  tokenizer?: string;
  /** Which zoo split to use when no file is given. */
  split: SplitName;
}

/** Loads labelled data for a model and turns it into the token ids the model reads. */
export function loadLabelledData(model: Model, opts: DataOptions): LabelledIds {
  const labelNames = modelLabels(model);
  let rows: Row[];
  let source: string;
  if (opts.data) {
    rows = readRows(opts.data, labelNames);
    source = opts.data;
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
  const ids = rows.map((r) => r.ids ?? tokenizer!.encode(r.text!));
  const labels = rows.map((r) => r.label);
  if (labelNames) {
    const bad = labels.findIndex((l) => l >= labelNames.length);
    if (bad >= 0) throw new InputError(`row ${bad + 1}: label ${labels[bad]} is outside the model's ${labelNames.length} classes`, opts.data ?? source);
  }
  const rowsLimit = embeddingRows(model);
  if (rowsLimit !== undefined) {
    if (tokenizer && tokenizer.vocabSize > rowsLimit) {
      throw new InputError(`tokenizer vocabulary (${tokenizer.vocabSize} tokens) does not fit the model's embedding (${rowsLimit} rows)`, opts.tokenizer ?? model.path);
    }
    const tooBig = ids.findIndex((r) => r.some((id) => id >= rowsLimit));
    if (tooBig >= 0) throw new InputError(`row ${tooBig + 1}: token id outside the model's embedding (${rowsLimit} rows)`, opts.data ?? source);
  }
  const hash = createHash("sha256");
  for (let i = 0; i < ids.length; i++) hash.update(`${labels[i]}:${ids[i].join(",")}\n`);
  return { ids, labels, texts: rows.map((r) => r.text), labelNames, source, sha256: hash.digest("hex") };
}

