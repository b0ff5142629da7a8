import type { Value } from "../graph/index.ts";

/** A small integer tensor: dims and values in row-major order. */
interface Small {
  dims: number[];
  data: number[];
}

const MAX_ELEMENTS = 64;

/**
 * Evaluates the small integer subgraph behind `v` (the shape arithmetic exporters emit:
 * Shape, Gather, Unsqueeze, Concat, Reshape, ConstantOfShape, Equal, Where, ...) when it
 * reads nothing but constants and the shapes of the values in `shapes`, for those shapes.
 * Returns null when it reads anything else (a graph input's values, a computed tensor) or an
 * op outside this list: the caller then cannot know the value and must not rewrite.
 * Probing with two unrelated shapes and getting the answer a rewrite needs for both is how
 * the lowering rules decide a shape-driven branch without a full shape inference.
 */
export function probeValue(v: Value | null, shapes: Map<Value, number[]>, memo = new Map<Value, Small | null>()): Small | null {
  if (!v) return null;
  if (memo.has(v)) return memo.get(v)!;
  memo.set(v, null);
  const r = evaluate(v, shapes, memo);
  memo.set(v, r && r.data.length <= MAX_ELEMENTS ? r : null);
  return memo.get(v)!;
}

function evaluate(v: Value, shapes: Map<Value, number[]>, memo: Map<Value, Small | null>): Small | null {
  if (v.initializer) return v.initializer.size <= MAX_ELEMENTS ? { dims: [...v.initializer.dims], data: Array.from(v.initializer.toNumbers()) } : null;
  const n = v.producer;
  if (!n || n.domain || n.outputs[0] !== v) return null;
  const arg = (i: number) => probeValue(n.inputs[i] ?? null, shapes, memo);
  const args = (): Small[] | null => {
    const out: Small[] = [];
    for (let i = 0; i < n.inputs.length; i++) {
      const a = arg(i);
      if (!a) return null;
      out.push(a);
    }
    return out;
  };
  switch (n.opType) {
    case "Constant": {
      const t = n.getTensor("value");
      return t && t.size <= MAX_ELEMENTS ? { dims: [...t.dims], data: Array.from(t.toNumbers()) } : null;
    }
    case "Shape": {
      // A probed shape, or the dims of a small tensor this evaluator computes.
      const s = n.inputs[0] ? (shapes.get(n.inputs[0]) ?? probeValue(n.inputs[0], shapes, memo)?.dims) : undefined;
      if (!s || n.attribute("start") || n.attribute("end")) return null;
      return { dims: [s.length], data: [...s] };
    }
    case "Identity":
    case "Cast":
      return arg(0);
    case "Gather": {
      const [data, idx] = args() ?? [];
      if (!data || !idx || data.dims.length !== 1 || n.getInt("axis", 0) !== 0) return null;
      const out = idx.data.map((i) => data.data[i < 0 ? i + data.data.length : i]);
      return out.some((x) => x === undefined) ? null : { dims: idx.dims, data: out };
    }
    case "Unsqueeze":
    case "Squeeze":
    case "Reshape": {
      const a = arg(0);
      if (!a) return null;
      // Only the values matter to a shape computation that ends in 1-D; dims follow the op loosely.
      return { dims: n.opType === "Squeeze" ? a.dims.filter((d) => d !== 1) : [a.data.length], data: a.data };
    }
    case "Concat": {
      const all = args();
      return all ? { dims: [all.reduce((s, a) => s + a.data.length, 0)], data: all.flatMap((a) => a.data) } : null;
    }
    case "ReduceProd": {
      // Over all axes only (the element count of a shape): no axes input or attribute.
      const a = arg(0);
      if (!a || n.inputs[1] || n.attribute("axes")) return null;
      const prod = a.data.reduce((x, y) => x * y, 1);
      return { dims: n.getInt("keepdims", 1) ? a.dims.map(() => 1) : [], data: [prod] };
    }
    case "ConstantOfShape": {
      const shape = arg(0);
      if (!shape) return null;
      const fill = n.getTensor("value")?.toNumbers()[0] ?? 0;
      const size = shape.data.reduce((a, b) => a * b, 1);
      return size >= 0 && size <= MAX_ELEMENTS ? { dims: shape.data, data: new Array<number>(size).fill(fill) } : null;
    }
    case "Add":
    case "Sub":
    case "Mul":
    case "Equal":
    case "Where": {
      const all = args();
      if (!all) return null;
      const len = Math.max(...all.map((a) => a.data.length));
      if (all.some((a) => a.data.length !== len && a.data.length !== 1)) return null;
      const at = (a: Small, i: number) => a.data[a.data.length === 1 ? 0 : i];
      const f = {
        Add: (i: number) => at(all[0], i) + at(all[1], i),
        Sub: (i: number) => at(all[0], i) - at(all[1], i),
        Mul: (i: number) => at(all[0], i) * at(all[1], i),
        Equal: (i: number) => Number(at(all[0], i) === at(all[1], i)),
        Where: (i: number) => (at(all[0], i) ? at(all[1], i) : at(all[2], i)),
      }[n.opType as "Add"];
      const dims = all.find((a) => a.data.length === len)!.dims;
      return { dims, data: Array.from({ length: len }, (_, i) => f(i)) };
    }
    default:
      return null;
  }
}
