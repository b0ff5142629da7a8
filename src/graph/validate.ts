import { InputError } from "./errors.ts";
import { loadModel } from "./io.ts";
import { graphsOf, type Graph, type Model } from "./ir.ts";
import { isFloatType } from "./tensor.ts";

/** The IR and default-domain opset range onnxruntime-node 1.30 runs and the contract accepts. */
export const SUPPORTED = { irMin: 7, irMax: 13, opsetMin: 13, opsetMax: 26 } as const;

/**
 * Checks a model for what would make onnxruntime reject it or ptq-onnx misread it, and
 * returns one sentence per problem (empty when valid).
 */
export function validateModel(model: Model): string[] {
  const problems: string[] = [];
  const ir = model.irVersion;
  if (ir < SUPPORTED.irMin || ir > SUPPORTED.irMax) {
    problems.push(`IR version ${ir} is outside what ptq-onnx and onnxruntime-node run (${SUPPORTED.irMin} to ${SUPPORTED.irMax})`);
  }
  const opset = model.opset("");
  if (opset === undefined) problems.push("the model imports no default-domain (ai.onnx) opset");
  else if (opset < SUPPORTED.opsetMin || opset > SUPPORTED.opsetMax) {
    problems.push(`default-domain opset ${opset} is outside what ptq-onnx and onnxruntime-node run (${SUPPORTED.opsetMin} to ${SUPPORTED.opsetMax})`);
  }
  validateGraph(model.graph, problems);
  return problems;
}

/** Problems of a graph and of its subgraphs at any depth. */
export function validateGraph(graph: Graph, problems: string[] = []): string[] {
  for (const g of graphsOf(graph)) validateOne(g, problems);
  return problems;
}

function validateOne(graph: Graph, problems: string[]): void {
  const where = graph.parent ? ` in subgraph ${graph.proto.name || "(unnamed)"}` : "";
  const seen = new Set<unknown>();
  for (const v of graph.inputs) seen.add(v);
  for (const v of graph.initializers) seen.add(v);
  for (const node of graph.nodes) {
    node.inputs.forEach((v, i) => {
      if (!v) return;
      const defined = v.producer !== null || v.initializer !== undefined || v.isGraphInput;
      if (!defined) {
        problems.push(`input ${i} '${v.name}' of node ${node.label}${where} is not produced by any node, graph input or initializer`);
      } else if (v.graph === graph && v.producer && !seen.has(v)) {
        problems.push(`node ${node.label}${where} reads '${v.name}' before ${v.producer.label} produces it (not topologically sorted, or a cycle)`);
      }
    });
    for (const v of node.outputs) if (v) seen.add(v);
  }
  for (const v of graph.outputs) {
    if (v.producer === null && v.initializer === undefined && !v.isGraphInput && v.graph === graph) {
      problems.push(`graph output '${v.name}'${where} is not produced by any node`);
    }
  }
}

/** Loads and validates a model; every problem is an InputError naming the file. */
export function loadValidModel(path: string): Model {
  const model = loadModel(path);
  const problems = validateModel(model);
  if (problems.length) throw new InputError(problems[0] + (problems.length > 1 ? ` (and ${problems.length - 1} more problems)` : ""), path);
  return model;
}

/**
 * Weights larger than this in magnitude are reported (not refused): trained LSTM classifier
 * weights are of order 1 to 10 (the largest in the zoo is about 5), and one weight of 1e6 stretches a
 * tensor's quantization range so far that at 8 bits every ordinary weight rounds to zero.
 */
export const WEIGHT_MAGNITUDE_WARNING = 1e6;

export interface WeightCheck {
  /** Non-finite weights: quantization cannot represent them (exit 2). */
  errors: string[];
  /** Absurdly large weights: quantized as asked, but almost surely garbage. */
  warnings: string[];
}

/**
 * Checks the values of every float initializer of more than one element, in every graph.
 * Scalars are left alone: they are clamp bounds and fill values (a mask's -inf, Clip's
 * FLT_MAX), which quantization keeps float.
 */
export function checkWeights(model: Model): WeightCheck {
  const out: WeightCheck = { errors: [], warnings: [] };
  for (const g of model.graphs()) {
    for (const v of g.initializers) {
      const t = v.initializer!;
      if (!isFloatType(t.dataType) || t.size <= 1) continue;
      const values = t.toNumbers();
      let bad = -1;
      let badCount = 0;
      let max = 0;
      for (let i = 0; i < values.length; i++) {
        const x = values[i];
        if (!Number.isFinite(x)) {
          if (bad < 0) bad = i;
          badCount++;
        } else if (Math.abs(x) > max) max = Math.abs(x);
      }
      if (bad >= 0) {
        out.errors.push(`weight tensor '${t.name}' has ${badCount} non-finite value${badCount === 1 ? "" : "s"} (the first, ${values[bad]}, at index ${bad})`);
      } else if (max > WEIGHT_MAGNITUDE_WARNING) {
        out.warnings.push(`weight tensor '${t.name}' has values up to ${max.toPrecision(3)} in magnitude (above ${WEIGHT_MAGNITUDE_WARNING.toExponential()}): its quantization range will swamp its ordinary weights`);
      }
    }
  }
  return out;
}
