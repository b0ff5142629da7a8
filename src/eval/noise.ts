/**
 * Seeded, composable input noise for robustness evaluation (docs/contract.md section 4, `--noise`).
 *
 * A spec is one or more `KIND:LEVEL` joined by `+`, applied in that order; LEVEL is in [0, 1]
 * and a stage at level 0 is dropped before anything happens (no row is touched, no graph is
 * rewritten), so level 0 gives bit-identical predictions.
 *
 * Token kinds act on each row's token ids, each token (or gap) independently at rate LEVEL:
 * - `sub`: the token is replaced by a vocabulary token drawn uniformly from every id except
 *   <pad>, <unk> and the token itself.
 * - `sub-unigram`: the same, drawn by the unigram frequency of the evaluated rows' own clean
 *   tokens (<pad> and <unk> not counted; the token itself excluded by redrawing).
 * - `del`: the token is deleted; a row never becomes empty (if every token is drawn, one of
 *   them, chosen uniformly, stays).
 * - `ins`: a uniformly drawn vocabulary token (as for `sub`) is inserted after the token.
 * - `swap`: the token is swapped with the next one, left to right, each token moved at most
 *   once.
 * - `typo` (characters, before tokenizing): the row's text is split into the tokenizer's
 *   tokens (the first max_len of them), every character of those words is hit at rate LEVEL
 *   by one of deletion, insertion of a random letter after it, substitution by another
 *   letter, or transposition with the next character (uniformly among those possible), and
 *   the words are tokenized and looked up again. It needs text and a tokenizer; when a spec
 *   has `typo`, every token stage works on the rows' re-tokenized text rather than on given
 *   `ids`.
 * - `gauss` (on the model): Gaussian noise of standard deviation LEVEL x (the standard
 *   deviation of all entries of the embedding table) is added to the embedding output, by a
 *   graph rewrite (RandomNormalLike + Add after the Gather that reads the token ids) that runs
 *   inside onnxruntime; see `addGaussianNoise`.
 *
 * Rows are cut to the tokenizer's max_len (or their clean length, if longer) after noise.
 * Each row's token noise comes from its own stream, seeded by (seed, stage position in the
 * spec, row index), so a row's noise does not depend on the other rows or on batching.
 */
import type { Tokenizer } from "../data/tokenizer.ts";
import { Builder, DataType, InputError, isFloatType, tokenLookups, type Model, type Node, type Value } from "../graph/index.ts";
import { blockQuantizedTable, dequantize, readQdq, splitNibbleLookup, weightOf, type QdqModel } from "../quant/qdq.ts";
import { mixSeed, seededRng, type Mulberry32 } from "../data/random.ts";

export const NOISE_KINDS = ["sub", "sub-unigram", "del", "ins", "swap", "typo", "gauss"] as const;
export type NoiseKind = (typeof NOISE_KINDS)[number];

export interface NoiseStage {
  kind: NoiseKind;
  level: number;
  /** Position in the spec (0-based); part of the stage's random stream. */
  index: number;
}

function parseKind(text: string, option: string): NoiseKind {
  const kind = text.trim();
  if (!(NOISE_KINDS as readonly string[]).includes(kind)) {
    throw new InputError(`${option}: unknown noise kind "${kind}" (known: ${NOISE_KINDS.join(", ")})`);
  }
  return kind as NoiseKind;
}

function parseLevel(text: string, kind: string, option: string): number {
  const t = text.trim();
  const level = t === "" ? NaN : Number(t);
  if (!Number.isFinite(level)) throw new InputError(`${option}: level "${t}" of ${kind} is not a number`);
  if (level < 0 || level > 1) throw new InputError(`${option}: level ${t} of ${kind} is outside [0, 1]`);
  return level;
}

/** Parses `KIND:LEVEL+KIND:LEVEL...`; every problem is an InputError. */
export function parseNoiseSpec(spec: string, option = "--noise"): NoiseStage[] {
  if (spec.trim() === "") throw new InputError(`${option}: empty noise spec (expected KIND:LEVEL, e.g. sub:0.1+typo:0.02)`);
  return spec.split("+").map((part, index) => {
    const colon = part.indexOf(":");
    if (colon < 0) throw new InputError(`${option}: "${part.trim()}" is not KIND:LEVEL (e.g. sub:0.1)`);
    const kind = parseKind(part.slice(0, colon), option);
    return { kind, level: parseLevel(part.slice(colon + 1), kind, option), index };
  });
}

/**
 * One kind and its levels for `robustness`: `KIND:L1,L2,...`, or `KIND` with the levels
 * given apart (`--levels L1,L2,...`). Levels keep their order; repeats are dropped.
 */
export function parseNoiseLevels(spec: string, levels?: string, option = "--noise"): { kind: NoiseKind; levels: number[] } {
  const colon = spec.indexOf(":");
  const kind = parseKind(colon < 0 ? spec : spec.slice(0, colon), option);
  const list = colon < 0 ? levels : spec.slice(colon + 1);
  if (list === undefined || list.trim() === "") {
    throw new InputError(`${option}: "${spec}" gives no levels (use ${kind}:0,0.05,0.1 or --levels)`);
  }
  if (colon >= 0 && levels !== undefined) throw new InputError(`${option}: "${spec}" has levels and --levels is given too`);
  const out: number[] = [];
  for (const l of list.split(",")) {
    const level = parseLevel(l, kind, option);
    if (!out.includes(level)) out.push(level);
  }
  return { kind, levels: out };
}

/** The stages that do something (level > 0). */
export function activeStages(stages: readonly NoiseStage[]): NoiseStage[] {
  return stages.filter((s) => s.level > 0);
}

export function formatNoiseSpec(stages: readonly NoiseStage[]): string {
  return stages.map((s) => `${s.kind}:${s.level}`).join("+");
}

// ----------------------------------------------------------------------------- token noise

/** What token noise draws from. */
export interface TokenNoiseContext {
  /** Drawn ids are in [0, vocabSize). */
  vocabSize: number;
  /** Ids never drawn: <pad> and <unk>. */
  excluded: number[];
  /** Rows are cut to max(maxLen, clean length) after noise (the tokenizer's max_len). */
  maxLen?: number;
  /** Needed by `typo`. */
  tokenizer?: Tokenizer;
}

/**
 * The context for a model's rows: the tokenizer's vocabulary, else the embedding's rows
 * (`embeddingRows`), else one more than the largest id in the rows; <pad> and <unk> from the
 * tokenizer, else <pad> = 0 (the id rows are padded with) and no <unk>.
 */
export function tokenNoiseContext(tokenizer: Tokenizer | undefined, embeddingRows: number | undefined, rows: readonly number[][]): TokenNoiseContext {
  let vocabSize = tokenizer?.vocabSize ?? embeddingRows;
  if (vocabSize === undefined) {
    let max = 0;
    for (const r of rows) for (const id of r) if (id > max) max = id;
    vocabSize = max + 1;
  }
  const excluded = tokenizer ? [...new Set([tokenizer.spec.pad_id, tokenizer.spec.unk_id])] : [0];
  return { vocabSize, excluded, maxLen: tokenizer?.spec.max_len, tokenizer };
}

export interface NoiseRow {
  ids: number[];
  text?: string;
}

const LETTERS = "abcdefghijklmnopqrstuvwxyz";

/** Uniform draws from the allowed ids, never the token being replaced. */
class UniformSampler {
  private readonly allowed: Int32Array;

  constructor(ctx: TokenNoiseContext) {
    const ex = new Set(ctx.excluded);
    const ids: number[] = [];
    for (let i = 0; i < ctx.vocabSize; i++) if (!ex.has(i)) ids.push(i);
    if (ids.length === 0) throw new InputError(`no vocabulary tokens to draw noise from (vocabulary of ${ctx.vocabSize}, all special)`);
    this.allowed = Int32Array.from(ids);
  }

  /** Any allowed id. */
  draw(rng: Mulberry32): number {
    return this.allowed[rng.nextInt(this.allowed.length)];
  }

  /** An allowed id other than `not` (or `not` itself when it is the only one). */
  drawOther(rng: Mulberry32, not: number): number {
    const a = this.allowed;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid] < not) lo = mid + 1;
      else hi = mid;
    }
    const at = lo < a.length && a[lo] === not ? lo : -1;
    if (at < 0) return this.draw(rng);
    if (a.length === 1) return not;
    let k = rng.nextInt(a.length - 1);
    if (k >= at) k++;
    return a[k];
  }
}

/** Draws by the unigram frequency of the clean rows' tokens. */
class UnigramSampler {
  private readonly ids: Int32Array;
  private readonly cumulative: Float64Array;

  constructor(rows: readonly number[][], ctx: TokenNoiseContext) {
    const ex = new Set(ctx.excluded);
    const counts = new Map<number, number>();
    for (const r of rows) for (const id of r) if (!ex.has(id)) counts.set(id, (counts.get(id) ?? 0) + 1);
    if (counts.size === 0) throw new InputError("sub-unigram: the rows have no tokens besides <pad> and <unk> to draw from");
    const sorted = [...counts].sort((a, b) => a[0] - b[0]);
    this.ids = Int32Array.from(sorted.map(([id]) => id));
    this.cumulative = new Float64Array(sorted.length);
    let total = 0;
    sorted.forEach(([, n], i) => (this.cumulative[i] = total += n));
  }

  drawOther(rng: Mulberry32, not: number): number {
    const total = this.cumulative[this.cumulative.length - 1];
    for (let tries = 0; tries < 64; tries++) {
      const x = rng.nextFloat() * total;
      let lo = 0;
      let hi = this.cumulative.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.cumulative[mid] > x) hi = mid;
        else lo = mid + 1;
      }
      if (this.ids[lo] !== not) return this.ids[lo];
    }
    return not;
  }
}

/** A row while noise is applied: ids, and in typo mode the words they came from. */
interface State {
  ids: number[];
  words?: string[];
}

function typoWord(word: string, p: number, rng: Mulberry32): string {
  let out = "";
  for (let i = 0; i < word.length; i++) {
    const c = word[i];
    if (!rng.chance(p)) {
      out += c;
      continue;
    }
    const canSwap = i + 1 < word.length;
    switch (rng.nextInt(canSwap ? 4 : 3)) {
      case 0: // deletion
        break;
      case 1: // insertion after
        out += c + LETTERS[rng.nextInt(26)];
        break;
      case 2: {
        // substitution by another letter
        let k = rng.nextInt(25);
        if (LETTERS.indexOf(c) >= 0 && k >= LETTERS.indexOf(c)) k++;
        out += LETTERS[k];
        break;
      }
      default: // transposition with the next character
        out += word[i + 1] + c;
        i++;
    }
  }
  return out;
}

/**
 * Applies the token and typo stages of `stages` (gauss is the model's: see addGaussianNoise)
 * and returns each row's noisy ids. With no such stage above level 0, the rows' own id
 * arrays are returned untouched.
 */
export function applyTokenNoise(rows: readonly NoiseRow[], stages: readonly NoiseStage[], seed: number, ctx: TokenNoiseContext): number[][] {
  const active = activeStages(stages).filter((s) => s.kind !== "gauss");
  if (active.length === 0) return rows.map((r) => r.ids);
  const typoMode = active.some((s) => s.kind === "typo");
  const tok = ctx.tokenizer;
  let vocabIndex: Map<string, number> | undefined;
  if (typoMode) {
    if (!tok) throw new InputError("typo noise needs a tokenizer (give --tokenizer, or use a model with ptq-onnx.tokenizer metadata)");
    const missing = rows.findIndex((r) => r.text === undefined);
    if (missing >= 0) throw new InputError(`typo noise acts on text before tokenizing, but row ${missing + 1} has only ids`);
    vocabIndex = new Map(tok.spec.vocab.map((t, i) => [t, i]));
  }
  const lookup = (w: string): number => vocabIndex!.get(w) ?? tok!.spec.unk_id;
  const initial: State[] = rows.map((r) => {
    if (!typoMode) return { ids: r.ids.slice() };
    const words = tok!.tokens(r.text!, tok!.spec.max_len);
    return { ids: words.map(lookup), words };
  });
  const uniform = active.some((s) => s.kind === "sub" || s.kind === "ins") ? new UniformSampler(ctx) : undefined;
  const unigram = active.some((s) => s.kind === "sub-unigram")
    ? new UnigramSampler(initial.map((s) => s.ids), ctx)
    : undefined;
  const vocab = tok?.spec.vocab;
  const wordOf = (id: number): string => vocab?.[id] ?? String(id);

  return initial.map((state, r) => {
    const cleanLength = state.ids.length;
    let { ids, words } = state;
    for (const stage of active) {
      const rng = seededRng(mixSeed(seed, stage.index, r));
      const p = stage.level;
      switch (stage.kind) {
        case "sub":
        case "sub-unigram":
          for (let i = 0; i < ids.length; i++) {
            if (!rng.chance(p)) continue;
            ids[i] = stage.kind === "sub" ? uniform!.drawOther(rng, ids[i]) : unigram!.drawOther(rng, ids[i]);
            if (words) words[i] = wordOf(ids[i]);
          }
          break;
        case "del": {
          const keep = ids.map(() => !rng.chance(p));
          if (ids.length > 0 && !keep.includes(true)) keep[rng.nextInt(ids.length)] = true;
          ids = ids.filter((_, i) => keep[i]);
          if (words) words = words.filter((_, i) => keep[i]);
          break;
        }
        case "ins": {
          const outIds: number[] = [];
          const outWords: string[] = [];
          ids.forEach((id, i) => {
            outIds.push(id);
            if (words) outWords.push(words[i]);
            if (rng.chance(p)) {
              const extra = uniform!.draw(rng);
              outIds.push(extra);
              if (words) outWords.push(wordOf(extra));
            }
          });
          ids = outIds;
          if (words) words = outWords;
          break;
        }
        case "swap":
          for (let i = 0; i + 1 < ids.length; i++) {
            if (!rng.chance(p)) continue;
            [ids[i], ids[i + 1]] = [ids[i + 1], ids[i]];
            if (words) [words[i], words[i + 1]] = [words[i + 1], words[i]];
            i++;
          }
          break;
        case "typo": {
          const next: string[] = [];
          for (const w of words!) next.push(...tok!.tokens(typoWord(w, p, rng)));
          words = next;
          ids = words.map(lookup);
          break;
        }
      }
    }
    const cap = Math.max(ctx.maxLen ?? Infinity, cleanLength);
    if (ids.length > cap) ids = ids.slice(0, cap);
    // The tokenizer's rule for text without tokens (docs/contract.md section 2).
    if (ids.length === 0) ids = [tok ? tok.spec.unk_id : ctx.excluded[0]];
    return ids;
  });
}

// ----------------------------------------------------------------------------- gauss noise

/** An embedding lookup the token ids flow into. */
export interface EmbeddingSite {
  /** The Gather that reads the table at the token ids. */
  gather: Node;
  /** The float value noise is added to: the Gather's output, or the DequantizeLinear after it. */
  output: Value;
  /** The table's entries as floats (dequantized when the table is quantized). */
  table: Float64Array;
  dims: [number, number];
}

/**
 * The embedding lookups of a model: every Gather whose indices come from the token-ids input
 * (through ops such as Cast, Slice and Concat, but not through Shape) and whose data is a 2-D
 * initializer, optionally read through DequantizeLinear; or, when the Gather reads integer
 * codes, the DequantizeLinear after it, or the per-row scaling after it (as src/quant/qdq.ts reads them).
 */
export function findEmbeddings(model: Model): EmbeddingSite[] {
  const file = model.path;
  const sites: EmbeddingSite[] = [];
  let qdq: QdqModel | undefined;
  for (const { gather: n, indices: v, table, quantized, blockQuantized } of tokenLookups(model)) {
    const init = table.initializer!;
    const out = n.outputs[0];
    if (!out) continue;
    if (blockQuantized) {
      // A lowered model's packed lookup: its output is the dequantized rows.
      const codes = blockQuantizedTable(n);
      if (!codes) throw new InputError(`gauss noise: the GatherBlockQuantized embedding ${n.name} is not in the form ptq-onnx lower writes (uint8 data, no zero points)`, file);
      sites.push({ gather: n, output: out, table: Float64Array.from(dequantize(codes)), dims: [codes.dims[0], codes.dims[1]] });
      continue;
    }
    const dims: [number, number] = [init.dims[0], init.dims[1]];
    if (isFloatType(init.dataType) && !quantized) {
      sites.push({ gather: n, output: out, table: init.toNumbers(), dims });
      continue;
    }
    // A lowered model's 3- or 4-bit lookup: packed nibbles, unpacked and scaled after the Gather.
    const split = quantized ? null : splitNibbleLookup(n);
    if (split) {
      sites.push({ gather: n, output: split.output, table: Float64Array.from(dequantize(split.codes)), dims: [split.codes.dims[0], split.codes.dims[1]] });
      continue;
    }
    // A quantized table, dequantized before the Gather or gathered as codes: the Q/DQ reader knows both.
    qdq ??= readQdq(model);
    const w = quantized ? weightOf(qdq, n.inputs[0]) : qdq.weights.find((x) => x.codesValue === table);
    const output = quantized ? out : w?.gathers.find((x) => x.gather === n && x.indices === v)?.output;
    if (!w || !output) continue;
    if (w.blockSize !== null) throw new InputError(`gauss noise: blocked quantization of the embedding (${w.name}) is not supported`, file);
    sites.push({ gather: n, output, table: Float64Array.from(dequantize(w)), dims });
  }
  return sites;
}

/** Population standard deviation. */
function std(values: Float64Array): number {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length || 1;
  let ss = 0;
  for (const v of values) ss += (v - mean) * (v - mean);
  return Math.sqrt(ss / (values.length || 1));
}

export interface GaussInsertion {
  /** The value noise was added to. */
  value: string;
  /** Standard deviation of the embedding table. */
  table_std: number;
  /** Standard deviation of the added noise: level x table_std. */
  noise_std: number;
  /** RandomNormalLike's seed attribute. */
  seed: number;
}

/**
 * Rewrites the model in place so that Gaussian noise of standard deviation `level` x std(table)
 * is added to each embedding output: RandomNormalLike(output; mean 0, scale, seed) + Add, and
 * every reader of the output reads the sum. The draws are onnxruntime's: with a fixed seed
 * they are the same in every session, and each run continues the stream, so they depend on
 * the order and shapes of the batches run (same seed, data and --batch: same result).
 * `seed` is the user's; each stage gets its own stream from (seed, stage index). Level 0
 * leaves the model untouched.
 */
export function addGaussianNoise(model: Model, stage: Pick<NoiseStage, "level" | "index">, seed: number): GaussInsertion[] {
  if (stage.level === 0) return [];
  const sites = findEmbeddings(model);
  if (sites.length === 0) {
    throw new InputError("gauss noise: found no embedding (a Gather of a 2-D initializer at the token ids) to add noise to", model.path);
  }
  return sites.map((site, k) => {
    const out = site.output;
    const t = out.elemType;
    if (t !== undefined && t !== DataType.FLOAT && t !== 0) throw new InputError(`gauss noise: embedding output ${out.name} is not float32`, model.path);
    const tableStd = std(site.table);
    const noiseStd = stage.level * tableStd;
    // An integer below 2^24, so the float attribute holds it exactly.
    const seedAttr = mixSeed(seed, stage.index, k) % 2 ** 24;
    const g = out.graph;
    const noisy = g.newValue(`${out.name}_gauss`);
    out.replaceAllUsesWith(noisy);
    const b = new Builder(g, { after: out.producer });
    const attributes = { mean: { float: 0 }, scale: { float: noiseStd }, seed: { float: seedAttr } };
    const rnd = b.node("RandomNormalLike", [out], [`${out.name}_gauss_noise`], { name: `ptq_gauss_${k}`, attributes }).outputs[0]!;
    b.node("Add", [out, rnd], [noisy], { name: `ptq_gauss_add_${k}` });
    return { value: out.name, table_std: tableStd, noise_std: noiseStd, seed: seedAttr };
  });
}
