/**
 * The zoo manifest's test accuracies (written by scripts/zoo/finalize.ts with ptq-onnx's own
 * eval) checked against PyTorch: scripts/zoo/torch_accuracy.py loads each discriminative
 * model's weights into torch.nn modules and classifies the exported test split without
 * onnxruntime or ptq-onnx's metrics. Tolerance: torch and onnxruntime sum in different orders,
 * which can flip a row whose two best scores tie to the last bits; at most 2 rows of the split
 * may differ (measured: none). The generative models are left out: scoring every class
 * (vocabulary 10k, 8 classes) in torch would take many minutes on 2 cores.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { exportDataset } from "../../src/data/export.ts";
import { DEBIAN_PYTHON, ROOT, pythonHas, tempDir } from "../helpers.ts";

const manifestPath = join(ROOT, "models", "manifest.json");
interface Entry {
  name: string;
  file: string;
  kind: string;
  dataset: string;
  splits: { test: number };
  test: { accuracy: number; macro_f1: number; confusion: number[][] };
}
const manifest: { models: Entry[] } | null = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, "utf8")) : null;
const disc = (manifest?.models ?? []).filter((m) => m.kind === "discriminative");

describe.skipIf(!manifest || !pythonHas("torch") || !pythonHas("onnx"))("zoo manifest accuracies against PyTorch", () => {
  for (const m of disc) {
    it(`${m.name}: accuracy ${m.test.accuracy}`, () => {
      const dir = tempDir();
      exportDataset(m.dataset, dir);
      const r = spawnSync(DEBIAN_PYTHON, [join(ROOT, "scripts", "zoo", "torch_accuracy.py"), join(dirname(manifestPath), m.file), join(dir, "test.jsonl")], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      const torch = JSON.parse(r.stdout);
      const n = m.splits.test;
      expect(torch.n).toBe(n);
      expect(Math.abs(torch.accuracy - m.test.accuracy)).toBeLessThanOrEqual(2 / n + 1e-12);
      // Each changed prediction moves two confusion cells by one.
      const moved = torch.confusion.flat().reduce((s: number, v: number, i: number) => s + Math.abs(v - m.test.confusion.flat()[i]), 0);
      expect(moved).toBeLessThanOrEqual(4);
      expect(Math.abs(torch.macro_f1 - m.test.macro_f1)).toBeLessThan(0.005);
    }, 900_000);
  }
});
