/**
 * Recipes and per-layer overrides: `quantize --recipe NAME|FILE.json` and
 * `--override 'lstm:w4a8,head:w8'`. Parsing and validation (one-line InputErrors), the rule
 * by which a key names a layer of a model, and the merge of a recipe with the options given
 * on the command line (those win).
 *
 * A recipe file is JSON: `{"version": 1, ...RecipeSettings fields, "overrides": {KEY: SPEC}}`
 * where SPEC is `"w4a8"`, `"w8"`, `"a6"`, `"skip"` or `{"wbits": 4, "abits": 8, "skip": false}`.
 * `byNode` / `byOpType` (exact node names and op types) are accepted too; `tune` writes those.
 *
 * A key names a layer (a node that reads a quantized weight or activation), first rule that
 * matches wins:
 *   1. the exact name of a node of the planned model (`/lstm/LSTM`);
 *   2. an op type of a quantized node (`LSTM`, `Gemm`): every node of that type;
 *   3. a segment of a quantized node's name split at `/` (`lstm` for `/lstm/LSTM`, `head` for
 *      `/head/Gemm`); a segment shared by several quantized nodes is ambiguous (an error
 *      listing them).
 * Anything else is an unknown layer (an error listing the near matches and the layers).
 */
import { readFileSync, statSync } from "node:fs";
import { InputError, type Model, type Node } from "../graph/index.ts";
import { GPFQ_INPUTS, WEIGHT_CLIPS, type Override, type QuantPolicy } from "../passes/policy.ts";
import { RECIPE_PRESETS, type RecipeSettings } from "./presets.ts";
import type { QuantPlan } from "./plan.ts";

export const RECIPE_FORMAT = "ptq-onnx.recipe";
export const RECIPE_VERSION = 1;

/** Per-layer overrides as the user wrote them: keys are resolved against a model later. */
export type LayerOverrides = Record<string, Override>;

export interface Recipe {
  /** The preset name or the file, as given: recorded in the output's metadata. */
  source: string;
  settings: RecipeSettings;
  overrides: LayerOverrides;
}

const MIN_BITS = 2;
const MAX_BITS = 8;

function checkBitsValue(bits: unknown, what: string, file?: string): number {
  if (typeof bits !== "number" || !Number.isInteger(bits) || bits < MIN_BITS || bits > MAX_BITS) {
    throw new InputError(`${what} must be an integer from ${MIN_BITS} to ${MAX_BITS}, got ${JSON.stringify(bits)}`, file);
  }
  return bits;
}

/** `w4a8`, `w8`, `a6`, `skip` (or `float`): one layer's override. */
export function parseOverrideValue(text: string, what: string, file?: string): Override {
  const t = text.trim();
  if (t === "skip" || t === "float") return { skip: true };
  const m = /^(?:w(\d+))?(?:a(\d+))?$/.exec(t);
  if (!t || !m) throw new InputError(`${what}: '${text}' is not w<bits>a<bits>, w<bits>, a<bits> or skip`, file);
  const o: Override = {};
  if (m[1] !== undefined) o.wbits = checkBitsValue(Number(m[1]), `${what}: weight bits`, file);
  if (m[2] !== undefined) o.abits = checkBitsValue(Number(m[2]), `${what}: activation bits`, file);
  return o;
}

/**
 * `--override 'lstm:w4a8,head:w8'` (repeatable; later entries win for the same key). The
 * value follows the last `:` so keys may hold `::` (`onnx::LSTM_149`).
 */
export function parseOverrideSpec(spec: string | readonly string[]): LayerOverrides {
  const out: LayerOverrides = {};
  const parts = (typeof spec === "string" ? [spec] : spec).flatMap((s) => s.split(","));
  for (const raw of parts) {
    const part = raw.trim();
    if (!part) continue;
    const at = part.lastIndexOf(":");
    if (at <= 0) throw new InputError(`--override must be LAYER:w<bits>a<bits>[,...], got '${part}'`);
    const key = part.slice(0, at).trim();
    out[key] = parseOverrideValue(part.slice(at + 1), `--override ${key}`);
  }
  if (Object.keys(out).length === 0) throw new InputError("--override names no layer");
  return out;
}

// ---------------------------------------------------------------------------------------
// recipe files

type FieldCheck = (value: unknown, key: string, file: string) => unknown;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function typed(type: "string" | "boolean" | "number", extra?: (v: never, key: string, file: string) => void): FieldCheck {
  return (v, key, file) => {
    if (typeof v !== type || (type === "number" && !Number.isFinite(v))) throw new InputError(`recipe field '${key}' must be a ${type}, got ${JSON.stringify(v)}`, file);
    extra?.(v as never, key, file);
    return v;
  };
}

const bitsField: FieldCheck = (v, key, file) => checkBitsValue(v, `recipe field '${key}'`, file);

function overrideObject(v: unknown, what: string, file: string): Override {
  if (typeof v === "string") return parseOverrideValue(v, what, file);
  if (!isObject(v)) throw new InputError(`${what} must be a string like "w4a8" or an object {wbits, abits, skip}`, file);
  const o: Override = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === "wbits" || k === "abits") o[k] = checkBitsValue(x, `${what}.${k}`, file);
    else if (k === "skip") {
      if (typeof x !== "boolean") throw new InputError(`${what}.skip must be true or false`, file);
      o.skip = x;
    } else throw new InputError(`${what} has an unknown key '${k}' (known: wbits, abits, skip)`, file);
  }
  return o;
}

function overrideMap(v: unknown, key: string, file: string): Record<string, Override> {
  if (!isObject(v)) throw new InputError(`recipe field '${key}' must be an object of layer: override`, file);
  const out: Record<string, Override> = {};
  for (const [name, o] of Object.entries(v)) out[name] = overrideObject(o, `recipe ${key}.${name}`, file);
  return out;
}

/** Every field a recipe may set (RecipeSettings), with its check. */
const SETTING_FIELDS: Record<keyof RecipeSettings, FieldCheck> = {
  bits: bitsField,
  wbits: bitsField,
  abits: bitsField,
  calib: typed("string"),
  calibSize: typed("number", (v: number, key, file) => {
    if (!Number.isInteger(v) || v < 1) throw new InputError(`recipe field '${key}' must be a positive integer, got ${v}`, file);
  }),
  observer: typed("string"),
  granularity: typed("string", (v: string, key, file) => {
    if (v !== "per-channel" && v !== "per-tensor") throw new InputError(`recipe field '${key}' must be per-channel or per-tensor, got ${JSON.stringify(v)}`, file);
  }),
  lstmInternals: typed("boolean"),
  packInt4: typed("boolean"),
  rounding: typed("string", (v: string, key, file) => {
    if (!["nearest", "gptq", "gpfq"].includes(v)) throw new InputError(`recipe field '${key}' must be nearest, gptq or gpfq, got ${JSON.stringify(v)}`, file);
  }),
  actOrder: typed("boolean"),
  dampening: typed("number"),
  gpfqInputs: typed("string", (v: string, key, file) => {
    if (!(GPFQ_INPUTS as readonly string[]).includes(v)) throw new InputError(`recipe field '${key}' must be ${GPFQ_INPUTS.join(" or ")}, got ${JSON.stringify(v)}`, file);
  }),
  groupSize: typed("number"),
  weightClip: typed("string", (v: string, key, file) => {
    if (!(WEIGHT_CLIPS as readonly string[]).includes(v)) throw new InputError(`recipe field '${key}' must be ${WEIGHT_CLIPS.join(" or ")}, got ${JSON.stringify(v)}`, file);
  }),
  weightSymmetric: typed("boolean"),
  biasCorrection: typed("boolean"),
  gatherPassThrough: typed("boolean"),
  embeddingGptq: typed("boolean"),
  equalize: typed("boolean"),
  equalizeAlpha: typed("number"),
  byOpType: overrideMap,
  byNode: overrideMap,
};

const FILE_ONLY_FIELDS = ["version", "format", "describe", "overrides"];

/** Edit distance, for "did you mean" lists. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/** Up to 3 of `candidates` close to `word` (case-insensitive), closest first. */
export function nearMatches(word: string, candidates: Iterable<string>): string[] {
  const w = word.toLowerCase();
  return [...new Set(candidates)]
    .map((c) => ({ c, d: c.toLowerCase().includes(w) || w.includes(c.toLowerCase()) ? 0.5 : distance(w, c.toLowerCase()) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(word.length / 3)))
    .sort((a, b) => a.d - b.d || (a.c < b.c ? -1 : 1))
    .slice(0, 3)
    .map((x) => x.c);
}

/** Validates a recipe file's JSON: its version, known keys only, each field's type and range. */
export function validateRecipe(json: unknown, file: string): Recipe {
  if (!isObject(json)) throw new InputError("a recipe file must hold one JSON object", file);
  if (json.version !== RECIPE_VERSION) throw new InputError(`recipe 'version' must be ${RECIPE_VERSION}, got ${JSON.stringify(json.version ?? null)}`, file);
  if (json.format !== undefined && json.format !== RECIPE_FORMAT) throw new InputError(`recipe 'format' must be ${RECIPE_FORMAT}`, file);
  const settings: RecipeSettings = {};
  for (const [key, value] of Object.entries(json)) {
    if (FILE_ONLY_FIELDS.includes(key)) continue;
    const check = (SETTING_FIELDS as Record<string, FieldCheck>)[key];
    if (!check) {
      const known = [...Object.keys(SETTING_FIELDS), ...FILE_ONLY_FIELDS];
      const near = nearMatches(key, known);
      throw new InputError(`unknown recipe key '${key}'${near.length ? ` (did you mean ${near.join(", ")}?)` : ""}; known: ${known.join(", ")}`, file);
    }
    (settings as Record<string, unknown>)[key] = check(value, key, file);
  }
  if (json.describe !== undefined && typeof json.describe !== "string") throw new InputError("recipe 'describe' must be a string", file);
  const overrides = json.overrides === undefined ? {} : overrideMap(json.overrides, "overrides", file);
  return { source: file, settings, overrides };
}

/** `--recipe NAME` (a preset of presets.ts) or `--recipe FILE.json`. */
export function loadRecipe(arg: string): Recipe {
  const preset = Object.hasOwn(RECIPE_PRESETS, arg) ? RECIPE_PRESETS[arg] : undefined;
  if (preset) return { source: arg, settings: { ...preset.settings }, overrides: {} };
  let text: string;
  try {
    if (!statSync(arg).isFile()) throw new InputError("is not a regular file (a recipe is a preset name or a JSON file)", arg);
    text = readFileSync(arg, "utf8");
  } catch (err) {
    if (err instanceof InputError) throw err;
    const near = nearMatches(arg, Object.keys(RECIPE_PRESETS));
    throw new InputError(`--recipe: '${arg}' is neither a preset (${Object.keys(RECIPE_PRESETS).join(", ")}) nor a readable file${near.length ? `; did you mean ${near.join(", ")}?` : ""}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`is not JSON: ${(err as Error).message}`, arg);
  }
  return validateRecipe(json, arg);
}

/** A recipe file's text (stable key order), as `tune` writes it: rerunnable with `quantize --recipe`. */
export function recipeFileText(settings: RecipeSettings, describe?: string): string {
  const ordered: Record<string, unknown> = { format: RECIPE_FORMAT, version: RECIPE_VERSION };
  if (describe) ordered.describe = describe;
  for (const key of Object.keys(SETTING_FIELDS) as (keyof RecipeSettings)[]) {
    const v = settings[key];
    if (v === undefined) continue;
    ordered[key] = isObject(v) ? sortedObject(v) : v;
  }
  return JSON.stringify(ordered, null, 2) + "\n";
}

function sortedObject<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// ---------------------------------------------------------------------------------------
// merging with the command line

/**
 * The options a run uses: the recipe's settings under the ones given explicitly (defined in
 * `explicit`). An explicit `bits` also replaces the recipe's `wbits`/`abits` (it sets both
 * sides) unless those are given explicitly too. Per-layer maps merge key by key, the
 * command line's `--override` entries last.
 */
export function applyRecipe<T extends Partial<RecipeSettings>>(explicit: T, recipe: Recipe | undefined): T & RecipeSettings {
  const given = Object.fromEntries(Object.entries(explicit).filter(([, v]) => v !== undefined)) as T;
  if (!recipe) return given as T & RecipeSettings;
  const base: RecipeSettings = { ...recipe.settings };
  if (given.bits !== undefined) {
    delete base.wbits;
    delete base.abits;
  }
  const merged = { ...base, ...given } as T & RecipeSettings;
  if (recipe.settings.byNode || given.byNode) merged.byNode = { ...recipe.settings.byNode, ...given.byNode };
  if (recipe.settings.byOpType || given.byOpType) merged.byOpType = { ...recipe.settings.byOpType, ...given.byOpType };
  return merged;
}

// ---------------------------------------------------------------------------------------
// layer names

/** The nodes of a planned model that read a quantized weight or activation: the layers overrides name. */
export function quantizedNodes(plan: Pick<QuantPlan, "model" | "weights" | "activations">): Node[] {
  const nodes = new Set<Node>();
  for (const w of plan.weights) for (const n of w.value.consumers) nodes.add(n);
  for (const a of plan.activations) for (const u of a.uses) nodes.add(u.node);
  return [...plan.model.allNodes()].filter((n) => nodes.has(n));
}

function segments(name: string): string[] {
  return name.split("/").filter((s) => s.length > 0);
}

/**
 * Resolves user keys (exact node name, op type, or node-name segment; see the header) to the
 * policy's `byNode` / `byOpType`. `where` names the source in errors (`--override`, a file).
 */
export function resolveOverrides(
  model: Model,
  layers: readonly Node[],
  overrides: LayerOverrides,
  where: string,
  file?: string,
): Pick<QuantPolicy, "byNode" | "byOpType"> {
  const byNode: Record<string, Override> = {};
  const byOpType: Record<string, Override> = {};
  const allNames = new Set([...model.allNodes()].map((n) => n.name));
  const layerNames = layers.map((n) => n.name);
  const opTypes = new Set(layers.map((n) => n.opType));
  for (const [key, o] of Object.entries(overrides)) {
    if (allNames.has(key)) {
      if (!layerNames.includes(key)) throw new InputError(`${where}: node '${key}' reads no quantized weight or activation; layers: ${layerNames.join(", ")}`, file);
      byNode[key] = { ...byNode[key], ...o };
      continue;
    }
    if (opTypes.has(key)) {
      byOpType[key] = { ...byOpType[key], ...o };
      continue;
    }
    const hits = layers.filter((n) => segments(n.name).includes(key));
    if (hits.length === 1) {
      byNode[hits[0].name] = { ...byNode[hits[0].name], ...o };
      continue;
    }
    if (hits.length > 1) throw new InputError(`${where}: layer '${key}' is ambiguous: it names ${hits.map((n) => n.name).join(", ")}; give the full node name`, file);
    const near = nearMatches(key, [...layerNames, ...layers.flatMap((n) => segments(n.name)), ...opTypes]);
    throw new InputError(`${where}: unknown layer '${key}'${near.length ? `; did you mean ${near.join(", ")}?` : ""} (layers: ${layerNames.join(", ")})`, file);
  }
  return { byNode, byOpType };
}

/** Exact `byNode` / `byOpType` from a recipe file: node names and op types that exist among the layers. */
export function checkExactOverrides(layers: readonly Node[], settings: Pick<RecipeSettings, "byNode" | "byOpType">, file?: string): void {
  const names = layers.map((n) => n.name);
  const ops = [...new Set(layers.map((n) => n.opType))];
  for (const key of Object.keys(settings.byNode ?? {})) {
    if (!names.includes(key)) {
      const near = nearMatches(key, names);
      throw new InputError(`byNode: no quantized layer named '${key}'${near.length ? `; did you mean ${near.join(", ")}?` : ""} (layers: ${names.join(", ")})`, file);
    }
  }
  for (const key of Object.keys(settings.byOpType ?? {})) {
    if (!ops.includes(key)) throw new InputError(`byOpType: no quantized layer has op type '${key}' (op types: ${ops.join(", ")})`, file);
  }
}

/** `{byNode, byOpType}` with sorted keys, or undefined when both are empty: what the metadata records. */
export function overridesStamp(policy: Pick<QuantPolicy, "byNode" | "byOpType">): { by_op_type: Record<string, Override>; by_node: Record<string, Override> } | undefined {
  if (Object.keys(policy.byNode).length === 0 && Object.keys(policy.byOpType).length === 0) return undefined;
  return { by_op_type: sortedObject(policy.byOpType), by_node: sortedObject(policy.byNode) };
}
