import type { Graph, Model, Node, Value } from "../graph/index.ts";

/**
 * The named values of a decomposed LSTM (see decompose-lstm.ts for the names): found again
 * from the Scan nodes' metadata, also after a save and reload, for calibration and for the
 * activation targets of `--lstm-internals`.
 */

export type LstmRole = "x_proj" | "gates" | "gates_i" | "gates_f" | "gates_o" | "i" | "f" | "o" | "g" | "c" | "c_act" | "h";

/** Every role, in the order `lstmInternals` lists them. */
export const LSTM_ROLES: readonly LstmRole[] = ["x_proj", "gates", "gates_i", "gates_f", "gates_o", "i", "f", "o", "g", "c", "c_act", "h"];

export interface LstmInternals {
  /** The original LSTM node's name. */
  lstm: string;
  /** The prefix of the named values (the LSTM's name unless that clashed with existing names). */
  prefix: string;
  /** 0 forward, 1 reverse (the second half of a bidirectional LSTM). */
  direction: number;
  /** The Scan node that replaced this direction. */
  scan: Node;
  /** The Scan body. */
  body: Graph;
  /** The named values that exist (gates_i/f/o only with peepholes); `graph` is the body, or the outer graph for x_proj. */
  tensors: { role: LstmRole; value: Value; graph: Graph }[];
}

export const META_LSTM = "ptq-onnx.lstm";
export const META_PREFIX = "ptq-onnx.lstm_prefix";
export const META_DIRECTION = "ptq-onnx.lstm_direction";

const isDefaultDomain = (n: Node): boolean => n.domain === "" || n.domain === "ai.onnx";

function metadataOf(node: Node): Map<string, string> {
  return new Map(node.proto.metadataProps.map((m) => [m.key, m.value]));
}

/** Finds the named tensors of every decomposed LSTM direction (see the module comment for the names). */
export function lstmInternals(model: Model): LstmInternals[] {
  const out: LstmInternals[] = [];
  for (const scan of model.allNodes()) {
    if (scan.opType !== "Scan" || !isDefaultDomain(scan)) continue;
    const meta = metadataOf(scan);
    const prefix = meta.get(META_PREFIX);
    const body = scan.subgraphs.get("body")?.[0];
    if (prefix === undefined || !body) continue;
    const direction = Number(meta.get(META_DIRECTION) ?? 0);
    const tensors: LstmInternals["tensors"] = [];
    for (const role of LSTM_ROLES) {
      const name = `${prefix}/d${direction}/${role}`;
      const graph = role === "x_proj" ? scan.graph : body;
      const value = graph.ownValue(name);
      if (value && (value.producer || value.isGraphInput || value.initializer)) tensors.push({ role, value, graph });
    }
    out.push({ lstm: meta.get(META_LSTM) ?? prefix, prefix, direction, scan, body, tensors });
  }
  return out;
}
