import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InputError } from "../../src/graph/errors.ts";
import { readLabelledRows, readRows, rowsToIds, writeJsonl } from "../../src/data/jsonl.ts";
import { Tokenizer } from "../../src/data/tokenizer.ts";

const dir = mkdtempSync(join(tmpdir(), "ptq-onnx-jsonl-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function fileWith(content: string): string {
  const file = join(dir, `data-${fileCount++}.jsonl`);
  writeFileSync(file, content);
  return file;
}

const labels = ["world", "sports", "business"];

describe("readRows", () => {
  it("reads text rows, ids rows and rows with both, skipping blank lines", () => {
    const file = fileWith(
      [
        '{"text": "hello world", "label": 2}',
        "",
        '{"ids": [5, 17, 3], "label": 0, "id": "a1"}',
        "   ",
        '{"text": "kept for reports", "ids": [4], "label": "sports"}',
        "",
      ].join("\r\n"),
    );
    expect(readRows(file, labels)).toEqual([
      { text: "hello world", label: 2 },
      { ids: [5, 17, 3], label: 0, id: "a1" },
      { text: "kept for reports", ids: [4], label: 1 },
    ]);
  });

  it("accepts label indices without labels", () => {
    expect(readRows(fileWith('{"text": "x", "label": 7}\n'))).toEqual([{ text: "x", label: 7 }]);
  });

  const badLines: [string, string, RegExp, string[]?][] = [
    ["not JSON", '{"text": "x", "label": 1', /not JSON/],
    ["not an object", "[1, 2]", /not a JSON object/],
    ["missing label", '{"text": "x"}', /missing label/],
    ["unknown label name", '{"text": "x", "label": "weather"}', /unknown label name "weather"/, labels],
    ["name without labels", '{"text": "x", "label": "sports"}', /no class names are known/],
    ["label index out of range", '{"text": "x", "label": 3}', /label index 3 out of range/, labels],
    ["negative label", '{"text": "x", "label": -1}', /non-negative integer/],
    ["fractional label", '{"text": "x", "label": 1.5}', /non-negative integer/],
    ["neither text nor ids", '{"label": 1}', /neither text nor ids/],
    ["ids with a negative", '{"ids": [1, -2], "label": 1}', /ids must be non-negative integers \(ids\[1\] is -2\)/],
    ["ids with a float", '{"ids": [1.5], "label": 1}', /ids must be non-negative integers/],
    ["ids with a string", '{"ids": ["3"], "label": 1}', /ids must be non-negative integers/],
    ["ids not an array", '{"ids": 3, "label": 1}', /ids must be a non-empty array/],
    ["empty ids", '{"ids": [], "label": 1}', /ids must be a non-empty array/],
    ["text not a string", '{"text": 3, "label": 1}', /text must be a string/],
  ];
  it.each(badLines)("reports %s with the file and line number", (_, line, problem, names) => {
    const file = fileWith(`{"text": "fine", "label": 0}\n\n${line}\n{"text": "also fine", "label": 0}\n`);
    let error: unknown;
    try {
      readRows(file, names);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InputError);
    const message = (error as InputError).message;
    expect(message.startsWith(`${file}: line 3: `)).toBe(true);
    expect(message).toMatch(problem);
    expect((error as InputError).file).toBe(file);
  });

  it("reports a missing file and an empty one", () => {
    const missing = join(dir, "nope.jsonl");
    expect(() => readRows(missing)).toThrow(InputError);
    expect(() => readRows(missing)).toThrow(missing);
    expect(() => readRows(fileWith("\n\n"))).toThrow(/no rows/);
  });
});

describe("readLabelledRows", () => {
  const file = fileWith(['{"text": "a", "label": 0}', "", '{"text": "b", "label": 5}', '{"text": "c", "label": "sports"}', '{"text": "d", "label": "weather"}'].join("\n"));

  it("gives each row's line and bounds label indices by the class count", () => {
    expect(() => readLabelledRows(file, { classes: 3 })).toThrow(new RegExp(`^${file}: line 3: label index 5 out of range \\(the model has 3 classes: 0 to 2\\)$`));
    expect(() => readLabelledRows(file, { labels })).toThrow(/line 3: label index 5 out of range/);
  });

  it("skips labels that are no class when asked, and lists them", () => {
    const r = readLabelledRows(file, { labels, skipBadLabels: true });
    expect(r.rows).toEqual([{ text: "a", label: 0 }, { text: "c", label: 1 }]);
    expect(r.lines).toEqual([1, 4]);
    expect(r.skipped).toEqual([{ line: 3, label: 5 }, { line: 5, label: "weather" }]);
    expect(() => readLabelledRows(fileWith('{"text": "b", "label": 5}\n'), { classes: 3, skipBadLabels: true })).toThrow(/no rows with a label of the model \(1 skipped\)/);
  });

  it("still fails on malformed labels when skipping", () => {
    expect(() => readLabelledRows(fileWith('{"text": "b", "label": -1}\n'), { classes: 3, skipBadLabels: true })).toThrow(/line 1: label index must be a non-negative integer/);
  });
});

describe("writeJsonl", () => {
  it("writes one object per line that readRows reads back", () => {
    const file = join(dir, "out.jsonl");
    const rows = [
      { id: "a", text: "line\nbreak \u2028 inside", ids: [2, 3], label: 1 },
      { id: "b", text: "ünïcode", ids: [1], label: 0 },
    ];
    writeJsonl(file, rows);
    expect(readFileSync(file, "utf8").split("\n")).toHaveLength(3);
    expect(readRows(file)).toEqual(rows);
  });
});

describe("rowsToIds", () => {
  const tok = new Tokenizer({
    type: "word-regex", lowercase: true, pattern: "[a-z]+", vocab: ["<pad>", "<unk>", "a", "b"],
    pad_id: 0, unk_id: 1, max_len: 8, truncation: "end",
  });

  it("uses ids when present and encodes text otherwise", () => {
    expect(rowsToIds([{ ids: [3, 2], text: "a a", label: 0 }, { text: "B a z", label: 1 }], tok)).toEqual([[3, 2], [3, 2, 1]]);
  });

  it("keeps the first max_len of given ids, as of text", () => {
    const long = Array.from({ length: 100_000 }, (_, i) => 2 + (i % 2));
    expect(rowsToIds([{ ids: long, label: 0 }, { text: "a b ".repeat(50), label: 0 }], tok)).toEqual([long.slice(0, 8), long.slice(0, 8)]);
  });

  it("rejects text rows without a tokenizer, and ids outside the vocabulary", () => {
    expect(() => rowsToIds([{ text: "a", label: 0 }])).toThrow(InputError);
    expect(() => rowsToIds([{ ids: [4], label: 0, id: "x" }], tok)).toThrow(/token id 4 is outside the vocabulary/);
  });
});
