/**
 * Records the sha256 of `lowerModel`'s outputs for the tiny zoo fixtures quantized at 8 and 4
 * bits (both MatMul kernels), as test/lower/golden.json. The golden test reruns them and
 * expects the same bytes, so a restructuring of the lowering cannot change its output unnoticed.
 *
 *   npx tsx scripts/lower/golden.ts [OUT.json]     (default test/lower/golden.json)
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { writeFileAtomic } from "../../src/graph/files.ts";
import { loadModel, serializeModel } from "../../src/graph/index.ts";
import { lowerModel, type LowerOptions } from "../../src/lower/index.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const DATA = "test/zoo/fixtures/tiny-test.jsonl";

export interface LowerCase {
  name: string;
  model: string;
  bits: number;
  lower: LowerOptions;
}

/** Each MatMul kernel on every weight (floatWeights 0), and the defaults (a small head as a float op). */
const VARIANTS: [string, LowerOptions][] = [
  ["integer", { matmul: "integer", floatWeights: 0 }],
  ["nbits", { matmul: "nbits", floatWeights: 0 }],
  ["default", {}],
];

export const CASES: LowerCase[] = ["tiny-disc", "tiny-gen"].flatMap((m) =>
  [8, 4].flatMap((bits) => VARIANTS.map(([v, lower]) => ({ name: `${m}-w${bits}-${v}`, model: `test/zoo/fixtures/${m}.onnx`, bits, lower }))),
);

export interface LowerGolden {
  name: string;
  sha256: string;
}

/** Quantizes (natural calibration, 32 rows) and lowers every case in `dir`; returns the lowered models' hashes. */
export async function runCases(dir: string, cases: readonly LowerCase[] = CASES): Promise<LowerGolden[]> {
  const here = process.cwd();
  process.chdir(ROOT);
  try {
    const out: LowerGolden[] = [];
    for (const c of cases) {
      const q = join(dir, `${c.name}.onnx`);
      await quantizeModel({ model: c.model, bits: c.bits, calib: "natural", calibSize: 32, data: DATA, out: q, saveCalibTable: false });
      const model = loadModel(q);
      lowerModel(model, c.lower);
      out.push({ name: c.name, sha256: createHash("sha256").update(serializeModel(model)).digest("hex") });
    }
    return out;
  } finally {
    process.chdir(here);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const target = resolve(process.argv[2] ?? join(ROOT, "test", "lower", "golden.json"));
  const dir = mkdtempSync(join(tmpdir(), "ptq-onnx-lower-golden-"));
  try {
    const entries = await runCases(dir);
    writeFileAtomic(target, JSON.stringify({ note: "sha256 of lowerModel outputs; written by scripts/lower/golden.ts", cases: entries }, null, 2) + "\n");
    for (const e of entries) console.log(`${e.name}: ${e.sha256}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
