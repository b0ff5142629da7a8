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

describe("WordNet-26", () => {
  let data26: Dataset;
  let all26: Example[];
  beforeAll(() => {
    data26 = loadDataset("wordnet26");
    all26 = splitNames.flatMap((s) => data26.splits[s]);
  });

  it("has all 26 noun lexicographer classes, by synset count, WordNet-8's first", () => {
    // Pinned: the zoo models' outputs are in this order.
    expect(data26.labels).toEqual([
      ...data.labels,
      ...["attribute", "substance", "cognition", "group", "food", "body", "object", "quantity", "event"],
      ...["possession", "time", "process", "phenomenon", "relation", "feeling", "shape", "Tops", "motive"],
    ]);
    // Counts after dedupe; the order is by synset count before it, so neighbours may swap.
    const counts = data26.labels.map((_, c) => all26.filter((ex) => ex.label === c).length);
    expect(counts[0] / all26.length).toBeCloseTo(0.142, 3);
    expect(counts.slice(-2)).toEqual([51, 42]);
  });

  it("reads every noun synset and removes repeats and conflicting texts", () => {
    // Every noun synset of WordNet 3.1; dedupe numbers as measured by the zoo build.
    expect(data26.stats).toEqual({ raw: 82_192, repeats: 603, conflicting: 8, empty: 0 });
    expect(all26.length).toBe(81_561);
    // A conflicting text loses at least two copies.
    expect(all26.length).toBeLessThanOrEqual(data26.stats.raw - data26.stats.repeats - 2 * data26.stats.conflicting);
    const texts = new Set(all26.map((ex) => normaliseSpace(ex.text)));
    expect(texts.size).toBe(all26.length);
    expect(new Set(all26.map((ex) => ex.id)).size).toBe(all26.length);
    expect(all26.filter((ex) => ex.text === "" || ex.text.includes('"'))).toEqual([]);
  });

  it("has the split sizes the zoo models were trained on, by the same hash as WordNet-8", () => {
    expect([data26.splits.train.length, data26.splits.val.length, data26.splits.test.length]).toEqual([65_224, 8_017, 8_320]);
    for (const split of splitNames) {
      expect(data26.splits[split].filter((ex) => splitOf(ex.id) !== split)).toEqual([]);
      // Even noun.motive (42 glosses) and noun.Tops (51) reach every split.
      expect(new Set(data26.splits[split].map((ex) => ex.label)).size).toBe(26);
    }
  });

  it("agrees with WordNet-8 on every gloss both keep", () => {
    const label26 = new Map(all26.map((ex) => [ex.id, data26.labels[ex.label]]));
    const shared = all.filter((ex) => label26.has(ex.id));
    // The only WordNet-8 glosses missing here repeat, word for word, a gloss of another noun class.
    expect(all.length - shared.length).toBeLessThanOrEqual(data26.stats.conflicting);
    expect(shared.filter((ex) => label26.get(ex.id) !== data.labels[ex.label])).toEqual([]);
  });
});
