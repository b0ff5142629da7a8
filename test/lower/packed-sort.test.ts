import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { loadLabelledData } from "../../src/data/resolve.ts";
import { predictScores } from "../../src/eval/predict.ts";
import { loadModel, serializeModel, validateModel, type Model } from "../../src/graph/index.ts";
import { lowerModel } from "../../src/lower/index.ts";
import { packedSortRule } from "../../src/lower/packed-sort.ts";
import { cleanupPass } from "../../src/passes/pass.ts";
import { rulePass, type RuleOutcome } from "../../src/passes/rewrite.ts";
import { ROOT, fixtureModel, maxScoreDiff, runCli, tempDir, writeIdPool } from "../helpers.ts";

// PyTorch pack_padded_sequence exports: wordnet8-bilstm (two bidirectional layers, the zero
// states sorted with the rows) and packed-tiny (one forward layer, the final state unsorted).
const BILSTM = join(ROOT, "models", "wordnet8-bilstm.onnx");
const CASES = [
  { name: "wordnet8-bilstm", file: BILSTM, lstms: 2, classes: 8 },
  { name: "packed-tiny", file: fixtureModel("packed-tiny"), lstms: 1, classes: 3 },
];
const dir = tempDir("ptq-onnx-packed-");
const SORT_OPS = ["TopK", "ScatterElements", "Range", "ReduceProd"];

/** A seeded labelled pool of 1..12 token ids (lengths in every order, ties included). */
function pool(name: string, model: Model, classes: number, n = 64): string {
  return writeIdPool(join(dir, `${name}.pool.jsonl`), model, { classes, n, seed: 5 });
}

function fold(model: Model): RuleOutcome[] {
  const log: RuleOutcome[] = [];
  rulePass(packedSortRule(), log).run(model);
  cleanupPass.run(model);
  return log;
}

describe("a packed-sequence export's row sort and unsort removed (packedSortRule)", () => {
  for (const c of CASES) {
    const data = pool(c.name, loadModel(c.file), c.classes);
    const rows = loadLabelledData(loadModel(c.file), { data, split: "test" }).ids;

    it(`${c.name}, float: applies, the sort ops go, scores identical to the last bit at batch 1 and 16`, async () => {
      const model = loadModel(c.file);
      expect(fold(model)).toEqual([expect.objectContaining({ applied: true })]);
      expect(validateModel(model)).toEqual([]);
      const ops = model.allNodes().map((n) => n.opType);
      for (const gone of SORT_OPS) expect(ops).not.toContain(gone);
      const lstm = model.allNodes().filter((n) => n.opType === "LSTM");
      expect(lstm.length).toBe(c.lstms);
      for (const l of lstm) expect(l.inputs[4]?.producer?.opType).toBe("Cast");
      for (const batch of [1, 16]) {
        const before = await predictScores(c.file, rows, { batch, intraOpThreads: 1 });
        const after = await predictScores(serializeModel(model), rows, { batch, intraOpThreads: 1 });
        expect(maxScoreDiff(before, after), `batch ${batch}`).toBe(0);
      }
    });

    for (const bits of [8, 4]) {
      it(`${c.name}, ${bits}-bit: Q/DQ model folded is identical; lowered with and without it identical at batch 1 and 16`, async () => {
        const file = join(dir, `${c.name}.q${bits}.onnx`);
        await quantizeModel({ model: c.file, out: file, bits, calib: "balanced", data, calibSize: 32, saveCalibTable: false });
        const qdq = loadModel(file);
        expect(fold(qdq)).toEqual([expect.objectContaining({ applied: true })]);
        const folded = loadModel(file);
        const report = lowerModel(folded);
        expect(report.rewrites.filter((f) => f.rule === "packed-sequence-sort-removed").map((f) => f.applied)).toEqual([true]);
        const plain = loadModel(file);
        lowerModel(plain, { foldPackedSort: false });
        const ops = folded.allNodes().map((n) => n.opType);
        for (const gone of SORT_OPS) expect(ops).not.toContain(gone);
        expect(plain.allNodes().map((n) => n.opType)).toContain("TopK");
        // The zero states (sliced out of one ConstantOfShape, or one ConstantOfShape) are the
        // kernel's default: the chain goes, and with it the last reader of the embedding's
        // shape, so the lookup gathers time-major ids.
        expect(ops).not.toContain("ConstantOfShape");
        expect(folded.allNodes().filter((n) => n.opType === "DynamicQuantizeLSTM").every((n) => !n.inputs[5] && !n.inputs[6])).toBe(true);
        expect(folded.graph.inputs.find((v) => v.name === "input_ids")!.consumers.map((n) => n.opType)).toEqual(["Transpose"]);
        for (const batch of [1, 16]) {
          const q0 = await predictScores(file, rows, { batch, intraOpThreads: 1 });
          const q1 = await predictScores(serializeModel(qdq), rows, { batch, intraOpThreads: 1 });
          expect(maxScoreDiff(q0, q1), `Q/DQ batch ${batch}`).toBe(0);
          // The kernel's dynamic ranges are a min/max over the running rows, whatever their order.
          const a = await predictScores(serializeModel(plain), rows, { batch, intraOpThreads: 1 });
          const b = await predictScores(serializeModel(folded), rows, { batch, intraOpThreads: 1 });
          expect(maxScoreDiff(a, b), `lowered batch ${batch}`).toBe(0);
        }
        if (c.name === "packed-tiny" && bits === 8) {
          // The summary names what this rule did, not another fold's text.
          const r = runCli(["lower", file, "-o", join(dir, "packed-tiny.q8.ort.onnx")]);
          expect(r.status, r.stderr).toBe(0);
          expect(r.stdout).toMatch(/^rewrote \/TopK.*: the packed sequence's sort and unsort of the rows dropped/m);
          expect(r.stdout).not.toContain("last step read from");
        }
      }, 180_000);
    }
  }

  it("says why it does not apply", () => {
    // A reader of the sorted rows that is not known to keep rows independent.
    const m = loadModel(BILSTM);
    const lstm = m.allNodes().find((n) => n.opType === "LSTM")!;
    lstm.setAttribute("layout", 1);
    expect(fold(m)).toEqual([expect.objectContaining({ applied: false, reason: expect.stringContaining("batch-first (layout=1)") })]);
    expect(m.allNodes().some((n) => n.opType === "TopK")).toBe(true);
    // An LSTM reading the sorted lengths but rows in their own order.
    const m2 = loadModel(BILSTM);
    const gather = m2.allNodes().find((n) => n.opType === "Gather" && n.inputs[0]?.producer?.opType === "Gather" && n.getInt("axis", 0) === 0 && n.inputs[1]?.producer?.opType === "Cast")!;
    gather.outputs[0]!.replaceAllUsesWith(gather.inputs[0]!);
    cleanupPass.run(m2);
    expect(fold(m2)[0]).toMatchObject({ applied: false });
    // Non-packed exports have no TopK: nothing to try.
    expect(fold(loadModel(fixtureModel("bilstm-tiny")))).toEqual([]);
  });
});
