import { statSync } from "node:fs";
import {
  InputError,
  checkOutputs,
  checkWeights,
  externalDataFiles,
  findRoles,
  loadModel,
  serializeModel,
  validateModel,
  writeFilesAtomic,
  type FileToWrite,
  type Model,
  type NamedPath,
} from "../graph/index.ts";
import { loadLabelledData, modelLabels } from "../data/resolve.ts";
import { makePolicy, roundingSpec, type GpfqInputs, type QuantPolicy, type EqualizedPair, type QuantReport, type Rounding, type WeightClip } from "../passes/index.ts";
import { parseObserver } from "../calibrate/observers.ts";
import { checkedCalibrationTableText, readCalibrationTable, sha256File, type CalibrationTable } from "../calibrate/table.ts";
import { calibrate, tableEqualization } from "./calibrate.ts";
import { plan } from "./plan.ts";
import { recordGpfq } from "./gpfq.ts";
import { gpfqSetting, needsGpfqMoments } from "./gpfq-setting.ts";
import { realize, RealizeMemo } from "./realize.ts";
import { checkReplace, type Replaced } from "./replace.ts";
import { quantizationStamp } from "./stamp.ts";
import { checkExactOverrides, overridesStamp, quantizedNodes, resolveOverrides, type LayerOverrides } from "./recipe.ts";

export interface QuantizeOptions {
  model: string;
  /** Output path; default MODEL with `.q{wbits}a{abits}.onnx` in place of `.onnx`. */
  out?: string;
  bits: number;
  wbits?: number;
  abits?: number;
  calib: string;
  calibSize?: number;
  data?: string;
  tokenizer?: string;
  /** Leave out calibration rows whose label is not a class of the model (with a warning) instead of failing. */
  skipBadLabels?: boolean;
  observer?: string;
  granularity?: "per-channel" | "per-tensor";
  lstmInternals?: boolean;
  packInt4?: boolean;
  /** Reuse this calibration table instead of calibrating. */
  calibTable?: string;
  /** Where to write the calibration table; default OUT with `.calib.json` in place of `.onnx`. */
  saveCalibTable?: string | false;
  seed?: number;
  /** Weight rounding: to nearest, or GPTQ's or GPFQ's error compensation from calibration inputs. */
  rounding?: Rounding;
  /** GPTQ/GPFQ act-order; GPTQ dampening (fraction of the mean Hessian diagonal, 0.01). */
  actOrder?: boolean;
  dampening?: number;
  /** GPFQ: the quantized model's layer inputs (default; calibration layer by layer) or the float model's (x̃ = x). */
  gpfqInputs?: GpfqInputs;
  /** Group-wise weight scales along the inputs (32, 64 or 128). */
  groupSize?: number;
  /** Weights: symmetric signed codes, zero point 0 (default), or asymmetric (min/max mapped onto every code: 4 levels at 2 bits, not 3). */
  weightSymmetric?: boolean;
  /** Weight scales from each channel's min/max (`max`, default) or its MSE-optimal clipping (`mse`). */
  weightClip?: WeightClip;
  /** Fold each layer's mean output error (W - Q(W)) E[x] into its bias (calibration records E[x]). */
  biasCorrection?: boolean;
  /** Leave rows gathered from a quantized table (the embedding's output) as its codes, not re-quantized per tensor. */
  gatherPassThrough?: boolean;
  /** GPTQ-round an embedding table's rows against the weight of the layer that reads them (needs rounding gptq). */
  embeddingGptq?: boolean;
  /**
   * Exact embedding equalization before calibration (s from the table's column maxima), with
   * its alpha in (0, 1] (0.5 by default); reported, not an error, where the graph allows none.
   */
  equalize?: boolean;
  equalizeAlpha?: number;
  /** Replace an existing file at the default output path even if other settings made it. */
  force?: boolean;
  byOpType?: QuantPolicy["byOpType"];
  byNode?: QuantPolicy["byNode"];
  /** Per-layer bits keyed as the user wrote them (node name, op type or name segment; see recipe.ts). */
  overrides?: LayerOverrides;
  /** The recipe the settings came from (preset name or file), recorded in the metadata. */
  recipe?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface QuantizeResult {
  output: string;
  wbits: number;
  abits: number;
  calibration: {
    mode: string;
    size: number;
    per_class: number[];
    shortfalls: { class: number; asked: number; available: number }[];
    source: string;
    observer: string;
    table: string | null;
  };
  quantized: string[];
  details: QuantReport["quantized"];
  left_float: QuantReport["leftFloat"];
  /** With bias correction: per weight, the bias corrected (null when there was none to correct, with the reason). */
  bias_correction: QuantReport["biasCorrection"];
  /**
   * With --equalize: the embedding / LSTM input-weight pairs equalized (`scaled`: columns whose
   * scale is not 1), empty where the graph allows none; null without --equalize.
   */
  equalization: EqualizedPair[] | null;
  bytes: { input: number; output: number };
  /** Whether an existing file at `output` was replaced, and its ptq-onnx settings if it had them. */
  replaced: boolean;
  replaced_made_with: Replaced["made_with"];
  /** Problems that did not stop quantization (absurd weight magnitudes), also printed on stderr. */
  warnings: string[];
}

export const DEFAULT_CALIB_SIZE = 512;
export const DEFAULT_OBSERVER = "percentile:99.99";
/**
 * With quantized LSTM internals the cell state and gate sums have long tails; min/max and
 * percentile ranges collapse a WordNet-8 LSTM at 4 bits while MSE-optimal clipping holds.
 */
export const DEFAULT_INTERNALS_OBSERVER = "mse";

export function defaultOutput(model: string, wbits: number, abits: number): string {
  const base = model.endsWith(".onnx") ? model.slice(0, -5) : model;
  return `${base}.q${wbits}a${abits}.onnx`;
}

/** The number of classes: the labels in the metadata, else the scores' width, else the data's largest label + 1. */
export function numClasses(model: Model, labels: number[]): number {
  const names = modelLabels(model);
  if (names) return names.length;
  const out = model.graph.outputs.find((v) => v.name === findRoles(model).scores.name);
  const dim = out?.shape?.[1];
  return typeof dim === "number" ? dim : Math.max(...labels) + 1;
}

/** Where the calibration table goes (null: none is written), next to the model by default. */
export function tableOutput(opts: QuantizeOptions, out: string): string | null {
  if (opts.calibTable || opts.saveCalibTable === false) return null;
  return opts.saveCalibTable ?? (out.endsWith(".onnx") ? out.slice(0, -5) : out) + ".calib.json";
}

/** Every file quantize reads, for the check that no output overwrites one (the model's external data with `model`). */
export function quantizeInputs(opts: QuantizeOptions, model?: Model): NamedPath[] {
  return [
    { path: opts.model, role: "input model" },
    { path: opts.data, role: "--data file" },
    { path: opts.tokenizer, role: "--tokenizer file" },
    { path: opts.calibTable, role: "--calib-table file" },
    ...(model ? externalDataFiles(model) : []).map((path) => ({ path, role: "model's external data file" })),
  ];
}

/**
 * Checks every output before any work: none is an input or a folder, each can be written,
 * and an existing default-named output may be replaced (see checkReplace).
 */
function checkQuantizeOutputs(
  opts: QuantizeOptions,
  model: Model,
  policy: QuantPolicy,
  run: { out: string; size: number; seed: number; observer: string; format: OutputForm["format"] },
): { tableOut: string | null; replaced: Replaced } {
  const { out, size, seed, observer: observerSpec } = run;
  const tableOut = tableOutput(opts, out);
  checkOutputs({
    inputs: quantizeInputs(opts, model),
    files: [
      { path: out, role: opts.out === undefined ? "output model" : "output model (-o)" },
      { path: tableOut, role: opts.saveCalibTable ? "calibration table (--save-calib-table)" : "calibration table" },
    ],
  });
  const replaced = checkReplace(
    out,
    () => {
      const t = opts.calibTable ? readCalibrationTable(opts.calibTable).options : { mode: opts.calib, size, seed, observer: observerSpec };
      return {
        wbits: policy.wbits,
        abits: policy.abits,
        granularity: policy.granularity,
        lstm_internals: policy.lstmInternals,
        pack_int4: policy.packInt4,
        calib: t.mode,
        calib_size: t.size,
        seed: t.seed,
        observer: parseObserver(opts.observer ?? t.observer).spec,
        rounding: roundingSpec(policy),
        ...(policy.groupSize !== undefined ? { group_size: policy.groupSize } : {}),
        ...(opts.recipe !== undefined ? { recipe: opts.recipe } : {}),
        ...(overridesStamp(policy) ? { overrides: overridesStamp(policy) } : {}),
        weight_clip: policy.weightClip,
        bias_correction: policy.biasCorrection,
        weight_symmetric: policy.weightSymmetric,
        gather_pass_through: policy.gatherPassThrough,
        embedding_gptq: policy.embeddingGptq,
        ...(policy.equalize ? { equalize: policy.equalizeAlpha } : {}),
      };
    },
    { defaultName: opts.out === undefined, force: opts.force ?? false, format: run.format },
  );
  return { tableOut, replaced };
}

/** The form of a quantize output: its `ptq-onnx.format` (for the replace check) and default name. */
export interface OutputForm {
  format: "qdq" | "ort";
  /** The default output name from the Q/DQ one (MODEL.q{w}a{a}.onnx); default: that name. */
  defaultName?: (qdqName: string) => string;
}

/**
 * A quantized model in memory, with everything its files need: what `quantizeModel` writes,
 * and what `quantizeToOrt` (src/lower) lowers before writing.
 */
export interface QuantizedInMemory {
  model: Model;
  /** Where the model goes (checked before any work, as is `tableOut`). */
  out: string;
  /** The calibration table file to write beside it, with its text, or null for none. */
  table: { path: string; text: string } | null;
  /** The summary, less the written model's size (`bytes.output` is 0 until it is serialized). */
  result: QuantizeResult;
}

/**
 * The run's policy with its per-layer overrides: exact `byNode` / `byOpType` are checked and
 * user keys (`overrides`) resolved against the layers of the model as planned without them
 * (with --lstm-internals, the decomposed LSTM's nodes).
 */
export function layerPolicy(source: Model, opts: QuantizeOptions, scores: string): QuantPolicy {
  const base = makePolicy({ ...opts, byNode: {}, byOpType: {}, exclude: [scores] });
  const hasExact = Object.keys(opts.byNode ?? {}).length + Object.keys(opts.byOpType ?? {}).length > 0;
  if (!hasExact && Object.keys(opts.overrides ?? {}).length === 0) return makePolicy({ ...opts, exclude: [scores] });
  const planned = plan(source, base);
  const layers = quantizedNodes(planned);
  checkExactOverrides(layers, opts, opts.recipe);
  const resolved = resolveOverrides(planned.model, layers, opts.overrides ?? {}, "--override");
  return makePolicy({
    ...opts,
    byOpType: { ...opts.byOpType, ...resolved.byOpType },
    byNode: { ...opts.byNode, ...resolved.byNode },
    exclude: [scores],
  });
}

/**
 * Calibrates (or reads a calibration table), quantizes and writes the model: the whole of
 * `ptq-onnx quantize`, as files around the pipeline's stages (plan, calibrate, realize).
 * Throws InputError for bad input; writes nothing unless it succeeds.
 */
export async function quantizeModel(opts: QuantizeOptions): Promise<QuantizeResult> {
  const q = await quantizeInMemory(opts);
  const bytes = serializeModel(q.model);
  // The model and its table are installed as a pair: never one without the other.
  const files: FileToWrite[] = [{ path: q.out, data: bytes }];
  if (q.table) files.push({ path: q.table.path, data: q.table.text });
  writeFilesAtomic(files);
  return { ...q.result, bytes: { ...q.result.bytes, output: bytes.length } };
}

/**
 * Every step of `quantizeModel` but the write: checks the outputs (`out` as given, default
 * `defaultOutput`; the replace check with `format` as the output's `ptq-onnx.format`), calibrates
 * and realizes. Nothing is written.
 */
export async function quantizeInMemory(opts: QuantizeOptions, output: OutputForm = { format: "qdq" }): Promise<QuantizedInMemory> {
  const source = loadModel(opts.model);
  const problems = validateModel(source);
  if (problems.length) throw new InputError(problems[0], opts.model);
  const weights = checkWeights(source);
  if (weights.errors.length) throw new InputError(weights.errors[0], opts.model);
  for (const w of weights.warnings) process.stderr.write(`${opts.model}: warning: ${w}\n`);
  const roles = findRoles(source);
  const policy = layerPolicy(source, opts, roles.scores.name);
  const observerSpec = parseObserver(opts.observer ?? (opts.lstmInternals ? DEFAULT_INTERNALS_OBSERVER : DEFAULT_OBSERVER)).spec;
  const qdqName = defaultOutput(opts.model, policy.wbits, policy.abits);
  const out = opts.out ?? (output.defaultName ? output.defaultName(qdqName) : qdqName);
  const size = opts.calibSize ?? DEFAULT_CALIB_SIZE;
  if (!Number.isInteger(size) || size < 1) throw new InputError(`--calib-size must be a positive integer, got ${size}`);
  const seed = opts.seed ?? 0;
  const { tableOut, replaced } = checkQuantizeOutputs(opts, source, policy, { out, size, seed, observer: observerSpec, format: output.format });

  const quantPlan = plan(source, policy);
  const floatSha256 = sha256File(opts.model);

  let table: CalibrationTable;
  let tablePath: string | null = null;
  let perClass: number[];
  let shortfalls: QuantizeResult["calibration"]["shortfalls"];
  if (opts.calibTable) {
    table = readCalibrationTable(opts.calibTable);
    const missing = quantPlan.activations.find((t) => !table.tensors[t.value.name]);
    if (missing) throw new InputError(`has no entry for tensor '${missing.value.name}' of this model`, opts.calibTable);
    if (policy.rounding !== "nearest" && !table.hessians) {
      throw new InputError(`has no layer-input moments for ${policy.rounding.toUpperCase()} rounding (calibrate with --rounding gptq or gpfq)`, opts.calibTable);
    }
    if (policy.biasCorrection && !table.means) {
      throw new InputError("has no layer-input means for bias correction (calibrate with --bias-correction)", opts.calibTable);
    }
    const equalized = tableEqualization(quantPlan);
    if (table.options.equalize !== equalized) {
      const says = (alpha: number | undefined) => (alpha === undefined ? "without --equalize" : `with --equalize-alpha ${alpha}`);
      throw new InputError(`was calibrated ${says(table.options.equalize)}, but this quantization runs ${says(equalized)}: its ranges belong to another float model`, opts.calibTable);
    }
    perClass = table.composition.per_class;
    shortfalls = table.composition.shortfalls;
    tablePath = opts.calibTable;
  } else {
    const data = loadLabelledData(source, { data: opts.data, tokenizer: opts.tokenizer, split: "val", skipBadLabels: opts.skipBadLabels });
    const calibration = await calibrate(quantPlan, data, {
      mode: opts.calib,
      size,
      seed,
      observer: observerSpec,
      numClasses: numClasses(source, data.labels),
      modelFile: opts.model,
      modelSha256: floatSha256,
      onProgress: opts.onProgress,
    });
    table = calibration.table;
    perClass = calibration.selection.perClass;
    shortfalls = calibration.selection.shortfalls;
  }

  // The stamp names the table as read with --calib-table (GPFQ's moments are added in memory only), else the one written.
  const given = table;
  const realizeObserver = opts.calibTable ? opts.observer : observerSpec;
  // GPFQ's passes and the last realize share their ranges and weight grids.
  const memo = new RealizeMemo();
  if (needsGpfqMoments(policy) && table.gpfq?.setting !== gpfqSetting(policy, parseObserver(realizeObserver ?? table.options.observer).spec)) {
    // GPFQ against the quantized model's inputs: one more pass over the table's rows per layer.
    const data = loadLabelledData(source, { data: opts.data, tokenizer: opts.tokenizer, split: "val", skipBadLabels: opts.skipBadLabels });
    table = await recordGpfq(quantPlan, table, data, { observer: realizeObserver, numClasses: numClasses(source, data.labels), memo });
  }
  const realized = realize(quantPlan, table, { observer: realizeObserver, memo });
  const { model, report } = realized;
  model.setMetadata("ptq-onnx.quantization", quantizationStamp(policy, opts.calibTable ? given : table, floatSha256, realized.observer, opts.recipe));
  if (tableOut) tablePath = tableOut;
  const result: QuantizeResult = {
    output: out,
    wbits: policy.wbits,
    abits: policy.abits,
    calibration: {
      mode: table.options.mode,
      size: perClass.reduce((a, b) => a + b, 0),
      per_class: perClass,
      shortfalls,
      source: table.data.file,
      observer: realized.observer,
      table: tablePath,
    },
    quantized: report.quantized.map((q) => q.name),
    details: report.quantized,
    left_float: report.leftFloat,
    bytes: { input: statSync(opts.model).size, output: 0 },
    bias_correction: report.biasCorrection,
    equalization: quantPlan.equalized,
    replaced: replaced.replaced,
    replaced_made_with: replaced.made_with,
    warnings: weights.warnings,
  };
  return { model, out, table: tableOut ? { path: tableOut, text: checkedCalibrationTableText(tableOut, table) } : null, result };
}
