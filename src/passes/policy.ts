import { InputError, type Node } from "../graph/index.ts";
import { checkBits, GROUP_SIZES, type IntFormat } from "../quant/math.ts";

/** What to quantize and at which width. Overrides apply per node name, then per op type. */
export interface QuantPolicy {
  wbits: number;
  abits: number;
  granularity: "per-channel" | "per-tensor";
  /** Weights: symmetric signed codes with narrow range (zero point 0), as Brevitas does. */
  weightSymmetric: boolean;
  /** Activations: asymmetric unsigned by default (sigmoid outputs and the like are one-sided). */
  activationSymmetric: boolean;
  /** Store weights of 4 bits or fewer as packed INT4/UINT4 (needs opset 21). */
  packInt4: boolean;
  /** Replace LSTM ops by a Scan of primitives and quantize gates, cell and hidden state. */
  lstmInternals: boolean;
  /** Weight rounding: to nearest, or GPTQ's or GPFQ's error compensation from calibration inputs. */
  rounding: Rounding;
  /**
   * GPFQ: fit each layer against the quantized model's layer inputs x̃ (`quantized`: the
   * method as published, calibration layer by layer for the cross moments Σ x̃ xᵀ), or take
   * x̃ = x from the float model's second moments alone (`float`: no extra calibration pass).
   */
  gpfqInputs: GpfqInputs;
  /** GPTQ and GPFQ: take the inputs by decreasing second moment (act-order) instead of in order. */
  actOrder: boolean;
  /** GPTQ: dampening added to the Hessian's diagonal, as a fraction of its mean. */
  dampening: number;
  /**
   * Group-wise weight scales: one per output channel and group of this many inputs (ONNX
   * blocked DequantizeLinear, opset 21), for the weights of MatMul, Gemm and LSTM. None by default.
   */
  groupSize?: number;
  /**
   * Weight scales: `max` maps each channel's (group's) largest magnitude to the top code;
   * `mse` searches a clipping of it per channel (group) for the least squared rounding error.
   */
  weightClip: WeightClip;
  /**
   * After weight quantization, fold each layer's mean output error (W - Q(W)) E[x] back into
   * its bias (the LSTM's B, a Gemm's C, a MatMul's following Add), E[x] from calibration.
   */
  biasCorrection: boolean;
  /**
   * Leave an activation that is only rows gathered from a quantized table (the embedding's
   * output read by the LSTM) as the table's codes, one scale per row, instead of quantizing it
   * again per tensor; only where the table is no wider than the activation's width
   * (gathered-codes.ts). Off by default.
   */
  gatherPassThrough: boolean;
  /**
   * GPTQ-round an embedding table's rows against the weight of the one layer that reads them
   * (H = Wᵀ W: a row's error e reaches that layer's output as W e) instead of to nearest.
   * Needs `rounding: "gptq"`. Off by default.
   */
  embeddingGptq: boolean;
  /**
   * Exact embedding equalization (equalize-embedding.ts) as a preparation pass, before
   * calibration: the embedding's column j divided by s_j and the LSTM's input weight column
   * multiplied by s_j (powers of two, so the float function is unchanged), where the graph
   * allows it. Off by default: it measured worse (src/quant/README.md).
   */
  equalize: boolean;
  /** Migration strength of the equalization: s_j = actMax_j^alpha / weightMax_j^(1 - alpha), in (0, 1]. */
  equalizeAlpha: number;
  byOpType: Record<string, Override>;
  byNode: Record<string, Override>;
  /** Tensor names never touched (the final scores by default). */
  exclude: Set<string>;
}

export interface Override {
  wbits?: number;
  abits?: number;
  /** Leave this node's inputs and weights float. */
  skip?: boolean;
}

export const ROUNDINGS = ["nearest", "gptq", "gpfq"] as const;
export type Rounding = (typeof ROUNDINGS)[number];
export const DEFAULT_DAMPENING = 0.01;
export const GPFQ_INPUTS = ["quantized", "float"] as const;
export type GpfqInputs = (typeof GPFQ_INPUTS)[number];
export const DEFAULT_EQUALIZE_ALPHA = 0.5;
export const WEIGHT_CLIPS = ["max", "mse"] as const;
export type WeightClip = (typeof WEIGHT_CLIPS)[number];

export type PolicyOptions = Partial<Omit<QuantPolicy, "exclude">> & { bits?: number; exclude?: Iterable<string> };

function checkOption(bits: number | undefined, what: string): void {
  if (bits === undefined) return;
  try {
    checkBits(bits, what);
  } catch (err) {
    throw new InputError((err as Error).message);
  }
}

export function makePolicy(opts: PolicyOptions): QuantPolicy {
  const bits = opts.bits ?? 8;
  checkOption(bits, "--bits");
  checkOption(opts.wbits, "--wbits");
  checkOption(opts.abits, "--abits");
  for (const [where, overrides] of [["op type", opts.byOpType], ["node", opts.byNode]] as const) {
    for (const [key, o] of Object.entries(overrides ?? {})) {
      checkOption(o.wbits, `wbits override for ${where} ${key}`);
      checkOption(o.abits, `abits override for ${where} ${key}`);
    }
  }
  if (opts.granularity && opts.granularity !== "per-channel" && opts.granularity !== "per-tensor") {
    throw new InputError(`--granularity must be per-channel or per-tensor, got ${opts.granularity}`);
  }
  if (opts.rounding !== undefined && !(ROUNDINGS as readonly string[]).includes(opts.rounding)) {
    throw new InputError(`--rounding must be nearest, gptq or gpfq, got ${String(opts.rounding)}`);
  }
  const dampening = opts.dampening ?? DEFAULT_DAMPENING;
  if (!Number.isFinite(dampening) || dampening < 0) throw new InputError(`--dampening must be a number of at least 0, got ${String(opts.dampening)}`);
  if (opts.dampening !== undefined && opts.dampening !== DEFAULT_DAMPENING && opts.rounding !== "gptq") {
    throw new InputError("--dampening applies to --rounding gptq only");
  }
  if (opts.groupSize !== undefined) {
    if (!GROUP_SIZES.includes(opts.groupSize)) throw new InputError(`--group-size must be ${GROUP_SIZES.join(", ")}, got ${opts.groupSize}`);
    if (opts.granularity === "per-tensor") throw new InputError("--group-size needs per-channel weight scales, not --granularity per-tensor");
  }
  if (opts.weightClip !== undefined && !(WEIGHT_CLIPS as readonly string[]).includes(opts.weightClip)) {
    throw new InputError(`--weight-clip must be max or mse, got ${String(opts.weightClip)}`);
  }
  if (opts.gpfqInputs !== undefined && !(GPFQ_INPUTS as readonly string[]).includes(opts.gpfqInputs)) {
    throw new InputError(`--gpfq-inputs must be quantized or float, got ${String(opts.gpfqInputs)}`);
  }
  if (opts.gpfqInputs === "float" && opts.rounding !== "gpfq") throw new InputError("--gpfq-inputs applies to --rounding gpfq only");
  if (opts.embeddingGptq && opts.rounding !== "gptq") throw new InputError("--embedding-gptq applies to --rounding gptq only");
  if (opts.equalizeAlpha !== undefined) {
    if (!(opts.equalizeAlpha > 0 && opts.equalizeAlpha <= 1)) throw new InputError(`--equalize-alpha must be in (0, 1], got ${String(opts.equalizeAlpha)}`);
    if (!opts.equalize && opts.equalizeAlpha !== DEFAULT_EQUALIZE_ALPHA) throw new InputError("--equalize-alpha applies to --equalize only");
  }
  if (opts.actOrder && (opts.rounding ?? "nearest") === "nearest") throw new InputError("--act-order applies to --rounding gptq or gpfq only");
  return {
    wbits: opts.wbits ?? bits,
    abits: opts.abits ?? bits,
    granularity: opts.granularity ?? "per-channel",
    weightSymmetric: opts.weightSymmetric ?? true,
    activationSymmetric: opts.activationSymmetric ?? false,
    packInt4: opts.packInt4 ?? false,
    lstmInternals: opts.lstmInternals ?? false,
    rounding: opts.rounding ?? "nearest",
    gpfqInputs: opts.gpfqInputs ?? "quantized",
    actOrder: opts.actOrder ?? false,
    dampening,
    groupSize: opts.groupSize,
    weightClip: opts.weightClip ?? "max",
    biasCorrection: opts.biasCorrection ?? false,
    gatherPassThrough: opts.gatherPassThrough ?? false,
    embeddingGptq: opts.embeddingGptq ?? false,
    equalize: opts.equalize ?? false,
    equalizeAlpha: opts.equalizeAlpha ?? DEFAULT_EQUALIZE_ALPHA,
    byOpType: opts.byOpType ?? {},
    byNode: opts.byNode ?? {},
    exclude: new Set(opts.exclude ?? []),
  };
}

function overrideFor(policy: QuantPolicy, node: Node): Override {
  return { ...policy.byOpType[node.opType], ...policy.byNode[node.name] };
}

/** The weight width for a node's weights, or null when the policy leaves them float. */
export function weightBits(policy: QuantPolicy, node: Node): number | null {
  const o = overrideFor(policy, node);
  return o.skip ? null : (o.wbits ?? policy.wbits);
}

export function activationBits(policy: QuantPolicy, node: Node): number | null {
  const o = overrideFor(policy, node);
  return o.skip ? null : (o.abits ?? policy.abits);
}

export function weightFormat(policy: QuantPolicy, bits: number): IntFormat {
  return { bits, signed: true, narrow: policy.weightSymmetric };
}

export function activationFormat(policy: QuantPolicy, bits: number): IntFormat {
  return { bits, signed: policy.activationSymmetric, narrow: false };
}

/** What a quantization run did, for the CLI's summary and --json. */
export interface QuantReport {
  quantized: { name: string; kind: "weight" | "activation"; bits: number; granularity: string; op: string; rounding?: Rounding }[];
  leftFloat: { name: string; reason: string }[];
  /** With bias correction: per weight, the bias that took its mean output error, or why none did. */
  biasCorrection: { weight: string; bias: string | null; reason?: string }[];
}

export function emptyReport(): QuantReport {
  return { quantized: [], leftFloat: [], biasCorrection: [] };
}

/**
 * The rounding as one setting, for the output's metadata and the same-settings check:
 * `gptq`, `gptq+act-order`, `gptq+damp0.05`, `gpfq+act-order`, `gpfq+float-inputs`, ... (defaults add nothing,
 * so files made before these options keep matching).
 */
export function roundingSpec(policy: Pick<QuantPolicy, "rounding" | "actOrder" | "dampening"> & { gpfqInputs?: GpfqInputs }): string {
  let spec: string = policy.rounding;
  if (policy.rounding === "gpfq" && policy.gpfqInputs === "float") spec += "+float-inputs";
  if (policy.actOrder) spec += "+act-order";
  if (policy.rounding === "gptq" && policy.dampening !== DEFAULT_DAMPENING) spec += `+damp${policy.dampening}`;
  return spec;
}
