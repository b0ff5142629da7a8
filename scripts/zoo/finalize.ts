/**
 * Packages the trained zoo models: adds the contract metadata, writes models/<name>.onnx,
 * checks each one against PyTorch and evaluates it on its test split through onnxruntime-node,
 * and writes models/manifest.json.
 *
 *   npx tsx scripts/zoo/finalize.ts [--work out/zoo] [--models models] [--only NAME[,NAME]]
 *
 * Reads, for each model NAME (e.g. wordnet8-gen), WORK/train/NAME.onnx with the
 * NAME.onnx.train.json and NAME.onnx.check.json that scripts/zoo/train.py writes beside it, and
 * the exported data set WORK/data/<dataset>/. scripts/zoo/build.sh runs it last.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { inspectModel, loadModel, saveModel, writeFileAtomic } from "../../src/graph/index.ts";
import { accuracy, classificationReport } from "../../src/eval/metrics.ts";
import { loadDataset } from "../../src/data/registry.ts";
import { Tokenizer } from "../../src/data/tokenizer.ts";
import { openSession, predictScores } from "../../src/eval/predict.ts";
import type { DatasetName } from "../../src/data/registry.ts";

interface ZooEntry {
  name: string;
  dataset: DatasetName;
  kind: "disc" | "gen";
}

export const ZOO: ZooEntry[] = [
  { name: "wordnet8-disc", dataset: "wordnet8", kind: "disc" },
  { name: "wordnet8-gen", dataset: "wordnet8", kind: "gen" },
  { name: "spam-disc", dataset: "spam", kind: "disc" },
  { name: "spam-gen", dataset: "spam", kind: "gen" },
  { name: "wordnet26-disc", dataset: "wordnet26", kind: "disc" },
  { name: "wordnet26-gen", dataset: "wordnet26", kind: "gen" },
  { name: "wordnet8-bilstm", dataset: "wordnet8", kind: "disc" },
];

/** Largest file a zoo model may be. */
const MAX_BYTES = 16 * 1024 * 1024;
/** Largest |ONNX - PyTorch| score difference accepted on the check rows. */
const MAX_CHECK_DIFF = 1e-3;

const { values: args } = parseArgs({
  options: {
    work: { type: "string", default: "out/zoo" },
    models: { type: "string", default: "models" },
    only: { type: "string" },
    threads: { type: "string", default: "1" },
  },
});
const work = args.work!;
const modelsDir = args.models!;
const only = args.only ? new Set(args.only.split(",")) : null;
const threads = Number(args.threads);

const log = (msg: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

function readSplit(path: string): { ids: number[][]; labels: number[] } {
  const ids: number[][] = [];
  const labels: number[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const row = JSON.parse(line);
    ids.push(row.ids);
    labels.push(row.label);
  }
  return { ids, labels };
}

/**
 * Batch sizes that keep the generative graph's [batch x classes x seq x vocab] log-softmax
 * around 50 M floats.
 */
function evalBatch(kind: string, classes: number, maxLen: number, vocab: number): number {
  if (kind === "disc") return 256;
  return Math.max(1, Math.floor(50e6 / (classes * maxLen * vocab)));
}

/**
 * Test rows, from the start of the split, whose accuracy the manifest records separately, so
 * that test/zoo can reproduce a manifest figure through onnxruntime-node in seconds.
 */
const SLICE_ROWS = 200;

/** Accuracy on the first SLICE_ROWS test rows, encoded by the model's own tokenizer. */
async function sliceAccuracy(file: string, dataset: string): Promise<{ rows: number; accuracy: number }> {
  const tokenizer = new Tokenizer(JSON.parse(loadModel(file).metadata.get("ptq-onnx.tokenizer")!));
  const rows = loadDataset(dataset).splits.test.slice(0, SLICE_ROWS);
  const r = await predictScores(file, rows.map((ex) => tokenizer.encode(ex.text)), { batch: 8, intraOpThreads: threads });
  return { rows: rows.length, accuracy: accuracy(rows.map((ex) => ex.label), r.predictions) };
}

const manifestPath = join(modelsDir, "manifest.json");
const previous = existsSync(manifestPath) ? readJson(manifestPath) : { models: [] };
const entries: Record<string, unknown>[] = [];
let failed = false;

for (const z of ZOO) {
  if (only && !only.has(z.name)) {
    const old = (previous.models as { name: string; file: string; test: Record<string, unknown> }[]).find((m) => m.name === z.name);
    if (old) {
      // Entries from before the slice figure gain it; nothing else of theirs changes.
      old.test.slice ??= await sliceAccuracy(join(modelsDir, old.file), z.dataset);
      entries.push(old);
    }
    continue;
  }
  const raw = join(work, "train", `${z.name}.onnx`);
  const dataDir = join(work, "data", z.dataset);
  const train = readJson(`${raw}.train.json`);
  const check = readJson(`${raw}.check.json`);
  const labels: string[] = readJson(join(dataDir, "labels.json"));
  const tokenizer = readJson(join(dataDir, "tokenizer.json"));
  const meta = readJson(join(dataDir, "meta.json"));
  const kind = z.kind === "disc" ? "discriminative" : "generative";

  const model = loadModel(raw);
  model.setMetadata("ptq-onnx.kind", kind);
  model.setMetadata("ptq-onnx.labels", JSON.stringify(labels));
  model.setMetadata("ptq-onnx.tokenizer", JSON.stringify(tokenizer));
  model.setMetadata("ptq-onnx.dataset", z.dataset);
  const file = join(modelsDir, `${z.name}.onnx`);
  saveModel(model, file);
  const bytes = readFileSync(file);
  const size = statSync(file).size;
  log(`${z.name}: wrote ${file} (${size} bytes)`);
  if (size >= MAX_BYTES) {
    log(`${z.name}: FAILED: ${size} bytes is over the ${MAX_BYTES}-byte limit`);
    failed = true;
  }

  const session = await openSession(bytes, { intraOpThreads: threads });
  try {
    // 1. The ONNX graph against the PyTorch forward it was exported from.
    const got = await predictScores(session, check.rows, { batch: 4 });
    let diff = 0;
    got.scores.forEach((row, i) => row.forEach((v, j) => (diff = Math.max(diff, Math.abs(v - check.scores[i][j])))));
    log(`${z.name}: onnxruntime vs PyTorch on ${check.rows.length} rows: max |diff| ${diff.toExponential(2)}`);
    if (!(diff <= MAX_CHECK_DIFF)) {
      log(`${z.name}: FAILED: scores differ from PyTorch by ${diff}`);
      failed = true;
    }

    // 2. Float test accuracy through onnxruntime-node.
    const test = readSplit(join(dataDir, "test.jsonl"));
    const batch = evalBatch(z.kind, labels.length, tokenizer.max_len, tokenizer.vocab.length);
    const t0 = Date.now();
    const pred = await predictScores(session, test.ids, { batch });
    const evalSeconds = (Date.now() - t0) / 1000;
    const report = classificationReport(test.labels, pred.predictions, labels.length);
    log(`${z.name}: test accuracy ${report.accuracy.toFixed(4)}, macro-F1 ${report.macro_f1.toFixed(4)} ` +
      `(${test.ids.length} rows, batch ${batch}, ${evalSeconds.toFixed(0)} s; PyTorch said ${train.torch_test_accuracy.toFixed(4)})`);
    const slice = await sliceAccuracy(file, z.dataset);
    const sliceFromWhole = accuracy(test.labels.slice(0, slice.rows), pred.predictions.slice(0, slice.rows));
    if (Math.abs(slice.accuracy - sliceFromWhole) > 1 / slice.rows) {
      log(`${z.name}: FAILED: the first ${slice.rows} test rows score ${slice.accuracy} alone, ${sliceFromWhole} in the whole split`);
      failed = true;
    }
    if (Math.abs(report.accuracy - train.torch_test_accuracy) > 0.002) {
      log(`${z.name}: FAILED: onnxruntime and PyTorch test accuracies differ`);
      failed = true;
    }

    const summary = inspectModel(model);
    entries.push({
      name: z.name,
      file: relative(modelsDir, file),
      sha256: sha256(bytes),
      bytes: size,
      dataset: z.dataset,
      kind,
      labels,
      splits: meta.sizes,
      data_sha256: meta.sha256,
      tokenizer: { vocab_size: tokenizer.vocab.length, max_len: tokenizer.max_len },
      parameters: summary.parameters,
      opset: model.opset(""),
      ir_version: model.irVersion,
      test: {
        accuracy: report.accuracy,
        macro_f1: report.macro_f1,
        per_class: report.per_class.map((c) => ({ ...c, label: labels[c.label] })),
        confusion: report.confusion,
        runtime: "onnxruntime-node (cpu), float32",
        eval_batch: batch,
        slice,
      },
      onnx_vs_torch_max_diff: diff,
      training: {
        script: "scripts/zoo/train.py",
        settings: train.settings,
        architecture: train.architecture,
        best_epoch: train.best_epoch,
        val_accuracy: train.val_accuracy,
        torch_test_accuracy: train.torch_test_accuracy,
        torch_test_macro_f1: train.torch_test_macro_f1,
        train_seconds: train.train_seconds,
        history: train.history,
        torch: train.torch,
      },
      rebuild: {
        all: "scripts/zoo/build.sh",
        data: `npx tsx scripts/zoo/export-data.ts ${z.dataset} ${work}/data/${z.dataset}`,
        train: train.command,
        finalize: `npx tsx scripts/zoo/finalize.ts --work ${work} --only ${z.name}`,
      },
    });
  } finally {
    await session.release();
  }
}

const manifest = {
  note: "ptq-onnx model zoo. `file` is relative to this manifest; test metrics are float32 through onnxruntime-node on the test split. Rebuild with scripts/zoo/build.sh.",
  models: entries,
};
writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
log(`wrote ${manifestPath}`);
if (failed) {
  log("finalize: some checks FAILED (see above)");
  process.exit(1);
}
