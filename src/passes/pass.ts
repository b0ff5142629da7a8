import type { Model } from "../graph/index.ts";
import { validateModel } from "../graph/index.ts";

/** A graph rewrite: a named object with one `run` that says whether it changed the model. */
export interface Pass {
  readonly name: string;
  run(model: Model): boolean;
}

export interface PassResult {
  pass: string;
  changed: boolean;
}

/**
 * Runs passes in order. With `validate` (on in tests), the model is checked after every pass
 * and the first broken invariant is reported with the pass that broke it.
 */
export class PassManager {
  constructor(
    readonly passes: Pass[],
    readonly opts: { validate?: boolean } = {},
  ) {}

  run(model: Model): PassResult[] {
    const results: PassResult[] = [];
    for (const pass of this.passes) {
      const changed = pass.run(model);
      results.push({ pass: pass.name, changed });
      if (this.opts.validate) {
        const problems = validateModel(model);
        if (problems.length) throw new Error(`after pass ${pass.name}: ${problems.join("; ")}`);
      }
    }
    return results;
  }
}

/** Removes dead nodes and unused initializers, and restores topological order. */
export const cleanupPass: Pass = {
  name: "cleanup",
  run(model: Model): boolean {
    const removed = model.graph.cleanup();
    model.graph.toposort();
    return removed > 0;
  },
};
