/**
 * Checks the committed model zoo (models/manifest.json, written by scripts/zoo/finalize.ts):
 * files, hashes, sizes, contract metadata, and that onnxruntime-node runs each model on a few
 * real test rows. Skipped when there is no manifest.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildTokenizer, loadDataset } from "../../src/data/registry.ts";
import { Tokenizer } from "../../src/data/tokenizer.ts";
import { loadModel } from "../../src/graph/index.ts";
import { predictScores } from "../../src/eval/predict.ts";

const manifestPath = join(import.meta.dirname, "..", "..", "models", "manifest.json");
const manifest = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, "utf8")) : null;
const entries: { name: string; file: string; sha256: string; bytes: number; dataset: string; kind: string; labels: string[] }[] =
  manifest?.models ?? [];

describe.skipIf(!manifest)("model zoo", () => {
  it("lists the four zoo models", () => {
    expect(entries.map((e) => e.name).sort()).toEqual(["spam-disc", "spam-gen", "wordnet8-disc", "wordnet8-gen"]);
  });

  describe.each(entries)("$name", (entry) => {
    const file = join(dirname(manifestPath), entry.file);

    it("has the listed sha256 and is under 16 MB", () => {
      const bytes = readFileSync(file);
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(entry.sha256);
      expect(statSync(file).size).toBe(entry.bytes);
      expect(entry.bytes).toBeLessThan(16 * 1024 * 1024);
    });

    it("carries the contract metadata, with the data set's current tokenizer", () => {
      const meta = loadModel(file).metadata;
      expect(meta.get("ptq-onnx.kind")).toBe(entry.kind);
      expect(JSON.parse(meta.get("ptq-onnx.labels")!)).toEqual(entry.labels);
      expect(meta.get("ptq-onnx.dataset")).toBe(entry.dataset);
      const spec = JSON.parse(meta.get("ptq-onnx.tokenizer")!);
      // A model trained on other token ids than the data module now produces would be stale.
      expect(spec).toEqual(buildTokenizer(loadDataset(entry.dataset)).spec);
    });

    it("scores real test rows as [batch, classes] through onnxruntime-node", async () => {
      const meta = loadModel(file).metadata;
      const tokenizer = new Tokenizer(JSON.parse(meta.get("ptq-onnx.tokenizer")!));
      const rows = loadDataset(entry.dataset).splits.test.slice(0, 8);
      const ids = rows.map((r) => tokenizer.encode(r.text));
      const r = await predictScores(file, ids, { batch: 4, intraOpThreads: 1 });
      expect(r.classes).toBe(entry.labels.length);
      expect(r.scores).toHaveLength(rows.length);
      for (const row of r.scores) {
        expect(row).toHaveLength(entry.labels.length);
        for (const v of row) expect(Number.isFinite(v)).toBe(true);
      }
      const right = r.predictions.filter((p, i) => p === rows[i].label).length;
      expect(right).toBeGreaterThanOrEqual(5);
    });
  });
});
