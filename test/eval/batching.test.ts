import { describe, expect, it } from "vitest";
import { runCalibration } from "../../src/calibrate/runner.ts";
import { rowsPerRun } from "../../src/data/tokenizer.ts";
import { predictScores } from "../../src/eval/predict.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadLabelledData } from "../../src/data/resolve.ts";
import { DataType, InputError, findRoles, loadModel, makeValueInfo, parseModel, serializeModel } from "../../src/graph/index.ts";
import { fixtureModel, tempDir } from "../helpers.ts";

/** The disc-tiny fixture with its token-ids input declared [batch, seq] with a fixed seq. */
function fixedSeqModel(seq: number): Uint8Array {
  const model = loadModel(fixtureModel("disc-tiny"));
  const ids = model.graph.inputs.find((v) => v.name === "input_ids")!;
  ids.info = makeValueInfo("input_ids", DataType.INT64, ["batch", seq]);
  return serializeModel(model);
}

/** Rows of 1 to 40 ids over the disc-tiny fixture's vocabulary (50), seeded. */
function rows(n: number): number[][] {
  let s = 99;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  return Array.from({ length: n }, () => Array.from({ length: 1 + Math.floor(next() * 40) }, () => 2 + Math.floor(next() * 45)));
}

describe("token budget per onnxruntime run", () => {
  it("rowsPerRun keeps rows x length within the budget, and at least one row", () => {
    expect(rowsPerRun(10, 256, 100)).toBe(10);
    expect(rowsPerRun(10, 4, 100)).toBe(4);
    expect(rowsPerRun(1000, 256, 100)).toBe(1);
  });

  it("predictScores splits long rows into smaller runs with the same scores", async () => {
    const ids = rows(60);
    const runs: number[][] = [];
    const whole = await predictScores(fixtureModel("disc-tiny"), ids, { batch: 64, intraOpThreads: 1 });
    const split = await predictScores(fixtureModel("disc-tiny"), ids, {
      batch: 64,
      maxTokens: 100,
      intraOpThreads: 1,
      onProgress: (done) => runs.push([done]),
    });
    // 60 rows of up to 40 ids in one run of 64 rows, or many runs of at most 100 positions.
    expect(runs.length).toBeGreaterThan(10);
    expect(split.predictions).toEqual(whole.predictions);
    for (let i = 0; i < ids.length; i++) {
      for (let c = 0; c < whole.classes; c++) expect(split.scores[i][c]).toBeCloseTo(whole.scores[i][c], 5);
    }
  });

  it("a fixed sequence length pads and cuts every row to it, a 100k-id row too", async () => {
    const bytes = fixedSeqModel(16);
    const ids = rows(20);
    ids[3] = Array.from({ length: 100_000 }, (_, i) => 2 + (i % 45));
    const cut = ids.map((r) => r.slice(0, 16));
    const a = await predictScores(bytes, ids, { intraOpThreads: 1 });
    const b = await predictScores(bytes, cut, { intraOpThreads: 1 });
    expect(a.scores).toEqual(b.scores);
  });

  it("a row of ids past the unbounded limit loads only when the model's seq is fixed", () => {
    const data = join(tempDir(), "long.jsonl");
    writeFileSync(data, `{"ids": [3, 4], "label": 0}\n${JSON.stringify({ ids: Array.from({ length: 100_000 }, () => 5), label: 1 })}\n`);
    const fixed = loadLabelledData(parseModel(fixedSeqModel(16), "fixed.onnx"), { data, split: "test" });
    expect(fixed.ids.map((r) => r.length)).toEqual([2, 100_000]);
    expect(fixed.lines).toEqual([1, 2]);
    const open = loadModel(fixtureModel("disc-tiny"));
    expect(() => loadLabelledData(open, { data, split: "test" })).toThrow(InputError);
    expect(() => loadLabelledData(open, { data, split: "test" })).toThrow(new RegExp(`^${data}: line 2: 100000 ids, more than the 65536`));
  });

  it("the calibration runner feeds every row, no run over the budget", async () => {
    const model = loadModel(fixtureModel("disc-tiny"));
    const ids = Array.from({ length: 16 }, (_, i) => Array.from({ length: 30 }, (_, t) => 2 + ((i + t) % 40)));
    const labels = ids.map(() => 0);
    const seen: number[][] = [];
    await runCalibration(
      model,
      ["/emb/Gather_output_0"],
      { ids, labels },
      ids.map((_, i) => i),
      { tensor: (_name, _values, _label, dims) => void seen.push([...dims]), endBatch: () => {} },
      { batch: 16, maxTokens: 100, threads: 1 },
      findRoles(model),
    );
    // One group (same label and length) of 16 rows of 30 ids: runs of 3 rows (90 positions).
    expect(seen.map((d) => d[0])).toEqual([3, 3, 3, 3, 3, 1]);
    for (const d of seen) expect(d[0] * d[1]).toBeLessThanOrEqual(100);
  });
});
