import { Tensor, type Model, type Node } from "../graph/index.ts";
import type { Pass } from "./pass.ts";

/** Reductions whose `axes` moved from an attribute to an input at opset 18 (ReduceSum did at 13). */
const AXES_TO_INPUT_AT_18 = ["ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"];

/** The IR version each opset needs at least. */
function irFor(opset: number): number {
  if (opset >= 23) return 11;
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  return 8;
}

/**
 * Raises the default-domain opset to `target`, converting ops whose definition changed on the
 * way so the model stays valid: reductions take `axes` as an input from 18, and Split needs
 * `num_outputs` from 18 when it has no `split` input.
 */
export function upgradeOpsetPass(target: number): Pass {
  return {
    name: `upgrade-opset-${target}`,
    run(model: Model): boolean {
      const current = model.opset("") ?? 0;
      if (current >= target) return false;
      for (const node of model.allNodes()) {
        if (node.domain) continue;
        if (current < 18 && target >= 18) convertTo18(node);
      }
      model.setOpset("", target);
      model.proto.irVersion = BigInt(Math.max(model.irVersion, irFor(target)));
      return true;
    },
  };
}

function convertTo18(node: Node): void {
  if (AXES_TO_INPUT_AT_18.includes(node.opType)) {
    const axes = node.getInts("axes");
    if (axes === undefined) return;
    node.removeAttribute("axes");
    const v = node.graph.addInitializer(Tensor.int64(`${node.name || node.opType}_axes`, [axes.length], axes));
    node.setInput(1, v);
  } else if (node.opType === "Split" && !node.inputs[1] && node.getInt("num_outputs") === undefined) {
    node.setAttribute("num_outputs", node.outputs.length);
  }
}
