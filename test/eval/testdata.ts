/** A small tokenizer and labelled JSONL files for the fixture models (which carry no metadata). */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "../../src/data/tokenizer.ts";
import { tempDir } from "../helpers.ts";

/** 30 tokens: <pad>, <unk> and 28 words, so ids fit every fixture's embedding (30 to 50 rows). */
export const VOCAB = ["<pad>", "<unk>", ..."the cat dog sat on a mat and ran far away from big red fox who saw small bird in tree with green leaves".split(" ")];

export const TOKENIZER_SPEC = {
  type: "word-regex",
  lowercase: true,
  pattern: "[a-z0-9]+(?:'[a-z]+)?",
  vocab: VOCAB,
  pad_id: 0,
  unk_id: 1,
  max_len: 12,
  truncation: "end",
};

export const tokenizer = new Tokenizer(TOKENIZER_SPEC);

export interface TestData {
  dir: string;
  tokenizer: string;
  /** 60 text rows, labels 0..2. */
  text: string;
  /** The same rows as ids only. */
  ids: string;
  /** A file with no rows (blank lines only). */
  empty: string;
}

/** Deterministic sentences over the vocabulary, 1 to 10 words each (some words unknown). */
export function sentences(n: number): string[] {
  let s = 12345;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const words = [...VOCAB.slice(2), "zebra", "quickly"];
  return Array.from({ length: n }, () => Array.from({ length: 1 + Math.floor(next() * 10) }, () => words[Math.floor(next() * words.length)]).join(" "));
}

export function writeTestData(): TestData {
  const dir = tempDir("ptq-onnx-eval-");
  const texts = sentences(60);
  const tok = join(dir, "tokenizer.json");
  writeFileSync(tok, JSON.stringify(TOKENIZER_SPEC));
  const text = join(dir, "text.jsonl");
  writeFileSync(text, texts.map((t, i) => JSON.stringify({ text: t, label: i % 3 })).join("\n") + "\n");
  const ids = join(dir, "ids.jsonl");
  writeFileSync(ids, texts.map((t, i) => JSON.stringify({ ids: tokenizer.encode(t), label: i % 3 })).join("\n") + "\n");
  const empty = join(dir, "empty.jsonl");
  writeFileSync(empty, "\n\n");
  return { dir, tokenizer: tok, text, ids, empty };
}
