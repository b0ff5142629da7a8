import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LinearRegex, UnsupportedPattern } from "../../src/data/pattern.ts";
import { loadDataset } from "../../src/data/registry.ts";
import { modelTokenizer } from "../../src/data/resolve.ts";
import { Tokenizer, readTokenizer, type TokenizerSpec } from "../../src/data/tokenizer.ts";
import { InputError, loadModel } from "../../src/graph/index.ts";
import { ROOT, tempDir } from "../helpers.ts";

/** What the contract specifies: the matches of a global JavaScript RegExp. */
const viaRegExp = (pattern: string, text: string) => Array.from(text.matchAll(new RegExp(pattern, "g")), (m) => m[0]);

function spec(pattern: string): TokenizerSpec {
  return { type: "word-regex", lowercase: true, pattern, vocab: ["<pad>", "<unk>", "aaab"], pad_id: 0, unk_id: 1, max_len: 8, truncation: "end" };
}

describe("linear-time token patterns", () => {
  it("a catastrophically backtracking pattern finishes on the text that stalls a RegExp", () => {
    const tok = new Tokenizer(spec("(a+)+b"), "evil.tokenizer.json");
    // 41 a's and no b: a backtracking RegExp tries about 2^41 ways to split them.
    expect(tok.encode("a".repeat(41))).toEqual([1]);
    expect(tok.tokens(`${"a".repeat(41)}b`)).toEqual([`${"a".repeat(41)}b`]);
    expect(tok.encode("x aaab y")).toEqual([2]);
  });

  it("checks for empty matches without running the pattern as a RegExp", () => {
    // A RegExp needs 200^4 steps to see that this matches "" (or overflows its stack); RE2
    // refuses the nesting outright, and the empty-match check itself runs in RE2.
    const nested = "(?:(?:(?:(?:a?){200}){200}){200}){200}";
    expect(() => new Tokenizer(spec(nested), "deep.tokenizer.json")).toThrow(/^deep\.tokenizer\.json: bad tokenizer spec: /);
    expect(() => new Tokenizer(spec("\\b|a*"), "t.json")).toThrow(/must not match the empty string/);
    expect(() => new Tokenizer(spec("(?:(?:a?){30}){30}"), "t.json")).toThrow(/must not match the empty string/);
    expect(() => new Tokenizer(spec("a)|(b"), "t.json")).toThrow(/not a valid JavaScript RegExp/);
  });

  // Word-regex patterns in common use, and texts that hit the places where RE2's and
  // JavaScript's meanings differ (\r, U+2028, no-break and other Unicode spaces, surrogates,
  // a lone surrogate, astral characters, boundaries at the ends).
  const patterns = [
    "[a-z0-9]+(?:'[a-z]+)?",
    "\\w+",
    "\\w+|[^\\w\\s]",
    "\\S+",
    "[^\\s]+",
    "[a-z]+(?:[-'][a-z]+)*",
    "\\d+(?:[.,]\\d+)?|[a-z]+",
    "\\b\\w+\\b",
    "[\\u00c0-\\uffff]+|[a-z]+",
    "[^a-z0-9 ]",
    "\\W",
    ".",
    "[^]",
    "x?\\b",
    "(?<word>[a-z]+)'(?:s|t)",
    "[a-z]{2,3}?",
    "\\x41|\\u00e9|\\t",
    "[\\ud800-\\udbff]",
    "a$|^t",
    "[\\w-]+",
  ];
  const texts = [
    "The cat's 12.5 x-ray isn't ready!\r\nok\tgo",
    "na\u00efve caf\u00e9\u00a0r\u00e9sum\u00e9\u2028line\u3000end\ufeff",
    "smile \ud83d\ude00 now\ud83d\ude00\ud83d\ude01x",
    "lone \ud800 high, lone \udc00 low",
    "",
    "   ",
    "A\u0041\u00e9\t!",
  ];
  it.each(patterns)("gives the same matches as a global RegExp: %s", (pattern) => {
    const linear = new LinearRegex(pattern);
    for (const text of texts) expect(linear.matches(text), JSON.stringify(text)).toEqual(viaRegExp(pattern, text));
  });

  it("gives the zoo tokenizers' tokens exactly as today's RegExp on real rows", () => {
    for (const [model, dataset, rows] of [["wordnet8-disc", "wordnet8", 400], ["spam-disc", "spam", 150]] as const) {
      const tok = modelTokenizer(loadModel(join(ROOT, "models", `${model}.onnx`)))!;
      const texts = loadDataset(dataset).splits.val.slice(0, rows).map((ex) => ex.text);
      expect(texts.length).toBe(rows);
      let tokens = 0;
      for (const text of texts) {
        const expected = viaRegExp(tok.spec.pattern, text.toLowerCase());
        expect(tok.tokens(text)).toEqual(expected);
        tokens += expected.length;
      }
      expect(tokens).toBeGreaterThan(rows * 5);
    }
  });

  const refused: [string, RegExp][] = [
    ["(a+)\\1", /backreference/],
    ["(?<w>a)\\k<w>", /escape \\k/],
    ["a(?=b)", /lookaround/],
    ["(?<!x)y", /lookaround/],
    ["a{1001}", /repeat count/],
    ["[\\w-z]", /class range/],
    ["\\z", /escape \\z/],
  ];
  it.each(refused)("refuses %s", (pattern, why) => {
    expect(() => new LinearRegex(pattern)).toThrow(UnsupportedPattern);
    expect(() => new LinearRegex(pattern)).toThrow(why);
  });

  it("a refused pattern is a one-line InputError naming the tokenizer's model or file", () => {
    const where = "m.onnx: metadata ptq-onnx.tokenizer";
    expect(() => new Tokenizer(spec("(a)\\1"), where)).toThrow(InputError);
    expect(() => new Tokenizer(spec("(a)\\1"), where)).toThrow(/^m\.onnx: metadata ptq-onnx\.tokenizer: bad tokenizer spec: pattern "\(a\)\\\\1": .*backreference[^\n]*$/);
    const file = join(tempDir(), "look.tokenizer.json");
    writeFileSync(file, JSON.stringify(spec("\\w+(?!x)")));
    expect(() => readTokenizer(file)).toThrow(new RegExp(`^${file}: bad tokenizer spec: .*lookaround`));
  });
});
