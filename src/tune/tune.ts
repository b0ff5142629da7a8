/**
 * `ptq-onnx tune`: per-layer weight widths that keep validation accuracy within `maxDrop`
 * points of float at the smallest size (exact bytes of the Q/DQ file) or lowest latency.
 *
 * Search: greedy lowering with backtracking, ordered by sensitivity. One calibration serves
 * every setting. First every uniform width is scored (the baseline), then each layer's
 * weights alone at each storage class (the sensitivity ranking: accuracy drop per byte
 * saved). From every layer at the widest width, the move with the best predicted drop per
 * byte is tried on the whole model; it stays when the validation drop is within the budget,
 * else it is undone and that layer keeps its width (the next move is tried). This needs a
 * handful of full evaluations per layer, where an exhaustive search needs widths^layers, and
 * the moves that matter are few: without packing every width stores one byte per weight, and
 * with INT4 packing (on by default here) only the step from more than 4 bits to 4 changes the
 * size, so a layer is tried at the widest width that takes a smaller storage class.
 * Activation widths do not change a byte of the file, so they stay at the widest width listed.
 *
 * Latency (`objective: "latency"`, the documented simpler version): the same search, each
 * explored setting lowered to onnxruntime's integer kernels (src/lower) and timed in this
 * process at batch 1; a move stays when it is within the budget and not slower.
 */
import { InputError, checkOutputs, loadModel, serializeModel, writeFilesAtomic, type FileToWrite, type Model } from "../graph/index.ts";
import { lowerModel } from "../lower/index.ts";
import { loadEvalData, metricsFor } from "../eval/evaluate.ts";
import { predictScores } from "../eval/predict.ts";
import { createSession } from "../graph/session.ts";
import { recipeFileText, quantizedNodes } from "../pipeline/recipe.ts";
import type { RecipeSettings } from "../pipeline/presets.ts";
import type { Override } from "../passes/policy.ts";
import { checkBitsList, planWith, prepareContext, realizeBytes, scoreBytes, type Context, type ContextOptions } from "./context.ts";
import { paretoSvg, type ParetoPoint } from "./svg.ts";

export const OBJECTIVES = ["size", "latency"] as const;
export type Objective = (typeof OBJECTIVES)[number];
export const DEFAULT_TUNE_BITS = [2, 3, 4, 5, 6, 7, 8];

export interface TuneOptions extends ContextOptions {
  /** Largest validation accuracy drop allowed, in points (percent). */
  maxDrop: number;
  objective?: Objective;
  /** Candidate widths (default 2..8). */
  bits?: number[];
  /** Stop searching after this many minutes (the best setting found so far is kept). */
  budgetMinutes?: number;
  /** The chosen model (default MODEL.tuned.onnx); its recipe and chart beside it. */
  out?: string;
  recipeOut?: string;
  chartOut?: string;
  /** Test rows for the final figures (default: all of the zoo model's test split, or `testData`). */
  testData?: string;
  testRows?: number;
}

export interface ExploredPoint {
  /** `uniform w4a4`, `alone /lstm/LSTM w4`, or the mixed setting's per-layer widths. */
  label: string;
  kind: "uniform" | "alone" | "mixed";
  wbits: Record<string, number>;
  abits: number;
  bytes: number;
  accuracy: number;
  drop_points: number;
  agreement: number;
  /** p50 latency at batch 1 of the lowered form (objective latency only), ms. */
  latency_ms: number | null;
  /** Mixed settings: whether the greedy search kept it. */
  accepted?: boolean;
}

export interface TuneResult {
  model: string;
  objective: Objective;
  max_drop: number;
  met: boolean;
  sample: { rows: number; source: string };
  float: { bytes: number; val_accuracy: number; test_accuracy: number | null };
  layers: { name: string; op: string; weights: number }[];
  /** The cheapest uniform width (bytes, or latency) within the budget on validation (null if none). */
  uniform_baseline: (ExploredPoint & { test_accuracy: number | null }) | null;
  chosen: (ExploredPoint & { test_accuracy: number | null; test_drop_points: number | null }) | null;
  /** The best found when nothing meets the budget: the most accurate explored setting. */
  best_found: ExploredPoint | null;
  /** Chosen cost / uniform baseline cost - 1 (bytes, or latency for objective latency; negative: better). */
  vs_uniform: number | null;
  explored: ExploredPoint[];
  test: { rows: number; source: string } | null;
  files: { model: string; recipe: string; chart: string } | null;
  stopped_by_budget: boolean;
  seconds: { calibrate: number; search: number; test: number; total: number };
}

function defaultPaths(opts: TuneOptions): { model: string; recipe: string; chart: string } {
  const base = opts.model.endsWith(".onnx") ? opts.model.slice(0, -5) : opts.model;
  const model = opts.out ?? `${base}.tuned.onnx`;
  const stem = model.endsWith(".onnx") ? model.slice(0, -5) : model;
  return { model, recipe: opts.recipeOut ?? `${stem}.recipe.json`, chart: opts.chartOut ?? `${stem}.pareto.svg` };
}

/** Weights stored per element: INT4-packed at 4 bits or fewer when packing, else one byte. */
const storageBits = (bits: number, packInt4: boolean): number => (packInt4 && bits <= 4 ? 4 : 8);

function byNodeOf(wbits: Record<string, number>, top: number): Record<string, Override> {
  return Object.fromEntries(Object.entries(wbits).filter(([, b]) => b !== top).map(([n, b]) => [n, { wbits: b }]));
}

function mixedLabel(wbits: Record<string, number>, abits: number): string {
  return `${Object.entries(wbits).map(([n, b]) => `${n}:w${b}`).join(" ")} a${abits}`;
}

async function latencyMs(model: Model, ctx: Context): Promise<number> {
  lowerModel(model); // rewrites `model` (a realized copy nobody else holds) in place
  const bytes = serializeModel(model);
  const session = await createSession(bytes, { intraOpNumThreads: 1 }, `${ctx.file} (lowered)`);
  try {
    const rows = ctx.sample.ids.slice(0, 32);
    const times: number[] = [];
    await predictScores(session, rows.slice(0, 4), { batch: 1, padId: ctx.sample.padId }); // warm-up
    for (let rep = 0; rep < 3; rep++) {
      for (const r of rows) {
        const t = performance.now();
        await predictScores(session, [r], { batch: 1, padId: ctx.sample.padId });
        times.push(performance.now() - t);
      }
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  } finally {
    await session.release();
  }
}

/** Searches per-layer weight widths; writes the chosen model, its recipe and the Pareto chart when the budget is met. */
export async function runTune(opts: TuneOptions): Promise<TuneResult> {
  const started = performance.now();
  const objective = opts.objective ?? "size";
  if (!(OBJECTIVES as readonly string[]).includes(objective)) throw new InputError(`--objective must be size or latency, got '${String(objective)}'`);
  if (!Number.isFinite(opts.maxDrop) || opts.maxDrop < 0 || opts.maxDrop > 100) throw new InputError(`--max-drop must be a number of points from 0 to 100, got ${opts.maxDrop}`);
  if (opts.budgetMinutes !== undefined && !(opts.budgetMinutes > 0)) throw new InputError(`--budget-minutes must be a positive number, got ${opts.budgetMinutes}`);
  if (objective === "latency" && opts.lstmInternals) throw new InputError("--objective latency needs the lowered form, which --lstm-internals models have not");
  const bits = checkBitsList(opts.bits ?? DEFAULT_TUNE_BITS);
  const top = bits[bits.length - 1];
  const packInt4 = opts.packInt4 ?? true;
  const paths = defaultPaths(opts);
  checkOutputs({
    inputs: [
      { path: opts.model, role: "input model" },
      { path: opts.data, role: "--data file" },
      { path: opts.tokenizer, role: "--tokenizer file" },
      { path: opts.testData, role: "--test-data file" },
    ],
    files: [
      { path: paths.model, role: "tuned model" },
      { path: paths.recipe, role: "recipe file" },
      { path: paths.chart, role: "Pareto chart" },
    ],
  });
  // The test rows are loaded (and checked) before the long search; the search never sees them.
  const floatModel = loadModel(opts.model);
  const test = opts.testData !== undefined || floatModel.metadata.has("ptq-onnx.dataset") ? loadEvalData(floatModel, { data: opts.testData, tokenizer: opts.tokenizer, rows: opts.testRows }) : null;

  const ctx = await prepareContext({ ...opts, packInt4 });
  const log = opts.onLog ?? (() => {});
  const t0 = performance.now();
  const deadline = opts.budgetMinutes !== undefined ? started + opts.budgetMinutes * 60_000 : Infinity;
  const explored: ExploredPoint[] = [];
  const layersPlan = planWith(ctx, { bits: top });
  const layerNodes = quantizedNodes(layersPlan).filter((n) => layersPlan.weights.some((w) => w.value.consumers.includes(n)));
  const layers = layerNodes.map((n) => ({
    name: n.name,
    op: n.opType,
    weights: layersPlan.weights.filter((w) => w.value.consumers.includes(n)).reduce((a, w) => a + (w.value.initializer!.data as ArrayLike<number>).length, 0),
  }));

  const evaluate = async (kind: ExploredPoint["kind"], label: string, wbits: Record<string, number>, abits: number, planOpts: Parameters<typeof planWith>[1]): Promise<ExploredPoint> => {
    const p = planWith(ctx, planOpts);
    // Stamped as the written model would be (its recipe named), so that the bytes are exact.
    const { model, bytes } = realizeBytes(ctx, p, paths.recipe);
    const s = await scoreBytes(ctx, bytes, label);
    const point: ExploredPoint = {
      label,
      kind,
      wbits,
      abits,
      bytes: bytes.length,
      accuracy: s.accuracy,
      drop_points: (ctx.float.accuracy - s.accuracy) * 100,
      agreement: s.agreement,
      latency_ms: objective === "latency" && kind !== "alone" ? await latencyMs(model, ctx) : null,
    };
    explored.push(point);
    log(`${label}: ${bytes.length} bytes, validation accuracy ${(s.accuracy * 100).toFixed(2)} % (drop ${point.drop_points.toFixed(2)})${point.latency_ms !== null ? `, ${point.latency_ms.toFixed(2)} ms` : ""}`);
    return point;
  };
  const within = (p: ExploredPoint) => p.drop_points <= opts.maxDrop + 1e-9;
  const cost = (p: ExploredPoint) => (objective === "latency" ? p.latency_ms! : p.bytes);

  // 1. Uniform widths: the baseline the issue compares with.
  for (const b of bits) await evaluate("uniform", `uniform w${b}a${b}`, Object.fromEntries(layers.map((l) => [l.name, b])), b, { bits: b });

  // 2. Sensitivity: each layer's weights alone at the widest width of each smaller storage class (others float).
  const classes = [...new Set(bits.map((b) => storageBits(b, packInt4)))].sort((a, b) => b - a);
  const widestOf = (cls: number) => Math.max(...bits.filter((b) => storageBits(b, packInt4) === cls));
  const alone = new Map<string, number>(); // `${layer}:${bits}` -> drop points
  for (const l of layers) {
    for (const cls of classes.slice(1)) {
      const b = widestOf(cls);
      const others = Object.fromEntries(layerNodes.filter((n) => n.name !== l.name).map((n) => [n.name, { skip: true }]));
      const p = await evaluate("alone", `alone ${l.name} w${b}`, { [l.name]: b }, top, { bits: top, byNode: { ...others, [l.name]: { wbits: b, abits: top } } });
      alone.set(`${l.name}:${b}`, p.drop_points);
    }
  }

  // 3. Greedy lowering with backtracking from every layer at the widest width.
  let stoppedByBudget = false;
  const current: Record<string, number> = Object.fromEntries(layers.map((l) => [l.name, top]));
  let currentPoint = await evaluate("mixed", mixedLabel(current, top), { ...current }, top, { bits: top });
  currentPoint.accepted = within(currentPoint);
  const blocked = new Set<string>();
  if (within(currentPoint)) {
    for (;;) {
      const moves = layers
        .filter((l) => !blocked.has(l.name))
        .flatMap((l) => {
          const cls = classes.find((c) => c < storageBits(current[l.name], packInt4));
          if (cls === undefined) return [];
          const b = widestOf(cls);
          const saved = (l.weights * (storageBits(current[l.name], packInt4) - cls)) / 8;
          // Predicted harm per byte saved; a layer that costs nothing alone goes first, the largest first.
          return [{ layer: l.name, bits: b, saved, score: Math.max(0, alone.get(`${l.name}:${b}`) ?? 0) / saved }];
        })
        .sort((a, b) => a.score - b.score || b.saved - a.saved || (a.layer < b.layer ? -1 : 1));
      if (moves.length === 0) break;
      let accepted = false;
      for (const m of moves) {
        if (performance.now() > deadline) {
          stoppedByBudget = true;
          break;
        }
        const next = { ...current, [m.layer]: m.bits };
        const p = await evaluate("mixed", mixedLabel(next, top), { ...next }, top, { bits: top, byNode: byNodeOf(next, top) });
        const better = objective === "size" ? p.bytes < currentPoint.bytes : p.latency_ms! <= currentPoint.latency_ms!;
        p.accepted = within(p) && better;
        if (p.accepted) {
          Object.assign(current, next);
          currentPoint = p;
          accepted = true;
          break;
        }
        blocked.add(m.layer); // backtrack: undo the move, the layer keeps its width
      }
      if (!accepted || stoppedByBudget) break;
    }
  }
  const searchSeconds = (performance.now() - t0) / 1000;

  // 4. The chosen setting: the cheapest explored setting within the budget (uniform ones included).
  const candidates = explored.filter((p) => p.kind !== "alone" && within(p));
  const byCost = (a: ExploredPoint, b: ExploredPoint) => cost(a) - cost(b) || b.accuracy - a.accuracy;
  const chosenPoint = [...candidates].sort(byCost)[0] ?? null;
  const uniformPoint = [...candidates.filter((p) => p.kind === "uniform")].sort(byCost)[0] ?? null;
  const bestFound = chosenPoint ? null : [...explored.filter((p) => p.kind !== "alone")].sort((a, b) => b.accuracy - a.accuracy || a.bytes - b.bytes)[0];

  const chartPoints: ParetoPoint[] = explored.filter((p) => p.kind !== "alone").map((p) => ({ x: objective === "latency" ? p.latency_ms! : p.bytes / 1e6, accuracy: p.accuracy, label: p.label, uniform: p.kind === "uniform" }));
  const chosenChart = chosenPoint ? chartPoints[explored.filter((p) => p.kind !== "alone").indexOf(chosenPoint)] : null;

  const result: TuneResult = {
    model: opts.model,
    objective,
    max_drop: opts.maxDrop,
    met: chosenPoint !== null,
    sample: { rows: ctx.sample.ids.length, source: ctx.sample.source },
    float: { bytes: ctx.floatBytes, val_accuracy: ctx.float.accuracy, test_accuracy: null },
    layers,
    uniform_baseline: uniformPoint && { ...uniformPoint, test_accuracy: null },
    chosen: null,
    best_found: bestFound ?? null,
    vs_uniform: chosenPoint && uniformPoint ? cost(chosenPoint) / cost(uniformPoint) - 1 : null,
    explored,
    test: test && { rows: test.ids.length, source: test.source },
    files: null,
    stopped_by_budget: stoppedByBudget,
    seconds: { calibrate: ctx.seconds.calibrate, search: searchSeconds, test: 0, total: 0 },
  };
  if (!chosenPoint) {
    result.seconds.total = (performance.now() - started) / 1000;
    return result; // nothing written: the caller reports the best found and exits 1
  }

  // 5. Write the chosen model (stamped with its recipe, as `quantize --recipe` writes it), the recipe and the chart.
  const settings: RecipeSettings = {
    bits: chosenPoint.kind === "uniform" ? chosenPoint.abits : top,
    calib: ctx.table.options.mode,
    calibSize: ctx.table.options.size,
    observer: ctx.observer,
    ...(opts.granularity ? { granularity: opts.granularity } : {}),
    ...(opts.lstmInternals ? { lstmInternals: true } : {}),
    packInt4,
    ...(chosenPoint.kind === "mixed" && Object.keys(byNodeOf(chosenPoint.wbits, top)).length ? { byNode: byNodeOf(chosenPoint.wbits, top) } : {}),
  };
  const chosenPlan = planWith(ctx, { bits: settings.bits, byNode: settings.byNode ?? {} });
  const chosen = realizeBytes(ctx, chosenPlan, paths.recipe);
  const t1 = performance.now();
  const testAccuracy = async (bytes: Uint8Array, label: string): Promise<number> => {
    const r = await predictScores(bytes, test!.ids, { batch: ctx.batch, padId: test!.padId, intraOpThreads: ctx.threads, file: `${opts.model} (${label})` });
    return metricsFor(test!.labels, r, test!.labelNames, test!.source).accuracy;
  };
  if (test) {
    result.float.test_accuracy = await testAccuracy(serializeModel(ctx.source), "float");
    const acc = await testAccuracy(chosen.bytes, "tuned");
    result.chosen = { ...chosenPoint, test_accuracy: acc, test_drop_points: (result.float.test_accuracy - acc) * 100 };
    if (uniformPoint) {
      const u = realizeBytes(ctx, planWith(ctx, { bits: uniformPoint.abits }), paths.recipe);
      result.uniform_baseline = { ...uniformPoint, test_accuracy: uniformPoint === chosenPoint ? acc : await testAccuracy(u.bytes, "uniform") };
    }
  } else result.chosen = { ...chosenPoint, test_accuracy: null, test_drop_points: null };
  result.seconds.test = (performance.now() - t1) / 1000;
  const describe = `ptq-onnx tune ${opts.model} --max-drop ${opts.maxDrop} --objective ${objective}: validation accuracy ${(chosenPoint.accuracy * 100).toFixed(2)} % (float ${(ctx.float.accuracy * 100).toFixed(2)} %), ${chosen.bytes.length} bytes`;
  const chart = paretoSvg({
    title: `tune ${opts.model}: ${objective === "latency" ? "latency" : "size"} against validation accuracy`,
    points: chartPoints,
    chosen: chosenChart,
    floatAccuracy: ctx.float.accuracy,
    maxDrop: opts.maxDrop,
    xLabel: objective === "latency" ? "p50 latency at batch 1, lowered form (ms)" : undefined,
  });
  const files: FileToWrite[] = [
    { path: paths.model, data: chosen.bytes },
    { path: paths.recipe, data: recipeFileText(settings, describe) },
    { path: paths.chart, data: chart },
  ];
  writeFilesAtomic(files);
  result.files = paths;
  result.seconds.total = (performance.now() - started) / 1000;
  return result;
}
