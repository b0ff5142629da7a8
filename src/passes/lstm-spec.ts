import { DataType, type Node, type Value } from "../graph/index.ts";

/**
 * What decompose-lstm reads from an ONNX LSTM node: directions, hidden size, activations with
 * their alpha/beta, and the input/output values, checked against what the rewrite handles.
 */

/** An LSTM the pass cannot rewrite; the message names the node and the reason. */
export class UnsupportedLstmError extends Error {
  readonly node: string;
  readonly reason: string;

  constructor(node: Node, reason: string) {
    super(`decompose-lstm: cannot decompose LSTM node ${node.label}: ${reason}`);
    this.name = "UnsupportedLstmError";
    this.node = node.name;
    this.reason = reason;
  }
}

/** Activations the pass rewrites, with whether they take alpha and beta and onnxruntime's defaults. */
const ACTIVATIONS: Record<string, { alpha: boolean; beta: boolean; defAlpha: number; defBeta: number }> = {
  sigmoid: { alpha: false, beta: false, defAlpha: 0, defBeta: 0 },
  tanh: { alpha: false, beta: false, defAlpha: 0, defBeta: 0 },
  relu: { alpha: false, beta: false, defAlpha: 0, defBeta: 0 },
  affine: { alpha: true, beta: true, defAlpha: 0, defBeta: 0 },
  leakyrelu: { alpha: true, beta: false, defAlpha: 0.01, defBeta: 0 },
  thresholdedrelu: { alpha: true, beta: false, defAlpha: 0, defBeta: 0 },
  scaledtanh: { alpha: true, beta: true, defAlpha: 0, defBeta: 0 },
  hardsigmoid: { alpha: true, beta: true, defAlpha: 0.2, defBeta: 0.5 },
  elu: { alpha: true, beta: false, defAlpha: 1.0, defBeta: 0 },
  softsign: { alpha: false, beta: false, defAlpha: 0, defBeta: 0 },
  softplus: { alpha: false, beta: false, defAlpha: 0, defBeta: 0 },
};

export interface Activation {
  name: string;
  alpha: number;
  beta: number;
}

export interface LstmSpec {
  node: Node;
  directions: ("forward" | "reverse")[];
  hidden: number;
  clip?: number;
  inputForget: boolean;
  layout: number;
  /** [f, g, h] per direction. */
  acts: Activation[][];
  X: Value;
  W: Value;
  R: Value;
  B: Value | null;
  seqLens: Value | null;
  initH: Value | null;
  initC: Value | null;
  P: Value | null;
  Y: Value | null;
  Yh: Value | null;
  Yc: Value | null;
}

/** Reads and checks an LSTM node; throws UnsupportedLstmError for what the pass does not handle. */
export function analyze(node: Node, opset: number): LstmSpec {
  const fail = (reason: string): never => {
    throw new UnsupportedLstmError(node, reason);
  };
  if (opset < 13) fail(`the model's default-domain opset ${opset} is below 13, the oldest the decomposition is written for`);
  const direction = node.getString("direction", "forward")!;
  if (!["forward", "reverse", "bidirectional"].includes(direction)) fail(`unknown direction '${direction}'`);
  const directions: ("forward" | "reverse")[] = direction === "bidirectional" ? ["forward", "reverse"] : [direction as "forward" | "reverse"];
  const layout = node.getInt("layout", 0);
  if (layout !== 0 && layout !== 1) fail(`unknown layout ${layout}`);
  const input = (i: number): Value | null => node.inputs[i] ?? null;
  const [X, W, R] = [input(0), input(1), input(2)];
  if (!X || !W || !R) fail("inputs X, W and R are required");
  let hidden = node.getInt("hidden_size");
  if (hidden === undefined) {
    const rShape = R!.shape;
    const h = rShape?.[2];
    if (typeof h === "number") hidden = h;
    else fail("it has no hidden_size attribute and R's shape is unknown");
  }
  if (!(hidden! > 0)) fail(`hidden_size ${hidden} is not positive`);
  for (const v of [X, W, R, input(3), input(5), input(6), input(7)]) {
    if (v && v.elemType !== undefined && v.elemType !== DataType.FLOAT) {
      fail(`input '${v.name}' is not float32 (only float32 LSTMs are decomposed)`);
    }
  }
  const D = directions.length;
  const expectDims = (v: Value | null, what: string, dims: (number | null)[]): void => {
    const shape = v?.initializer?.dims;
    if (shape && (shape.length !== dims.length || dims.some((n, i) => n !== null && shape[i] !== n))) {
      fail(`${what} '${v!.name}' has shape [${shape.join(", ")}], expected [${dims.map((n) => n ?? "?").join(", ")}]`);
    }
  };
  expectDims(W, "W", [D, 4 * hidden!, null]);
  expectDims(R, "R", [D, 4 * hidden!, hidden!]);
  expectDims(input(3), "B", [D, 8 * hidden!]);
  expectDims(input(7), "P", [D, 3 * hidden!]);
  const clipAttr = node.attribute("clip");
  const clip = clipAttr ? node.getFloat("clip") : undefined;
  if (clip !== undefined && !(clip > 0)) fail(`clip ${clip} is not positive`);
  const inputForget = node.getInt("input_forget", 0) !== 0;
  const names = node.getStrings("activations") ?? directions.flatMap(() => ["Sigmoid", "Tanh", "Tanh"]);
  if (names.length !== 3 * directions.length) {
    fail(`it lists ${names.length} activations; a ${direction} LSTM needs ${3 * directions.length} (f, g, h per direction)`);
  }
  const alphas = node.getFloats("activation_alpha") ?? [];
  const betas = node.getFloats("activation_beta") ?? [];
  let ai = 0;
  let bi = 0;
  const acts: Activation[] = names.map((raw) => {
    const name = raw.toLowerCase();
    const info = ACTIVATIONS[name];
    if (!info) fail(`activation '${raw}' is not supported (supported: Sigmoid, Tanh, Relu, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus)`);
    const alpha = info.alpha ? (ai < alphas.length ? alphas[ai++] : info.defAlpha) : 0;
    const beta = info.beta ? (bi < betas.length ? betas[bi++] : info.defBeta) : 0;
    return { name, alpha, beta };
  });
  const out = (i: number): Value | null => node.outputs[i] ?? null;
  return {
    node,
    directions,
    hidden: hidden!,
    clip,
    inputForget,
    layout,
    acts: directions.map((_, d) => acts.slice(3 * d, 3 * d + 3)),
    X: X!,
    W: W!,
    R: R!,
    B: input(3),
    seqLens: input(4),
    initH: input(5),
    initC: input(6),
    P: input(7),
    Y: out(0),
    Yh: out(1),
    Yc: out(2),
  };
}
