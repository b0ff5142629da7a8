import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel, validateModel } from "../../src/graph/index.ts";
import { dequantizeTensor } from "../../src/quant/math.ts";
import { fixtureModel, idsFeed, listDir, ROOT, runCli, runOrt, tempDir } from "../helpers.ts";

/** A labelled pool for the 3-class disc-tiny fixture (vocabulary 50): 20 rows per class, seeded. */
function writePool(dir: string, perClass = [20, 20, 20]): string {
  let s = 7;
  const rand = (): number => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const lines: string[] = [];
  perClass.forEach((n, label) => {
    for (let i = 0; i < n; i++) {
      const len = 1 + Math.floor(rand() * 9);
      lines.push(JSON.stringify({ ids: Array.from({ length: len }, () => 2 + Math.floor(rand() * 40)), label }));
    }
  });
  const path = join(dir, "pool.jsonl");
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

describe("ptq-onnx quantize", () => {
  const dir = tempDir();
  const pool = writePool(dir);
  const model = join(dir, "disc.onnx");
  writeFileSync(model, readFileSync(fixtureModel("disc-tiny")));

  /** The model's scores on every pool row, one row per run. */
  const scores = async (path: string): Promise<Float32Array[]> => {
    const rows = readFileSync(pool, "utf8").trim().split("\n").map((l) => JSON.parse(l).ids as number[]);
    const out: Float32Array[] = [];
    for (const r of rows) out.push((await runOrt(readFileSync(path), idsFeed([r]))).logits.data as Float32Array);
    return out;
  };
  const squaredError = (q: Float32Array[], float: Float32Array[]): number => q.reduce((s, row, i) => s + row.reduce((t, v, j) => t + (v - float[i][j]) ** 2, 0), 0);

  it("--json reports the contract's fields and writes a model onnxruntime runs", async () => {
    const r = runCli(["quantize", model, "--bits", "4", "--calib", "balanced", "--data", pool, "--calib-size", "24", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.output).toBe(join(dir, "disc.q4a4.onnx"));
    expect(out.wbits).toBe(4);
    expect(out.abits).toBe(4);
    expect(out.calibration).toMatchObject({ mode: "balanced", size: 24, per_class: [8, 8, 8] });
    expect(out.quantized).toEqual(expect.arrayContaining(["emb.weight", "head.weight"]));
    expect(out.left_float).toEqual(expect.arrayContaining([{ name: "head.bias", reason: "bias or vector (kept float)" }]));
    expect(out.bytes.input).toBe(readFileSync(model).length);
    expect(out.bytes.output).toBe(readFileSync(out.output).length);
    const q = loadModel(out.output);
    expect(validateModel(q)).toEqual([]);
    expect(JSON.parse(q.metadata.get("ptq-onnx.quantization")!)).toMatchObject({ wbits: 4, abits: 4, calib: "balanced" });
    const scores = await runOrt(readFileSync(out.output), idsFeed([[3, 4, 5], [6]]));
    expect(scores.logits.dims).toEqual([2, 3]);
    expect(existsSync(out.calibration.table)).toBe(true);
  });

  it("takes exactly the calibration composition asked for", () => {
    const cases: [string, number[]][] = [
      ["natural", [10, 10, 10]],
      ["dist:0.5,0.25,0.25", [16, 8, 8]],
      ["classes:0,2", [15, 0, 15]],
    ];
    for (const [mode, perClass] of cases) {
      const size = perClass.reduce((a, b) => a + b, 0);
      const r = runCli(["quantize", model, "--bits", "8", "--calib", mode, "--data", pool, "--calib-size", String(size), "-o", join(dir, "c.onnx"), "--json"]);
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).calibration.per_class).toEqual(perClass);
    }
  });

  it("says so when a class has fewer rows than asked for, and uses what there is", () => {
    const small = writePool(tempDir(), [20, 20, 3]);
    const r = runCli(["quantize", model, "--bits", "8", "--calib", "balanced", "--data", small, "--calib-size", "30", "-o", join(dir, "s.onnx")]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/class 2: asked for 10 rows, only 3 available/);
  });

  it("the same seed gives a byte-identical model; a saved table reproduces it", () => {
    const args = ["--bits", "5", "--calib", "balanced", "--data", pool, "--calib-size", "30", "--seed", "3", "--observer", "mse"];
    const a = join(dir, "a.onnx"), b = join(dir, "b.onnx"), c = join(dir, "c2.onnx");
    expect(runCli(["quantize", model, ...args, "-o", a]).status).toBe(0);
    expect(runCli(["quantize", model, ...args, "-o", b]).status).toBe(0);
    expect(Buffer.compare(readFileSync(a), readFileSync(b))).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, "a.calib.json")), readFileSync(join(dir, "b.calib.json")))).toBe(0);
    const fromTable = runCli(["quantize", model, "--bits", "5", "--calib", "balanced", "--calib-table", join(dir, "a.calib.json"), "-o", c]);
    expect(fromTable.status, fromTable.stderr).toBe(0);
    expect(Buffer.compare(readFileSync(a), readFileSync(c))).toBe(0);
  });

  it("--lstm-internals quantizes gates, cell and hidden state inside the decomposed LSTM", async () => {
    const r = runCli(["quantize", model, "--bits", "8", "--calib", "balanced", "--data", pool, "--calib-size", "30", "--lstm-internals", "-o", join(dir, "li.onnx"), "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const names: string[] = JSON.parse(r.stdout).quantized;
    for (const role of ["gates", "i", "f", "o", "g", "c", "h"]) expect(names).toContain(`/lstm/LSTM/d0/${role}`);
    const q = loadModel(join(dir, "li.onnx"));
    expect(q.allNodes().some((n) => n.opType === "LSTM")).toBe(false);
    const out = await runOrt(readFileSync(join(dir, "li.onnx")), idsFeed([[3, 4, 5, 9], [6]]));
    expect(out.logits.dims).toEqual([2, 3]);
  });

  it("--rounding gptq compensates rounding errors: lower score error than rounding to nearest at 3 bits", async () => {
    const float = await scores(model);
    const mse = (q: Float32Array[]): number => squaredError(q, float);
    const errors: Record<string, number> = {};
    // GPTQ covers the head and the LSTM's W and R (names the exporter made up, read from the model).
    const lstm = loadModel(model).graph.nodes.find((n) => n.opType === "LSTM")!;
    const gptqWeights = ["head.weight", lstm.inputs[1]!.name, lstm.inputs[2]!.name].sort();
    for (const rounding of ["nearest", "gptq"]) {
      const out = join(dir, `r-${rounding}.onnx`);
      const r = runCli(["quantize", model, "--bits", "8", "--wbits", "3", "--calib", "natural", "--data", pool, "--calib-size", "60", "--observer", "minmax", "--rounding", rounding, "-o", out, "--json"]);
      expect(r.status, r.stderr).toBe(0);
      const details: { name: string; rounding?: string }[] = JSON.parse(r.stdout).details;
      const gptq = details.filter((d) => d.rounding === "gptq").map((d) => d.name).sort();
      expect(gptq).toEqual(rounding === "gptq" ? gptqWeights : []);
      errors[rounding] = mse(await scores(out));
    }
    expect(errors.gptq).toBeLessThan(errors.nearest * 0.9);
    const table = JSON.parse(readFileSync(join(dir, "r-gptq.calib.json"), "utf8"));
    expect(Object.keys(table.hessians).sort()).toEqual(gptqWeights);
    const again = runCli(["quantize", model, "--bits", "8", "--wbits", "3", "--calib", "natural", "--calib-table", join(dir, "r-gptq.calib.json"), "--rounding", "gptq", "-o", join(dir, "r-again.onnx")]);
    expect(again.status, again.stderr).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, "r-again.onnx")), readFileSync(join(dir, "r-gptq.onnx")))).toBe(0);
    const noMoments = runCli(["quantize", model, "--bits", "4", "--calib", "natural", "--calib-table", join(dir, "r-nearest.calib.json"), "--rounding", "gptq", "-o", join(dir, "x.onnx")]);
    expect(noMoments.status).toBe(2);
    expect(noMoments.stderr).toMatch(/r-nearest\.calib\.json: has no layer-input moments/);
  });

  it("--rounding gpfq and --act-order: lower score error than nearest at 3 bits, recorded in the metadata; misuse exits 2", async () => {
    const float = await scores(model);
    const mse = (q: Float32Array[]): number => squaredError(q, float);
    const base = ["quantize", model, "--bits", "8", "--wbits", "3", "--calib", "natural", "--data", pool, "--calib-size", "60", "--observer", "minmax"];
    const errors: Record<string, number> = {};
    for (const [tag, extra, rounding, spec] of [
      ["nearest", ["--rounding", "nearest"], "nearest", "nearest"],
      ["gpfq", ["--rounding", "gpfq"], "gpfq", "gpfq"],
      ["gpfq-float", ["--rounding", "gpfq", "--gpfq-inputs", "float"], "gpfq", "gpfq+float-inputs"],
      ["gptq-ao", ["--rounding", "gptq", "--act-order", "--dampening", "0.05"], "gptq", "gptq+act-order+damp0.05"],
    ] as [string, string[], string, string][]) {
      const out = join(dir, `m-${tag}.onnx`);
      const r = runCli([...base, ...extra, "-o", out, "--json", "--no-eval"]);
      expect(r.status, r.stderr).toBe(0);
      const details: { name: string; rounding?: string }[] = JSON.parse(r.stdout).details;
      if (rounding !== "nearest") expect(details.filter((d) => d.rounding === rounding).map((d) => d.name).sort()).toEqual(["head.weight", "onnx::LSTM_149", "onnx::LSTM_150"]);
      expect(JSON.parse(loadModel(out).metadata.get("ptq-onnx.quantization")!).rounding).toBe(spec);
      errors[tag] = mse(await scores(out));
    }
    expect(errors.gpfq).toBeLessThan(errors.nearest * 0.9);
    expect(errors["gpfq-float"]).toBeLessThan(errors.nearest * 0.9);
    expect(errors["gptq-ao"]).toBeLessThan(errors.nearest * 0.9);
    // GPFQ reads the same moments as GPTQ: a table calibrated without them is refused.
    const noMoments = runCli(["quantize", model, "--bits", "4", "--calib", "natural", "--calib-table", join(dir, "m-nearest.calib.json"), "--rounding", "gpfq", "-o", join(dir, "y.onnx")]);
    expect(noMoments.status).toBe(2);
    expect(noMoments.stderr.trim()).toMatch(/m-nearest\.calib\.json: has no layer-input moments for GPFQ rounding/);
    for (const [args, message] of [
      [["--rounding", "gpfx"], /rounding/],
      [["--act-order"], /--act-order applies to --rounding gptq or gpfq only/],
      [["--gpfq-inputs", "float"], /--gpfq-inputs applies to --rounding gpfq only/],
      [["--rounding", "gpfq", "--gpfq-inputs", "floats"], /gpfq-inputs/],
      [["--rounding", "gpfq", "--dampening", "0.1"], /--dampening applies to --rounding gptq only/],
      [["--rounding", "gptq", "--dampening", "-1"], /--dampening must be a number of at least 0, got '-1'/],
    ] as [string[], RegExp][]) {
      const r = runCli([...base, ...args, "-o", join(dir, "z.onnx")]);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(join(dir, "z.onnx"))).toBe(false);
  });

  it("--group-size writes blocked DequantizeLinear (opset 21) that onnxruntime runs, closer to the float weights than per-channel", async () => {
    const zoo = join(ROOT, "models", "wordnet8-disc.onnx");
    const floatW = loadModel(zoo).graph.lookup("onnx::LSTM_149")!.initializer!.data as Float32Array;
    const weightError: Record<string, number> = {};
    for (const [tag, extra] of [["channel", []], ["group", ["--group-size", "32"]], ["group-gptq", ["--group-size", "32", "--rounding", "gptq"]]] as [string, string[]][]) {
      const out = join(dir, `g-${tag}.onnx`);
      const r = runCli(["quantize", zoo, "--bits", "8", "--wbits", "3", "--calib", "balanced", "--calib-size", "16", ...extra, "-o", out, "--json", "--no-eval"]);
      expect(r.status, r.stderr).toBe(0);
      const details: { name: string; granularity: string; rounding?: string }[] = JSON.parse(r.stdout).details;
      const lstmW = details.find((d) => d.name === "onnx::LSTM_149")!;
      const q = loadModel(out);
      const dq = q.graph.lookup("onnx::LSTM_149")!.producer!;
      const [codes, scales] = [dq.inputs[0]!.initializer!, dq.inputs[1]!.initializer!];
      if (tag !== "channel") {
        expect(lstmW.granularity).toBe("per-group(axis 2, size 32)");
        expect(details.find((d) => d.name === "head.weight")!.granularity).toBe("per-group(axis 1, size 32)");
        expect(q.opset("")).toBe(21);
        expect([dq.getInt("axis"), dq.getInt("block_size")]).toEqual([2, 32]);
        expect(scales.dims).toEqual([1, 1024, 4]);
        expect(JSON.parse(q.metadata.get("ptq-onnx.quantization")!).group_size).toBe(32);
      }
      if (tag === "group-gptq") expect(lstmW.rounding).toBe("gptq");
      const deq = dequantizeTensor(
        { codes: Int32Array.from(codes.toNumbers()), scales: Float32Array.from(scales.toNumbers()), zeroPoints: new Int32Array(scales.toNumbers().length), axis: dq.getInt("axis") ?? null, ...(tag === "channel" ? {} : { blockSize: 32 }) },
        codes.dims,
      );
      weightError[tag] = deq.reduce((sum, v, i) => sum + (v - floatW[i]) ** 2, 0);
      const scores = (await runOrt(readFileSync(out), idsFeed([[5, 17, 230, 41], [9, 3]]))).logits.data as Float32Array;
      expect(scores.every(Number.isFinite)).toBe(true);
    }
    expect(weightError.group, JSON.stringify(weightError)).toBeLessThan(weightError.channel * 0.8);
    for (const [args, message] of [
      [["--group-size", "48"], /--group-size must be 32, 64, 128, got 48/],
      [["--group-size", "32"], /disc\.onnx: weight '.*': group size 32 exceeds the input width (8|16)/],
      [["--group-size", "32", "--granularity", "per-tensor"], /--group-size needs per-channel weight scales/],
    ] as [string[], RegExp][]) {
      const r = runCli(["quantize", model, "--bits", "4", "--calib", "natural", "--data", pool, ...args, "-o", join(dir, "g-bad.onnx")]);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(join(dir, "g-bad.onnx"))).toBe(false);
  });

  it("--weight-clip mse and --bias-correction: recorded in the metadata and the replace check; a table without means is refused", async () => {
    const out = join(dir, "clip.onnx");
    const r = runCli(["quantize", model, "--wbits", "2", "--abits", "8", "--calib", "balanced", "--data", pool, "--calib-size", "24", "--weight-clip", "mse", "--bias-correction", "-o", out, "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    const biases = res.bias_correction.map((b: { bias: string | null }) => b.bias);
    expect(biases).toHaveLength(3);
    expect(biases).toContain("head.bias");
    expect(biases.every((b: string | null) => typeof b === "string")).toBe(true);
    const meta = JSON.parse(loadModel(out).metadata.get("ptq-onnx.quantization")!);
    expect(meta).toMatchObject({ weight_clip: "mse", bias_correction: true });
    const table = JSON.parse(readFileSync(join(dir, "clip.calib.json"), "utf8"));
    expect(Object.keys(table.means).length).toBe(3);
    const scores = (await runOrt(readFileSync(out), idsFeed([[5, 17, 30, 41], [9, 3]]))).logits.data as Float32Array;
    expect(scores.every(Number.isFinite)).toBe(true);
    // The default-named output made with these settings is not replaced by a run without them.
    const first = runCli(["quantize", model, "--wbits", "2", "--abits", "8", "--calib", "balanced", "--data", pool, "--calib-size", "24", "--bias-correction"]);
    expect(first.status, first.stderr).toBe(0);
    const again = runCli(["quantize", model, "--wbits", "2", "--abits", "8", "--calib", "balanced", "--data", pool, "--calib-size", "24"]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/bias_correction \(was true, now false\)/);
    // A table calibrated without --bias-correction has no means.
    const plain = join(dir, "plain.onnx");
    expect(runCli(["quantize", model, "--bits", "4", "--calib", "balanced", "--data", pool, "--calib-size", "24", "-o", plain]).status).toBe(0);
    for (const [args, message] of [
      [["--calib", "balanced", "--calib-table", join(dir, "plain.calib.json"), "--bias-correction"], /plain\.calib\.json: has no layer-input means for bias correction/],
      [["--calib", "balanced", "--data", pool, "--weight-clip", "median"], /weight-clip/],
    ] as [string[], RegExp][]) {
      const bad = runCli(["quantize", model, "--bits", "4", ...args, "-o", join(dir, "c-bad.onnx")]);
      expect(bad.status, args.join(" ")).toBe(2);
      expect(bad.stderr.trim().split("\n")).toHaveLength(1);
      expect(bad.stderr).toMatch(message);
    }
    expect(existsSync(join(dir, "c-bad.onnx"))).toBe(false);
  });

  it("--no-weight-symmetric uses every code of the width (4 at 2 bits, not 3) and is recorded", async () => {
    const out = join(dir, "asym.onnx");
    const r = runCli(["quantize", model, "--wbits", "2", "--abits", "8", "--calib", "balanced", "--data", pool, "--calib-size", "24", "--no-weight-symmetric", "-o", out, "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const q = loadModel(out);
    expect(JSON.parse(q.metadata.get("ptq-onnx.quantization")!)).toMatchObject({ weight_symmetric: false });
    const codes = q.graph.lookup("head.weight_quantized")!.initializer!.toNumbers();
    expect(new Set(codes).size).toBe(4);
    const scores = (await runOrt(readFileSync(out), idsFeed([[5, 17, 30, 41], [9, 3]]))).logits.data as Float32Array;
    expect(scores.every(Number.isFinite)).toBe(true);
  });

  describe("bad input: one line, exit 2, nothing written", () => {
    const bad = tempDir();
    const empty = join(bad, "empty.jsonl");
    writeFileSync(empty, "\n\n");
    const bigTok = join(bad, "tok.json");
    writeFileSync(bigTok, JSON.stringify({ type: "word-regex", lowercase: true, pattern: "[a-z]+", vocab: ["<pad>", "<unk>", ...Array.from({ length: 60 }, (_, i) => `w${String.fromCharCode(97 + (i % 26))}${i}`)], pad_id: 0, unk_id: 1, max_len: 8, truncation: "end" }));
    const textPool = join(bad, "text.jsonl");
    writeFileSync(textPool, '{"text": "hello world", "label": 0}\n');
    const cases: [string, string[], RegExp][] = [
      ["unknown calib mode", ["--calib", "skewed", "--data", pool], /skewed/],
      ["proportions not summing to 1", ["--calib", "dist:0.5,0.2,0.2", "--data", pool], /sum/],
      ["class index outside the labels", ["--calib", "classes:0,7", "--data", pool], /7/],
      ["no usable row", ["--calib", "balanced", "--data", empty], /empty\.jsonl/],
      ["tokenizer larger than the embedding", ["--calib", "balanced", "--data", textPool, "--tokenizer", bigTok], /does not fit the model's embedding \(50 rows\)/],
      ["bits 1", ["--bits", "1", "--calib", "balanced", "--data", pool], /--bits must be an integer from 2 to 8/],
      ["bits 9", ["--bits", "9", "--calib", "balanced", "--data", pool], /from 2 to 8/],
      ["unknown observer", ["--calib", "balanced", "--observer", "median", "--data", pool], /median/],
      ["missing data file", ["--calib", "balanced", "--data", join(bad, "nope.jsonl")], /nope\.jsonl/],
    ];
    for (const [what, args, pattern] of cases) {
      it(what, () => {
        const before = listDir(bad);
        const full = args.includes("--bits") ? args : ["--bits", "4", ...args];
        const r = runCli(["quantize", model, ...full, "-o", join(bad, "out.onnx")]);
        expect(r.status).toBe(2);
        const lines = r.stderr.trimEnd().split("\n");
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(pattern);
        expect(listDir(bad)).toEqual(before);
      });
    }
  });
});
