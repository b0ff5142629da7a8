/**
 * The charts of `sensitivity --svg` and `tune`, in the study report's style (src/study/svg.ts:
 * inline SVG, no scripts, marks with classes that tests count).
 */
import { linePlot, PALETTE, type Series } from "../study/svg.ts";
import type { SensitivityResult } from "./sensitivity.ts";

/** Accuracy drop (points) of each tensor quantized alone, by bit width; the uniform quantization dashed. */
export function sensitivitySvg(r: SensitivityResult): string {
  const series: Series[] = r.entries.map((e) => ({ name: `${e.tensor} (${e.kind})`, points: e.points.map((p) => ({ x: p.bits, y: p.drop_points })) }));
  series.push({ name: "all tensors (uniform)", dashed: true, color: "#000", points: r.uniform.map((u) => ({ x: u.bits, y: u.drop_points })) });
  return linePlot({
    id: "sensitivity",
    title: `Sensitivity: ${r.model}`,
    xLabel: "bit width",
    yLabel: `accuracy drop (points, ${r.sample.rows} validation rows)`,
    series,
    categorical: true,
    hlines: [{ y: 0, label: "float" }],
    width: 760,
    height: 380,
  }) + "\n";
}

export interface ParetoPoint {
  /** Position on the x axis, in the axis' unit (MB or ms). */
  x: number;
  accuracy: number;
  label: string;
  uniform: boolean;
}

/** The explored settings' size against validation accuracy: uniform widths, mixed settings, the Pareto front and the chosen point. */
export function paretoSvg(o: { title: string; points: ParetoPoint[]; chosen: ParetoPoint | null; floatAccuracy: number; maxDrop: number; xLabel?: string }): string {
  const mb = (x: number) => x;
  const front: ParetoPoint[] = [];
  for (const p of [...o.points].sort((a, b) => a.x - b.x || b.accuracy - a.accuracy)) {
    if (front.length === 0 || p.accuracy > front[front.length - 1].accuracy) front.push(p);
  }
  const series: Series[] = [
    { name: "mixed settings", markersOnly: true, color: PALETTE[0], points: o.points.filter((p) => !p.uniform).map((p) => ({ x: mb(p.x), y: p.accuracy * 100 })) },
    { name: "uniform widths", markersOnly: true, color: PALETTE[2], points: o.points.filter((p) => p.uniform).map((p) => ({ x: mb(p.x), y: p.accuracy * 100 })) },
    { name: "Pareto front", dashed: true, color: "#777", points: front.map((p) => ({ x: mb(p.x), y: p.accuracy * 100 })) },
  ];
  if (o.chosen) series.push({ name: `chosen: ${o.chosen.label}`, color: PALETTE[1], points: [{ x: mb(o.chosen.x), y: o.chosen.accuracy * 100 }] });
  return linePlot({
    id: "pareto",
    title: o.title,
    xLabel: o.xLabel ?? "model size (MB, exact bytes)",
    yLabel: "validation accuracy (%)",
    series,
    hlines: [
      { y: o.floatAccuracy * 100, label: "float" },
      { y: (o.floatAccuracy * 100) - o.maxDrop, label: `budget: float - ${o.maxDrop} points`, color: PALETTE[1] },
    ],
    width: 760,
    height: 400,
  }) + "\n";
}
