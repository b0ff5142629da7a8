import { copyFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { InputError, loadModel } from "../../src/graph/index.ts";
import { lowerModel } from "../../src/lower/index.ts";
import { PassManager, cleanupPass, emptyReport, makePolicy, quantizeWeightsPass, upgradeOpsetPass } from "../../src/passes/index.ts";
import { ROOT, fixtureModel, runCli, tempDir } from "../helpers.ts";

const DATA = join(ROOT, "test", "zoo", "fixtures", "tiny-test.jsonl");
const dir = tempDir("ptq-onnx-lower-cli-");
const float = join(dir, "tiny-gen.onnx");
const q4 = join(dir, "tiny-gen.q4.onnx");

beforeAll(async () => {
  copyFileSync(join(ROOT, "test", "zoo", "fixtures", "tiny-gen.onnx"), float);
  await quantizeModel({ model: float, out: q4, bits: 4, calib: "balanced", data: DATA, calibSize: 30, saveCalibTable: false });
});

/** Only the files a command was meant to write: no temporaries, no partial outputs. */
const files = (): string[] => readdirSync(dir).sort();

describe("ptq-onnx lower", () => {
  it("writes the lowered model and reports each kernel, the weights' bits and what stays Q/DQ", () => {
    const out = join(dir, "gen.ort.onnx");
    const r = runCli(["lower", q4, "-o", out, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.output).toBe(out);
    expect(j.lowered.map((l: { kernel: string }) => l.kernel).sort()).toEqual(["DynamicQuantizeLSTM", "Gather (split 4-bit rows)", "MatMulIntegerToFloat"]);
    for (const l of j.lowered) for (const w of l.weights) expect(w.bits).toBe(4);
    // The generative model's label embedding is read by Expand, which has no integer kernel.
    expect(j.left).toHaveLength(1);
    expect(j.left[0].op).toBe("Expand");
    expect(j.left[0].reason).toMatch(/no integer kernel for Expand/);
    // Smaller weights; the scorer's row-chunk Loop adds a fixed 4 KB or so of nodes and names (this model is 32 KB).
    expect(j.bytes.output).toBeLessThan(j.bytes.input + 5000);
    const inspect = JSON.parse(runCli(["inspect", out, "--json"]).stdout);
    expect(inspect.opsets["com.microsoft"]).toBe(1);
    // The projection runs in row chunks: DynamicQuantizeLinear over all rows, MatMulIntegerToFloat per chunk.
    // The 4-bit embedding is standard ops over packed nibbles, not a contrib kernel.
    expect(inspect.integer_kernels.map((k: { op: string }) => k.op).sort()).toEqual(["DynamicQuantizeLSTM", "MatMulIntegerToFloat"]);
    for (const k of inspect.integer_kernels) for (const w of k.weights) expect(w.bits).toBe(4);
    expect(inspect.lstm[0].quantized_weights).toBe(true);
    // Lowering the lowered model again is refused.
    const again = runCli(["lower", out, "-o", join(dir, "twice.onnx")]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/already lowered/);
  });

  it("bad input: one line naming the file, exit 2, and no output file", () => {
    const before = files();
    const cases: [string, RegExp][] = [
      [float, /a float model \(no ptq-onnx.quantization metadata\)/],
      [join(dir, "missing.onnx"), /no such file/],
    ];
    for (const [model, message] of cases) {
      const r = runCli(["lower", model, "-o", join(dir, "out.onnx")]);
      expect(r.status, model).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(model);
      expect(r.stderr).toMatch(message);
    }
    expect(files()).toEqual(before);
  });

  it("--chunk-rows and --float-weights reach the lowering (lower and quantize --format ort); without --format ort they are refused", () => {
    const ops = (file: string) => Object.keys(JSON.parse(runCli(["inspect", file, "--json"]).stdout).ops);
    const whole = join(dir, "gen.whole.ort.onnx");
    const r = runCli(["lower", q4, "-o", whole, "--chunk-rows", "0", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    expect(ops(whole)).not.toContain("Loop");
    expect(ops(join(dir, "gen.ort.onnx"))).toContain("Loop");

    const sub = tempDir("ptq-onnx-lower-options-");
    const model = join(sub, "d.onnx");
    copyFileSync(join(ROOT, "test", "zoo", "fixtures", "tiny-disc.onnx"), model);
    const args = ["quantize", model, "--bits", "8", "--calib", "balanced", "--data", DATA, "--calib-size", "20", "--no-eval", "--json"];
    const int8 = runCli([...args, "--format", "ort", "--float-weights", "0"]);
    expect(int8.status, int8.stderr).toBe(0);
    expect(JSON.parse(int8.stdout).lowered.lowered.map((l: { kernel: string }) => l.kernel)).toContain("MatMulIntegerToFloat");
    const refused = runCli([...args, "-o", join(sub, "q.onnx"), "--chunk-rows", "4"]);
    expect(refused.status).toBe(2);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toMatch(/need --format ort/);
    expect(readdirSync(sub).sort()).toEqual(["d.onnx", "d.q8a8.ort.calib.json", "d.q8a8.ort.onnx"]);
  });

  it("quantize --format ort writes only the lowered model and its calibration table", () => {
    const sub = tempDir("ptq-onnx-format-");
    const model = join(sub, "d.onnx");
    copyFileSync(join(ROOT, "test", "zoo", "fixtures", "tiny-disc.onnx"), model);
    const ok = runCli(["quantize", model, "--bits", "8", "--calib", "balanced", "--data", DATA, "--calib-size", "20", "--format", "ort", "--json"]);
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    const j = JSON.parse(ok.stdout);
    expect(j.format).toBe("ort");
    expect(j.lowered.lowered).toHaveLength(3);
    expect(j.output).toBe(join(sub, "d.q8a8.ort.onnx"));
    expect(readdirSync(sub).sort()).toEqual(["d.onnx", "d.q8a8.ort.calib.json", "d.q8a8.ort.onnx"]);
    const refused = runCli(["quantize", model, "--bits", "4", "--calib", "balanced", "--data", DATA, "--format", "ort", "--lstm-internals"]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/--format ort cannot take --lstm-internals/);
  });
});

describe("replacing lowered outputs (as quantize replaces Q/DQ ones)", () => {
  it("lower: the default output is replaced only when made with the same settings, or with --force", async () => {
    const sub = tempDir("ptq-onnx-lower-replace-");
    const a = join(sub, "m.q4a4.onnx");
    const b = join(sub, "other.onnx");
    await quantizeModel({ model: float, out: a, bits: 4, calib: "balanced", data: DATA, calibSize: 20, saveCalibTable: false });
    await quantizeModel({ model: float, out: b, bits: 4, calib: "natural", data: DATA, calibSize: 20, saveCalibTable: false });
    const first = runCli(["lower", a, "--json"]);
    expect(first.status).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ output: join(sub, "m.q4a4.ort.onnx"), replaced: false });
    // A rerun replaces its own output.
    const rerun = JSON.parse(runCli(["lower", a, "--json"]).stdout);
    expect(rerun).toMatchObject({ replaced: true, replaced_made_with: expect.objectContaining({ calib: "balanced" }) });
    // Another model's lowered form at that name: refused, naming the setting, nothing written.
    const made = join(sub, "m.q4a4.ort.onnx");
    const otherOrt = join(sub, "other.ort.onnx");
    expect(runCli(["lower", b, "--json"]).status).toBe(0);
    copyFileSync(otherOrt, made);
    const before = readdirSync(sub).sort();
    const refused = runCli(["lower", a]);
    expect(refused.status).toBe(2);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toContain(made);
    expect(refused.stderr).toMatch(/made with other settings: calib \(was "natural", now "balanced"\).*--force/);
    expect(readdirSync(sub).sort()).toEqual(before);
    // A Q/DQ model at the lowered name is another format.
    copyFileSync(a, made);
    expect(runCli(["lower", a]).stderr).toMatch(/format \(was "qdq", now "ort"\)/);
    const forced = runCli(["lower", a, "--force", "--json"]);
    expect(forced.status).toBe(0);
    expect(JSON.parse(forced.stdout).replaced).toBe(true);
    expect(loadModel(made).metadata.get("ptq-onnx.format")).toBe("ort");
  });

  it("quantize --format ort: in memory (no Q/DQ file, not even a temporary one), the same refusal and --force", () => {
    const sub = tempDir("ptq-onnx-format-replace-");
    const model = join(sub, "d.onnx");
    copyFileSync(join(ROOT, "test", "zoo", "fixtures", "tiny-disc.onnx"), model);
    const args = ["quantize", model, "--bits", "4", "--data", DATA, "--calib-size", "20", "--format", "ort", "--no-eval", "--json"];
    const first = runCli([...args, "--calib", "balanced"]);
    expect(first.stderr).toBe("");
    expect(JSON.parse(first.stdout)).toMatchObject({ replaced: false, format: "ort" });
    expect(readdirSync(sub).sort()).toEqual(["d.onnx", "d.q4a4.ort.calib.json", "d.q4a4.ort.onnx"]);
    expect(JSON.parse(runCli([...args, "--calib", "balanced"]).stdout).replaced).toBe(true);
    const refused = runCli([...args, "--calib", "natural"]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/d\.q4a4\.ort\.onnx: already exists, made with other settings: calib \(was "balanced", now "natural"\)/);
    const forced = runCli([...args, "--calib", "natural", "--force"]);
    expect(forced.status).toBe(0);
    expect(JSON.parse(forced.stdout).replaced_made_with).toMatchObject({ calib: "balanced" });
    expect(readdirSync(sub).sort()).toEqual(["d.onnx", "d.q4a4.ort.calib.json", "d.q4a4.ort.onnx"]);
  });
});

describe("lowerModel", () => {
  it("lowers a --pack-int4 model (INT4 codes, the embedding dequantized whole before its Gather)", async () => {
    const out = join(dir, "packed.onnx");
    await quantizeModel({ model: float, out, bits: 4, calib: "balanced", data: DATA, calibSize: 20, packInt4: true, saveCalibTable: false });
    const report = lowerModel(loadModel(out));
    expect(report.lowered.map((l) => l.kernel).sort()).toEqual(["DynamicQuantizeLSTM", "Gather (split 4-bit rows)", "MatMulIntegerToFloat"]);
    for (const l of report.lowered) for (const w of l.weights) expect(w.bits).toBe(4);
  });
});

describe("lowerModel refuses what it cannot lower", () => {
  it("an --lstm-internals model: a simulation format", async () => {
    const out = join(dir, "internals.onnx");
    await quantizeModel({ model: float, out, bits: 4, calib: "balanced", data: DATA, calibSize: 20, lstmInternals: true, saveCalibTable: false });
    expect(() => lowerModel(loadModel(out))).toThrow(/--lstm-internals, a simulation format/);
  });

  it("a Q/DQ model ptq-onnx did not write (no metadata)", () => {
    const m = loadModel(q4);
    m.proto.metadataProps = m.proto.metadataProps.filter((e) => e.key !== "ptq-onnx.quantization");
    expect(() => lowerModel(m)).toThrow(/a Q\/DQ model ptq-onnx did not write/);
  });

  it("8-bit asymmetric weights (q - z past int8) with the head left float: nothing can be lowered, every op says why", () => {
    const m = loadModel(fixtureModel("disc-tiny"));
    new PassManager([upgradeOpsetPass(13), quantizeWeightsPass(makePolicy({ bits: 8, weightSymmetric: false, exclude: ["head.weight"] }), emptyReport()), cleanupPass]).run(m);
    m.setMetadata("ptq-onnx.quantization", JSON.stringify({ wbits: 8, abits: 8, lstm_internals: false }));
    let error: unknown;
    try {
      lowerModel(m);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InputError);
    const message = (error as Error).message;
    expect(message).toMatch(/disc-tiny.onnx: nothing could be lowered: /);
    for (const op of ["LSTM", "Gather"]) expect(message).toContain(`(${op}): `);
    expect(message).toMatch(/\(LSTM\): \S+ has asymmetric 8-bit codes whose q - z spans \[-?\d+, \d+\], past int8: DynamicQuantizeLSTM takes int8 codes with zero point 0/);
    expect(message).toMatch(/\(Gather\): emb.weight has asymmetric 8-bit codes whose q - z spans \[-?\d+, \d+\], past int8: a row lookup takes int8 codes with zero point 0/);
  });
});
