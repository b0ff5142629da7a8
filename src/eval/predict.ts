/**
 * Runs a token-sequence classifier (contract section 1) through onnxruntime-node on rows of
 * token ids and returns its scores and argmax predictions.
 *
 * Rows are sorted by length and cut into batches, so each batch is padded only to its own
 * longest row (right-padded with `padId`, 0 by default); the results come back in the
 * original row order. With a `lengths` input the padding does not change a row's scores, so
 * the predictions do not depend on the batch size.
 */
import { Tensor, type InferenceSession } from "onnxruntime-node";
import { createSession, runSession } from "../graph/session.ts";
import { MAX_BATCH_TOKENS, rowsPerRun } from "../data/tokenizer.ts";
import { argmax } from "./metrics.ts";

export type ModelSource = string | Uint8Array | InferenceSession;

export interface InputNames {
  /** The token-id input. */
  ids: string;
  /** The lengths input, when the model has one. */
  lengths?: string;
}

export interface PredictOptions {
  /** Rows per run (default 64). */
  batch?: number;
  /** Most token positions (rows x padded length) per run (default MAX_BATCH_TOKENS): fewer rows of long sequences. */
  maxTokens?: number;
  /** Input names; default: found by the contract's rules from the model. */
  inputNames?: InputNames;
  /** The scores output; default: `logits`, else `scores`, else the first output. */
  outputName?: string;
  /** onnxruntime intra-op threads when the session is created here (default: its own). */
  intraOpThreads?: number;
  /** The model's file, named in errors when the model is given as bytes. */
  file?: string;
  /** Pad id (default 0). */
  padId?: number;
  /** Called after each batch with the rows scored so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface PredictResult {
  /** One row of class scores per input row, in the input order. */
  scores: Float32Array[];
  /** argmax of each row's scores. */
  predictions: number[];
  /** Number of classes (width of the score rows). */
  classes: number;
}

/** Creates a CPU session from a path or model bytes; a model onnxruntime refuses is an InputError. */
export async function openSession(
  model: string | Uint8Array,
  opts: { intraOpThreads?: number; file?: string } = {},
): Promise<InferenceSession> {
  const options: InferenceSession.SessionOptions = {};
  if (opts.intraOpThreads !== undefined) options.intraOpNumThreads = opts.intraOpThreads;
  return createSession(model, options, opts.file);
}

interface InputInfo {
  names: InputNames;
  /** Element type of the ids input. */
  idsType: "int64" | "int32";
  /** Fixed sequence length of the ids input, when the model has one. */
  fixedSeq?: number;
  lengthsType: "int64" | "int32";
}

function tensorMeta(meta: readonly InferenceSession.ValueMetadata[], name: string) {
  const m = meta.find((x) => x.name === name);
  return m && m.isTensor ? m : undefined;
}

/** Finds the token-id and lengths inputs by the contract's rules. */
export function resolveInputs(session: InferenceSession, given?: InputNames): InputInfo {
  const meta = session.inputMetadata;
  const isInt = (t: string) => t === "int64" || t === "int32";
  let ids = given?.ids;
  if (!ids) {
    if (session.inputNames.includes("input_ids")) ids = "input_ids";
    else {
      const cands = meta.filter((m) => m.isTensor && isInt(m.type) && m.shape.length === 2);
      if (cands.length !== 1) throw new Error(`cannot tell the token-id input among ${session.inputNames.join(", ")}`);
      ids = cands[0].name;
    }
  }
  if (!session.inputNames.includes(ids)) throw new Error(`the model has no input named ${ids}`);
  let lengths = given ? given.lengths : session.inputNames.includes("lengths") ? "lengths" : undefined;
  if (lengths !== undefined && !session.inputNames.includes(lengths)) throw new Error(`the model has no input named ${lengths}`);
  const other = session.inputNames.filter((n) => n !== ids && n !== lengths);
  if (other.length) throw new Error(`the model has inputs this runner does not feed: ${other.join(", ")}`);
  const im = tensorMeta(meta, ids);
  const idsType = im && im.type === "int32" ? "int32" : "int64";
  const seqDim = im?.shape[1];
  const fixedSeq = typeof seqDim === "number" && seqDim > 0 ? seqDim : undefined;
  const lm = lengths ? tensorMeta(meta, lengths) : undefined;
  const lengthsType = lm && lm.type === "int32" ? "int32" : "int64";
  return { names: { ids, lengths }, idsType, fixedSeq, lengthsType };
}

/** The scores output by the contract's rules. */
export function resolveOutput(session: InferenceSession, given?: string): string {
  if (given) {
    if (!session.outputNames.includes(given)) throw new Error(`the model has no output named ${given}`);
    return given;
  }
  for (const n of ["logits", "scores"]) if (session.outputNames.includes(n)) return n;
  return session.outputNames[0];
}

function intTensor(type: "int64" | "int32", values: ArrayLike<number>, dims: number[]): Tensor {
  if (type === "int64") {
    const a = new BigInt64Array(values.length);
    for (let i = 0; i < values.length; i++) a[i] = BigInt(values[i]);
    return new Tensor("int64", a, dims);
  }
  return new Tensor("int32", Int32Array.from(values), dims);
}

/**
 * Scores every row of token ids. Rows must be non-empty; with a fixed sequence length in the
 * model, rows are truncated to it and padded up to it.
 */
export async function predictScores(
  model: ModelSource,
  idRows: number[][],
  opts: PredictOptions = {},
): Promise<PredictResult> {
  const batch = opts.batch ?? 64;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  const padId = opts.padId ?? 0;
  const owned = typeof model === "string" || model instanceof Uint8Array;
  const session = owned ? await openSession(model, { intraOpThreads: opts.intraOpThreads, file: opts.file }) : model;
  try {
    const info = resolveInputs(session, opts.inputNames);
    const outName = resolveOutput(session, opts.outputName);
    idRows.forEach((r, i) => {
      if (r.length === 0) throw new Error(`row ${i} has no tokens`);
    });
    const rows = info.fixedSeq ? idRows.map((r) => r.slice(0, info.fixedSeq)) : idRows;
    // Sort by length (stable) so that each batch pads little.
    const order = rows.map((_, i) => i).sort((a, b) => rows[a].length - rows[b].length || a - b);
    const scores = new Array<Float32Array>(rows.length);
    let classes = -1;
    const maxTokens = opts.maxTokens ?? MAX_BATCH_TOKENS;
    const width = (i: number) => info.fixedSeq ?? rows[i].length;
    for (let start = 0, end = 0; start < order.length; start = end) {
      // Rows come shortest first, so the row just added sets the padded length of the run.
      end = start + 1;
      while (end < order.length && end - start < rowsPerRun(width(order[end]), batch, maxTokens)) end++;
      const idx = order.slice(start, end);
      const b = idx.length;
      const t = width(idx[b - 1]);
      const flat = new Array<number>(b * t).fill(padId);
      idx.forEach((ri, k) => {
        const r = rows[ri];
        for (let j = 0; j < r.length; j++) flat[k * t + j] = r[j];
      });
      const feeds: Record<string, Tensor> = { [info.names.ids]: intTensor(info.idsType, flat, [b, t]) };
      if (info.names.lengths) {
        feeds[info.names.lengths] = intTensor(info.lengthsType, idx.map((i) => rows[i].length), [b]);
      }
      const result = await runSession(session, feeds, [outName], opts.file ?? (typeof model === "string" ? model : undefined));
      const out = result[outName];
      if (out.dims.length !== 2 || out.dims[0] !== b) {
        throw new Error(`output ${outName} has shape [${out.dims.join(", ")}], expected [${b}, classes]`);
      }
      const k = out.dims[1];
      if (classes < 0) classes = k;
      const data = out.data as Float32Array;
      if (!(data instanceof Float32Array)) throw new Error(`output ${outName} is ${out.type}, expected float32`);
      idx.forEach((ri, j) => {
        scores[ri] = data.slice(j * k, (j + 1) * k);
      });
      out.dispose?.();
      opts.onProgress?.(end, order.length);
    }
    return { scores, predictions: scores.map((s) => argmax(s)), classes: Math.max(classes, 0) };
  } finally {
    if (owned) await session.release();
  }
}
