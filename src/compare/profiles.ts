/** Activation profiles: per tensor and per class, the two calibration tables' statistics and histograms. */
import type { StatsJSON } from "../calibrate/stats.ts";
import type { CalibrationTable } from "../calibrate/table.ts";
import { histogramDistance } from "./histograms.ts";
import type { ClassProfile, CompareReport, StatsSummary, TensorProfile } from "./report.ts";

function statsSummary(s: StatsJSON | undefined): StatsSummary | null {
  if (!s) return null;
  return { count: s.count, min: s.min, max: s.max, mean: s.mean, std: s.std };
}

export function compareProfiles(ta: CalibrationTable, tb: CalibrationTable, labels: string[] | undefined, top: number): Omit<CompareReport["profiles"], "status"> {
  const names = Object.keys(ta.tensors).filter((n) => tb.tensors[n]).sort();
  const tensors: TensorProfile[] = names.map((name) => {
    const ea = ta.tensors[name];
    const eb = tb.tensors[name];
    const what = `calibration histogram of ${name}`;
    const classes = Math.max(ea.per_class.length, eb.per_class.length);
    const per_class: ClassProfile[] = [];
    for (let c = 0; c < classes; c++) {
      const sa = ea.per_class[c];
      const sb = eb.per_class[c];
      const ca = sa?.count ?? 0;
      const cb = sb?.count ?? 0;
      per_class.push({
        class: c,
        ...(labels?.[c] !== undefined ? { label: labels[c] } : {}),
        count_a: ca,
        count_b: cb,
        a: ca > 0 ? statsSummary(sa) : null,
        b: cb > 0 ? statsSummary(sb) : null,
        distance: ca > 0 && cb > 0 ? histogramDistance(sa.histogram, sb.histogram, `${what}, class ${c}`) : null,
        from_pooled_a: ca > 0 ? histogramDistance(sa.histogram, ea.stats.histogram, `${what}, class ${c}`) : null,
        from_pooled_b: cb > 0 ? histogramDistance(sb.histogram, eb.stats.histogram, `${what}, class ${c}`) : null,
        histogram_a: ca > 0 ? sa.histogram : null,
        histogram_b: cb > 0 ? sb.histogram : null,
      });
    }
    const a = ea.stats;
    const b = eb.stats;
    const both = a.count > 0 && b.count > 0;
    const wa = both ? a.max! - a.min! : 0;
    return {
      name,
      a: statsSummary(a)!,
      b: statsSummary(b)!,
      distance: both ? histogramDistance(a.histogram, b.histogram, what) : null,
      min_diff: both ? b.min! - a.min! : null,
      max_diff: both ? b.max! - a.max! : null,
      width_ratio: both && wa > 0 ? (b.max! - b.min!) / wa : null,
      histogram_a: a.histogram,
      histogram_b: b.histogram,
      per_class,
    };
  });
  return {
    composition_a: ta.composition.per_class,
    composition_b: tb.composition.per_class,
    mode_a: ta.options.mode,
    mode_b: tb.options.mode,
    tensors,
    most_different: tensors
      .filter((t) => t.distance)
      .sort((x, y) => y.distance!.ks_distance - x.distance!.ks_distance || (x.name < y.name ? -1 : 1))
      .slice(0, top)
      .map((t) => ({ name: t.name, ks_distance: t.distance!.ks_distance, wasserstein: t.distance!.wasserstein })),
    method:
      "From the calibration tables: per tensor (pooled and per class) count, min, max, mean, std and the 64-bin histogram of every " +
      "value observed. A's and B's histograms are compared by the KS distance sup|F_a - F_b| and the Wasserstein-1 distance of " +
      "their binned CDFs (values spread evenly within a bin). No p-values: the values are activations of a few hundred rows, " +
      "strongly dependent within a row, so a test that counts each value as a draw would be meaningless. from_pooled_a/b: each " +
      "class against its own table's pooled histogram.",
  };
}
