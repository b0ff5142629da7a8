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
interface Entry {
  name: string;
  file: string;
  sha256: string;
  bytes: number;
  dataset: string;
  kind: string;
  labels: string[];
  test: { accuracy: number; slice: { rows: number; accuracy: number } };
}
const entries: Entry[] = manifest?.models ?? [];

describe.skipIf(!manifest)("model zoo", () => {
  it("lists the zoo models", () => {
    expect(entries.map((e) => e.name).sort()).toEqual([
      "spam-disc", "spam-gen", "wordnet26-disc", "wordnet26-gen", "wordnet8-bilstm", "wordnet8-disc", "wordnet8-gen",
    ]);
  });

  it("has a harder task whose float accuracy is well below WordNet-8's", () => {
    const acc = (name: string) => entries.find((e) => e.name === name)!.test.accuracy;
    for (const kind of ["disc", "gen"]) {
      expect(acc(`wordnet26-${kind}`)).toBeLessThan(0.85);
      expect(acc(`wordnet26-${kind}`)).toBeLessThan(acc(`wordnet8-${kind}`) - 0.05);
    }
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
      // Accuracy is checked on 200 rows below: 8 rows of the harder task say little (the first
      // test rows of WordNet-26 are its hardest classes, act and event).
    });

    it("reproduces the manifest's accuracy on the first test rows through onnxruntime-node", async () => {
      const { rows: n, accuracy } = entry.test.slice;
      const tokenizer = new Tokenizer(JSON.parse(loadModel(file).metadata.get("ptq-onnx.tokenizer")!));
      const rows = loadDataset(entry.dataset).splits.test.slice(0, n);
      expect(rows).toHaveLength(n);
      // Another batch size than finalize.ts used, so padding must not change the scores.
      const r = await predictScores(file, rows.map((ex) => tokenizer.encode(ex.text)), { batch: 5, intraOpThreads: 1 });
      const right = r.predictions.filter((p, i) => p === rows[i].label).length;
      // One row may flip on a near-tie between two classes' scores, no more.
      expect(Math.abs(right - accuracy * n)).toBeLessThanOrEqual(1);
    });
  });
});
