import { describe, expect, it } from "vitest";
import { InputError } from "../../src/graph/errors.ts";
import { DEFAULT_PATTERN, Tokenizer, type TokenizerSpec, buildVocab, makeSpec, padBatch } from "../../src/data/tokenizer.ts";

/** The spec of docs/contract.md section 2, with a small vocabulary. */
function contractSpec(overrides: Partial<TokenizerSpec> = {}): TokenizerSpec {
  return {
    type: "word-regex",
    lowercase: true,
    pattern: "[a-z0-9]+(?:'[a-z]+)?",
    vocab: ["<pad>", "<unk>", "the", "cat", "sat", "on", "mat", "isn't", "42"],
    pad_id: 0,
    unk_id: 1,
    max_len: 48,
    truncation: "end",
    ...overrides,
  };
}

describe("Tokenizer.encode", () => {
  const tok = new Tokenizer(contractSpec());

  it("lower-cases, takes the pattern's matches and looks them up", () => {
    expect(tok.encode("The cat sat on the mat.")).toEqual([2, 3, 4, 5, 2, 6]);
    expect(tok.tokens("The CAT isn't 42!")).toEqual(["the", "cat", "isn't", "42"]);
    expect(tok.encode("The CAT isn't 42!")).toEqual([2, 3, 7, 8]);
  });

  it("tokens stops at a limit", () => {
    expect(tok.tokens("the cat sat on the mat", 2)).toEqual(["the", "cat"]);
    expect(tok.tokens("the cat", 0)).toEqual([]);
  });

  it("maps unknown tokens to unk_id", () => {
    expect(tok.encode("the dog sat")).toEqual([2, 1, 4]);
    // The apostrophe suffix belongs to the token, so "cat's" is one unknown token, not "cat".
    expect(tok.encode("cat's")).toEqual([1]);
  });

  it("keeps the first max_len ids", () => {
    const short = new Tokenizer(contractSpec({ max_len: 3 }));
    expect(short.encode("the cat sat on the mat")).toEqual([2, 3, 4]);
  });

  it("gives [unk_id] for text without tokens", () => {
    expect(tok.encode("")).toEqual([1]);
    expect(tok.encode("?! ... --")).toEqual([1]);
  });

  it("leaves case alone when lowercase is false", () => {
    const cased = new Tokenizer(contractSpec({ lowercase: false }));
    // The lower-case pattern then sees "he" in "The": an unknown token.
    expect(cased.encode("The cat")).toEqual([1, 3]);
  });
});

describe("Tokenizer spec validation", () => {
  const bad: [string, unknown][] = [
    ["not an object", [1, 2]],
    ["wrong type", contractSpec({ type: "bpe" as "word-regex" })],
    ["bad pattern", contractSpec({ pattern: "[a-z" })],
    ["pattern matching empty", contractSpec({ pattern: "[a-z]*" })],
    ["empty vocab", contractSpec({ vocab: [] })],
    ["duplicate vocab", contractSpec({ vocab: ["<pad>", "<unk>", "a", "a"] })],
    ["pad_id out of range", contractSpec({ pad_id: 99 })],
    ["unk_id not integer", contractSpec({ unk_id: 1.5 })],
    ["max_len zero", contractSpec({ max_len: 0 })],
    ["truncation start", contractSpec({ truncation: "start" as "end" })],
    ["lowercase missing", { ...contractSpec(), lowercase: undefined }],
  ];
  it.each(bad)("rejects %s with an InputError naming the source", (_, spec) => {
    expect(() => new Tokenizer(spec, "model.tokenizer.json")).toThrow(InputError);
    expect(() => new Tokenizer(spec, "model.tokenizer.json")).toThrow(/^model\.tokenizer\.json: bad tokenizer spec: /);
  });

  it("keeps extra fields out of the spec but accepts them", () => {
    const tok = new Tokenizer({ ...contractSpec(), comment: "extension" });
    expect(Object.keys(tok.spec)).toEqual(Object.keys(contractSpec()));
  });
});

describe("buildVocab", () => {
  const texts = ["b a c a", "c b a", "d", "B A"];

  it("puts <pad> and <unk> first, then tokens by count, ties in code-unit order", () => {
    // counts: a 4, b 3, c 2, d 1
    expect(buildVocab(texts, { maxSize: 100 })).toEqual(["<pad>", "<unk>", "a", "b", "c", "d"]);
    expect(buildVocab(["z y x", "Z"], { maxSize: 100 })).toEqual(["<pad>", "<unk>", "z", "x", "y"]);
  });

  it("caps the size (counting <pad> and <unk>) and drops rare tokens", () => {
    expect(buildVocab(texts, { maxSize: 4 })).toEqual(["<pad>", "<unk>", "a", "b"]);
    expect(buildVocab(texts, { maxSize: 100, minCount: 2 })).toEqual(["<pad>", "<unk>", "a", "b", "c"]);
  });

  it("does not depend on the order of the texts", () => {
    const words = Array.from({ length: 500 }, (_, i) => `w${i % 37} v${(i * 7) % 53} u${i % 5}`);
    const reversed = [...words].reverse();
    expect(buildVocab(reversed, { maxSize: 60 })).toEqual(buildVocab(words, { maxSize: 60 }));
  });

  it("gives a spec the Tokenizer accepts", () => {
    const tok = new Tokenizer(makeSpec(buildVocab(texts, { maxSize: 10 }), 5));
    expect(tok.spec.pattern).toBe(DEFAULT_PATTERN);
    expect(tok.encode("a b e")).toEqual([2, 3, 1]);
  });
});

describe("padBatch", () => {
  it("right-pads to the longest row and records lengths", () => {
    const b = padBatch([[5, 6, 7], [8]], 0);
    expect([b.batch, b.seq]).toEqual([2, 3]);
    expect(Array.from(b.ids)).toEqual([5n, 6n, 7n, 8n, 0n, 0n]);
    expect(Array.from(b.lengths)).toEqual([3n, 1n]);
  });

  it("pads and truncates to a fixed length", () => {
    const b = padBatch([[5, 6, 7], [8]], 9, 2);
    expect([b.batch, b.seq]).toEqual([2, 2]);
    expect(Array.from(b.ids)).toEqual([5n, 6n, 8n, 9n]);
    expect(Array.from(b.lengths)).toEqual([2n, 1n]);
  });
});
