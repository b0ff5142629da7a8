/** The cells' decoded predictions as per-row correctness, shared by the results and the findings. */
import { decodeLabels, type CellSpec, type Plan } from "./plan.ts";
import type { CellFile } from "./tasks.ts";

export function correctness(labels: Int32Array, predictions: Int32Array): Uint8Array {
  const out = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) out[i] = labels[i] === predictions[i] ? 1 : 0;
  return out;
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export const pts = (x: number) => (100 * x).toFixed(2);

/** Per model: decoded labels and, per cell, decoded clean and noisy predictions. */
export class CellData {
  readonly labels: Int32Array[];
  private readonly cache = new Map<string, { clean: Uint8Array; noisy: Map<string, Uint8Array[]> }>();

  constructor(
    readonly plan: Plan,
    readonly cells: Map<string, CellFile>,
  ) {
    this.labels = plan.models.map((m) => decodeLabels(m.test.labels, m.classes));
  }

  get(spec: CellSpec): { clean: Uint8Array; noisy: Map<string, Uint8Array[]> } | undefined {
    const file = this.cells.get(spec.hash);
    if (!file) return undefined;
    let d = this.cache.get(spec.hash);
    if (!d) {
      const m = this.plan.models[spec.model];
      const labels = this.labels[spec.model];
      const noisy = new Map<string, Uint8Array[]>();
      for (const p of file.result.noise) noisy.set(`${p.kind}:${p.level}`, p.runs.map((r) => correctness(labels, decodeLabels(r.predictions, m.classes))));
      d = { clean: correctness(labels, decodeLabels(file.result.predictions, m.classes)), noisy };
      this.cache.set(spec.hash, d);
    }
    return d;
  }

  predictions(spec: CellSpec): Int32Array {
    return decodeLabels(this.cells.get(spec.hash)!.result.predictions, this.plan.models[spec.model].classes);
  }
}
