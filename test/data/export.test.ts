import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../src/graph/errors.ts";
import { type ExportMeta, exportDataset } from "../../src/data/export.ts";
import { readRows } from "../../src/data/jsonl.ts";
import { buildTokenizer, loadDataset } from "../../src/data/registry.ts";
import { buildVocab, readTokenizer } from "../../src/data/tokenizer.ts";

const root = mkdtempSync(join(tmpdir(), "ptq-onnx-export-"));
const first = join(root, "first");
const second = join(root, "nested", "second");
let meta: ExportMeta;

beforeAll(() => {
  meta = exportDataset("wordnet8", first);
  exportDataset("wordnet8", second);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const expectedFiles = ["NOTICE-wordnet.txt", "labels.json", "meta.json", "test.jsonl", "tokenizer.json", "train.jsonl", "val.jsonl"];

describe("exportDataset", () => {
  it("writes the data, tokenizer, labels, meta and licence notice, and nothing else", () => {
    expect(readdirSync(first).sort()).toEqual(expectedFiles);
    expect(readFileSync(join(first, "NOTICE-wordnet.txt"), "utf8")).toContain("Princeton University");
  });

  it("writes the same bytes every time", () => {
    for (const file of expectedFiles) {
      expect(readFileSync(join(second, file)).equals(readFileSync(join(first, file))), file).toBe(true);
    }
  });

  it("records sizes, class counts and checksums that match the files", () => {
    const onDisk = JSON.parse(readFileSync(join(first, "meta.json"), "utf8")) as ExportMeta;
    expect(onDisk).toEqual(meta);
    expect(meta.license_file).toBe("NOTICE-wordnet.txt");
    expect(meta.tokenizer).toEqual({ vocab_size: 10000, max_len: 32 });
    for (const split of ["train", "val", "test"] as const) {
      const bytes = readFileSync(join(first, `${split}.jsonl`));
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(meta.sha256[`${split}.jsonl`]);
      expect(meta.per_class[split].reduce((a, b) => a + b, 0)).toBe(meta.sizes[split]);
    }
  });

  it("writes rows the JSONL reader and the tokenizer file agree with", () => {
    const labels = JSON.parse(readFileSync(join(first, "labels.json"), "utf8")) as string[];
    const rows = readRows(join(first, "val.jsonl"), labels);
    expect(rows).toHaveLength(meta.sizes.val);
    const tokenizer = readTokenizer(join(first, "tokenizer.json"));
    for (const row of rows.slice(0, 200)) {
      expect(row.id).toMatch(/^n:\d{8}$/);
      expect(row.ids).toEqual(tokenizer.encode(row.text!));
    }
  });

  it("takes vocabulary size and max length as options", () => {
    const small = join(root, "small");
    const m = exportDataset("wordnet8", small, { vocabSize: 50, maxLen: 4 });
    expect(m.tokenizer).toEqual({ vocab_size: 50, max_len: 4 });
    const row = readRows(join(small, "test.jsonl"))[0];
    expect(row.ids!.length).toBeLessThanOrEqual(4);
    expect(Math.max(...row.ids!)).toBeLessThan(50);
  });

  it("exports WordNet-26 with its notice, 26 labels and its smaller vocabulary", () => {
    const dir = join(root, "wordnet26");
    const m = exportDataset("wordnet26", dir);
    expect(readdirSync(dir).sort()).toEqual(expectedFiles);
    expect(JSON.parse(readFileSync(join(dir, "labels.json"), "utf8"))).toEqual(loadDataset("wordnet26").labels);
    expect(m.tokenizer).toEqual({ vocab_size: 5000, max_len: 32 });
    expect(m.sizes).toEqual({ train: 65_224, val: 8_017, test: 8_320 });
    expect(m.per_class.test.every((n) => n > 0)).toBe(true);
  });

  it("rejects an unknown data set and bad tokenizer settings with InputErrors", () => {
    expect(() => exportDataset("imdb", join(root, "x"))).toThrow(InputError);
    expect(() => exportDataset("imdb", join(root, "x"))).toThrow(/known: wordnet8, wordnet26, spam/);
    expect(() => exportDataset("wordnet8", join(root, "x"), { vocabSize: 2 })).toThrow(InputError);
    expect(() => exportDataset("wordnet8", join(root, "x"), { maxLen: 0 })).toThrow(InputError);
  });
});

describe("registry", () => {
  it("loads each data set once per process", () => {
    expect(loadDataset("wordnet8")).toBe(loadDataset("wordnet8"));
  });

  it("builds the vocabulary from the train split only", () => {
    const data = loadDataset("wordnet8");
    const tokenizer = buildTokenizer(data, { vocabSize: 300 });
    expect(tokenizer.spec.vocab).toEqual(buildVocab(data.splits.train.map((ex) => ex.text), { maxSize: 300 }));
    expect(tokenizer.spec.vocab.slice(0, 2)).toEqual(["<pad>", "<unk>"]);
  });
});
