import { InputError } from "../graph/errors.ts";
import { readInputFile } from "../graph/files.ts";
import { LinearRegex, UnsupportedPattern } from "./pattern.ts";

/** The tokenizer spec of docs/contract.md section 2, as stored in tokenizer.json and model metadata. */
export interface TokenizerSpec {
  type: "word-regex";
  lowercase: boolean;
  /**
   * A JavaScript RegExp source; tokens are its matches with the global flag. It is matched in
   * linear time (src/data/pattern.ts), so patterns with backreferences or lookaround are refused.
   */
  pattern: string;
  vocab: string[];
  pad_id: number;
  unk_id: number;
  max_len: number;
  truncation: "end";
}

/** The contract's example pattern: words and numbers, with an optional 's / 't style suffix. */
export const DEFAULT_PATTERN = "[a-z0-9]+(?:'[a-z]+)?";
export const PAD_TOKEN = "<pad>";
export const UNK_TOKEN = "<unk>";

/** Turns text into token ids exactly as docs/contract.md section 2 describes. */
export class Tokenizer {
  readonly spec: TokenizerSpec;
  private readonly regex: LinearRegex;
  private readonly ids: Map<string, number>;

  /** `source` names the file the spec came from, so that errors can point at it. */
  constructor(spec: unknown, source?: string) {
    this.spec = validateSpec(spec, source);
    this.regex = linearPattern(this.spec.pattern, source);
    this.ids = new Map(this.spec.vocab.map((token, id) => [token, id]));
  }

  get vocabSize(): number {
    return this.spec.vocab.length;
  }

  /**
   * Splits text into tokens (before the vocabulary lookup), the first `limit` of them when
   * given. A limit bounds the work on long texts: finding each match is linear in the text.
   */
  tokens(text: string, limit = Infinity): string[] {
    const out: string[] = [];
    if (limit < 1) return out;
    this.regex.scan(this.spec.lowercase ? text.toLowerCase() : text, (token) => out.push(token) < limit);
    return out;
  }

  /** Given ids cut as encode cuts text (docs/contract.md section 2: the first max_len are kept). */
  truncate(ids: number[]): number[] {
    return ids.length > this.spec.max_len ? ids.slice(0, this.spec.max_len) : ids;
  }

  encode(text: string): number[] {
    const { unk_id, max_len } = this.spec;
    // Matching stops at max_len tokens: the rest of a long text is never scanned.
    const out = this.tokens(text, max_len).map((token) => this.ids.get(token) ?? unk_id);
    // An empty sequence would give the LSTM nothing to read; the contract maps it to [unk].
    return out.length > 0 ? out : [unk_id];
  }
}

/** Reads a tokenizer.json file; a missing file or a bad spec is an InputError naming it. */
export function readTokenizer(file: string): Tokenizer {
  const text = readInputFile(file, "a tokenizer JSON file").toString("utf8");
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (err) {
    throw new InputError(`tokenizer is not JSON: ${(err as Error).message}`, file);
  }
  return new Tokenizer(spec, file);
}

/** The pattern compiled for linear-time matching; one it cannot take is a bad spec of `source`. */
function linearPattern(pattern: string, source?: string): LinearRegex {
  let regex: LinearRegex;
  try {
    regex = new LinearRegex(pattern);
  } catch (err) {
    if (err instanceof UnsupportedPattern) throw new InputError(`bad tokenizer spec: pattern ${JSON.stringify(pattern)}: ${err.message}`, source);
    throw err;
  }
  // Empty matches would produce empty tokens at every position the pattern does not cover.
  if (regex.matchesEmpty()) throw new InputError("bad tokenizer spec: pattern must not match the empty string", source);
  return regex;
}

function validateSpec(value: unknown, source?: string): TokenizerSpec {
  const fail = (problem: string): never => {
    throw new InputError(`bad tokenizer spec: ${problem}`, source);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail("not a JSON object");
  const s = value as Record<string, unknown>;
  if (s.type !== "word-regex") fail(`type must be "word-regex", got ${JSON.stringify(s.type)}`);
  if (typeof s.lowercase !== "boolean") fail("lowercase must be true or false");
  if (typeof s.pattern !== "string" || s.pattern === "") fail("pattern must be a non-empty string");
  try {
    // Compiling only checks the syntax; the pattern never runs as a backtracking RegExp.
    new RegExp(s.pattern as string);
  } catch (err) {
    fail(`pattern is not a valid JavaScript RegExp: ${(err as Error).message}`);
  }
  if (!Array.isArray(s.vocab) || s.vocab.length === 0) fail("vocab must be a non-empty array");
  const vocab = s.vocab as unknown[];
  const seen = new Set<string>();
  for (const [i, token] of vocab.entries()) {
    if (typeof token !== "string") fail(`vocab[${i}] is not a string`);
    // Two ids for one token would make the lookup depend on which one wins.
    if (seen.has(token as string)) fail(`vocab has "${token as string}" twice (again at ${i})`);
    seen.add(token as string);
  }
  const isId = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) < vocab.length;
  if (!isId(s.pad_id)) fail(`pad_id must be an integer index into vocab (0 to ${vocab.length - 1})`);
  if (!isId(s.unk_id)) fail(`unk_id must be an integer index into vocab (0 to ${vocab.length - 1})`);
  if (!Number.isInteger(s.max_len) || (s.max_len as number) < 1) fail("max_len must be a positive integer");
  if (s.truncation !== "end") fail(`truncation must be "end", got ${JSON.stringify(s.truncation)}`);
  return {
    type: "word-regex",
    lowercase: s.lowercase as boolean,
    pattern: s.pattern as string,
    vocab: vocab as string[],
    pad_id: s.pad_id as number,
    unk_id: s.unk_id as number,
    max_len: s.max_len as number,
    truncation: "end",
  };
}

export interface VocabOptions {
  /** Largest vocabulary, counting <pad> and <unk>. */
  maxSize: number;
  /** Tokens seen fewer times than this are left out (default 1). */
  minCount?: number;
  pattern?: string;
  lowercase?: boolean;
}

/**
 * Builds a vocabulary: <pad> = 0, <unk> = 1, then tokens by descending count, ties broken by
 * code-unit order of the token (not localeCompare, whose order depends on the ICU build).
 */
export function buildVocab(texts: Iterable<string>, opts: VocabOptions): string[] {
  const { maxSize, minCount = 1, pattern = DEFAULT_PATTERN, lowercase = true } = opts;
  if (!Number.isInteger(maxSize) || maxSize < 2) throw new InputError(`vocabulary size must be an integer >= 2, got ${maxSize}`);
  const regex = new LinearRegex(pattern);
  const counts = new Map<string, number>();
  for (const text of texts) {
    regex.scan(lowercase ? text.toLowerCase() : text, (token) => void counts.set(token, (counts.get(token) ?? 0) + 1));
  }
  counts.delete(PAD_TOKEN);
  counts.delete(UNK_TOKEN);
  const ranked = [...counts]
    .filter(([, n]) => n >= minCount)
    .sort(([a, na], [b, nb]) => nb - na || (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, maxSize - 2)
    .map(([token]) => token);
  return [PAD_TOKEN, UNK_TOKEN, ...ranked];
}

/** A spec with the contract's defaults around a vocabulary from buildVocab. */
export function makeSpec(vocab: string[], maxLen: number, pattern = DEFAULT_PATTERN): TokenizerSpec {
  return {
    type: "word-regex",
    lowercase: true,
    pattern,
    vocab,
    pad_id: vocab.indexOf(PAD_TOKEN),
    unk_id: vocab.indexOf(UNK_TOKEN),
    max_len: maxLen,
    truncation: "end",
  };
}

/**
 * The most token positions (rows x padded length) one onnxruntime run is given. onnxruntime's
 * memory for a run grows with it, so it bounds memory whatever the rows; the zoo's batches
 * (256 rows of at most 128 tokens) stay within it.
 */
export const MAX_BATCH_TOKENS = 65536;

/** Rows of padded length `len` that one run may take: at most `maxRows`, and at least one. */
export function rowsPerRun(len: number, maxRows: number, maxTokens = MAX_BATCH_TOKENS): number {
  return Math.max(1, Math.min(maxRows, Math.floor(maxTokens / Math.max(len, 1))));
}

/** A padded batch in the shapes onnxruntime wants for `input_ids` [batch, seq] and `lengths` [batch]. */
export interface PaddedBatch {
  ids: BigInt64Array;
  lengths: BigInt64Array;
  batch: number;
  seq: number;
}

/**
 * Right-pads rows with padId to the longest row, or pads and truncates them to fixedLen when
 * the model has a fixed sequence length. lengths counts the real tokens kept in each row.
 */
export function padBatch(rows: number[][], padId: number, fixedLen?: number): PaddedBatch {
  if (fixedLen !== undefined && (!Number.isInteger(fixedLen) || fixedLen < 1)) {
    throw new Error(`padBatch: fixedLen must be a positive integer, got ${fixedLen}`);
  }
  const batch = rows.length;
  const seq = fixedLen ?? rows.reduce((longest, row) => Math.max(longest, row.length), 0);
  const ids = new BigInt64Array(batch * seq).fill(BigInt(padId));
  const lengths = new BigInt64Array(batch);
  rows.forEach((row, b) => {
    const n = Math.min(row.length, seq);
    for (let t = 0; t < n; t++) ids[b * seq + t] = BigInt(row[t]);
    lengths[b] = BigInt(n);
  });
  return { ids, lengths, batch, seq };
}
