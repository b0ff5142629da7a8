/**
 * The one way ptq-onnx opens an onnxruntime session. onnxruntime checks a model far more
 * deeply than the loader (op registrations, type inference), so a model it refuses is bad
 * input: an InputError naming the file and, where onnxruntime says it, the operator.
 * Kept out of index.ts so that importing the graph IR does not load the native addon.
 */
import { InferenceSession } from "onnxruntime-node";
import { InputError } from "./errors.ts";

/**
 * onnxruntime's log severity for our sessions: fatal only. Its warnings (`Removing
 * initializer ...` for every folded Q/DQ constant) say nothing the user can act on and fill
 * CI logs, and its error lines (coloured, multi-line) repeat what the thrown error says,
 * which createSession and runSession report as one line. scripts/lib/session.mjs, for the
 * plain-JS workers, uses the same level.
 */
export const SESSION_LOG_SEVERITY = 4;

/** Creates a CPU session from a model file or model bytes; `file` names the model in errors (default: the path). */
export async function createSession(
  model: string | Uint8Array,
  options: InferenceSession.SessionOptions = {},
  file?: string,
): Promise<InferenceSession> {
  const opts: InferenceSession.SessionOptions = { executionProviders: ["cpu"], logSeverityLevel: SESSION_LOG_SEVERITY, ...options };
  try {
    return typeof model === "string" ? await InferenceSession.create(model, opts) : await InferenceSession.create(model, opts);
  } catch (err) {
    throw sessionError(err instanceof Error ? err.message : String(err), file ?? (typeof model === "string" ? model : undefined));
  }
}

/**
 * Runs a session. A failure there comes from the model (a constant index out of range, a
 * shape that cannot broadcast: found by fuzzing), since ptq-onnx builds the feeds itself, so it
 * is bad input: an InputError naming the file, with onnxruntime's message on one line.
 */
export async function runSession(
  session: InferenceSession,
  feeds: InferenceSession.FeedsType,
  fetches: readonly string[],
  file?: string,
): Promise<InferenceSession.ReturnType> {
  try {
    return await session.run(feeds, fetches);
  } catch (err) {
    throw new InputError(`onnxruntime failed running the model: ${printable(err instanceof Error ? err.message : String(err))}`, file);
  }
}

/** onnxruntime's message about a model it cannot load, as one printable line naming the file. */
export function sessionError(message: string, file?: string): InputError {
  const text = printable(message);
  const op = /No Op registered for (\S+) with domain_version of (\d+)/.exec(text);
  const node = /In Node, \("([^"]*)"/.exec(text)?.[1];
  const where = node ? ` (node '${node}')` : "";
  if (op) return new InputError(`onnxruntime has no operator '${op[1]}' at opset ${op[2]}${where}`, file);
  const domain = /No opset import for domain '([^']*)'/.exec(text);
  if (domain) return new InputError(`the model imports no opset for domain '${domain[1]}'${where}`, file);
  return new InputError(`onnxruntime cannot load the model: ${text}`, file);
}

/** One line, with control characters (an op type may hold any byte) written as escapes. */
function printable(message: string): string {
  return message
    .trim()
    .replace(/\s*\n\s*/g, " ")
    .replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
