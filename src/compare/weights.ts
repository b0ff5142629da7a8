/** Weights: per quantized layer, quantization error, scales and zero points of A against B, with tests. */
import { DataType, dataTypeName, loadValidModel, type Model, type Value } from "../graph/index.ts";
import { PassManager, makePolicy, preparationPasses } from "../passes/index.ts";
import { dequantize, readQdq, type QuantizedWeight } from "../quant/qdq.ts";
import { hashString, pick, subsampleIndices, summarize } from "../stats/describe.ts";
import { ks2samp } from "../stats/ks.ts";
import { mannWhitneyU } from "../stats/mannwhitney.ts";
import { wilcoxon } from "../stats/wilcoxon.ts";
import { arraysEqual, holmFamily, ran, skipped } from "./outcomes.ts";
import type { CompareReport, ErrorSummary, LayerComparison, Outcome, QuantizationMeta } from "./report.ts";

/** The quantized weights of a model by name, from the one Q/DQ reader. */
function weightsByName(model: Model): Map<string, QuantizedWeight> {
  return new Map(readQdq(model).weights.map((w) => [w.name, w]));
}

function errorSummary(deq: ArrayLike<number>, float: Float64Array): { errors: Float64Array; summary: ErrorSummary } {
  const errors = new Float64Array(deq.length);
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < deq.length; i++) {
    errors[i] = deq[i] - float[i];
    signal += float[i] * float[i];
    noise += errors[i] * errors[i];
  }
  return { errors, summary: { ...summarize(errors), sqnr_db: noise > 0 ? 10 * Math.log10(signal / noise) : null } };
}

/** Float weights by name, from the float model prepared as `meta` was (LSTM decomposition renames and transposes W and R). */
function floatWeights(floatFile: string, meta: QuantizationMeta, names: Iterable<string>): Map<string, Float64Array> {
  const model = loadValidModel(floatFile);
  const policy = makePolicy({ wbits: meta.wbits, abits: meta.abits, granularity: meta.granularity, lstmInternals: meta.lstm_internals, packInt4: meta.pack_int4, equalize: meta.equalize !== undefined, equalizeAlpha: meta.equalize });
  new PassManager(preparationPasses(model, policy)).run(model);
  const byName = new Map<string, Value>();
  for (const g of model.graphs()) for (const v of g.initializers) byName.set(v.name, v);
  const out = new Map<string, Float64Array>();
  for (const name of names) {
    const v = byName.get(name);
    if (v?.initializer && v.initializer.dataType === DataType.FLOAT) out.set(name, v.initializer.toNumbers());
  }
  return out;
}

export function compareWeights(
  ma: Model,
  mb: Model,
  meta: { a: QuantizationMeta; b: QuantizationMeta },
  floatFile: string | undefined,
  opts: { seed: number; maxSample: number; top: number },
  notes: string[],
): CompareReport["weights"] {
  const qa = weightsByName(ma);
  const qb = weightsByName(mb);
  const names = [...qa.keys()].filter((n) => qb.has(n)).sort();
  let floatA: Map<string, Float64Array> | null = null;
  let floatB: Map<string, Float64Array> | null = null;
  if (floatFile) {
    floatA = floatWeights(floatFile, meta.a, names);
    const samePrep = meta.a.lstm_internals === meta.b.lstm_internals && meta.a.pack_int4 === meta.b.pack_int4 && meta.a.equalize === meta.b.equalize;
    floatB = samePrep ? floatA : floatWeights(floatFile, meta.b, names);
  }
  const layers: LayerComparison[] = [];
  for (const name of names) {
    const a = qa.get(name)!;
    const b = qb.get(name)!;
    if (!arraysEqual(a.dims, b.dims)) {
      notes.push(`weight ${name} has shape [${a.dims}] in A but [${b.dims}] in B: not compared`);
      continue;
    }
    const da = dequantize(a);
    const db = dequantize(b);
    let changed = 0;
    for (let i = 0; i < da.length; i++) if (da[i] !== db[i]) changed++;
    const fa = floatA?.get(name);
    const fb = floatB?.get(name);
    let errA: ReturnType<typeof errorSummary> | null = null;
    let errB: ReturnType<typeof errorSummary> | null = null;
    if (fa && fb && fa.length === da.length && fb.length === db.length) {
      errA = errorSummary(da, fa);
      errB = errorSummary(db, fb);
    } else if (floatFile) {
      notes.push(`weight ${name}: no float weight of that name and shape in ${floatFile}; its error was not tested`);
    }

    let mw: Outcome;
    let ks: Outcome;
    if (errA && errB) {
      const n = errA.errors.length;
      const idx = subsampleIndices(n, opts.maxSample, (opts.seed ^ hashString(name)) >>> 0);
      const sub = idx.length < n;
      const xa = sub ? pick(errA.errors, idx) : errA.errors;
      const xb = sub ? pick(errB.errors, idx) : errB.errors;
      const note = sub ? `, on a deterministic subsample of ${idx.length} of ${n} elements (the same positions in A and B; seed ${opts.seed})` : "";
      const rm = mannWhitneyU(xa, xb);
      const rk = ks2samp(xa, xb);
      mw = ran(rm, rm.method + note);
      ks = ran(rk, rk.method + note);
    } else {
      const why = floatFile ? "no matching float weight" : "needs the float model (--float)";
      mw = skipped("mann_whitney_u", why);
      ks = skipped("ks_2samp", why);
    }

    let sw: Outcome;
    const scalesEqual = arraysEqual(a.scales, b.scales);
    if (a.scales.length !== b.scales.length || a.axis !== b.axis) sw = skipped("wilcoxon", "A and B use different scale granularity");
    else if (a.scales.length < 2) sw = skipped("wilcoxon", "per-tensor scale: one pair, nothing to rank");
    else if (scalesEqual) sw = skipped("wilcoxon", "every per-channel scale is equal in A and B");
    else sw = ran(wilcoxon(b.scales, a.scales)); // B - A: effect > 0 when B's scales are larger

    const effect = ks.skipped === undefined ? ks.statistic : sw.skipped === undefined ? Math.abs(sw.effect_size) : 0;
    layers.push({
      name,
      shape: a.dims,
      elements: da.length,
      a: { code_type: dataTypeName(a.codeType), axis: a.axis, channels: a.scales.length },
      b: { code_type: dataTypeName(b.codeType), axis: b.axis, channels: b.scales.length },
      changed_fraction: changed / da.length,
      error_a: errA?.summary ?? null,
      error_b: errB?.summary ?? null,
      scales_a: summarize(a.scales),
      scales_b: summarize(b.scales),
      zero_points_a: summarize(a.zeroPoints),
      zero_points_b: summarize(b.zeroPoints),
      scales_equal: scalesEqual,
      zero_points_equal: arraysEqual(a.zeroPoints, b.zeroPoints),
      tests: { error_mann_whitney: mw, error_ks: ks, scales_wilcoxon: sw },
      effect,
    });
  }
  holmFamily(layers.map((l) => l.tests.error_mann_whitney));
  holmFamily(layers.map((l) => l.tests.error_ks));
  holmFamily(layers.map((l) => l.tests.scales_wilcoxon));
  const ranked = [...layers].sort((x, y) => y.effect - x.effect || y.changed_fraction - x.changed_fraction || (x.name < y.name ? -1 : 1));
  const tested = layers.filter((l) => l.tests.error_ks.skipped === undefined).length;
  return {
    layers,
    only_in_a: [...qa.keys()].filter((n) => !qb.has(n)).sort(),
    only_in_b: [...qb.keys()].filter((n) => !qa.has(n)).sort(),
    error_tests: floatFile ? `ran on ${tested} of ${layers.length} layers` : "skipped: the quantization error needs the float model (--float)",
    most_different: ranked.slice(0, opts.top).map((l) => ({ name: l.name, effect: l.effect, changed_fraction: l.changed_fraction })),
    method:
      "Per layer, the quantization errors e = dequantized - float of A and of B are compared with Mann-Whitney U and two-sample KS " +
      `(scipy 1.10 defaults; layers over ${opts.maxSample} elements are subsampled at the same positions in A and B), and the per-channel ` +
      "scales of A and B with the Wilcoxon signed-rank test (pairs: channels). Each test is Holm-adjusted across layers (p_holm). " +
      "The elements of a weight tensor are not independent draws, so read the p-values as a measure of how separated the two " +
      "distributions are rather than as exact error rates. Layers are ranked by the KS statistic D of their errors (else |rank-biserial| of the scales).",
  };
}
