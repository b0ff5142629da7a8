/** Shared pieces of the quantization report scripts: test rows, scoring and quantizing. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel } from "../../src/graph/index.ts";
import { loadLabelledData } from "../../src/data/resolve.ts";
import { predictScores } from "../../src/eval/predict.ts";
import { accuracy } from "../../src/eval/metrics.ts";
import { Mulberry32 } from "../../src/data/random.ts";

export interface TestSet {
  ids: number[][];
  labels: number[];
  /** Rows scored per run, chosen so that generative models stay within memory. */
  batch: number;
}

/** The model's zoo test split, or a seeded sample of `rows` of it. */
export function testSet(modelPath: string, rows?: number, seed = 0): TestSet {
  const model = loadModel(modelPath);
  const data = loadLabelledData(model, { split: "test" });
  let idx = data.ids.map((_, i) => i);
  if (rows && rows < idx.length) idx = new Mulberry32(seed).sample(idx, rows).sort((a, b) => a - b);
  const generative = model.metadata.get("ptq-onnx.kind") === "generative";
  return { ids: idx.map((i) => data.ids[i]), labels: idx.map((i) => data.labels[i]), batch: generative ? 16 : 256 };
}

export async function predictions(modelPath: string, set: TestSet): Promise<number[]> {
  return (await predictScores(modelPath, set.ids, { batch: set.batch, intraOpThreads: 2 })).predictions;
}

export function agreement(a: number[], b: number[]): number {
  return a.filter((p, i) => p === b[i]).length / a.length;
}

export { accuracy };

/** A scratch directory for one script run, removed when the process exits (a model per method and width adds up). */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Formats rows as a markdown table. */
export function markdown(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export const pct = (x: number): string => (100 * x).toFixed(1);
