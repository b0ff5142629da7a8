import { InputError } from "./errors.ts";
import { weightSource } from "./inspect.ts";
import type { Model, Node, Value } from "./ir.ts";
import { DataType } from "./tensor.ts";

/** The inputs and output a token classifier is fed and read through (docs/contract.md section 1). */
export interface ClassifierRoles {
  tokenIds: { name: string; elemType: "int64" | "int32"; seqLen: number | null };
  lengths: { name: string } | null;
  scores: { name: string };
}

/** Graph inputs the caller feeds (old IR versions also list initializers as inputs). */
export function realInputs(model: Model): Value[] {
  return model.graph.inputs.filter((v) => !v.initializer);
}

function isIntegerIds(v: Value): boolean {
  return (v.elemType === DataType.INT64 || v.elemType === DataType.INT32) && v.shape?.length === 2;
}

export function findRoles(model: Model): ClassifierRoles {
  const inputs = realInputs(model);
  const file = model.path;
  let ids = inputs.find((v) => v.name === "input_ids");
  if (!ids) {
    const candidates = inputs.filter(isIntegerIds);
    if (candidates.length !== 1) {
      throw new InputError(
        `cannot find the token-ids input: no input named 'input_ids' and ${candidates.length} two-dimensional integer inputs`,
        file,
      );
    }
    ids = candidates[0];
  }
  if (ids.elemType !== DataType.INT64 && ids.elemType !== DataType.INT32) {
    throw new InputError(`token-ids input '${ids.name}' must be int64 or int32`, file);
  }
  const seq = ids.shape?.[1];
  const lengths = inputs.find((v) => v.name === "lengths");
  const outputs = model.graph.outputs;
  if (outputs.length === 0) throw new InputError("the model has no outputs", file);
  const scores = outputs.find((v) => v.name === "logits" || v.name === "scores") ?? outputs[0];
  return {
    tokenIds: { name: ids.name, elemType: ids.elemType === DataType.INT32 ? "int32" : "int64", seqLen: typeof seq === "number" ? seq : null },
    lengths: lengths ? { name: lengths.name } : null,
    scores: { name: scores.name },
  };
}

/** The role of a named input or output, or null; never throws. */
export function roleOf(model: Model, name: string): "token_ids" | "lengths" | "scores" | null {
  try {
    const r = findRoles(model);
    if (name === r.tokenIds.name) return "token_ids";
    if (r.lengths && name === r.lengths.name) return "lengths";
    if (name === r.scores.name) return "scores";
  } catch {
    // A model without a token-ids input still has a scores output by the contract's rule.
    const outputs = model.graph.outputs;
    const scores = outputs.find((v) => v.name === "logits" || v.name === "scores") ?? outputs[0];
    if (scores && scores.name === name) return "scores";
  }
  return null;
}

/** A Gather that looks token ids up in a 2-D table (an embedding). */
export interface TokenLookup {
  gather: Node;
  /** The value holding the ids it gathers (the token-ids input or something computed from it). */
  indices: Value;
  /** The table's initializer value, behind DequantizeLinear when `quantized`; packed codes when `blockQuantized`. */
  table: Value;
  quantized: boolean;
  /** A com.microsoft.GatherBlockQuantized lookup (a lowered model's 2- or 4-bit embedding): `table` is its [rows, packed bytes] data. */
  blockQuantized: boolean;
}

/**
 * The embedding lookups of a classifier: every Gather whose indices come from the token-ids
 * input (through ops such as Cast, Slice and Concat, but not through Shape or Size) and whose
 * data is a 2-D initializer, read directly or through DequantizeLinear, and every
 * com.microsoft.GatherBlockQuantized over a 2-D table (a lowered model's). The walk does not go
 * past a lookup.
 */
export function tokenLookups(model: Model, maxDepth = 12): TokenLookup[] {
  const start = model.graph.lookup(findRoles(model).tokenIds.name);
  const found: TokenLookup[] = [];
  const seen = new Set<Value>();
  let frontier: Value[] = start ? [start] : [];
  for (let depth = 0; depth < maxDepth && frontier.length; depth++) {
    const next: Value[] = [];
    for (const v of frontier) {
      for (const n of v.consumers) {
        if (n.opType === "Shape" || n.opType === "Size") continue;
        if (n.opType === "Gather" && !n.domain && n.inputs[1] === v && n.inputs[0]) {
          const src = weightSource(n.inputs[0]);
          // A [rows, 1] table is not an embedding: it is the per-row scales `ptq-onnx lower`
          // gathers beside an embedding's int8 rows.
          const dims = src?.value.initializer?.dims;
          if (src && dims?.length === 2 && dims[1] !== 1) {
            found.push({ gather: n, indices: v, table: src.value, quantized: src.quantized, blockQuantized: false });
            continue;
          }
        }
        if (n.opType === "GatherBlockQuantized" && n.domain === "com.microsoft" && n.inputs[1] === v && n.inputs[0]?.initializer?.dims.length === 2) {
          found.push({ gather: n, indices: v, table: n.inputs[0], quantized: true, blockQuantized: true });
          continue;
        }
        for (const o of n.outputs) if (o && !seen.has(o)) (seen.add(o), next.push(o));
      }
    }
    frontier = next;
  }
  return found;
}
