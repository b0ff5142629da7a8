/**
 * Untrusted data through the real CLI: tokenizer patterns from the model, rows far longer
 * than the tokenizer's max_len, and labels that are not classes of the model.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel, saveModel } from "../../src/graph/index.ts";
import { TOKENIZER_SPEC, sentences, tokenizer } from "../eval/testdata.ts";
import { fixtureModel, runCli, tempDir } from "../helpers.ts";

const dir = tempDir("ptq-onnx-bad-data-");
const disc = fixtureModel("disc-tiny");
const tok = join(dir, "tokenizer.json");
writeFileSync(tok, JSON.stringify(TOKENIZER_SPEC));
const texts = sentences(30);

function jsonl(name: string, rows: object[]): string {
  const file = join(dir, name);
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return file;
}

/** 30 id rows, 10 per class, row 5 (line 6) replaced by `row`. */
function withRow(name: string, row: object): string {
  const rows: object[] = texts.map((t, i) => ({ ids: tokenizer.encode(t), label: i % 3 }));
  rows[5] = row;
  return jsonl(name, rows);
}

function expectOneLineError(r: { status: number | null; stderr: string; stdout: string }, ...parts: (string | RegExp)[]): void {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  for (const p of parts) expect(lines[0]).toMatch(p);
}

/** A copy of the disc-tiny fixture carrying a tokenizer with `pattern` in its metadata. */
function withTokenizer(name: string, pattern: string): string {
  const file = join(dir, name);
  const m = loadModel(disc);
  m.setMetadata("ptq-onnx.tokenizer", JSON.stringify({ ...TOKENIZER_SPEC, pattern, vocab: [...TOKENIZER_SPEC.vocab, "aaab"] }));
  saveModel(m, file);
  return file;
}

describe("tokenizer patterns from the model", () => {
  it("eval with a catastrophically backtracking pattern finishes on the text that stalls a RegExp", () => {
    const model = withTokenizer("evil.onnx", "(a+)+b");
    const data = jsonl("aaa.jsonl", [{ text: "a".repeat(41), label: 0 }, { text: "aaab aaab", label: 1 }]);
    const r = runCli(["eval", model, "--data", data, "--json"]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).n).toBe(2);
  });

  it("a pattern with a backreference is refused naming the model", () => {
    const model = withTokenizer("backref.onnx", "(a)\\1");
    const r = runCli(["eval", model, "--data", jsonl("one.jsonl", [{ text: "aa", label: 0 }]), "--json"]);
    expectOneLineError(r, `${model}: metadata ptq-onnx.tokenizer: bad tokenizer spec`, /backreference/);
  });
});

describe("long rows", () => {
  // 100k ids; its first 12 (the tokenizer's max_len) are what the model may read.
  const long = Array.from({ length: 100_000 }, (_, i) => 2 + (i % 28));
  const longFile = withRow("long.jsonl", { ids: long, label: 2 });
  const cutFile = withRow("cut.jsonl", { ids: long.slice(0, TOKENIZER_SPEC.max_len), label: 2 });

  it("eval cuts a 100k-id row to max_len: the same rows and result as the row cut by hand", () => {
    const a = runCli(["eval", disc, "--data", longFile, "--tokenizer", tok, "--json"]);
    expect(a.status, a.stderr).toBe(0);
    const b = runCli(["eval", disc, "--data", cutFile, "--tokenizer", tok, "--json"]);
    expect(b.status, b.stderr).toBe(0);
    const [ra, rb] = [JSON.parse(a.stdout), JSON.parse(b.stdout)];
    // data_sha256 hashes the ids as fed: equal only if the long row was fed as its first 12 ids.
    expect(ra.data_sha256).toBe(rb.data_sha256);
    expect(ra.confusion).toEqual(rb.confusion);
    expect(ra.n).toBe(30);
  });

  it("quantize calibrates on it", () => {
    const out = join(dir, "long.q8a8.onnx");
    const r = runCli(["quantize", disc, "--bits", "8", "--calib", "natural", "--data", longFile, "--tokenizer", tok, "--calib-size", "30", "-o", out, "--json"]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).calibration.per_class).toEqual([10, 10, 10]);
  });

  it("without a tokenizer, a row past the bound is refused naming the file and line", () => {
    const r = runCli(["eval", disc, "--data", longFile, "--json"]);
    expectOneLineError(r, longFile, /line 6: 100000 ids, more than the 65536/);
  });
});

describe("labels that are not classes of the model", () => {
  const bad = withRow("bad-label.jsonl", { ids: [3, 4, 5], label: 3 });

  it("eval fails naming the data file, line, label and class count", () => {
    const r = runCli(["eval", disc, "--data", bad, "--json"]);
    expectOneLineError(r, new RegExp(`^.*${bad}: line 6: label index 3 out of range \\(the model has 3 classes`));
  });

  it("quantize fails the same way and writes nothing", () => {
    const out = join(dir, "bad.q4a4.onnx");
    const r = runCli(["quantize", disc, "--bits", "4", "--calib", "balanced", "--data", bad, "--calib-size", "12", "-o", out, "--json"]);
    expectOneLineError(r, bad, /line 6: label index 3 out of range \(the model has 3 classes/);
    expect(existsSync(out)).toBe(false);
  });

  it("--skip-bad-labels leaves such rows out with a counted warning", () => {
    const e = runCli(["eval", disc, "--data", bad, "--skip-bad-labels", "--json"]);
    expect(e.status, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout).n).toBe(29);
    expect(e.stderr).toMatch(new RegExp(`${bad}: skipped 1 rows whose label is not one of the model's 3 classes: line 6 \\(label 3\\)`));

    const q = runCli(["quantize", disc, "--bits", "4", "--calib", "natural", "--data", bad, "--calib-size", "29", "-o", join(dir, "skip.onnx"), "--skip-bad-labels", "--json"]);
    expect(q.status, q.stderr).toBe(0);
    // Row 5 had label 2; natural calibration takes every remaining row.
    expect(JSON.parse(q.stdout).calibration.per_class).toEqual([10, 10, 9]);
    expect(q.stderr).toMatch(/skipped 1 rows/);
  });

  it("a label name the model does not have is refused, or skipped with the flag", () => {
    const named = join(dir, "named.onnx");
    const m = loadModel(disc);
    m.setMetadata("ptq-onnx.labels", JSON.stringify(["red", "green", "blue"]));
    saveModel(m, named);
    const file = withRow("bad-name.jsonl", { ids: [3, 4], label: "purple" });
    const r = runCli(["eval", named, "--data", file, "--json"]);
    expectOneLineError(r, file, /line 6: unknown label name "purple" \(the model's 3 classes: red, green, blue\)/);
    const q = runCli(["quantize", named, "--bits", "8", "--calib", "balanced", "--data", file, "--calib-size", "9", "--json"]);
    expectOneLineError(q, file, /line 6: unknown label name "purple"/);
    const s = runCli(["eval", named, "--data", file, "--skip-bad-labels", "--json"]);
    expect(s.status, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).n).toBe(29);
    expect(s.stderr).toMatch(/line 6 \(label "purple"\)/);
  });
});
