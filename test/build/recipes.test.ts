/**
 * Build recipes beyond the basic options: `format: "ort"` (the lowered model that `quantize
 * --format ort` writes), a named preset (`recipe: "best"`) under the recipe's own keys, and
 * quantize's other options (GPFQ rounding, weight clipping, bias correction, ...). Each
 * artifact's `command` is run through the real CLI and must write the same bytes; the lowered
 * artifacts are scored against their float model like the Q/DQ ones.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { planBuild } from "../../src/build/plan.ts";
import { readBuildFile } from "../../src/build/spec.ts";
import { loadModel } from "../../src/graph/index.ts";
import { runCli, tempDir } from "../helpers.ts";
import { cli, writeBuildFile } from "./data.ts";

const root = tempDir("ptq-onnx-build-recipes-");
const RECIPES = [
  { name: "ort8", bits: 8, calib: "balanced", calib_size: 30, format: "ort" },
  // The preset's settings (GPTQ with act-order, asymmetric weights clipped for mse, ...) under the recipe's own keys.
  { name: "best4-ort", recipe: "best", bits: 4, calib: "balanced", calib_size: 30, format: "ort" },
  { name: "best4-sym", recipe: "best", bits: 4, calib: "natural", calib_size: 30, weight_symmetric: true, observer: "mse" },
  { name: "gpfq4", wbits: 4, abits: 8, calib: "balanced", calib_size: 30, rounding: "gpfq", weight_clip: "mse", bias_correction: true, act_order: true, override: { LSTM: "w8" } },
];
const buildFile = writeBuildFile(root, (b) => {
  b.recipes = RECIPES;
  b.bench = { batches: [1], runs: 2, warmup: 0 };
});
const out = join(root, "out");

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));

interface Entry {
  id: string;
  recipe: string;
  format: string;
  file: string;
  calib_table: string;
  sha256: string;
  calib_table_sha256: string;
  accuracy: number;
  float_accuracy: number;
  agreement: number;
  latency_ms: Record<string, number>;
  command: string;
}
let entries: Entry[];

beforeAll(() => {
  const r = cli(["build", buildFile, "--out", out, "--jobs", "1", "--json"]);
  expect(r.status, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ built: 8, complete: true });
  entries = readJson(join(out, "manifest.json")).artifacts;
});

const kernels = (path: string) => [...loadModel(path).allNodes()].map((n) => `${n.domain || "ai.onnx"}:${n.opType}`);

describe("build recipes: format ort", () => {
  it("an ort artifact is the lowered model, scored and timed against its float model", () => {
    const ort = entries.filter((e) => RECIPES.find((r) => r.name === e.recipe)!.format === "ort");
    expect(ort.map((e) => e.id)).toEqual(["tiny-disc.ort8", "tiny-disc.best4-ort", "tiny-gen.ort8", "tiny-gen.best4-ort"]);
    for (const e of ort) {
      expect(e.format).toBe("ort");
      expect(e.command).toContain(" --format ort ");
      const ops = kernels(join(out, e.file));
      expect(ops, e.id).toContain("com.microsoft:DynamicQuantizeLSTM");
      expect(ops, e.id).not.toContain("ai.onnx:LSTM");
      expect(loadModel(join(out, e.file)).metadata.get("ptq-onnx.format")).toBe("ort");
      expect(e.latency_ms["1"]).toBeGreaterThan(0);
    }
    const html = readFileSync(join(out, "index.html"), "utf8");
    expect(html).toContain("<th>format</th>");
    expect(html).toContain("<td>W8A8</td><td>ort</td>");
    // At 8 bits the lowered model keeps the float model's predictions on the 40 test rows.
    for (const e of ort.filter((x) => x.recipe === "ort8")) {
      expect(e.agreement, e.id).toBeGreaterThanOrEqual(0.95);
      expect(Math.abs(e.accuracy - e.float_accuracy), e.id).toBeLessThanOrEqual(0.05);
    }
    for (const e of entries.filter((x) => !ort.includes(x))) {
      expect(e.format).toBe("qdq");
      expect(kernels(join(out, e.file)).some((op) => op.startsWith("com.microsoft:"))).toBe(false);
    }
  });

  it("every artifact's command writes the same model and calibration table", () => {
    for (const e of entries) {
      const dir = join(root, "by-hand", e.id);
      mkdirSync(dir, { recursive: true });
      expect(e.command).not.toMatch(/'/);
      const r = runCli(e.command.split(" ").slice(1), { cwd: dir });
      expect(r.status, `${e.id}: ${r.stderr}`).toBe(0);
      expect(sha(join(dir, `${e.id}.onnx`)), e.id).toBe(e.sha256);
      expect(sha(join(dir, `${e.id}.calib.json`)), e.id).toBe(e.calib_table_sha256);
    }
  });
});

describe("build recipes: presets and quantize's options", () => {
  it("the preset's settings sit under the recipe's own keys, as quantize --recipe merges them", () => {
    const [, best, sym, gpfq] = readBuildFile(buildFile).recipes;
    expect(best).toMatchObject({ recipe: "best", rounding: "gptq", act_order: true, weight_symmetric: false, weight_clip: "mse", embedding_gptq: true, gather_pass_through: true, observer: "percentile:99.9" });
    expect(sym).toMatchObject({ recipe: "best", weight_symmetric: true, observer: "mse", rounding: "gptq" });
    expect(gpfq).toMatchObject({ recipe: null, wbits: 4, abits: 8, rounding: "gpfq", weight_clip: "mse", bias_correction: true, act_order: true, weight_symmetric: true, override: { LSTM: { wbits: 8 } } });
    const command = (recipe: string) => entries.find((e) => e.id === `tiny-disc.${recipe}`)!.command;
    // A setting is named where it differs from what quantize takes without its flag: the preset's value, else the default.
    expect(command("best4-sym")).toMatch(/ --recipe best --bits 4 .* --observer mse .* --weight-symmetric /);
    expect(command("best4-sym")).not.toMatch(/--act-order|--weight-clip|--embedding-gptq/);
    expect(command("gpfq4")).toMatch(/ --wbits 4 --abits 8 .* --rounding gpfq --act-order --weight-clip mse --bias-correction --override LSTM:w8 /);
    // The override reached quantize: the LSTM's weights at 8 bits, the rest at 4.
    const gpfqStamp = JSON.parse(loadModel(join(out, "artifacts", "tiny-disc.gpfq4.onnx")).metadata.get("ptq-onnx.quantization")!);
    expect(gpfqStamp).toMatchObject({ wbits: 4, abits: 8, overrides: { by_op_type: { LSTM: { wbits: 8 } }, by_node: {} } });
    expect(command("gpfq4")).not.toContain("--recipe");
    // quantize records the preset in the model's settings.
    const stamp = JSON.parse(loadModel(join(out, "artifacts", "tiny-disc.best4-sym.onnx")).metadata.get("ptq-onnx.quantization")!);
    expect(stamp).toMatchObject({ recipe: "best", observer: "mse", rounding: "gptq+act-order", weight_clip: "mse", embedding_gptq: true });
    // Symmetric weights are the default, which the stamp leaves out; best's own asymmetric weights it records.
    expect(stamp.weight_symmetric).toBeUndefined();
    expect(JSON.parse(loadModel(join(out, "artifacts", "tiny-disc.best4-ort.onnx")).metadata.get("ptq-onnx.quantization")!)).toMatchObject({ recipe: "best", weight_symmetric: false });
  });

  it("a qdq and an ort recipe of the same settings have different hashes; the cache never takes one for the other", () => {
    const asQdq = writeBuildFile(
      root,
      (b) => {
        b.recipes = RECIPES.map((r) => (r.name === "ort8" ? { ...r, format: "qdq" } : r));
        b.bench = { batches: [1], runs: 2, warmup: 0 };
      },
      "BUILD-qdq.json",
    );
    const ortPlan = planBuild(readBuildFile(buildFile), buildFile);
    const qdqPlan = planBuild(readBuildFile(asQdq), asQdq);
    ortPlan.artifacts.forEach((a, i) => {
      const b = qdqPlan.artifacts[i];
      expect(b.id).toBe(a.id);
      if (a.id.endsWith(".ort8")) {
        expect(b.hash).not.toBe(a.hash);
        expect(a.command).toBe(b.command.replace(" --seed 0 ", " --seed 0 --format ort "));
      } else expect(b.hash).toBe(a.hash);
    });
    // Into the same folder: the two ort8 artifacts are made again as Q/DQ models, the rest are cached.
    const r = cli(["build", asQdq, "--out", out, "--jobs", "1", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ built: 2, cached: 6, complete: true });
    const qdq = readJson(join(out, "manifest.json")).artifacts.find((e: Entry) => e.id === "tiny-disc.ort8");
    expect(qdq.format).toBe("qdq");
    expect(kernels(join(out, qdq.file))).toContain("ai.onnx:LSTM");
  });
});

describe("build recipes: combinations quantize refuses", () => {
  const refused = (recipe: Record<string, unknown>, ...parts: (string | RegExp)[]) => {
    const file = writeBuildFile(root, (b) => (b.recipes = [{ calib: "balanced", bits: 4, ...recipe }]), `bad-${recipe.name}.json`);
    const dir = join(root, `refused-${recipe.name}`);
    const r = cli(["build", file, "--out", dir]);
    expect(r.status, r.stderr).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    for (const p of [file, `recipes[0] "${recipe.name}"`, ...parts]) expect(lines[0]).toMatch(p);
    expect(r.stdout).toBe("");
    expect(existsSync(dir)).toBe(false);
  };

  it("format ort with LSTM internals (which lower refuses), also when a preset sets them", () => {
    refused({ name: "li", lstm_internals: true, format: "ort" }, 'format "ort" cannot take lstm_internals');
    refused({ name: "study-ort", recipe: "study", format: "ort" }, "lstm_internals (set by the preset study)");
  });

  it("options quantize refuses together, in the build file's key names", () => {
    refused({ name: "ao", act_order: true }, "act_order applies to rounding gptq or gpfq only");
    refused({ name: "best-nearest", recipe: "best", rounding: "nearest" }, "applies to rounding gptq", "with the preset best's settings");
    refused({ name: "gs", group_size: 48 }, "group_size must be 32, 64, 128, got 48");
    refused({ name: "alpha", equalize: true, equalize_alpha: 2 }, "equalize_alpha must be in (0, 1], got 2");
    refused({ name: "cr", chunk_rows: 8 }, 'chunk_rows and float_weights are lowering options: they need format "ort"');
    refused({ name: "preset", recipe: "bestest" }, 'recipe must be a preset name (default, study, best), got "bestest"');
  });

  it("what a model's graph does not allow names the recipe and the model", () => {
    refused({ name: "g32", group_size: 32 }, "group size 32 exceeds the input width 24", 'models[0] "tiny-disc"');
    // tiny-gen has no layer named head.
    refused({ name: "head8", override: { head: "w8" } }, "override: unknown layer 'head'", 'models[1] "tiny-gen"');
    refused({ name: "w9", override: { LSTM: "w9" } }, "override LSTM: weight bits must be an integer from 2 to 8, got 9");
  });
});
