import { parseModel, serializeModel, type Graph, type Model, type Node, type Value } from "../graph/index.ts";

/** A model's copy and the way from the original's values and nodes to the copy's. */
export interface ModelCopy {
  model: Model;
  value(v: Value): Value;
  node(n: Node): Node;
}

/**
 * Copies a model through its bytes, so the copy shares nothing with the original, and maps
 * the original's values (by name within their graph) and nodes (by position) onto the copy.
 */
export function copyModel(model: Model): ModelCopy {
  const copy = parseModel(serializeModel(model), model.path);
  // The graph walk visits a model and its copy in the same order.
  const from = model.graphs();
  const to = copy.graphs();
  if (from.length !== to.length) throw new Error("copyModel: the copy's subgraphs differ from the original's");
  const graphs = new Map(from.map((g, i) => [g, to[i]]));
  const graph = (g: Graph): Graph => {
    const c = graphs.get(g);
    if (!c) throw new Error("copyModel: the graph is not part of the copied model");
    return c;
  };
  return {
    model: copy,
    value(v) {
      const c = graph(v.graph).ownValue(v.name);
      if (!c) throw new Error(`copyModel: '${v.name}' is missing from the copy`);
      return c;
    },
    node(n) {
      const c = graph(n.graph).nodes[n.graph.nodes.indexOf(n)];
      if (!c || c.opType !== n.opType) throw new Error(`copyModel: node ${n.label} is missing from the copy`);
      return c;
    },
  };
}
