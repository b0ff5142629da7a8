import { DataType, type Model, type Value } from "../graph/index.ts";

export interface ExposedValue {
  /** The value asked for. */
  value: Value;
  /** The main-graph output that now carries it. */
  output: Value;
  /** True for a Scan body value: the output stacks it over the steps, [T, ...value's dims]. */
  stacked: boolean;
}

/**
 * Makes values visible as outputs of the main graph, for calibration. A main-graph value
 * becomes a graph output as it is. A value inside the body of a Scan that sits in the main
 * graph becomes an extra scan output (through an Identity) of the body and of the Scan, stacked
 * over the steps into `${name}/stacked` [T, B, ...], in the original time order also for a
 * reverse scan (index t is step t of the input), and that is made a graph output. Values of
 * deeper subgraphs are refused.
 */
export function exposeScanInternals(model: Model, values: Value[]): ExposedValue[] {
  const main = model.graph;
  const out: ExposedValue[] = [];
  for (const value of values) {
    const elemType = value.elemType ?? DataType.FLOAT;
    if (value.graph === main) {
      if (!value.isGraphOutput) main.addOutput(value, elemType, value.shape);
      out.push({ value, output: value, stacked: false });
      continue;
    }
    const body = value.graph;
    const scan = body.owner;
    if (!scan || scan.opType !== "Scan" || scan.graph !== main || scan.subgraphs.get("body")?.[0] !== body) {
      throw new Error(`exposeScanInternals: value '${value.name}' is not in the body of a Scan node of the main graph`);
    }
    const bodyOut = body.addNode({ opType: "Identity", inputs: [value], outputs: [`${value.name}/exposed`], name: `${value.name}/expose` }).outputs[0]!;
    const shape = value.shape;
    body.addOutput(bodyOut, elemType, shape ?? undefined);
    const numScanInputs = scan.getInt("num_scan_inputs", 0);
    const numStates = scan.inputs.length - numScanInputs;
    const scanOutputs = scan.outputs.length - numStates;
    const direction = scan.getInts("scan_input_directions")?.[0] ?? 0;
    const dirs = scan.getInts("scan_output_directions");
    if (dirs || direction !== 0) {
      const list = dirs ?? new Array<number>(scanOutputs).fill(0);
      scan.setAttribute("scan_output_directions", { ints: [...list, direction] });
    }
    const axes = scan.getInts("scan_output_axes");
    if (axes) scan.setAttribute("scan_output_axes", { ints: [...axes, 0] });
    const stacked = main.newValue(`${value.name}/stacked`);
    stacked.producer = scan;
    scan.outputs.push(stacked);
    main.addOutput(stacked, elemType, shape ? [null, ...shape] : undefined);
    out.push({ value, output: stacked, stacked: true });
  }
  return out;
}
