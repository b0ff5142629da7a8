import { InputError } from "./errors.ts";
import { loadModel } from "./io.ts";
import { graphsOf, type Graph, type Model } from "./ir.ts";

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
