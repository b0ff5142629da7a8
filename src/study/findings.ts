/**
 * The study's three findings (generative against discriminative sensitivity to bit width,
 * calibration balance and noise), each pooled per model pair with a paired-bootstrap interval
 * and a verdict.
 */
import type { BootstrapBatch } from "../stats/index.ts";
import type { Finding, FindingCondition, Pooled, Verdict } from "./aggregate.ts";
import { type CellData, mean, pts } from "./cell-data.ts";
import type { CellSpec, Plan, PlanModel } from "./plan.ts";

/** Mean correctness per row over cells (e.g. calibration seeds) or runs (noise seeds). */
function meanRows(rows: Uint8Array[]): Float64Array {
  const out = new Float64Array(rows[0].length);
  for (const r of rows) for (let i = 0; i < r.length; i++) out[i] += r[i];
  for (let i = 0; i < out.length; i++) out[i] /= rows.length;
  return out;
}

function rowMean(v: Float64Array): number {
  let s = 0;
  for (const x of v) s += x;
  return s / v.length;
}

const sub = (a: Float64Array, b: Float64Array) => a.map((x, i) => x - b[i]);


/**
 * The verdict from each pair's pooled difference: `holds` when every pooled interval lies
 * above 0, `reversed` when every one lies below 0, `not shown` otherwise. Pairs not scored on
 * the same rows have no interval and count only when no pair has one (by the sign of the mean).
 */
export function verdictOf(pooled: Pooled[]): Verdict {
  if (pooled.length === 0) return "not testable";
  const withCi = pooled.filter((p) => p.ci);
  if (withCi.length) {
    if (withCi.every((p) => p.ci![0] > 0)) return "holds";
    if (withCi.every((p) => p.ci![1] < 0)) return "reversed";
    return "not shown";
  }
  if (pooled.every((p) => p.difference > 0)) return "holds";
  if (pooled.every((p) => p.difference < 0)) return "reversed";
  return "not shown";
}

/** Sets up the findings' bootstraps in `batch`; the returned function builds them once it ran. */
export function findings(plan: Plan, data: CellData, batch: BootstrapBatch): () => Finding[] {
  const s = plan.settings;
  const models = plan.models;
  const disc = models.filter((m) => m.kind === "discriminative");
  const gen = models.filter((m) => m.kind === "generative");
  // Pairs scored on the same test rows can be compared row by row.
  const pairs: { d: PlanModel; g: PlanModel; paired: boolean }[] = [];
  for (const d of disc) for (const g of gen) pairs.push({ d, g, paired: d.test.sha256 === g.test.sha256 });

  const floatOf = (m: PlanModel) => plan.cells.find((c) => c.type === "float" && c.model === m.index)!;
  const quantOf = (m: PlanModel, bits: number, calib: string) =>
    plan.cells.filter((c) => c.type === "quant" && c.model === m.index && c.bits === bits && c.calib === calib);
  /** Clean correctness averaged over calibration seeds; undefined when a cell is missing. */
  const clean = (specs: CellSpec[]): Float64Array | undefined => {
    const rows = specs.map((c) => data.get(c)?.clean);
    return rows.length && rows.every(Boolean) ? meanRows(rows as Uint8Array[]) : undefined;
  };
  const noisy = (specs: CellSpec[], key: string): Float64Array | undefined => {
    const rows = specs.flatMap((c) => data.get(c)?.noisy.get(key) ?? [undefined]);
    return rows.length && rows.every(Boolean) ? meanRows(rows as Uint8Array[]) : undefined;
  };

  /** Per-row differences of each paired condition, pooled per pair for the verdict. */
  const rowsOf = new Map<FindingCondition, Float64Array>();
  const condition = (label: string, pair: (typeof pairs)[number], dv: Float64Array, gv: Float64Array): FindingCondition => {
    const dm = rowMean(dv);
    const gm = rowMean(gv);
    const diff = sub(gv, dv);
    const c: FindingCondition = { label, pair: { discriminative: pair.d.name, generative: pair.g.name }, discriminative: dm, generative: gm, difference: gm - dm, ci: null };
    if (pair.paired) {
      rowsOf.set(c, diff);
      batch.add(diff, (b) => (c.ci = b.ci));
    }
    return c;
  };
  const pool = (conds: FindingCondition[]): Pooled[] =>
    pairs.flatMap((p): Pooled[] => {
      const mine = conds.filter((c) => c.pair.discriminative === p.d.name && c.pair.generative === p.g.name);
      if (!mine.length) return [];
      const pair = { discriminative: p.d.name, generative: p.g.name };
      if (!p.paired) return [{ pair, conditions: mine.length, difference: mean(mine.map((c) => c.difference)), ci: null }];
      const avg = new Float64Array(rowsOf.get(mine[0])!.length);
      for (const c of mine) rowsOf.get(c)!.forEach((x, i) => (avg[i] += x / mine.length));
      const pooled: Pooled = { pair, conditions: mine.length, difference: NaN, ci: null };
      batch.add(avg, (b) => {
        pooled.difference = b.mean;
        pooled.ci = b.ci;
      });
      return [pooled];
    });

  // 1. bit width: drop from float at each bit width, reference calibration.
  const bitsConds: FindingCondition[] = [];
  for (const p of pairs) {
    const fd = clean([floatOf(p.d)]);
    const fg = clean([floatOf(p.g)]);
    for (const bits of s.bits) {
      const qd = clean(quantOf(p.d, bits, s.reference_calib));
      const qg = clean(quantOf(p.g, bits, s.reference_calib));
      if (!fd || !fg || !qd || !qg) continue;
      bitsConds.push(condition(`${bits} bits`, p, sub(fd, qd), sub(fg, qg)));
    }
  }

  // 2. calibration balance: reference calibration minus each other mode, same bit width.
  const calibConds: FindingCondition[] = [];
  for (const p of pairs) {
    for (const mode of s.calib.filter((c) => c !== s.reference_calib)) {
      for (const bits of s.bits) {
        const rd = clean(quantOf(p.d, bits, s.reference_calib));
        const rg = clean(quantOf(p.g, bits, s.reference_calib));
        const md = clean(quantOf(p.d, bits, mode));
        const mg = clean(quantOf(p.g, bits, mode));
        if (!rd || !rg || !md || !mg) continue;
        calibConds.push(condition(`${bits} bits, ${mode}`, p, sub(rd, md), sub(rg, mg)));
      }
    }
  }

  // 3. noise: clean minus noisy accuracy of the same model (float, and each bit width).
  const noiseConds: FindingCondition[] = [];
  for (const p of pairs) {
    const variants: { label: string; d: CellSpec[]; g: CellSpec[] }[] = [
      { label: "float", d: [floatOf(p.d)], g: [floatOf(p.g)] },
      ...s.bits.map((bits) => ({ label: `${bits} bits`, d: quantOf(p.d, bits, s.reference_calib), g: quantOf(p.g, bits, s.reference_calib) })),
    ];
    for (const { kind, levels } of s.noise) {
      for (const level of levels) {
        const key = `${kind}:${level}`;
        for (const v of variants) {
          const cd = clean(v.d);
          const cg = clean(v.g);
          const nd = noisy(v.d, key);
          const ng = noisy(v.g, key);
          if (!cd || !cg || !nd || !ng) continue;
          noiseConds.push(condition(`${v.label}, ${key}`, p, sub(cd, nd), sub(cg, ng)));
        }
      }
    }
  }

  const make = (id: Finding["id"], claim: string, measure: string, conds: FindingCondition[], pooled: Pooled[]): Finding => {
    const verdict = verdictOf(pooled);
    const more = conds.filter((c) => c.ci && c.ci[0] > 0).length;
    const less = conds.filter((c) => c.ci && c.ci[1] < 0).length;
    const meanDiff = pooled.length ? mean(pooled.map((p) => p.difference)) : null;
    let summary: string;
    if (verdict === "not testable") {
      summary = pairs.length === 0
        ? "needs a discriminative and a generative model (ptq-onnx.kind metadata, --kinds, or disc/gen in the file name)"
        : "no condition has all its cells yet";
    } else {
      const n = conds.length;
      const where = (c: FindingCondition) => `${c.label}${pairs.length > 1 ? ` (${c.pair.discriminative} vs ${c.pair.generative})` : ""}`;
      const top = [...conds].sort((a, b) => Math.abs(b.difference) - Math.abs(a.difference))[0];
      const pooledText = pooled
        .map((p) => `${pts(p.difference)} points${p.ci ? ` [${pts(p.ci[0])}, ${pts(p.ci[1])}]` : " (not scored on the same rows: no interval)"}${pairs.length > 1 ? ` for ${p.pair.discriminative} vs ${p.pair.generative}` : ""}`)
        .join("; ");
      summary =
        `generative minus discriminative ${measure}, averaged over ${n} condition${n > 1 ? "s" : ""}: ${pooledText}; ` +
        `per condition, the interval lies above 0 in ${more} and below 0 in ${less}; largest: ${pts(top.difference)} at ${where(top)} ` +
        `(generative ${pts(top.generative)}, discriminative ${pts(top.discriminative)})`;
    }
    return { id, claim, measure, verdict, mean_difference: meanDiff, pooled, significant_more: more, significant_less: less, summary, conditions: conds };
  };

  const pooled = [pool(bitsConds), pool(calibConds), pool(noiseConds)];
  return () => [
    make("bits", "generative classifiers are more sensitive than discriminative ones to the bit width", `accuracy drop from float (${s.reference_calib} calibration)`, bitsConds, pooled[0]),
    make("calibration", "generative classifiers are more sensitive than discriminative ones to calibration balance", `accuracy lost by each other calibration mode against ${s.reference_calib}`, calibConds, pooled[1]),
    make("noise", "generative classifiers are more sensitive than discriminative ones to input noise", "accuracy lost to noise (clean minus noisy, same model)", noiseConds, pooled[2]),
  ];
}
