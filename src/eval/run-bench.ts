import { availableParallelism } from "node:os";
import { InputError, loadValidModel } from "../graph/index.ts";
import { benchModels, machineInfo, type BenchSettings, type MachineInfo, type ModelBench } from "./bench.ts";
import { intListOption, intOption } from "./options.ts";

/** Options of `ptq-onnx bench`; lists may be given as numbers or as comma-separated text. */
export interface BenchOptions {
  /** Batch sizes (default 1 and 32). */
  batches?: number[] | string | string[];
  /** onnxruntime intra-op thread counts (default 1 and all cores). */
  threads?: number[] | string | string[];
  runs?: number;
  warmup?: number;
  seed?: number;
  data?: string;
  tokenizer?: string;
  /** Time synthetic rows of this many tokens instead of data. */
  seqLen?: number;
  onProgress?: (message: string) => void;
}

export interface BenchOutput {
  machine: MachineInfo;
  settings: Omit<BenchSettings, "data" | "tokenizer"> & { data: string | null };
  models: ModelBench[];
}

/**
 * `ptq-onnx bench`: latency, throughput, peak memory and size of each model, every
 * measurement in its own process. Throws InputError for bad input.
 */
export function runBench(models: string[], opts: BenchOptions = {}): BenchOutput {
  if (models.length === 0) throw new InputError("give at least one model");
  const list = (v: BenchOptions["batches"], option: string): number[] | undefined => intListOption(Array.isArray(v) ? v.map(String) : v, option, 1);
  const settings: BenchSettings = {
    batches: list(opts.batches, "batch") ?? [1, 32],
    threads: list(opts.threads, "threads") ?? [...new Set([1, availableParallelism()])],
    runs: intOption(opts.runs, "runs", 1) ?? 100,
    warmup: intOption(opts.warmup, "warmup", 0) ?? 10,
    seed: intOption(opts.seed, "seed", 0) ?? 0,
    data: opts.data,
    tokenizer: opts.tokenizer,
    seqLen: intOption(opts.seqLen, "seq-len", 1),
  };
  const loaded = models.map((path) => ({ path, model: loadValidModel(path) }));
  return {
    machine: machineInfo(),
    settings: { batches: settings.batches, threads: settings.threads, runs: settings.runs, warmup: settings.warmup, seed: settings.seed, seqLen: settings.seqLen, data: settings.data ?? null },
    models: benchModels(loaded, settings, opts.onProgress),
  };
}
