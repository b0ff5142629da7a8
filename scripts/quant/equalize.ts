/**
 * What exact embedding equalization (src/passes/equalize-embedding.ts) does to accuracy:
 * each model is quantized as it is and after equalization (same float function), at the
 * given weight/activation widths, and scored on its zoo test split.
 *
 *   npx tsx scripts/quant/equalize.ts [MODELS...] [--widths 3/3,4/4,2/8] [--rows N] [--per-tensor] [--alpha A]
 *
 * Defaults: models/wordnet8-disc.onnx, balanced calibration of 512 rows, per-channel weights.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { quantizeModel } from "../../src/pipeline/quantize-file.ts";
import { loadModel, saveModel } from "../../src/graph/index.ts";
import { equalizeEmbeddingPass, type EqualizedPair } from "../../src/passes/equalize-embedding.ts";
import { accuracy, markdown, pct, predictions, scratchDir, testSet } from "./common.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    widths: { type: "string", default: "3/3,4/4,2/8" },
    rows: { type: "string" },
    "per-tensor": { type: "boolean", default: false },
    alpha: { type: "string", default: "0.5" },
  },
});
const models = positionals.length ? positionals : ["models/wordnet8-disc.onnx"];
const widths = values.widths.split(",").map((w) => w.split("/").map(Number) as [number, number]);
const granularity = values["per-tensor"] ? "per-tensor" : "per-channel";
const dir = scratchDir("ptq-equalize-");
const table: (string | number)[][] = [];

for (const path of models) {
  const name = path.split("/").pop()!.replace(/\.onnx$/, "");
  const set = testSet(path, values.rows ? Number(values.rows) : undefined);
  const model = loadModel(path);
  const report: EqualizedPair[] = [];
  equalizeEmbeddingPass({ alpha: Number(values.alpha) }, report).run(model);
  if (!report.length) {
    console.log(`${path}: no embedding feeds an LSTM directly; nothing to equalize`);
    continue;
  }
  const equalized = join(dir, `${name}.eq.onnx`);
  saveModel(model, equalized);
  table.push([name, "float", "", pct(accuracy(set.labels, await predictions(path, set))), pct(accuracy(set.labels, await predictions(equalized, set)))]);
  for (const [wbits, abits] of widths) {
    const acc: string[] = [];
    for (const [tag, source] of [["plain", path], ["eq", equalized]]) {
      const out = join(dir, `${name}.${tag}.w${wbits}a${abits}.onnx`);
      await quantizeModel({ model: source, out, bits: wbits, wbits, abits, calib: "balanced", granularity, force: true });
      acc.push(pct(accuracy(set.labels, await predictions(out, set))));
    }
    table.push([name, `W${wbits}A${abits}`, granularity, ...acc]);
  }
  console.log(`${path}: equalized ${report.map((r) => `${r.embedding} -> ${r.weight} (${r.scaled} columns rescaled)`).join(", ")}`);
}
console.log(`\ntest accuracy in % (${values.rows ? `${values.rows} test rows` : "whole test split"}), alpha ${values.alpha}\n`);
console.log(markdown(["model", "widths", "weights", "as is", "equalized"], table));
