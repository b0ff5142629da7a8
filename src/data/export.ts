import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { InputError } from "../graph/errors.ts";
import { writeFileAtomic } from "../graph/files.ts";
import { checkOutputs } from "../graph/outputs.ts";
import { type SplitName, classCounts, splitNames } from "./dataset.ts";
import { toJsonl } from "./jsonl.ts";
import { type TokenizerSettings, buildTokenizer, loadDataset } from "./registry.ts";

/** What meta.json holds; exportDataset also returns it. */
export interface ExportMeta {
  name: string;
  source: string;
  license: string;
  license_file: string;
  labels: string[];
  tokenizer: { vocab_size: number; max_len: number };
  sizes: Record<SplitName, number>;
  /** Examples per class in each split, indexed like labels. */
  per_class: Record<SplitName, number[]>;
  /** sha256 (hex) of each JSONL file, so that a later run can check it has the same data. */
  sha256: Record<string, string>;
  /** What cleaning removed from the source. */
  cleaning: { raw: number; repeats: number; conflicting: number; empty: number };
}

/**
 * Writes a zoo data set as train/val/test JSONL files ({"id","text","ids","label"} per line),
 * tokenizer.json, labels.json, meta.json and the licence notice, into outDir. Each file is
 * written atomically, and the bytes depend only on the source data and the options: no
 * timestamps or paths go in, so two exports can be compared with sha256.
 */
export function exportDataset(name: string, outDir: string, opts: Partial<TokenizerSettings> = {}): ExportMeta {
  const fixedFiles = [...splitNames.map((s) => `${s}.jsonl`), "tokenizer.json", "labels.json", "meta.json"];
  checkOutputs({ dirs: [{ path: outDir, role: "output folder (--out)" }], files: fixedFiles.map((f) => ({ path: join(outDir, f), role: `output file ${f}` })) });
  const dataset = loadDataset(name);
  const tokenizer = buildTokenizer(dataset, opts);
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (err) {
    throw new InputError(`cannot create output folder: ${(err as Error).message}`, outDir);
  }

  const sha256: Record<string, string> = {};
  for (const split of splitNames) {
    const file = `${split}.jsonl`;
    const lines = dataset.splits[split].map((ex) => ({ id: ex.id, text: ex.text, ids: tokenizer.encode(ex.text), label: ex.label }));
    const bytes = Buffer.from(toJsonl(lines), "utf8");
    writeFileAtomic(join(outDir, file), bytes);
    sha256[file] = createHash("sha256").update(bytes).digest("hex");
  }

  const licenseFile = basename(dataset.noticeFile);
  writeFileAtomic(join(outDir, licenseFile), readFileSync(dataset.noticeFile));
  writeFileAtomic(join(outDir, "tokenizer.json"), JSON.stringify(tokenizer.spec) + "\n");
  writeFileAtomic(join(outDir, "labels.json"), JSON.stringify(dataset.labels) + "\n");

  const splitRecord = <T>(f: (split: SplitName) => T) =>
    Object.fromEntries(splitNames.map((s) => [s, f(s)])) as Record<SplitName, T>;
  const meta: ExportMeta = {
    name: dataset.name,
    source: dataset.source,
    license: dataset.license,
    license_file: licenseFile,
    labels: dataset.labels,
    tokenizer: { vocab_size: tokenizer.vocabSize, max_len: tokenizer.spec.max_len },
    sizes: splitRecord((s) => dataset.splits[s].length),
    per_class: splitRecord((s) => classCounts(dataset.splits[s], dataset.labels.length)),
    sha256,
    cleaning: dataset.stats,
  };
  writeFileAtomic(join(outDir, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
  return meta;
}
