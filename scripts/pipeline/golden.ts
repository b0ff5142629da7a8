/**
 * Records the sha256 of `quantizeModel`'s outputs (model and calibration table) for a fixed
 * set of commands, as test/pipeline/golden.json. The pipeline test reruns them and expects the
 * same bytes, so a restructuring of the quantize flow cannot change its output unnoticed.
 * Paths are relative to the repository root (the table records the model path as given).
 *
 *   npx tsx scripts/pipeline/golden.ts [OUT.json]     (default test/pipeline/golden.json)
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { quantizeModel, type QuantizeOptions } from "../../src/pipeline/quantize-file.ts";
import { writeFileAtomic } from "../../src/graph/files.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const DISC = "models/wordnet8-disc.onnx";
const GEN = "test/zoo/fixtures/tiny-gen.onnx";
const GEN_DATA = "test/zoo/fixtures/tiny-test.jsonl";

type Case = { name: string; options: Omit<QuantizeOptions, "out" | "saveCalibTable"> };

/** `calibTable: "@name"` reuses the table written by the case of that name. */
export const CASES: Case[] = [
  { name: "disc-w8", options: { model: DISC, bits: 8, calib: "balanced", calibSize: 64 } },
  { name: "disc-w4", options: { model: DISC, bits: 4, calib: "balanced", calibSize: 64 } },
  { name: "disc-w4-per-tensor-class0", options: { model: DISC, bits: 4, calib: "classes:0", calibSize: 64, granularity: "per-tensor", seed: 3 } },
  { name: "disc-w4-internals", options: { model: DISC, bits: 4, calib: "balanced", calibSize: 64, lstmInternals: true } },
  { name: "disc-w4-gptq", options: { model: DISC, bits: 4, calib: "natural", calibSize: 64, rounding: "gptq" } },
  { name: "disc-w4-int4", options: { model: DISC, bits: 4, calib: "balanced", calibSize: 64, packInt4: true } },
  { name: "disc-w6-from-table-mse", options: { model: DISC, bits: 6, calib: "balanced", calibSize: 64, calibTable: "@disc-w4", observer: "mse" } },
  { name: "gen-w8", options: { model: GEN, bits: 8, calib: "natural", calibSize: 32, data: GEN_DATA } },
  { name: "gen-w4-internals-gptq", options: { model: GEN, bits: 4, calib: "balanced", calibSize: 32, data: GEN_DATA, lstmInternals: true, rounding: "gptq" } },
  { name: "gen-w3a5-int4-gptq", options: { model: GEN, bits: 3, abits: 5, calib: "balanced", calibSize: 32, data: GEN_DATA, packInt4: true, rounding: "gptq" } },
];

export interface GoldenEntry {
  name: string;
  options: Case["options"];
  model_sha256: string;
  table_sha256: string | null;
}

const sha = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Runs every case from the repository root into `dir`; returns the hashes. */
export async function runCases(dir: string, cases: readonly Case[] = CASES): Promise<GoldenEntry[]> {
  const here = process.cwd();
  process.chdir(ROOT);
  try {
    const out: GoldenEntry[] = [];
    for (const c of cases) {
      const table = c.options.calibTable?.startsWith("@") ? join(dir, `${c.options.calibTable.slice(1)}.calib.json`) : c.options.calibTable;
      const model = join(dir, `${c.name}.onnx`);
      await quantizeModel({ ...c.options, calibTable: table, out: model });
      out.push({ name: c.name, options: c.options, model_sha256: sha(model), table_sha256: table ? null : sha(join(dir, `${c.name}.calib.json`)) });
    }
    return out;
  } finally {
    process.chdir(here);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const target = resolve(process.argv[2] ?? join(ROOT, "test", "pipeline", "golden.json"));
  const dir = mkdtempSync(join(tmpdir(), "ptq-onnx-golden-"));
  try {
    const entries = await runCases(dir);
    writeFileAtomic(target, JSON.stringify({ note: "sha256 of quantizeModel outputs; written by scripts/pipeline/golden.ts", cases: entries }, null, 2) + "\n");
    for (const e of entries) console.log(`${e.name}: ${e.model_sha256.slice(0, 16)} ${e.table_sha256?.slice(0, 16) ?? "-"}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
