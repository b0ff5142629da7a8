// Shared by the plain-JavaScript workers (bench, and arm64 parity, which runs under qemu
// without tsx): opens the onnxruntime session as src/graph/session.ts does, errors-only
// logging included (its warnings, `Removing initializer ...`, would fill the logs).
// A model onnxruntime refuses ends the worker with exit code 2 and onnxruntime's message as
// the one line on stderr, so the parent can report bad input naming the model file.
export const SESSION_EXIT_CODE = 2;

export async function createSession(ort, model, options) {
  try {
    return await ort.InferenceSession.create(model, { executionProviders: ["cpu"], logSeverityLevel: 4, ...options });
  } catch (err) {
    process.stderr.write(`${String(err?.message ?? err).replace(/\s*\n\s*/g, " ").trim()}\n`);
    process.exit(SESSION_EXIT_CODE);
  }
}
