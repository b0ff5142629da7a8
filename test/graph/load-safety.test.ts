import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TensorProtoSchema } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { readCalibrationTable } from "../../src/calibrate/table.ts";
import { readRows } from "../../src/data/jsonl.ts";
import { readTokenizer } from "../../src/data/tokenizer.ts";
import { DataType, InputError, checkWeights, loadModel, parseModel, readInputFile, saveModel, serializeModel, tensorDataProblem } from "../../src/graph/index.ts";
import { createSession } from "../../src/graph/session.ts";
import { readNumberSample } from "../../src/compare/samples.ts";
import { fixtureModel, tempDir } from "../helpers.ts";
import { externalModel, mkfifo, modelBytes, oneTensorModel, unknownOpModel, withWeight } from "./bad-models.ts";

describe("external data stays inside the model's folder", () => {
  const root = tempDir();
  const dir = join(root, "a", "b");
  mkdirSync(dir, { recursive: true });
  const { proto, bytes, set } = externalModel("x");
  writeFileSync(join(root, "secret.txt"), bytes);

  const cases: [string, string, RegExp][] = [
    ["dotdot.onnx", "../../secret.txt", /dotdot\.onnx: tensor 'head\.bias': external data '\.\.\/\.\.\/secret\.txt' has a '\.\.' component/],
    ["absolute.onnx", join(root, "secret.txt"), /absolute\.onnx: tensor 'head\.bias': external data '\/.*secret\.txt' is an absolute path/],
    ["link.onnx", "weights.bin", /link\.onnx: tensor 'head\.bias': external data 'weights\.bin' resolves outside the model's folder through a link/],
  ];
  symlinkSync(join(root, "secret.txt"), join(dir, "weights.bin"));
  for (const [file, location, message] of cases) {
    it(`refuses ${location === "weights.bin" ? "a link leading out" : location}`, () => {
      set("location", location);
      const path = join(dir, file);
      writeFileSync(path, modelBytes(proto));
      expect(() => loadModel(path)).toThrow(InputError);
      expect(() => loadModel(path)).toThrow(message);
    });
  }

  it("reads a file inside the folder, also through a link that stays inside, and inlines it on save", () => {
    writeFileSync(join(dir, "inside.bin"), bytes);
    symlinkSync("inside.bin", join(dir, "alias.bin"));
    for (const location of ["inside.bin", "alias.bin", "./inside.bin"]) {
      set("location", location);
      const path = join(dir, "ok.onnx");
      writeFileSync(path, modelBytes(proto));
      const model = loadModel(path);
      const copy = join(root, "copy.onnx");
      saveModel(model, copy);
      const again = loadModel(copy).graph.initializers.find((v) => v.name === "head.bias")!.initializer!;
      expect(Array.from(again.toNumbers())).toEqual(Array.from(loadModel(fixtureModel("disc-tiny")).graph.initializers.find((v) => v.name === "head.bias")!.initializer!.toNumbers()));
    }
  });
});

describe("tensor data lengths are checked against dims on load", () => {
  it("refuses a 103-byte model claiming 2^40 parameters before allocating anything", () => {
    const bytes = oneTensorModel({ dims: [2n ** 20n, 2n ** 20n], rawData: new Uint8Array(16) });
    expect(bytes.length).toBeLessThan(120);
    expect(() => parseModel(bytes, "huge.onnx")).toThrow(
      "huge.onnx: tensor 'w' shape [1048576, 1048576] holds 1099511627776 float32 values (4398046511104 bytes) but has 16 bytes of raw_data",
    );
  });

  it("checks the typed data fields, with packed 4-bit types and strings", () => {
    const problem = (t: MessageInitShape<typeof TensorProtoSchema>, externalBytes?: number) => tensorDataProblem(create(TensorProtoSchema, { name: "t", ...t }), externalBytes);
    expect(problem({ dataType: DataType.FLOAT, dims: [3n], floatData: [1, 2, 3] })).toBeUndefined();
    expect(problem({ dataType: DataType.FLOAT, dims: [3n], floatData: [1, 2] })).toBe("shape [3] holds 3 float32 values (3 entries of float_data) but float_data has 2");
    expect(problem({ dataType: DataType.INT64, dims: [2n, 2n], int64Data: [1n] })).toMatch(/int64_data has 1/);
    expect(problem({ dataType: DataType.FLOAT, dims: [4n] })).toBe("shape [4] holds 4 float32 values but has no data");
    expect(problem({ dataType: DataType.FLOAT, dims: [0n] })).toBeUndefined();
    expect(problem({ dataType: DataType.FLOAT, dims: [-1n], floatData: [1] })).toMatch(/impossible shape \[-1\]/);
    // INT4/UINT4 pack two values per byte, in raw_data and in int32_data alike.
    expect(problem({ dataType: DataType.INT4, dims: [3n], rawData: new Uint8Array(2) })).toBeUndefined();
    expect(problem({ dataType: DataType.UINT4, dims: [4n], rawData: new Uint8Array(4) })).toBe("shape [4] holds 4 uint4 values (2 bytes) but has 4 bytes of raw_data");
    expect(problem({ dataType: DataType.INT4, dims: [5n], int32Data: [1, 2, 3] })).toBeUndefined();
    expect(problem({ dataType: DataType.INT4, dims: [5n], int32Data: [1, 2, 3, 4, 5] })).toMatch(/3 entries of int32_data\) but int32_data has 5/);
    // Strings live in string_data, one entry per element.
    const s = (x: string) => new TextEncoder().encode(x);
    expect(problem({ dataType: DataType.STRING, dims: [2n], stringData: [s("a"), s("b")] })).toBeUndefined();
    expect(problem({ dataType: DataType.STRING, dims: [3n], stringData: [s("a")] })).toBe("shape [3] holds 3 string values but string_data has 1");
    expect(problem({ dataType: DataType.STRING, dims: [1n], rawData: s("a") })).toMatch(/string tensor with raw_data/);
    // External data: the length found in the file stands in for raw_data.
    expect(problem({ dataType: DataType.FLOAT, dims: [2n] }, 8)).toBeUndefined();
    expect(problem({ dataType: DataType.FLOAT, dims: [2n] }, 4)).toBe("shape [2] holds 2 float32 values (8 bytes) but has 4 bytes of external data");
  });

  it("checks external data against its file, offset and length", () => {
    const dir = tempDir();
    const { proto, bytes, set } = externalModel("w.bin");
    writeFileSync(join(dir, "w.bin"), bytes);
    const path = join(dir, "m.onnx");
    const load = () => {
      writeFileSync(path, modelBytes(proto));
      return loadModel(path);
    };
    expect(load().graph.initializers.find((v) => v.name === "head.bias")!.initializer!.size).toBe(bytes.length / 4);
    set("length", String(bytes.length - 4));
    expect(load).toThrow(/tensor 'head\.bias' shape \[3\] holds 3 float32 values \(12 bytes\) but has 8 bytes of external data/);
    set("length", String(bytes.length));
    set("offset", "4");
    expect(load).toThrow(/external data 'w\.bin' runs past the end of its file \(offset 4 \+ length 12 > 12 bytes\)/);
    set("offset", "-1");
    expect(load).toThrow(/invalid offset -1/);
  });
});

describe("only regular files are read", () => {
  const dir = tempDir();
  const fifo = join(dir, "pipe");
  mkfifo(fifo);
  mkdirSync(join(dir, "folder"));

  it("readInputFile refuses a FIFO with no writer (without blocking), a directory and a device", () => {
    expect(() => readInputFile(fifo, "an ONNX model")).toThrow(`${fifo}: is a FIFO (named pipe), not an ONNX model (only regular files are read)`);
    expect(() => readInputFile(join(dir, "folder"), "an ONNX model")).toThrow(/folder: is a directory, not an ONNX model/);
    expect(() => readInputFile("/dev/null", "a data file")).toThrow("/dev/null: is a device, not a data file");
    expect(() => readInputFile(join(dir, "nothing"), "a data file")).toThrow(/nothing: no such file/);
    writeFileSync(join(dir, "real.txt"), "abc");
    symlinkSync(join(dir, "real.txt"), join(dir, "link.txt"));
    expect(readInputFile(join(dir, "link.txt"), "a data file").toString()).toBe("abc");
  });

  it("every reader of a user-given file goes through it", () => {
    const readers: [string, (path: string) => unknown][] = [
      ["an ONNX model", loadModel],
      ["a JSONL data file", (p) => readRows(p)],
      ["a tokenizer JSON file", readTokenizer],
      ["a calibration table", readCalibrationTable],
      ["a JSON file of samples", (p) => readNumberSample(p)],
    ];
    for (const [what, read] of readers) {
      expect(() => read(fifo), what).toThrow(InputError);
      expect(() => read(fifo), what).toThrow(`is a FIFO (named pipe), not ${what}`);
      expect(() => read(join(dir, "folder")), what).toThrow(`is a directory, not ${what}`);
    }
  });

  it("an external data file that is a FIFO is refused too", () => {
    const sub = tempDir();
    mkfifo(join(sub, "w.bin"));
    const { proto } = externalModel("w.bin");
    writeFileSync(join(sub, "m.onnx"), modelBytes(proto));
    expect(() => loadModel(join(sub, "m.onnx"))).toThrow(/w\.bin: is a FIFO \(named pipe\), not the external data of tensor 'head\.bias'/);
  });
});

describe("onnxruntime session creation", () => {
  it("an op onnxruntime does not know is an InputError naming the file, the op and the node", async () => {
    const err = await createSession(serializeModel(unknownOpModel()), {}, "bad.onnx").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe("bad.onnx: onnxruntime has no operator 'C\\x7fncat' at opset 17 (node '/lstm/Concat')");
  });

  it("any other refusal is an InputError with onnxruntime's reason on one line", async () => {
    const err = await createSession(new Uint8Array([8, 7, 18, 3, 1, 2, 3]), {}, "junk.onnx").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/^junk\.onnx: onnxruntime cannot load the model: .*graph/);
    expect((err as Error).message).not.toContain("\n");
  });
});

describe("checkWeights", () => {
  it("accepts the fixtures", () => {
    for (const name of ["disc-tiny", "gen-tiny", "bilstm-tiny"]) expect(checkWeights(loadModel(fixtureModel(name)))).toEqual({ errors: [], warnings: [] });
  });

  it("refuses NaN and Inf, naming the tensor; warns about absurd magnitudes", () => {
    expect(checkWeights(withWeight("head.weight", 5, NaN)).errors).toEqual(["weight tensor 'head.weight' has 1 non-finite value (the first, NaN, at index 5)"]);
    expect(checkWeights(withWeight("emb.weight", 7, -Infinity)).errors).toEqual(["weight tensor 'emb.weight' has 1 non-finite value (the first, -Infinity, at index 7)"]);
    const big = checkWeights(withWeight("head.weight", 5, 2.7e38));
    expect(big.errors).toEqual([]);
    expect(big.warnings).toEqual([expect.stringMatching(/^weight tensor 'head\.weight' has values up to 2\.70e\+38 in magnitude \(above 1e\+6\)/)]);
    expect(checkWeights(withWeight("head.weight", 5, 9e5))).toEqual({ errors: [], warnings: [] });
  });
});
