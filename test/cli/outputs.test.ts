import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ModelProtoSchema, StringStringEntryProtoSchema, TensorProto_DataLocation } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { loadModel } from "../../src/graph/index.ts";
import { ROOT, listDir, runCli, tempDir, type CliResult } from "../helpers.ts";

const FIXTURE = join(ROOT, "test", "zoo", "fixtures");

/** A folder with the tiny zoo model and its labelled rows (ids), as quantize's inputs. */
function setup(): { dir: string; model: string; data: string; args: string[] } {
  const dir = tempDir();
  const model = join(dir, "m.onnx");
  const data = join(dir, "d.jsonl");
  copyFileSync(join(FIXTURE, "tiny-disc.onnx"), model);
  copyFileSync(join(FIXTURE, "tiny-test.jsonl"), data);
  return { dir, model, data, args: ["quantize", model, "--bits", "4", "--calib", "balanced", "--data", data, "--calib-size", "12"] };
}

/** Exit 2 with one line that names `file`. */
function expectUsageError(r: CliResult, file: string, why: RegExp): void {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(r.stderr).toContain(file);
  expect(r.stderr).toMatch(why);
}

/** Every file of the folder with its bytes, to show that a refused command wrote nothing. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(listDir(dir).map((f) => [f, existsSync(join(dir, f, ".")) ? "<dir>" : readFileSync(join(dir, f)).toString("base64")]));
}

/** A pid that is certainly not running: a child that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", ""]);
  return r.pid!;
}

describe("quantize never writes over its inputs", () => {
  it("refuses -o MODEL, --save-calib-table MODEL, -o DATA and two outputs on one path", () => {
    const { dir, model, data, args } = setup();
    const before = snapshot(dir);
    expectUsageError(runCli([...args, "-o", model]), model, /output model \(-o\) is the input model/);
    expectUsageError(runCli([...args, "--save-calib-table", model]), model, /calibration table \(--save-calib-table\) is the input model/);
    expectUsageError(runCli([...args, "-o", data]), data, /is the --data file/);
    const same = join(dir, "x.onnx");
    expectUsageError(runCli([...args, "-o", same, "--save-calib-table", same]), same, /is also the output model/);
    expect(snapshot(dir)).toEqual(before);
  });

  it("sees through symbolic and hard links", () => {
    const { dir, model, args } = setup();
    symlinkSync(model, join(dir, "sym.onnx"));
    linkSync(model, join(dir, "hard.onnx"));
    const before = snapshot(dir);
    expectUsageError(runCli([...args, "-o", join(dir, "sym.onnx")]), "sym.onnx", /is the input model/);
    expectUsageError(runCli([...args, "-o", join(dir, "hard.onnx")]), "hard.onnx", /is the input model/);
    expect(snapshot(dir)).toEqual(before);
  });

  it("counts the model's external data file as an input", () => {
    const { dir, args } = setup();
    const proto = fromBinary(ModelProtoSchema, readFileSync(join(FIXTURE, "tiny-disc.onnx")));
    const emb = proto.graph!.initializer.find((t) => t.name === "emb.weight")!;
    writeFileSync(join(dir, "ext.bin"), emb.rawData);
    emb.rawData = new Uint8Array(0);
    emb.dataLocation = TensorProto_DataLocation.EXTERNAL;
    emb.externalData = [create(StringStringEntryProtoSchema, { key: "location", value: "ext.bin" })];
    const external = join(dir, "external.onnx");
    writeFileSync(external, toBinary(ModelProtoSchema, proto));
    expect(loadModel(external).graph.initializers.length).toBeGreaterThan(0);
    const before = snapshot(dir);
    const r = runCli([...args.slice(0, 1), external, ...args.slice(2), "-o", join(dir, "ext.bin")]);
    expectUsageError(r, "ext.bin", /is the model's external data file/);
    expect(snapshot(dir)).toEqual(before);
  });
});

describe("quantize checks every output location before it calibrates", () => {
  it("a missing folder or a folder as output: exit 2, nothing written (no calibration table either)", () => {
    const { dir, args } = setup();
    mkdirSync(join(dir, "sub"));
    const before = snapshot(dir);
    expectUsageError(runCli([...args, "-o", join(dir, "nope", "q.onnx")]), join(dir, "nope", "q.onnx"), /no such folder/);
    expectUsageError(runCli([...args, "-o", join(dir, "sub")]), join(dir, "sub"), /output model \(-o\) is a folder/);
    expectUsageError(runCli([...args, "-o", join(dir, "q.onnx"), "--save-calib-table", join(dir, "sub")]), join(dir, "sub"), /calibration table \(--save-calib-table\) is a folder/);
    expectUsageError(runCli([...args, "-o", join(dir, "m.onnx", "q.onnx")]), join(dir, "m.onnx", "q.onnx"), /is not a folder/);
    expect(snapshot(dir)).toEqual(before);
    expect(listDir(join(dir, "sub"))).toEqual([]);
  });

  it("an unwritable folder: exit 2 (run as the unprivileged user nobody when the tests run as root)", (ctx) => {
    const { dir, args } = setup();
    const ro = join(dir, "ro");
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    for (const f of [dir, ...listDir(dir).map((f) => join(dir, f))]) chmodSync(f, 0o755);
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const run = (argv: string[]) => {
      const r = spawnSync(process.execPath, [join(ROOT, "bin", "ptq-onnx.js"), ...argv], { cwd: ROOT, encoding: "utf8", ...asUser });
      return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
    };
    // Root may write anywhere; without another user to run as, the check cannot be shown.
    const probe = run(["inspect", join(dir, "m.onnx"), "--json"]);
    if (probe.status !== 0) ctx.skip(`cannot run the CLI as an unprivileged user here: ${probe.stderr.split("\n")[0]}`);
    expectUsageError(run([...args, "-o", join(ro, "q.onnx")]), join(ro, "q.onnx"), /folder .*ro is not writable \(EACCES\)/);
    expect(listDir(ro)).toEqual([]);
    expect(listDir(dir)).toEqual(["d.jsonl", "m.onnx", "ro"]);
  });
});

describe("data export and study check their output folder first", () => {
  it("data export --out FILE and study --out FILE: exit 2 before any work", () => {
    const { dir, model } = setup();
    const before = snapshot(dir);
    expectUsageError(runCli(["data", "export", "wordnet8", "--out", model]), model, /output folder \(--out\) must be a folder/);
    expectUsageError(runCli(["study", "--models", model, "--out", model]), model, /output folder \(--out\) must be a folder/);
    expectUsageError(runCli(["study", "--models", model, "--out", join(dir, "m.onnx", "x")]), join(dir, "m.onnx", "x"), /is not a folder/);
    expect(snapshot(dir)).toEqual(before);
  });

  it("study refuses an output folder that holds an input as one of its files", () => {
    const { dir, model } = setup();
    const out = join(dir, "out");
    mkdirSync(out);
    copyFileSync(model, join(out, "results.json"));
    const r = runCli(["study", "--models", model, "--test-data", join(out, "results.json"), "--out", out]);
    expectUsageError(r, join(out, "results.json"), /output file results.json is the --test-data file/);
    expect(listDir(out)).toEqual(["results.json"]);
  });
});

describe("the default output name is not shared silently", () => {
  it("reruns replace, other settings need --force, and the summary says what was replaced", () => {
    const { dir, args } = setup();
    const out = join(dir, "m.q4a4.onnx");
    const first = runCli([...args, "--json"]);
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ output: out, replaced: false, replaced_made_with: null });
    const bytes = readFileSync(out);
    const table = readFileSync(join(dir, "m.q4a4.calib.json"));

    const rerun = runCli([...args, "--json"]);
    expect(rerun.status, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ replaced: true, replaced_made_with: { wbits: 4, lstm_internals: false, rounding: "nearest" } });
    expect(Buffer.compare(readFileSync(out), bytes)).toBe(0);

    for (const [extra, why] of [
      [["--lstm-internals"], /lstm_internals \(was false, now true\)/],
      [["--rounding", "gptq"], /rounding \(was "nearest", now "gptq"\)/],
      [["--pack-int4"], /pack_int4 \(was false, now true\)/],
      [["--seed", "5"], /seed \(was 0, now 5\)/],
    ] as const) {
      const r = runCli([...args, ...extra]);
      expectUsageError(r, out, why);
      expect(r.stderr).toMatch(/pass --force to replace it or -o to write elsewhere/);
    }
    expect(Buffer.compare(readFileSync(out), bytes)).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, "m.q4a4.calib.json")), table)).toBe(0);

    const forced = runCli([...args, "--lstm-internals", "--force"]);
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/replaced the existing .*m\.q4a4\.onnx \(made with wbits 4, abits 4, granularity per-channel, lstm_internals false/);
    expect(JSON.parse(loadModel(out).metadata.get("ptq-onnx.quantization")!).lstm_internals).toBe(true);

    // -o names the file: the user's to overwrite, and the summary says so.
    const named = runCli([...args, "-o", out, "--json"]);
    expect(named.status, named.stderr).toBe(0);
    expect(JSON.parse(named.stdout)).toMatchObject({ replaced: true, replaced_made_with: { lstm_internals: true } });
  });

  it("a file at the default name that ptq-onnx did not write is kept", () => {
    const { dir, model, args } = setup();
    const out = join(dir, "m.q4a4.onnx");
    copyFileSync(model, out);
    const before = snapshot(dir);
    expectUsageError(runCli(args), out, /already exists and is not a ptq-onnx output; pass --force/);
    expect(snapshot(dir)).toEqual(before);
  });
});

describe("temporary files", () => {
  it("a run removes stale temporary files of its outputs left by dead processes, and keeps live ones", () => {
    const { dir, args } = setup();
    const dead = deadPid();
    const stale = [`.m.q4a4.onnx.${dead}.tmp`, `.m.q4a4.calib.json.${dead}.tmp`, `.m.q4a4.onnx.old.${dead}.tmp`];
    const live = `.m.q4a4.onnx.${process.pid}.tmp`;
    const other = `.other.onnx.${dead}.tmp`;
    for (const f of [...stale, live, other]) writeFileSync(join(dir, f), "partial");
    const r = runCli(args);
    expect(r.status, r.stderr).toBe(0);
    expect(listDir(dir)).toEqual([`${live}`, other, "d.jsonl", "m.onnx", "m.q4a4.calib.json", "m.q4a4.onnx"].sort());
  });
});
