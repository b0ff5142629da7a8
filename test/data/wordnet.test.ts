import { beforeAll, describe, expect, it } from "vitest";
import { type Dataset, type Example, normaliseSpace, splitNames, splitOf } from "../../src/data/dataset.ts";
import { loadDataset } from "../../src/data/registry.ts";
import { glossDefinition } from "../../src/data/wordnet.ts";

let data: Dataset;
let all: Example[];
beforeAll(() => {
  data = loadDataset("wordnet8");
  all = splitNames.flatMap((s) => data.splits[s]);
});

describe("glossDefinition", () => {
  it("drops quoted usage examples, their separators and attributions", () => {
    expect(glossDefinition('the act of inspecting or verifying; "they made a check"; "the pilot rechecked"  ')).toBe(
      "the act of inspecting or verifying",
    );
    expect(glossDefinition('complete change in character; "the permutations...taking place"- Henry Miller  ')).toBe(
      "complete change in character",
    );
    // A `;` inside an example does not split it.
    expect(glossDefinition('an act; "he said; she said"')).toBe("an act");
  });

  it("keeps definitions with several parts, and text around a quoted word", () => {
    expect(glossDefinition("a journey; a trip around a place")).toBe("a journey; a trip around a place");
    expect(glossDefinition('a demand especially in the phrase "the call of duty"')).toBe("a demand especially in the phrase");
  });
});

describe("WordNet-8", () => {
  it("has the 8 largest noun classes of FINDINGS, largest first", () => {
    expect(data.labels).toEqual(["artifact", "person", "plant", "animal", "act", "communication", "state", "location"]);
  });

  it("has about 57k glosses of about 12 words", () => {
    expect(all.length).toBeGreaterThan(56_000);
    expect(all.length).toBeLessThan(57_300);
    const words = all.reduce((n, ex) => n + ex.text.split(" ").length, 0) / all.length;
    expect(words).toBeGreaterThan(9);
    expect(words).toBeLessThan(15);
    expect(data.stats.raw).toBe(57_273);
  });

  it("has no empty text, no quote left, no repeated text or id", () => {
    expect(all.filter((ex) => ex.text === "")).toEqual([]);
    const texts = new Set(all.map((ex) => normaliseSpace(ex.text)));
    const ids = new Set(all.map((ex) => ex.id));
    // Repeated texts were removed, so no text can carry two labels either.
    expect(texts.size).toBe(all.length);
    expect(ids.size).toBe(all.length);
    expect(all.filter((ex) => ex.text.includes('"'))).toEqual([]);
  });

  it("splits about 80/10/10 by a hash of the synset id", () => {
    expect(data.splits.train.length / all.length).toBeCloseTo(0.8, 1);
    expect(data.splits.val.length / all.length).toBeCloseTo(0.1, 1);
    expect(data.splits.test.length / all.length).toBeCloseTo(0.1, 1);
    for (const split of splitNames) {
      expect(data.splits[split].filter((ex) => splitOf(ex.id) !== split)).toEqual([]);
    }
  });

  it("keeps a given id in the same split from run to run", () => {
    // Pinned: a change here moves examples between train and test of every model in the zoo.
    expect(["n:00001740", "n:00036873", "n:00043873"].map(splitOf)).toEqual(["train", "val", "test"]);
    const find = (id: string) => splitNames.find((s) => data.splits[s].some((ex) => ex.id === id));
    expect(find("n:00035041")).toBe(splitOf("n:00035041"));
  });

  it("has every class in every split", () => {
    for (const split of splitNames) {
      const present = new Set(data.splits[split].map((ex) => ex.label));
      expect(present.size).toBe(8);
    }
  });
});
