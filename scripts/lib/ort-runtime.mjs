// Shared by the plain-JavaScript workers (arm64/WASM parity and the WASM op probe): the
// onnxruntime a run uses and the session options that go with it.
//
// - "cpu": onnxruntime-node, the native CPU execution provider (the host's, or arm64 under qemu);
// - "wasm": onnxruntime-web's WebAssembly build run in Node, the runtime a browser edge
//   deployment gets. One thread (no worker threads: the numbers stay comparable with the
//   one-thread native run, and Node's wasm threads need cross-origin isolation in browsers anyway).
export const RUNTIMES = ["cpu", "wasm"];

export async function loadRuntime(kind, threads = 1, level = "all") {
  if (kind === "cpu") {
    const ort = await import("onnxruntime-node");
    const options = {
      executionProviders: ["cpu"],
      // Errors only: onnxruntime's warnings (`Removing initializer ...`) would fill the logs.
      logSeverityLevel: 4,
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: level,
    };
    return { ort, options, version: ort.env.versions?.common ?? null };
  }
  if (kind === "wasm") {
    const ort = await import("onnxruntime-web");
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = "error";
    const options = { executionProviders: ["wasm"], executionMode: "sequential", graphOptimizationLevel: level };
    return { ort, options, version: ort.env.versions?.web ?? null };
  }
  throw new Error(`unknown runtime "${kind}" (known: ${RUNTIMES.join(", ")})`);
}

/** The first line of an error, for one-line reports (onnxruntime-web's messages span lines). */
export function errorLine(err) {
  const text = String(err?.message ?? err);
  return text.split("\n").map((l) => l.trim()).filter(Boolean)[0] ?? text;
}
