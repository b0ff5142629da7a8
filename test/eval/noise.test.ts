import { describe, expect, it } from "vitest";
import { InputError } from "../../src/graph/index.ts";
import { applyTokenNoise, parseNoiseLevels, parseNoiseSpec, tokenNoiseContext, type NoiseStage } from "../../src/eval/noise.ts";
import { mixSeed, seededRng } from "../../src/data/random.ts";
import { tokenizer, VOCAB } from "./testdata.ts";

const stages = (spec: string): NoiseStage[] => parseNoiseSpec(spec);
/** ids-only rows over a vocabulary of 100 (<pad> 0 excluded from draws, no tokenizer). */
const idsCtx = tokenNoiseContext(undefined, 100, []);
const longRows = (n: number, len: number): { ids: number[] }[] =>
  Array.from({ length: n }, (_, r) => ({ ids: Array.from({ length: len }, (_, i) => 1 + ((r * 7 + i * 13) % 99)) }));

describe("noise spec parsing", () => {
  it("reads KIND:LEVEL joined by +, in order", () => {
    expect(parseNoiseSpec("sub:0.1+typo:0.02")).toEqual([
      { kind: "sub", level: 0.1, index: 0 },
      { kind: "typo", level: 0.02, index: 1 },
    ]);
    expect(parseNoiseSpec(" gauss:1e-2 ")).toEqual([{ kind: "gauss", level: 0.01, index: 0 }]);
    expect(parseNoiseSpec("sub-unigram:0+del:1")).toHaveLength(2);
  });

  it.each([
    ["blur:0.1", /unknown noise kind "blur"/],
    ["sub:1.5", /level 1.5 of sub is outside \[0, 1\]/],
    ["sub:-0.1", /outside \[0, 1\]/],
    ["sub:abc", /not a number/],
    ["sub:", /not a number/],
    ["sub", /is not KIND:LEVEL/],
    ["", /empty noise spec/],
    ["sub:0.1+", /is not KIND:LEVEL/],
  ])("rejects %j as bad input", (spec, message) => {
    expect(() => parseNoiseSpec(spec)).toThrow(InputError);
    expect(() => parseNoiseSpec(spec)).toThrow(message);
  });

  it("reads robustness levels as KIND:L1,L2 or KIND with --levels", () => {
    expect(parseNoiseLevels("del:0,0.05,0.1,0.05")).toEqual({ kind: "del", levels: [0, 0.05, 0.1] });
    expect(parseNoiseLevels("gauss", "0.002,0.01")).toEqual({ kind: "gauss", levels: [0.002, 0.01] });
    expect(() => parseNoiseLevels("gauss")).toThrow(/gives no levels/);
    expect(() => parseNoiseLevels("swap:0,2")).toThrow(/outside \[0, 1\]/);
    expect(() => parseNoiseLevels("nope:0.1")).toThrow(/unknown noise kind/);
  });
});

describe("seeded randomness", () => {
  it("is deterministic and seeds differ", () => {
    const a = seededRng(7);
    const b = seededRng(7);
    const c = seededRng(8);
    const xs = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(xs);
    expect(mixSeed(1, 2, 3)).not.toBe(mixSeed(1, 3, 2));
  });
});

describe("token noise", () => {
  const rows = longRows(50, 40);

  it("level 0 touches nothing: the rows' own arrays come back", () => {
    const out = applyTokenNoise(rows, stages("sub:0+del:0+ins:0+swap:0+typo:0+gauss:0.5"), 3, idsCtx);
    out.forEach((r, i) => expect(r).toBe(rows[i].ids));
  });

  it("the same seed gives the same rows; other seeds differ; the input is not modified", () => {
    const copy = rows.map((r) => r.ids.slice());
    const spec = stages("sub:0.2+del:0.1+ins:0.1+swap:0.1+sub-unigram:0.1");
    const a = applyTokenNoise(rows, spec, 1, idsCtx);
    expect(applyTokenNoise(rows, spec, 1, idsCtx)).toEqual(a);
    expect(applyTokenNoise(rows, spec, 2, idsCtx)).not.toEqual(a);
    expect(rows.map((r) => r.ids)).toEqual(copy);
  });

  it("a row's noise does not depend on the rows after it", () => {
    const spec = stages("sub:0.3+del:0.2");
    const all = applyTokenNoise(rows, spec, 5, idsCtx);
    expect(applyTokenNoise(rows.slice(0, 3), spec, 5, idsCtx)).toEqual(all.slice(0, 3));
  });

  it("sub replaces tokens at the rate, never with <pad> nor with the token itself", () => {
    const ctx = tokenNoiseContext(tokenizer, undefined, []);
    const clean = longRows(200, 50).map((r) => ({ ids: r.ids.map((id) => 2 + (id % (VOCAB.length - 2))) }));
    const all = applyTokenNoise(clean, stages("sub:1"), 0, ctx);
    all.forEach((r, i) => {
      expect(r).toHaveLength(clean[i].ids.length);
      r.forEach((id, j) => {
        expect(id).not.toBe(clean[i].ids[j]);
        expect(id).toBeGreaterThanOrEqual(2); // neither <pad> (0) nor <unk> (1)
        expect(id).toBeLessThan(VOCAB.length);
      });
    });
    const some = applyTokenNoise(clean, stages("sub:0.3"), 0, ctx);
    let changed = 0;
    let total = 0;
    some.forEach((r, i) => r.forEach((id, j) => ((total += 1), (changed += id !== clean[i].ids[j] ? 1 : 0))));
    expect(changed / total).toBeGreaterThan(0.27);
    expect(changed / total).toBeLessThan(0.33);
  });

  it("sub-unigram draws by the rows' own token frequencies", () => {
    // Tokens 2 (once per row), 3 (once) and 4 (eight times): replacing a 2 draws 3 or 4 as 1:8.
    const clean = Array.from({ length: 400 }, () => ({ ids: [2, 3, 4, 4, 4, 4, 4, 4, 4, 4] }));
    const out = applyTokenNoise(clean, stages("sub-unigram:1"), 0, idsCtx);
    const replacedTwo = out.map((r) => r[0]);
    expect(new Set(replacedTwo)).toEqual(new Set([3, 4]));
    const fourShare = replacedTwo.filter((x) => x === 4).length / replacedTwo.length;
    expect(fourShare).toBeGreaterThan(0.83);
    expect(fourShare).toBeLessThan(0.94);
    // Only tokens the rows contain, never the token itself.
    out.forEach((r) => r.forEach((id, j) => (expect([2, 3, 4]).toContain(id), expect(id).not.toBe(clean[0].ids[j]))));
  });

  it("del deletes at the rate and never empties a row", () => {
    const all = applyTokenNoise(rows, stages("del:1"), 0, idsCtx);
    all.forEach((r, i) => {
      expect(r).toHaveLength(1);
      expect(rows[i].ids).toContain(r[0]);
    });
    const half = applyTokenNoise(rows, stages("del:0.5"), 0, idsCtx);
    const kept = half.reduce((a, r) => a + r.length, 0) / (50 * 40);
    expect(kept).toBeGreaterThan(0.45);
    expect(kept).toBeLessThan(0.55);
    // What is left keeps its order: it is a subsequence of the row.
    half.forEach((r, i) => {
      let j = 0;
      for (const id of rows[i].ids) if (id === r[j]) j++;
      expect(j).toBe(r.length);
    });
  });

  it("ins adds a drawn token after each token at the rate, then cuts to max_len", () => {
    const clean = [{ ids: [5, 6, 7] }];
    const [r] = applyTokenNoise(clean, stages("ins:1"), 0, idsCtx);
    expect(r).toHaveLength(6);
    expect([r[0], r[2], r[4]]).toEqual([5, 6, 7]);
    expect([r[1], r[3], r[5]].every((id) => id > 0 && id < 100)).toBe(true);
    const ctx = tokenNoiseContext(tokenizer, undefined, []);
    const [cut] = applyTokenNoise([{ ids: [2, 3, 4, 5, 6, 7, 8, 9] }], stages("ins:1"), 0, ctx);
    expect(cut).toHaveLength(12); // the tokenizer's max_len
    expect(cut.filter((_, i) => i % 2 === 0)).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it("swap exchanges neighbours, each token moved at most once", () => {
    expect(applyTokenNoise([{ ids: [1, 2, 3, 4, 5] }], stages("swap:1"), 0, idsCtx)).toEqual([[2, 1, 4, 3, 5]]);
    const out = applyTokenNoise(rows, stages("swap:0.3"), 9, idsCtx);
    out.forEach((r, i) => expect([...r].sort((a, b) => a - b)).toEqual([...rows[i].ids].sort((a, b) => a - b)));
  });

  it("typo edits characters of the text before tokenizing", () => {
    const ctx = tokenNoiseContext(tokenizer, undefined, []);
    const text = "the cat sat on a mat and the dog ran far away";
    const clean = [{ ids: tokenizer.encode(text), text }];
    expect(applyTokenNoise(clean, stages("typo:0"), 0, ctx)[0]).toBe(clean[0].ids);
    const light = applyTokenNoise(clean, stages("typo:0.05"), 4, ctx)[0];
    const heavy = applyTokenNoise(clean, stages("typo:1"), 4, ctx)[0];
    const changed = (ids: number[]) => ids.filter((id, i) => id !== clean[0].ids[i]).length;
    expect(changed(heavy)).toBeGreaterThan(changed(light));
    // Every character edited: barely a known word survives, most become <unk>.
    expect(heavy.filter((id) => id === 1).length).toBeGreaterThan(6);
    expect(heavy.length).toBeLessThanOrEqual(12);
  });

  it("typo on rows with only ids, or without a tokenizer, is bad input", () => {
    const ctx = tokenNoiseContext(tokenizer, undefined, []);
    expect(() => applyTokenNoise([{ ids: [2, 3] }], stages("typo:0.1"), 0, ctx)).toThrow(/row 1 has only ids/);
    expect(() => applyTokenNoise([{ ids: [2, 3], text: "the cat" }], stages("typo:0.1"), 0, idsCtx)).toThrow(/needs a tokenizer/);
  });

  it("typo composes with token noise in the spec's order", () => {
    const ctx = tokenNoiseContext(tokenizer, undefined, []);
    const text = "the cat sat on a mat";
    const rows1 = [{ ids: tokenizer.encode(text), text }];
    const a = applyTokenNoise(rows1, stages("del:0.5+typo:0.5"), 4, ctx);
    expect(applyTokenNoise(rows1, stages("del:0.5+typo:0.5"), 4, ctx)).toEqual(a);
    // The same, one stage at a time: deletion first (stage 0's stream; which positions it
    // keeps depends only on the stream and the length, so position ids show them), then typos
    // on the words that are left (stage 1's stream).
    const words = tokenizer.tokens(text);
    const kept = applyTokenNoise([{ ids: words.map((_, i) => i) }], [{ kind: "del", level: 0.5, index: 0 }], 4, ctx)[0];
    expect(kept.length).toBeLessThan(words.length);
    const left = kept.map((i) => words[i]).join(" ");
    const sequential = applyTokenNoise([{ ids: tokenizer.encode(left), text: left }], [{ kind: "typo", level: 0.5, index: 1 }], 4, ctx);
    expect(a).toEqual(sequential);
    expect(a[0]).not.toEqual(tokenizer.encode(left)); // the typo stage changed something
    // And not the other order: typos first would spell the deleted words too.
    expect(applyTokenNoise(rows1, stages("typo:0.5+del:0.5"), 4, ctx)).not.toEqual(a);
  });
});
