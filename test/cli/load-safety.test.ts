import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { Tensor, inspectModel, loadModel, serializeModel, type Model } from "../../src/graph/index.ts";
import { externalModel, mkfifo, modelBytes, oneTensorModel, unknownOpModel, withWeight } from "../graph/bad-models.ts";
import { fixtureModel, listDir, runCli, tempDir, type CliResult } from "../helpers.ts";

/** 3 classes x 10 rows of ids 2..41 for the disc-tiny fixture (vocabulary 50; ids 42..49 never occur). */
function writePool(dir: string): string {
  const lines: string[] = [];
  for (let label = 0; label < 3; label++) {
    for (let i = 0; i < 10; i++) {
      const ids = Array.from({ length: 2 + ((i + label) % 6) }, (_, j) => 2 + ((i * 7 + label * 13 + j * 5) % 40));
      lines.push(JSON.stringify({ ids, label }));
    }
  }
  const path = join(dir, "pool.jsonl");
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

/** The contract for bad input: exit 2, nothing on stdout, one line on stderr matching `pattern`, no new files. */
function expectBadInput(args: string[], pattern: RegExp, dir: string): void {
  const before = listDir(dir);
  const r: CliResult = runCli(args, { cwd: dir, timeoutMs: 120_000 });
  expect(r.status, r.stderr).toBe(2);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(listDir(dir)).toEqual(before);
}

function write(dir: string, name: string, model: Model | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, model instanceof Uint8Array ? model : serializeModel(model));
  return path;
}

describe("loading untrusted models from the command line", () => {
  const root = tempDir();
  const dir = join(root, "a", "b");
  mkdirSync(dir, { recursive: true });
  const pool = writePool(dir);

  it("external data outside the model's folder: '..', absolute, a link out", () => {
    const { proto, bytes, set } = externalModel("x");
    writeFileSync(join(root, "secret.txt"), bytes);
    symlinkSync(join(root, "secret.txt"), join(dir, "out.bin"));
    for (const location of ["../../secret.txt", join(root, "secret.txt"), "out.bin"]) {
      set("location", location);
      const path = write(dir, "ext.onnx", modelBytes(proto));
      const quoted = location.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      const why = "(has a '\\.\\.' component|is an absolute path|resolves outside the model's folder through a link)";
      expectBadInput(["inspect", path, "--json"], new RegExp(`ext\\.onnx: tensor 'head\\.bias': external data '${quoted}' ${why}`), dir);
    }
  });

  it("a 103-byte model claiming 2^40 parameters", () => {
    const path = write(dir, "huge.onnx", oneTensorModel({ dims: [2n ** 20n, 2n ** 20n], rawData: new Uint8Array(16) }));
    expectBadInput(["inspect", path], /huge\.onnx: tensor 'w' shape \[1048576, 1048576\] holds 1099511627776 float32 values .* but has 16 bytes of raw_data/, dir);
  });

  it("a FIFO or a directory as the model, data, tokenizer, calibration table or sample file is refused at once", () => {
    const fifo = join(root, "pipe");
    mkfifo(fifo);
    const model = write(dir, "disc.onnx", readFileSync(fixtureModel("disc-tiny")));
    const fifoLine = (what: string) => new RegExp(`pipe: is a FIFO \\(named pipe\\), not ${what} \\(only regular files are read\\)$`);
    expectBadInput(["inspect", fifo], fifoLine("an ONNX model"), dir);
    expectBadInput(["inspect", root], /a: is a directory, not an ONNX model|: is a directory, not an ONNX model/, dir);
    const q = ["quantize", model, "--bits", "8", "--calib", "natural", "--calib-size", "12"];
    expectBadInput([...q, "--data", fifo], fifoLine("a JSONL data file"), dir);
    expectBadInput([...q, "--data", pool, "--tokenizer", fifo], fifoLine("a tokenizer JSON file"), dir);
    expectBadInput([...q, "--calib-table", fifo], fifoLine("a calibration table"), dir);
    expectBadInput(["stats", "test", "--test", "ks", "--a", fifo, "--b", fifo], fifoLine("a JSON file of samples"), dir);
  });

  it("a model onnxruntime refuses is bad input naming the file and the op, in quantize, eval and bench", () => {
    const path = write(dir, "unknown-op.onnx", unknownOpModel());
    const line = /unknown-op\.onnx: onnxruntime has no operator 'C\\x7fncat' at opset 17 \(node '\/lstm\/Concat'\)$/;
    expectBadInput(["quantize", path, "--bits", "8", "--calib", "natural", "--data", pool, "--calib-size", "12", "--json"], line, dir);
    expectBadInput(["eval", path, "--data", pool, "--json"], line, dir);
    expectBadInput(["bench", path, "--data", pool, "--batch", "1", "--threads", "1", "--runs", "1", "--warmup", "0", "--json"], line, dir);
  });

  it("onnxruntime's warnings do not reach the user", () => {
    const model = loadModel(fixtureModel("disc-tiny"));
    // onnxruntime warns "Removing initializer 'unused'" at its default log level.
    model.graph.addInitializer(Tensor.float32("unused", [2], [1, 2]));
    const path = write(dir, "unused.onnx", model);
    const r = runCli(["eval", path, "--data", pool, "--json"], { cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
  });

  it("non-finite weights are refused; absurd ones are quantized with one warning", () => {
    const q = ["--bits", "8", "--calib", "natural", "--data", pool, "--calib-size", "12", "--json"];
    expectBadInput(["quantize", write(dir, "inf.onnx", withWeight("head.weight", 3, Infinity)), ...q], /inf\.onnx: weight tensor 'head\.weight' has 1 non-finite value \(the first, Infinity, at index 3\)$/, dir);
    expectBadInput(["quantize", write(dir, "nan.onnx", withWeight("emb.weight", 0, NaN)), ...q], /nan\.onnx: weight tensor 'emb\.weight' has 1 non-finite value \(the first, NaN, at index 0\)$/, dir);
    // A row of the embedding no pool id reads (id 49), so calibration still sees finite activations.
    const big = write(dir, "big.onnx", withWeight("emb.weight", 49 * 8, 2.7e38));
    const r = runCli(["quantize", big, ...q, "-o", join(dir, "big.q8.onnx")], { cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(/big\.onnx: warning: weight tensor 'emb\.weight' has values up to 2\.70e\+38 in magnitude \(above 1e\+6\)/)]);
    expect(JSON.parse(r.stdout).warnings).toEqual([expect.stringMatching(/^weight tensor 'emb\.weight' has values up to 2\.70e\+38/)]);
  });
});

describe("inspect counts a quantized model's parameters as its float model's", () => {
  const dir = tempDir();
  const pool = writePool(dir);
  const float = join(dir, "disc.onnx");
  writeFileSync(float, readFileSync(fixtureModel("disc-tiny")));
  const floatCount = inspectModel(loadModel(float)).parameters;

  const variants: [string, { granularity?: "per-channel" | "per-tensor"; packInt4?: boolean; bits: number }][] = [
    ["4-bit per-channel (int8 embedding rows gathered, then scaled per row)", { bits: 4 }],
    ["8-bit per-tensor (embedding rows gathered, then dequantized)", { bits: 8, granularity: "per-tensor" }],
    ["4-bit packed INT4 (two codes per byte)", { bits: 4, packInt4: true }],
  ];
  for (const [name, opts] of variants) {
    it(name, async () => {
      const out = join(dir, `q-${opts.bits}-${opts.granularity ?? "pc"}-${opts.packInt4 ? "int4" : "int8"}.onnx`);
      await quantizeModel({ model: float, out, calib: "natural", data: pool, calibSize: 12, saveCalibTable: false, ...opts });
      const q = loadModel(out);
      expect(q.allNodes().some((n) => n.opType === "DequantizeLinear")).toBe(true);
      expect(inspectModel(q).parameters).toBe(floatCount);
    });
  }
});
