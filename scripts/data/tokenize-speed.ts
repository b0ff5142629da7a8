/**
 * Tokenization speed: the linear-time matcher (src/data/pattern.ts, re2js) against
 * JavaScript's backtracking RegExp, on a zoo data set's split with a zoo model's tokenizer.
 * Checks that both give the same tokens on every row, then prints tokens/s for each.
 *
 *   npx tsx scripts/data/tokenize-speed.ts [MODEL] [--split val] [--repeat 5]
 *
 * Defaults: models/wordnet8-disc.onnx (its ptq-onnx.tokenizer and ptq-onnx.dataset), the
 * validation split, the best of 5 alternating passes each. Prints one JSON line.
 */
import { parseArgs } from "node:util";
import { loadModel } from "../../src/graph/index.ts";
import { loadDataset } from "../../src/data/registry.ts";
import { modelTokenizer } from "../../src/data/resolve.ts";
import type { SplitName } from "../../src/data/dataset.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { split: { type: "string", default: "val" }, repeat: { type: "string", default: "5" } },
});
const modelPath = positionals[0] ?? "models/wordnet8-disc.onnx";
const model = loadModel(modelPath);
const tokenizer = modelTokenizer(model);
const datasetName = model.metadata.get("ptq-onnx.dataset");
if (!tokenizer || !datasetName) throw new Error(`${modelPath} carries no tokenizer or data set name`);
const texts = loadDataset(datasetName).splits[values.split as SplitName].map((ex) => ex.text);
const { pattern, lowercase } = tokenizer.spec;
const regex = new RegExp(pattern, "g");
const viaRegExp = (text: string) => Array.from((lowercase ? text.toLowerCase() : text).matchAll(regex), (m) => m[0]);

let tokens = 0;
for (const text of texts) {
  const a = viaRegExp(text);
  const b = tokenizer.tokens(text);
  if (a.length !== b.length || a.some((t, i) => t !== b[i])) throw new Error(`tokens differ on ${JSON.stringify(text)}`);
  tokens += a.length;
}

/** Seconds for one pass over every text. */
function pass(tokenize: (text: string) => string[]): number {
  const t0 = performance.now();
  for (const text of texts) tokenize(text);
  return (performance.now() - t0) / 1000;
}

// Passes alternate between the two so that other load on the machine hits both alike; the
// best pass of each is the one least disturbed.
let regexpBest = Infinity;
let linearBest = Infinity;
for (let r = 0; r < Number(values.repeat); r++) {
  regexpBest = Math.min(regexpBest, pass(viaRegExp));
  linearBest = Math.min(linearBest, pass((text) => tokenizer.tokens(text)));
}
const regexpRate = tokens / regexpBest;
const linearRate = tokens / linearBest;
console.log(JSON.stringify({
  model: modelPath,
  split: `${datasetName}/${values.split}`,
  rows: texts.length,
  tokens,
  identical: true,
  regexp_tokens_per_s: Math.round(regexpRate),
  linear_tokens_per_s: Math.round(linearRate),
  ratio: Number((linearRate / regexpRate).toFixed(3)),
}));
