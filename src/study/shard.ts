/**
 * `--shard auto`: the shard this process runs, taken from the engine that started it, so that
 * a Kubernetes Indexed Job or a CI matrix needs no script to compute `i/n`. Shared by
 * `study` and `build`.
 *
 * - Kubernetes Indexed Job: JOB_COMPLETION_INDEX (0-based, set by Kubernetes) and the
 *   completion count, which Kubernetes does not export: pass `--shards N` or set
 *   PTQ_ONNX_SHARDS (deploy/k8s sets it to the Job's `completions`).
 * - CI matrix: `--shard-index K` (0-based, e.g. `${{ matrix.shard }}`) with `--shards N`;
 *   an explicit index wins over the environment.
 */
import { InputError } from "../graph/errors.ts";
import { parseShard } from "./plan.ts";

export const INDEX_ENV = "JOB_COMPLETION_INDEX";
export const COUNT_ENV = "PTQ_ONNX_SHARDS";

export interface ShardSource {
  /** `--shards N`. */
  count?: number;
  /** `--shard-index K` (0-based). */
  index?: number;
  env?: Record<string, string | undefined>;
}

function envInt(env: Record<string, string | undefined>, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text.trim() === "") return undefined;
  if (!/^\s*\d+\s*$/.test(text)) throw new InputError(`--shard auto: ${name} must be a whole number, got '${text}'`);
  return Number(text);
}

/**
 * The shard as `i/n` (1-based, what parseShard reads), or undefined for no sharding. `text`
 * is `--shard` as given: `i/n`, `auto`, or undefined.
 */
export function resolveShard(text: string | undefined, src: ShardSource = {}): string | undefined {
  if (text === undefined) {
    if (src.count !== undefined || src.index !== undefined) throw new InputError("--shards and --shard-index go with --shard auto");
    return undefined;
  }
  if (text.trim() !== "auto") {
    if (src.count !== undefined || src.index !== undefined) throw new InputError(`--shards and --shard-index go with --shard auto, not --shard ${text}`);
    parseShard(text);
    return text.trim();
  }
  const env = src.env ?? {};
  const index = src.index ?? envInt(env, INDEX_ENV);
  const indexFrom = src.index !== undefined ? "--shard-index" : INDEX_ENV;
  const count = src.count ?? envInt(env, COUNT_ENV);
  const countFrom = src.count !== undefined ? "--shards" : COUNT_ENV;
  if (index === undefined) throw new InputError(`--shard auto: no shard index (set ${INDEX_ENV}, as a Kubernetes Indexed Job does, or pass --shard-index K)`);
  if (count === undefined) throw new InputError(`--shard auto: no shard count (pass --shards N or set ${COUNT_ENV})`);
  if (!Number.isSafeInteger(count) || count < 1) throw new InputError(`--shard auto: ${countFrom} must be at least 1, got ${count}`);
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw new InputError(`--shard auto: ${indexFrom}=${index} is out of range for ${count} shards (0 to ${count - 1})`);
  }
  return `${index + 1}/${count}`;
}
