/**
 * src/eval (metrics, predictScores) on tiny fixtures made with the zoo's own scripts:
 *   /usr/bin/python3 scripts/zoo/synthetic.py /tmp/zoo-syn
 *   /usr/bin/python3 scripts/zoo/train.py --data /tmp/zoo-syn --kind disc|gen --out /tmp/zoo-fix/tiny-KIND.onnx \
 *     --epochs 2 --emb 16 --hidden 24 --label-emb 8 --seed 3
 * tiny-KIND.onnx is the export, tiny-KIND.check.json the PyTorch scores of a few rows (train.py's
 * MODEL.check.json) and tiny-test.jsonl the synthetic test split.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { accuracy, argmax, classificationReport, confusionMatrix, macroF1 } from "../../src/eval/metrics.ts";
import { openSession, predictScores } from "../../src/eval/predict.ts";

const fixtures = join(import.meta.dirname, "fixtures");

describe("metrics", () => {
  const labels = [0, 0, 1, 1, 2, 2];
  const preds = [0, 1, 1, 1, 0, 2];

  it("computes accuracy, confusion, per-class scores and macro-F1", () => {
    expect(accuracy(labels, preds)).toBeCloseTo(4 / 6, 12);
    expect(confusionMatrix(labels, preds)).toEqual([
      [1, 1, 0],
      [0, 2, 0],
      [1, 0, 1],
    ]);
    const r = classificationReport(labels, preds);
    expect(r.n).toBe(6);
    expect(r.per_class.map((c) => c.precision)).toEqual([0.5, 2 / 3, 1]);
    expect(r.per_class.map((c) => c.recall)).toEqual([0.5, 1, 0.5]);
    expect(r.per_class.map((c) => c.support)).toEqual([2, 2, 2]);
    expect(r.per_class[1].f1).toBeCloseTo(0.8, 12);
    expect(r.macro_f1).toBeCloseTo((0.5 + 0.8 + 2 / 3) / 3, 12);
    expect(macroF1(labels, preds)).toBeCloseTo(r.macro_f1, 12);
  });

  it("gives 0 (not NaN) for classes never predicted or never present", () => {
    const r = classificationReport([0, 0], [0, 0], 3);
    expect(r.per_class[1]).toEqual({ label: 1, precision: 0, recall: 0, f1: 0, support: 0 });
    expect(r.macro_f1).toBeCloseTo(1 / 3, 12);
    expect(r.confusion).toEqual([
      [2, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
  });

  it("rejects mismatched lengths and out-of-range classes", () => {
    expect(() => accuracy([0], [0, 1])).toThrow(/differ in length/);
    expect(() => confusionMatrix([0, 3], [0, 0], 3)).toThrow(/not a class/);
  });

  it("argmax takes the first maximum and skips NaN", () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(argmax([NaN, -5, -1])).toBe(2);
    expect(argmax([])).toBe(-1);
  });
});

function readRows(path: string): { ids: number[][]; labels: number[] } {
  const rows = readFileSync(path, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  return { ids: rows.map((r) => r.ids), labels: rows.map((r) => r.label) };
}

describe.each(["disc", "gen"])("predictScores on a tiny %s model", (kind) => {
  const model = join(fixtures, `tiny-${kind}.onnx`);

  it("matches the PyTorch scores the model was exported from", async () => {
    const check = JSON.parse(readFileSync(join(fixtures, `tiny-${kind}.check.json`), "utf8"));
    const r = await predictScores(model, check.rows, { batch: 3, intraOpThreads: 1 });
    expect(r.classes).toBe(check.scores[0].length);
    r.scores.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - check.scores[i][j])).toBeLessThan(1e-4)));
  });

  it("gives the same scores and predictions for any batch size, in the input order", async () => {
    const { ids } = readRows(join(fixtures, "tiny-test.jsonl"));
    const session = await openSession(model, { intraOpThreads: 1 });
    try {
      const one = await predictScores(session, ids, { batch: 1 });
      expect(one.scores).toHaveLength(ids.length);
      for (const batch of [7, 64]) {
        const r = await predictScores(session, ids, { batch });
        expect(r.predictions).toEqual(one.predictions);
        r.scores.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - one.scores[i][j])).toBeLessThan(1e-4)));
      }
      // The order is the input's: scoring one row alone gives that row's scores.
      const k = ids.findIndex((r) => r.length === Math.max(...ids.map((x) => x.length)));
      const alone = await predictScores(session, [ids[k]], { batch: 1 });
      alone.scores[0].forEach((v, j) => expect(Math.abs(v - one.scores[k][j])).toBeLessThan(1e-4));
      expect(one.predictions[k]).toBe(argmax(one.scores[k]));
    } finally {
      await session.release();
    }
  });

  it("rejects an empty row and an unknown output name", async () => {
    await expect(predictScores(model, [[3], []])).rejects.toThrow(/row 1 has no tokens/);
    await expect(predictScores(model, [[3]], { outputName: "nope" })).rejects.toThrow(/no output named nope/);
  });
});
