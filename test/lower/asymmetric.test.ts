// Lowering asymmetric weights (--no-weight-symmetric, --recipe best) and blocked scales
// (--group-size): every stored weight dequantizes bit-for-bit to the Q/DQ model's, scores stay
// close, and only what no kernel takes is left Q/DQ, with the reason.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadLabelledData } from "../../src/data/resolve.ts";
import { predictScores } from "../../src/eval/predict.ts";
import { inspectModel, loadModel, serializeModel, validateModel, type Model } from "../../src/graph/index.ts";
import { lowerModel, type LowerOptions, type LowerReport } from "../../src/lower/index.ts";
import { RECIPE_PRESETS } from "../../src/pipeline/presets.ts";
import { quantizeModel, type QuantizeOptions } from "../../src/pipeline/quantize-file.ts";
import { readQdq } from "../../src/quant/qdq.ts";
import { ROOT, fixtureModel, tempDir, writeIdPool } from "../helpers.ts";
import { compare, expectWeightsAsQdq, withoutDroppedPairs } from "./kernel-codes.ts";

const dir = tempDir("ptq-onnx-lower-asym-");

/** Quantizes a fixture on a seeded pool of its own ids; returns the Q/DQ file, the pool and its test rows. */
async function quantized(name: string, classes: number, tag: string, opts: Partial<QuantizeOptions> & { bits: number }): Promise<{ file: string; rows: number[][] }> {
  // tiny-gen: the zoo's tiny generative fixture with its own labelled rows.
  const model = name === "tiny-gen" ? join(ROOT, "test", "zoo", "fixtures", "tiny-gen.onnx") : fixtureModel(name);
  const data = name === "tiny-gen" ? join(ROOT, "test", "zoo", "fixtures", "tiny-test.jsonl") : writeIdPool(join(dir, `${name}.pool.jsonl`), loadModel(model), { classes, n: 90, seed: 7 });
  const file = join(dir, `${name}.${tag}.onnx`);
  await quantizeModel({ model, out: file, calib: "balanced", data, calibSize: 60, saveCalibTable: false, ...opts });
  return { file, rows: loadLabelledData(loadModel(file), { data, split: "test" }).ids };
}

/**
 * Lowers `file` with `options` and checks what the lowering tests check: a valid model, every
 * kernel's weights decoded from its own layout equal to the Q/DQ model's dequantized weights,
 * scores close to the Q/DQ model less the activation pairs the kernels replace (their dynamic
 * 8-bit quantization is the one difference), and top-1 agreement with the Q/DQ model itself.
 */
async function lowerAndCheck(file: string, rows: number[][], options: LowerOptions): Promise<{ report: LowerReport; ops: string[]; model: Model }> {
  const model = loadModel(file);
  const weights = readQdq(model).weights;
  const report = lowerModel(model, options);
  expect(validateModel(model)).toEqual([]);
  for (const k of model.allNodes()) {
    const lowered = report.lowered.find((l) => l.node === k.name);
    if (lowered) expectWeightsAsQdq(k, lowered, weights);
  }
  const reference = withoutDroppedPairs(loadModel(file), report.dropped_activations);
  const lowered = await predictScores(serializeModel(model), rows, { batch: 16, intraOpThreads: 1 });
  const vsReference = compare(await predictScores(serializeModel(reference), rows, { batch: 16, intraOpThreads: 1 }), lowered);
  const vsQdq = compare(await predictScores(file, rows, { batch: 16, intraOpThreads: 1 }), lowered);
  expect(vsReference.agreement, "top-1 vs the Q/DQ model less the dropped pairs").toBeGreaterThanOrEqual(0.95);
  expect(vsReference.maxRel, "score error vs the Q/DQ model less the dropped pairs").toBeLessThan(0.06);
  // As the symmetric tests at 4 bits: barely trained fixtures with close scores, where n-bit activations move the top-1.
  expect(vsQdq.agreement, "top-1 vs the Q/DQ model").toBeGreaterThanOrEqual(0.8);
  return { report, ops: model.allNodes().map((n) => n.opType), model };
}

describe("asymmetric weights lowered as q - z (int8) or with zero points (MatMulNBits)", () => {
  for (const bits of [2, 3, 4]) {
    // 2-bit weights with 8-bit activations (W2A8, the low-bit target's setting); W3A3 and W4A4.
    const abits = bits === 2 ? 8 : bits;
    it(`W${bits}A${abits}: --recipe best on disc-tiny and tiny-gen, --no-weight-symmetric on bilstm-tiny; nothing left Q/DQ`, async () => {
      const cases = [
        { generative: false, ...(await quantized("disc-tiny", 3, `best${bits}`, { bits, abits, ...RECIPE_PRESETS.best.settings, recipe: "best" })) },
        { generative: false, ...(await quantized("bilstm-tiny", 4, `asym${bits}`, { bits, abits, weightSymmetric: false })) },
        { generative: true, ...(await quantized("tiny-gen", 3, `best${bits}`, { bits, abits, ...RECIPE_PRESETS.best.settings, recipe: "best" })) },
      ];
      for (const { file, rows, generative } of cases) {
        const asymmetric = readQdq(loadModel(file)).weights;
        // The setting really is asymmetric: some zero point of every weight is not 0.
        for (const w of asymmetric) expect(w.zeroPoints.some((z) => z !== 0), w.name).toBe(true);
        const variants: [string, LowerOptions][] = [
          ["integer", { matmul: "integer", floatWeights: 0 }],
          ["nbits", { matmul: "nbits", floatWeights: 0 }],
          ["default", {}],
          ...(bits === 4 ? ([["int8 rows", { asymmetricLookup: "int8" }]] as [string, LowerOptions][]) : []),
        ];
        for (const [variant, options] of variants) {
          const { report, ops, model } = await lowerAndCheck(file, rows, options);
          // Only the generative model's label embedding, read by Expand (no kernel, as with symmetric codes).
          expect(report.left, `${variant}: nothing left Q/DQ`).toEqual(generative ? [{ node: expect.any(String), op: "Expand", reason: "no integer kernel for Expand; its weight stays DequantizeLinear" }] : []);
          expect(ops).not.toContain("LSTM");
          const lstms = report.lowered.filter((l) => l.kernel === "DynamicQuantizeLSTM");
          expect(lstms.length).toBeGreaterThan(0);
          for (const l of lstms) for (const w of l.weights) expect(w.storage).toBe("int8 (q - z, zero point 0)");
          // inspect reads the grid's width back from the stored codes: q - z of n-bit codes needs
          // n + 1 bits as a signed number but spans at most 2^n values in a channel.
          for (const k of inspectModel(model).integer_kernels.filter((k) => k.op === "DynamicQuantizeLSTM")) for (const w of k.weights) expect(w.bits, `${variant} ${w.name}`).toBe(bits);
          const lookup = report.lowered.find((l) => l.op === "Gather")!;
          // q - z of 2- and 3-bit rows fits a nibble; 4-bit rows keep q in nibbles and subtract z (or int8 rows of q - z).
          const expected = bits < 4 ? "Gather (split 4-bit rows)" : variant === "int8 rows" ? "Gather (int8 rows)" : "Gather (split 4-bit rows, zero points)";
          expect(lookup.kernel, variant).toBe(expected);
          if (variant === "nbits") {
            const nbits = report.lowered.find((l) => l.kernel === "MatMulNBits")!;
            expect(nbits.weights[0].storage).toMatch(/zero points$/);
          }
          if (variant === "integer" || (generative && variant !== "nbits")) expect(report.lowered.some((l) => l.kernel === "DynamicQuantizeMatMul" || l.kernel === "MatMulIntegerToFloat")).toBe(true);
        }
      }
    });
  }

  it("8 bits: q - z leaves int8, so the LSTM stays Q/DQ with the reason; the head goes to MatMulNBits with zero points", async () => {
    const { file, rows } = await quantized("disc-tiny", 3, "asym8", { bits: 8, weightSymmetric: false });
    const { report } = await lowerAndCheck(file, rows, { floatWeights: 0 });
    const lstm = report.left.find((l) => l.op === "LSTM")!;
    expect(lstm.reason).toMatch(/has asymmetric 8-bit codes whose q - z spans \[-?\d+, \d+\], past int8: DynamicQuantizeLSTM takes int8 codes with zero point 0$/);
    const head = report.lowered.find((l) => l.op === "Gemm")!;
    expect(head.kernel).toBe("MatMulNBits");
    expect(head.weights[0].storage).toBe("uint8 packed, zero points");
  });
});

describe("blocked weight scales (--group-size) lowered to MatMulNBits", () => {
  for (const [bits, abits, symmetric] of [[4, 4, true], [4, 4, false], [2, 8, false]] as const) {
    it(`wide-tiny, --group-size 32, W${bits}A${abits}, ${symmetric ? "symmetric" : "asymmetric"}: the head to MatMulNBits blocks of 32, the LSTM left Q/DQ (one scale per gate row)`, async () => {
      const { file, rows } = await quantized("wide-tiny", 3, `g32-w${bits}${symmetric ? "" : "-asym"}`, { bits, abits, groupSize: 32, weightSymmetric: symmetric });
      const blocked = readQdq(loadModel(file)).weights.filter((w) => w.blockSize !== null);
      expect(blocked.length).toBe(3);
      const { report } = await lowerAndCheck(file, rows, { floatWeights: 0 });
      const head = report.lowered.find((l) => l.op === "Gemm")!;
      expect(head.kernel).toBe("MatMulNBits");
      expect(head.weights[0].storage).toBe(`uint${bits} packed, blocks of 32${symmetric ? "" : ", zero points"}`);
      expect(report.left).toEqual([{ node: expect.any(String), op: "LSTM", reason: expect.stringMatching(/has blocked scales \(block_size 32\): DynamicQuantizeLSTM takes one scale per gate row$/) }]);
      expect(report.lowered.map((l) => l.op).sort()).toEqual(["Gather", "Gemm"]);
      // With accuracy_level 0 (float activations) the only kernel left computes the Q/DQ
      // model's own product: scores equal to the Q/DQ model less the head's activation pair.
      const exact = loadModel(file);
      const exactReport = lowerModel(exact, { floatWeights: 0, accuracyLevel: 0 });
      const reference = withoutDroppedPairs(loadModel(file), exactReport.dropped_activations);
      const r = compare(await predictScores(serializeModel(reference), rows, { intraOpThreads: 1 }), await predictScores(serializeModel(exact), rows, { intraOpThreads: 1 }));
      expect(r.maxRel).toBeLessThan(1e-5);
      // The default keeps a head this small a float op over its dequantized (blocked) weights.
      const { report: byDefault } = await lowerAndCheck(file, rows, {});
      expect(byDefault.lowered.find((l) => l.op === "Gemm")!.kernel).toBe("Gemm (float, dequantized weights)");
    });
  }
});
