import type { Model, Node } from "../graph/index.ts";
import type { Pass } from "./pass.ts";

/**
 * A pattern rewrite in the manner of onnxscript's rewrite rules: `match` inspects one node and
 * either returns what `apply` needs or a sentence saying why the rule does not apply.
 */
export interface RewriteRule<M> {
  readonly name: string;
  /** The op type the pattern is anchored on (only those nodes are tried). */
  readonly anchor: string;
  match(node: Node): M | string;
  apply(match: M): void;
}

export interface RuleOutcome {
  rule: string;
  node: string;
  applied: boolean;
  /** Why the rule did not apply, when it did not. */
  reason?: string;
}

/** A pass applying a rule to every anchor node; outcomes are appended to `log` when given. */
export function rulePass<M>(rule: RewriteRule<M>, log?: RuleOutcome[]): Pass {
  return {
    name: rule.name,
    run(model: Model): boolean {
      let changed = false;
      for (const node of model.allNodes()) {
        if (node.opType !== rule.anchor || node.domain) continue;
        const m = rule.match(node);
        if (typeof m === "string") {
          log?.push({ rule: rule.name, node: node.label, applied: false, reason: m });
          continue;
        }
        rule.apply(m);
        log?.push({ rule: rule.name, node: node.label, applied: true });
        changed = true;
      }
      return changed;
    },
  };
}
