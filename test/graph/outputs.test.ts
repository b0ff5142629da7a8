import { linkSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/graph/errors.ts";
import { checkOutputs, sameFile } from "../../src/graph/outputs.ts";
import { listDir, tempDir } from "../helpers.ts";

describe("sameFile", () => {
  it("is true through symbolic links, hard links and relative spellings, false otherwise", () => {
    const dir = tempDir();
    const a = join(dir, "a");
    writeFileSync(a, "x");
    writeFileSync(join(dir, "b"), "x");
    symlinkSync(a, join(dir, "sym"));
    linkSync(a, join(dir, "hard"));
    mkdirSync(join(dir, "sub"));
    expect(sameFile(a, join(dir, "sym"))).toBe(true);
    expect(sameFile(a, join(dir, "hard"))).toBe(true);
    expect(sameFile(a, join(dir, "sub", "..", "a"))).toBe(true);
    expect(sameFile(a, join(dir, "b"))).toBe(false);
    expect(sameFile(join(dir, "new"), join(dir, "sub", "..", "new"))).toBe(true); // neither exists yet
  });
});

describe("checkOutputs", () => {
  it("accepts a folder to create (with its parents) and files inside it, and creates nothing", () => {
    const dir = tempDir();
    const out = join(dir, "x", "y");
    expect(() => checkOutputs({ dirs: [{ path: out, role: "output folder" }], files: [{ path: join(out, "r.json"), role: "results" }] })).not.toThrow();
    expect(listDir(dir)).toEqual([]);
  });

  it("rejects a file in a folder that is neither there nor to be created, naming the file", () => {
    const dir = tempDir();
    const file = join(dir, "x", "r.json");
    expect(() => checkOutputs({ files: [{ path: file, role: "results" }] })).toThrow(InputError);
    expect(() => checkOutputs({ files: [{ path: file, role: "results" }] })).toThrow(`${file}: cannot write the results: no such folder ${join(dir, "x")}`);
  });

  it("rejects a folder output under a file", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "f"), "");
    expect(() => checkOutputs({ dirs: [{ path: join(dir, "f", "out"), role: "output folder" }] })).toThrow(/cannot create the output folder: .*f is not a folder/);
  });

  it("ignores roles without a path", () => {
    expect(() => checkOutputs({ inputs: [{ path: undefined, role: "--data" }], files: [{ path: null, role: "table" }] })).not.toThrow();
  });
});
