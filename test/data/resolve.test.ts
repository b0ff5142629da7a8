import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/registry.ts";
import { loadLabelledData, modelTokenizer } from "../../src/data/resolve.ts";
import { loadModel } from "../../src/graph/index.ts";
import { ROOT } from "../helpers.ts";

/** sha256 of rows as loadLabelledData hashes them, computed here from scratch. */
function rowsSha(ids: number[][], labels: number[]): string {
  const h = createHash("sha256");
  ids.forEach((r, i) => h.update(`${labels[i]}:${r.join(",")}\n`));
  return h.digest("hex");
}

describe("zoo splits are tokenized once per tokenizer", () => {
  const disc = loadModel(`${ROOT}/models/wordnet8-disc.onnx`);
  const gen = loadModel(`${ROOT}/models/wordnet8-gen.onnx`);

  it("models with the same tokenizer metadata share one Tokenizer and one tokenization of a split", () => {
    expect(disc.metadata.get("ptq-onnx.tokenizer")).toBe(gen.metadata.get("ptq-onnx.tokenizer"));
    expect(modelTokenizer(disc)).toBe(modelTokenizer(gen));
    const a = loadLabelledData(disc, { split: "val" });
    const b = loadLabelledData(gen, { split: "val" });
    expect(b.ids).toBe(a.ids);
    expect(b.sha256).toBe(a.sha256);
    // The memo holds what a fresh tokenization gives.
    const tok = modelTokenizer(disc)!;
    const rows = loadDataset("wordnet8").splits.val;
    const fresh = rows.map((r) => tok.encode(r.text));
    expect(a.ids).toEqual(fresh);
    expect(a.sha256).toBe(rowsSha(fresh, rows.map((r) => r.label)));
  });

  it("keeps the last 8 metadata tokenizers, not every one", () => {
    const spec = JSON.parse(disc.metadata.get("ptq-onnx.tokenizer")!);
    const withLen = (n: number) => {
      const m = loadModel(`${ROOT}/models/wordnet8-disc.onnx`);
      m.setMetadata("ptq-onnx.tokenizer", JSON.stringify({ ...spec, max_len: 100 + n }));
      return m;
    };
    const models = Array.from({ length: 9 }, (_, i) => withLen(i));
    const first = models.map((m) => modelTokenizer(m));
    // The 8 most recent are the same objects; the oldest was dropped and is built again.
    models.slice(1).forEach((m, i) => expect(modelTokenizer(m)).toBe(first[i + 1]));
    expect(modelTokenizer(models[0])).not.toBe(first[0]);
  });

  it("another tokenizer tokenizes the split itself", () => {
    const spec = JSON.parse(disc.metadata.get("ptq-onnx.tokenizer")!);
    const short = loadModel(`${ROOT}/models/wordnet8-disc.onnx`);
    short.setMetadata("ptq-onnx.tokenizer", JSON.stringify({ ...spec, max_len: 3 }));
    const full = loadLabelledData(disc, { split: "test" });
    const cut = loadLabelledData(short, { split: "test" });
    expect(cut.ids).not.toBe(full.ids);
    expect(cut.ids).toEqual(full.ids.map((r) => r.slice(0, 3)));
    expect(cut.sha256).toBe(rowsSha(cut.ids, cut.labels));
    expect(cut.sha256).not.toBe(full.sha256);
  });
});
