/**
 * The WASM parity target: onnxruntime-web's WebAssembly build run in Node, the runtime a
 * browser deployment gets. It runs the same worker and batches as the arm64 profiles
 * (scripts/arm64/worker.mjs with runtime "wasm"), in its own process.
 *
 * When onnxruntime-web cannot load a model that native onnxruntime runs, the profile names
 * the op. onnxruntime says which node lacks a kernel ("Could not find an implementation for
 * OP(VERSION) node with name 'NODE'"), but other refusals (a contrib op's shape inference that
 * is disabled in the WASM build, say) name no node; then the first node that fails is found by
 * loading growing prefixes of the graph in onnxruntime-web.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ModelProtoSchema, ValueInfoProtoSchema, type ModelProto, type NodeProto } from "onnx-buf";
import type { Model } from "../graph/index.ts";

export const WASM_TARGET = {
  name: "wasm",
  description: "onnxruntime-web (WebAssembly, SIMD, 1 thread) in Node: the browser edge",
} as const;

const RUN_MODELS = fileURLToPath(new URL("../../scripts/wasm/run-models.mjs", import.meta.url));

/**
 * The ops named in an onnxruntime error about missing kernels, as "DOMAIN.OP (node NODE)"
 * (onnxruntime leaves the domain out), in order and without repeats; [] when the error names none.
 */
export function unsupportedOps(message: string): string[] {
  const out: string[] = [];
  const re = /Could not find an implementation for ([A-Za-z0-9_.]+)\((\d+)\) node with name '([^']*)'/g;
  for (const m of message.matchAll(re)) {
    const op = `${m[1]}(${m[2]}) (node ${m[3] || "(unnamed)"})`;
    if (!out.includes(op)) out.push(op);
  }
  return out;
}

/**
 * The model cut after its first `k` nodes (in file order, which ONNX requires to be
 * topological). Every value those nodes make that none of them reads becomes a graph output,
 * untyped (onnxruntime infers it), so no node of the prefix is pruned as dead; k = 0 gives the
 * graph inputs back as outputs.
 */
export function prefixModel(proto: ModelProto, k: number): Uint8Array {
  const graph = proto.graph!;
  const nodes = graph.node.slice(0, k);
  const read = namesRead(nodes);
  const made = nodes.flatMap((n) => n.output).filter((name) => name && !read.has(name));
  const names = k === 0 ? graph.input.map((v) => v.name) : made;
  const output = names.map((name) => graph.output.find((o) => o.name === name) ?? create(ValueInfoProtoSchema, { name }));
  // Only the initializers the prefix reads, so a prefix of a large model stays small.
  const initializer = graph.initializer.filter((t) => read.has(t.name));
  // Shallow copies: the model's own proto stays as it is.
  return toBinary(ModelProtoSchema, { ...proto, graph: { ...graph, node: nodes, output, initializer } });
}

/** Every value name the nodes read, their subgraphs' (If, Loop, Scan) included. */
function namesRead(nodes: readonly NodeProto[], into = new Set<string>()): Set<string> {
  for (const n of nodes) {
    for (const name of n.input) if (name) into.add(name);
    for (const a of n.attribute) for (const g of a.g ? [a.g, ...a.graphs] : a.graphs) namesRead(g.node, into);
  }
  return into;
}

/** Loads each file in onnxruntime-web in one child process; true where the session was created. */
function loadsInWasm(files: string[], dir: string): boolean[] {
  const jobs = join(dir, "prefix-jobs.json");
  const out = join(dir, "prefix-out.json");
  writeFileSync(jobs, JSON.stringify(files.map((model, i) => ({ name: String(i), model }))));
  const r = spawnSync(process.execPath, [RUN_MODELS, "wasm", jobs, out], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`onnxruntime-web probe failed: ${(r.stderr || r.error?.message || "").trim().split("\n").at(-1)}`);
  return (JSON.parse(readFileSync(out, "utf8")) as { results: { ok: boolean }[] }).results.map((x) => x.ok);
}

/**
 * The first node of the model that onnxruntime-web refuses, as "DOMAIN.OP (node NAME)", found
 * by loading prefixes of the graph (up to `fanout` of them per child process); undefined when
 * even the graph without nodes fails (the problem is not an op) or every prefix loads.
 */
export function firstFailingNode(model: Model, dir: string, fanout = 16): string | undefined {
  const proto = model.toProto();
  const nodes = proto.graph!.node;
  // Invariant: the prefix of `lo` nodes loads, the prefix of `hi` nodes fails. The first
  // round also checks the ends: no nodes at all, and all of them.
  let lo = 0;
  let hi = nodes.length;
  let ends = true;
  while (hi - lo > 1 || ends) {
    const step = Math.max(1, Math.floor((hi - lo) / (fanout + 1)));
    const ks: number[] = ends ? [0] : [];
    for (let k = lo + step; k < hi && ks.length < fanout; k += step) ks.push(k);
    if (ends) ks.push(hi);
    const ok = loadsInWasm(ks.map((k) => write(proto, k, dir)), dir);
    if (ends && (!ok[0] || ok.at(-1))) return undefined;
    ends = false;
    const failAt = ok.indexOf(false);
    if (failAt < 0) {
      lo = ks.at(-1)!;
    } else {
      hi = ks[failAt];
      lo = Math.max(lo, ...ks.slice(0, failAt));
    }
  }
  const n = nodes[hi - 1];
  return `${n.domain ? n.domain + "." : ""}${n.opType} (node ${n.name || `#${hi - 1}`})`;
}

function write(proto: ModelProto, k: number, dir: string): string {
  const path = join(dir, `prefix-${k}.onnx`);
  writeFileSync(path, prefixModel(proto, k));
  return path;
}
