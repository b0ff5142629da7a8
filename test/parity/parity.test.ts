import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { predictScores } from "../../src/eval/predict.ts";
import { loadModel, saveModel } from "../../src/graph/index.ts";
import { findEmulator } from "../../src/parity/emulator.ts";
import { compareRuns, makeBatches, WORKER } from "../../src/parity/parity.ts";
import { cpuinfoText, findProfile, PROFILES } from "../../src/parity/profiles.ts";
import { fixtureModel, ROOT, tempDir } from "../helpers.ts";
import { dynamicQuantize } from "../../src/lower/ort-dynamic.ts";

/** Labelled id rows that fit every fixture's embedding (30 to 50 rows), 3 classes, seeded. */
function writeRows(dir: string, n: number, name = "rows.jsonl"): string {
  let s = 11;
  const rand = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({ ids: Array.from({ length: 1 + Math.floor(rand() * 10) }, () => 2 + Math.floor(rand() * 28)), label: i % 3 }),
  );
  const path = join(dir, name);
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

/** The CLI with extra environment variables (helpers.runCli passes the test's own). */
function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "ptq-onnx.js"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, PTQ_ONNX_DEBUG: "", ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function emulationMissing(): string | undefined {
  try {
    findEmulator();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

const missing = emulationMissing();
// CI sets PTQ_ONNX_REQUIRE_ARM64=1 after `npm run arm64:setup`, so a broken setup fails there
// instead of skipping.
const required = process.env.PTQ_ONNX_REQUIRE_ARM64 === "1";

const dir = tempDir("ptq-onnx-parity-");
const rows = writeRows(dir, 12);

describe("parity without emulation", () => {
  it("exits 2 with one line naming what is missing and how to install it", () => {
    const empty = join(dir, "empty-home");
    mkdirSync(empty, { recursive: true });
    const r = cli(["parity", fixtureModel("disc-tiny"), "--data", rows, "--json"], { PTQ_ONNX_ARM64_HOME: empty });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`arm64 Node.js 20.x at ${join(empty, "node", "bin", "node")}`);
    expect(r.stderr).toContain("npm run arm64:setup");
  });

  it("rejects bad options before looking for the emulator", () => {
    const cases: [string[], RegExp][] = [
      [["--profiles", "a72,z80"], /unknown profile "z80" \(known: a53, a72, a76, n1, n2, max, wasm\)/],
      [["--rows", "0"], /--rows must be an integer of at least 1/],
      [["--min-agreement", "1.5"], /--min-agreement must be a number from 0 to 1, got '1.5'/],
    ];
    for (const [extra, message] of cases) {
      const r = cli(["parity", fixtureModel("disc-tiny"), "--data", rows, ...extra], { PTQ_ONNX_ARM64_HOME: join(dir, "nowhere") });
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(message);
    }
  });

  it("profiles describe an ARM core consistently", () => {
    for (const p of PROFILES) {
      const text = cpuinfoText(p);
      expect(text).toMatch(/^processor\t: 0\n/);
      expect(text).toContain(`Features\t: ${p.features.join(" ")}\n`);
      expect(text).toContain("CPU implementer\t: 0x41\n");
      expect(p.features).toEqual(expect.arrayContaining(["fp", "asimd"]));
    }
    expect(findProfile("a72")!.features).not.toContain("asimddp");
    expect(findProfile("n1")!.features).toContain("asimddp");
    expect(findProfile("n2")!.features).toEqual(expect.arrayContaining(["i8mm", "sve2"]));
  });

  it("compareRuns counts top-1 differences, the largest score gap and maps rows back", () => {
    const native = [[1, 0], [0, 1], [2, 1], [0, 0.5]];
    const emulated = [[1, 0], [1, 0.5], [2, 1.25], [0, 0.5]];
    const r = compareRuns(native, emulated, [0, 1, 0, 0], [10, 20, 30, 40]);
    expect(r).toEqual({ accuracy: 0.5, agreement: 0.75, max_score_diff: 1, disagreement_count: 1, disagreements: [20], passed: false });
    expect(compareRuns(native, native, [0, 1, 0, 1], [0, 1, 2, 3], 1).passed).toBe(true);
    expect(compareRuns([[0, NaN]], [[0, 1]], [0], [0]).max_score_diff).toBe(Infinity);
  });

  it("the worker, run natively, gives predictScores' scores for the same batches", async () => {
    const ids = [[3, 4, 5], [6], [7, 8, 9, 10, 11], [2, 2], [12, 13, 14]];
    const cfg = {
      model: fixtureModel("gen-tiny"),
      threads: 1,
      output: "scores",
      rows: ids.length,
      inputs: { ids: "input_ids", idsType: "int64", lengths: "lengths", lengthsType: "int64" },
      batches: makeBatches(ids, 2, 0),
    };
    writeFileSync(join(dir, "cfg.json"), JSON.stringify(cfg));
    const r = spawnSync(process.execPath, [WORKER, join(dir, "cfg.json"), join(dir, "out.json")], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(readFileSync(join(dir, "out.json"), "utf8"));
    expect(out.arch).toBe(process.arch);
    expect(out.classes).toBe(3);
    const ref = await predictScores(fixtureModel("gen-tiny"), ids, { batch: 2, intraOpThreads: 1 });
    out.scores.forEach((row: number[], i: number) => row.forEach((v, c) => expect(v).toBeCloseTo(ref.scores[i][c], 5)));
  });
});

describe.skipIf(missing !== undefined && !required)(`parity under qemu-user${missing ? ` (emulation unavailable: ${missing})` : ""}`, () => {
  it("the emulator is set up (PTQ_ONNX_REQUIRE_ARM64=1 makes a missing one fail here)", () => {
    expect(missing).toBeUndefined();
  });

  it("a float model agrees 100% with native on a72 and n1, and --json has the contract's fields", () => {
    const r = cli(["parity", fixtureModel("disc-tiny"), "--data", rows, "--profiles", "a72,n1", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.rows).toBe(12);
    expect(out.native.arch).toBe(process.arch);
    expect(typeof out.native.accuracy).toBe("number");
    expect(out.profiles.map((p: { name: string }) => p.name)).toEqual(["a72", "n1"]);
    for (const p of out.profiles) {
      expect(Object.keys(p)).toEqual(expect.arrayContaining(["name", "accuracy", "agreement", "max_score_diff", "disagreements"]));
      expect(p.agreement).toBe(1);
      expect(p.disagreements).toEqual([]);
      expect(p.accuracy).toBe(out.native.accuracy);
      expect(p.max_score_diff).toBeLessThan(1e-4);
    }
    expect(out.passed).toBe(true);
    expect(out.arm64_node.split(".")[0]).toBe(process.versions.node.split(".")[0]);
  });

  it("a 4-bit quantized model (Q/DQ inside the LSTM) agrees too; the text report says how many rows", async () => {
    const q = join(dir, "disc.q4.onnx");
    await quantizeModel({ model: fixtureModel("disc-tiny"), out: q, bits: 4, calib: "balanced", data: rows, calibSize: 12, lstmInternals: true, saveCalibTable: false });
    const r = cli(["parity", q, "--data", rows, "--rows", "8", "--profiles", "n1"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("8 of 12 rows (a fixed sample");
    expect(r.stdout).toMatch(/^n1\s+neoverse-n1\s+\d\.\d{4}\s+1\.0000\s/m);
    expect(r.stdout).toContain("passed: every profile agrees");
  });

  it("checks an onnxruntime dynamic-int8 model (DynamicQuantizeLSTM + MatMulInteger) and reports what it finds", () => {
    const model = loadModel(fixtureModel("bilstm-tiny"));
    expect(dynamicQuantize(model)).toEqual({ lstm: 1, matmul: 1 });
    const path = join(dir, "bilstm.dynamic.onnx");
    saveModel(model, path);
    const r = cli(["parity", path, "--data", rows, "--profiles", "a72,n1", "--json"]);
    expect(r.stderr).toBe("");
    const out = JSON.parse(r.stdout);
    // Whatever the agreement is, the exit status and the verdict follow it.
    expect(r.status).toBe(out.passed ? 0 : 1);
    for (const p of out.profiles) {
      expect(p.passed).toBe(p.agreement >= 1);
      expect(p.disagreement_count).toBe(Math.round((1 - p.agreement) * out.rows));
    }
  });
});
