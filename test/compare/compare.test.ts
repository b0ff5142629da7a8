import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { rangesFor, readCalibrationTable } from "../../src/calibrate/table.ts";
import { InputError, loadModel, saveModel } from "../../src/graph/index.ts";
import { activationFormat, makePolicy } from "../../src/passes/index.ts";
import { paramsFromRange } from "../../src/quant/math.ts";
import { compareModels, histogramDistance, type CompareReport } from "../../src/compare/compare.ts";
import { dequantize, readQdq } from "../../src/quant/qdq.ts";
import { subsampleIndices, summarize } from "../../src/stats/describe.ts";
import { fixtureModel, runCli, tempDir } from "../helpers.ts";

/** A labelled pool for the 3-class disc-tiny fixture (vocabulary 50): 20 rows per class, seeded. */
function writePool(dir: string): string {
  let s = 11;
  const rand = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const lines: string[] = [];
  for (let label = 0; label < 3; label++) {
    for (let i = 0; i < 20; i++) {
      const len = 1 + Math.floor(rand() * 9);
      // Class-dependent token ranges, so that the classes' activations differ.
      lines.push(JSON.stringify({ ids: Array.from({ length: len }, () => 2 + label * 12 + Math.floor(rand() * 16)), label }));
    }
  }
  const path = join(dir, "pool.jsonl");
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

const dir = tempDir("ptq-onnx-compare-");
const float = join(dir, "float.onnx");
const A = join(dir, "a.onnx"); // 4 bits, balanced calibration
const B = join(dir, "b.onnx"); // 4 bits, class 0 only
const C = join(dir, "c.onnx"); // 3 bits, balanced
let pool: string;
let ab: CompareReport;

beforeAll(async () => {
  copyFileSync(fixtureModel("disc-tiny"), float);
  pool = writePool(dir);
  const common = { model: float, data: pool, calibSize: 24, seed: 1 };
  await quantizeModel({ ...common, bits: 4, calib: "balanced", out: A });
  await quantizeModel({ ...common, bits: 4, calib: "classes:0", out: B });
  await quantizeModel({ ...common, bits: 3, calib: "balanced", out: C });
  ab = await compareModels({ a: A, b: B, float, data: pool, resamples: 500 });
});

describe("compareModels: balanced against class-0 calibration at 4 bits", () => {
  it("finds every quantized weight, and the weights do not depend on the calibration", () => {
    const names = ab.weights.layers.map((l) => l.name);
    // emb/head are the PyTorch modules' names; the LSTM's W and R get names the exporter makes up, read from the model.
    const lstm = loadModel(float).graph.nodes.find((n) => n.opType === "LSTM")!;
    expect(names).toEqual(["emb.weight", "head.weight", lstm.inputs[1]!.name, lstm.inputs[2]!.name].sort());
    expect(ab.weights.error_tests).toBe("ran on 4 of 4 layers");
    for (const l of ab.weights.layers) {
      expect(l.changed_fraction, l.name).toBe(0);
      expect(l.scales_equal && l.zero_points_equal).toBe(true);
      expect(l.error_a).toEqual(l.error_b);
      const { error_mann_whitney: mw, error_ks: ks, scales_wilcoxon: sw } = l.tests;
      expect(mw.p_value).toBe(1);
      expect(ks.skipped === undefined && ks.statistic).toBe(0);
      expect(ks.p_holm).toBe(1);
      expect(sw.skipped).toMatch(/every per-channel scale is equal/);
    }
  });

  it("quantization errors are the round-to-nearest errors: |e| <= scale/2 per channel", () => {
    const q = readQdq(loadModel(A)).weights;
    const f = loadModel(float);
    for (const w of q.values()) {
      const deq = dequantize(w);
      const fl = f.graph.lookup(w.name)!.initializer!.toNumbers();
      let stride = 1;
      for (let d = (w.axis ?? 0) + 1; d < w.dims.length; d++) stride *= w.dims[d];
      for (let i = 0; i < deq.length; i++) {
        const s = w.axis === null ? w.scales[0] : w.scales[Math.floor(i / stride) % w.dims[w.axis]];
        expect(Math.abs(deq[i] - fl[i])).toBeLessThanOrEqual(s / 2 + 1e-6);
      }
      const layer = ab.weights.layers.find((l) => l.name === w.name)!;
      expect(layer.error_a!.rms).toBeCloseTo(summarize(deq.map((x, i) => x - fl[i])).rms, 12);
    }
  });

  it("reads each activation's range back from the Q/DQ pair, as the calibration table gives it", () => {
    // The activations quantized: the LSTM's input X and the head Gemm's input A (names made by the exporter).
    const nodes = loadModel(float).graph.nodes;
    const input = (op: string): string => nodes.find((n) => n.opType === op)!.inputs[0]!.name;
    expect(ab.activations.tensors.map((t) => t.name)).toEqual([input("LSTM"), input("Gemm")].sort());
    const policy = makePolicy({ bits: 4 });
    for (const [file, which] of [[A, "a"], [B, "b"]] as const) {
      const ranges = rangesFor(readCalibrationTable(file.replace(/\.onnx$/, ".calib.json")), activationFormat(policy, 4), false);
      for (const t of ab.activations.tensors) {
        const [lo, hi] = ranges.get(t.name)!;
        const p = paramsFromRange(lo, hi, activationFormat(policy, 4), false);
        expect(t[which].scale).toBe(p.scale);
        expect(t[which].zero_point).toBe(p.zeroPoint);
        expect(t[which].bits).toBe(4);
        expect(t[which].range[0]).toBeCloseTo(-p.zeroPoint * p.scale, 12);
        expect(t[which].range[1]).toBeCloseTo((15 - p.zeroPoint) * p.scale, 12);
      }
    }
    const act = ab.activations;
    expect(act.wider_in_b + act.narrower_in_b).toBeLessThanOrEqual(2);
    for (const t of act.tensors) expect(t.log2_scale_ratio).toBeCloseTo(Math.log2(t.b.scale / t.a.scale), 12);
  });

  it("profiles the calibration sets per tensor and per class", () => {
    const p = ab.profiles;
    expect(p.status).toMatch(/^from .*a\.calib\.json and .*b\.calib\.json$/);
    expect(p.composition_a).toEqual([8, 8, 8]);
    expect(p.composition_b).toEqual([20, 0, 0]);
    expect([p.mode_a, p.mode_b]).toEqual(["balanced", "classes:0"]);
    expect(p.tensors).toHaveLength(2);
    for (const t of p.tensors) {
      expect(t.distance!.ks_distance).toBeGreaterThan(0);
      expect(t.distance!.ks_distance).toBeLessThanOrEqual(1);
      expect(t.per_class.map((c) => [c.count_a > 0, c.count_b > 0])).toEqual([[true, true], [true, false], [true, false]]);
      expect(t.per_class[0].distance).not.toBeNull();
      expect(t.per_class[1].distance).toBeNull();
      // B saw class 0 only: its class-0 histogram is its pooled histogram.
      expect(t.per_class[0].from_pooled_b).toEqual({ ks_distance: 0, wasserstein: 0 });
      expect(t.per_class[0].histogram_b).toEqual(t.histogram_b);
    }
    expect(p.most_different[0].ks_distance).toBe(Math.max(...p.tensors.map((t) => t.distance!.ks_distance)));
  });

  it("compares the test predictions: McNemar and the seeded paired bootstrap", async () => {
    const pr = ab.predictions;
    if ("skipped" in pr) throw new Error(pr.skipped);
    expect(pr.n).toBe(60);
    expect(pr.mcnemar.n_a).toBe(60);
    expect(pr.bootstrap.accuracy.observed).toBeCloseTo(pr.accuracy_a - pr.accuracy_b, 12);
    expect(pr.bootstrap.accuracy.ci_low).toBeLessThanOrEqual(pr.bootstrap.accuracy.ci_high);
    const again = await compareModels({ a: A, b: B, float, data: pool, resamples: 500 });
    expect(again).toEqual(ab);
  });
});

describe("compareModels: 4 against 3 bits", () => {
  it("tests the errors and the paired per-channel scales, Holm-adjusted across layers", async () => {
    const r = await compareModels({ a: A, b: C, float, predictions: false, maxSample: 300 });
    expect(r.predictions).toEqual({ skipped: "not asked for (--no-predictions)" });
    for (const l of r.weights.layers) {
      expect(l.changed_fraction, l.name).toBeGreaterThan(0);
      expect(l.error_b!.rms).toBeGreaterThan(l.error_a!.rms);
      const { error_ks: ks, error_mann_whitney: mw, scales_wilcoxon: sw } = l.tests;
      if (ks.skipped !== undefined || mw.skipped !== undefined || sw.skipped !== undefined) throw new Error("a test was skipped");
      expect(ks.statistic).toBeGreaterThan(0);
      expect(ks.p_holm).toBeGreaterThanOrEqual(ks.p_value);
      // 3-bit scales are 7/3 times the 4-bit ones: every channel's B - A is positive.
      expect(sw.effect_size).toBe(1);
      expect(sw.p_holm).toBeGreaterThanOrEqual(sw.p_value);
      expect(l.effect).toBe(ks.statistic);
      if (l.elements > 300) {
        expect(ks.n_a).toBe(300);
        expect(ks.method).toMatch(/subsample of 300 of \d+ elements/);
      }
    }
    const effects = r.weights.most_different.map((m) => m.effect);
    expect(effects).toEqual([...effects].sort((x, y) => y - x));
  });

  it("without the float model the error tests are skipped, the scales still tested", async () => {
    const r = await compareModels({ a: A, b: C, predictions: false });
    expect(r.weights.error_tests).toMatch(/^skipped: the quantization error needs the float model/);
    for (const l of r.weights.layers) {
      expect(l.error_a).toBeNull();
      expect(l.tests.error_ks.skipped).toBe("needs the float model (--float)");
      expect(l.tests.scales_wilcoxon.skipped).toBeUndefined();
    }
  });
});

describe("models that are not two quantizations of the same float model", () => {
  it("refuses a model quantized from another float model, and a --float that is not theirs", async () => {
    const other = loadModel(B);
    const meta = JSON.parse(other.metadata.get("ptq-onnx.quantization")!);
    other.setMetadata("ptq-onnx.quantization", JSON.stringify({ ...meta, float_sha256: "0".repeat(64) }));
    const D = join(dir, "other.onnx");
    saveModel(other, D);
    await expect(compareModels({ a: A, b: D, predictions: false })).rejects.toThrow(InputError);
    await expect(compareModels({ a: A, b: D, predictions: false })).rejects.toThrow(/are models that are not two quantizations of the same float model/);
    await expect(compareModels({ a: float, b: A, predictions: false })).rejects.toThrow(/float\.onnx: has no ptq-onnx\.quantization metadata/);
  });

  it("the CLI: one line, exit 2", () => {
    const r = runCli(["stats", "compare", A, B, "--float", fixtureModel("bilstm-tiny"), "--no-predictions"]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/not two quantizations of the same float model .*bilstm-tiny\.onnx/);
  });
});

describe("ptq-onnx stats compare", () => {
  it("--json prints the whole comparison", () => {
    const r = runCli(["stats", "compare", A, B, "--float", float, "--data", pool, "--resamples", "500", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(["a", "b", "float", "float_sha256", "weights", "activations", "profiles", "predictions", "notes"]);
    // The same as the library (NaN and undefined aside, which JSON drops).
    expect(out).toEqual(JSON.parse(JSON.stringify(ab)));
  });
});

describe("descriptive helpers", () => {
  it("histogramDistance: 0 for equal histograms, exact for point masses and shifted uniforms", () => {
    const h = (min: number, max: number, width: number, counts: number[]) => ({ bins: 8, width, offset: width ? Math.floor(min / width) : 0, min, max, counts });
    // Uniform on [0, 3.5]: the last bin is clipped to [3, 3.5] and holds half as much.
    const u = h(0, 3.5, 1, [2, 2, 2, 1]);
    expect(histogramDistance(u, u)).toEqual({ ks_distance: 0, wasserstein: 0 });
    expect(histogramDistance(h(0, 0, 0, [5]), h(1, 1, 0, [2]))).toEqual({ ks_distance: 1, wasserstein: 1 });
    // Against uniform on [1, 4.5]: sup |F_a - F_b| = 1/3.5, W1 = 1 (the shift).
    const d = histogramDistance(u, h(1, 4.5, 1, [2, 2, 2, 1]))!;
    expect(d.ks_distance).toBeCloseTo(1 / 3.5, 12);
    expect(d.wasserstein).toBeCloseTo(1, 12);
    expect(histogramDistance(u, { bins: 8, width: 0, offset: 0, min: null, max: null, counts: [] } as never)).toBeNull();
  });

  it("subsampleIndices: k distinct sorted indices, the same for the same seed", () => {
    const a = subsampleIndices(1000, 50, 7);
    expect(a).toHaveLength(50);
    expect(new Set(a).size).toBe(50);
    expect([...a]).toEqual([...a].sort((x, y) => x - y));
    expect(a).toEqual(subsampleIndices(1000, 50, 7));
    expect(a).not.toEqual(subsampleIndices(1000, 50, 8));
    expect([...subsampleIndices(5, 10, 1)]).toEqual([0, 1, 2, 3, 4]);
  });
});
