import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { readBuildFile } from "../../src/build/spec.ts";
import { COUNT_ENV } from "../../src/study/shard.ts";
import { ROOT } from "../helpers.ts";
import { cli } from "./data.ts";

const K8S = join(ROOT, "deploy", "k8s");
const WORKFLOWS = join(ROOT, ".github", "workflows");
const yamlFiles = [...readdirSync(K8S).map((f) => join(K8S, f)), ...readdirSync(WORKFLOWS).map((f) => join(WORKFLOWS, f))].filter((f) => /\.ya?ml$/.test(f));

/** Every document of a YAML file, parsed strictly (an error fails the test). */
function docs(file: string): Record<string, any>[] {
  return parseAllDocuments(readFileSync(file, "utf8")).map((d) => {
    expect(d.errors, file).toEqual([]);
    return d.toJS();
  });
}

function strings(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === "object") return Object.values(v).flatMap(strings);
  return [];
}

/**
 * `ptq-onnx ARGS` (also after a docker image `ptq-onnx:TAG`) up to the end of the shell
 * command; a first word that is not a command's shape (`docker build -t ptq-onnx:ci .`) is no invocation.
 */
function invocations(text: string): string[][] {
  const out: string[][] = [];
  for (const m of text.matchAll(/(?:^|[\s"'[])ptq-onnx(?::[\w.-]+)?[ \t]+([^\n;&|]+)/g)) {
    const args = m[1].trim().split(/\s+/);
    if (/^[a-z][a-z-]*$/.test(args[0])) out.push(args);
  }
  return out;
}

const helpCache = new Map<string, string>();
function help(path: string[]): string {
  const key = path.join(" ");
  if (!helpCache.has(key)) {
    const r = cli([...path, "--help"]);
    expect(r.status, r.stderr).toBe(0);
    helpCache.set(key, r.stdout);
  }
  return helpCache.get(key)!;
}

/** Checks a command line against the CLI's own --help: the command, its subcommand and every flag exist. */
function checkInvocation(args: string[], where: string): string {
  const top = help([]);
  const command = args[0];
  expect(top, `${where}: unknown command ${command}`).toMatch(new RegExp(`ptq-onnx ${command}\\b`));
  const path = [command];
  if (args[1] && new RegExp(`ptq-onnx ${command} ${args[1]}\\b`).test(help([command]))) path.push(args[1]);
  const text = help(path);
  for (const a of args) {
    const flag = /^(--?[a-z][\w-]*)/.exec(a)?.[1];
    if (!flag) continue;
    expect(text, `${where}: ${path.join(" ")} has no ${flag}`).toMatch(new RegExp(`(^|\\s)${flag}(\\s|,|$)`, "m"));
  }
  return path.join(" ");
}

describe("deploy manifests and workflows", () => {
  it("parse as YAML and name only commands and flags that exist", () => {
    expect(yamlFiles.length).toBeGreaterThanOrEqual(7);
    const seen = new Set<string>();
    for (const file of yamlFiles) {
      for (const doc of docs(file)) for (const s of strings(doc)) for (const args of invocations(s)) seen.add(checkInvocation(args, file));
    }
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8").split("\n").filter((l) => !l.startsWith("#"));
    for (const line of dockerfile) for (const args of invocations(line)) seen.add(checkInvocation(args, "Dockerfile"));
    expect([...seen].sort()).toEqual(["build", "build merge", "data export", "inspect", "study", "study merge"]);
  });

  it("the Indexed Jobs pass their completion count as PTQ_ONNX_SHARDS and shard with --shard auto", () => {
    for (const name of ["build-job.yaml", "study-job.yaml"]) {
      const [job] = docs(join(K8S, name));
      expect(job.kind).toBe("Job");
      expect(job.spec.completionMode).toBe("Indexed");
      const c = job.spec.template.spec.containers[0];
      expect(c.env.find((e: { name: string }) => e.name === COUNT_ENV).value).toBe(String(job.spec.completions));
      expect(c.args.join(" ")).toMatch(/--shard auto .*--out "\/shared\/\w+\/shard-\$JOB_COMPLETION_INDEX"/);
      const merge = docs(join(K8S, name.replace("-job", "-merge-job")))[0];
      expect(merge.spec.template.spec.containers[0].args.join(" ")).toMatch(/merge \/shared\/\w+\/shard-\* --out/);
    }
  });

  it("the workflows' matrices, shard counts and merged shard lists agree", () => {
    for (const name of ["zoo-build.yml", "zoo-study.yml"]) {
      const [wf] = docs(join(WORKFLOWS, name));
      const shards = Number(wf.env.SHARDS);
      expect(wf.jobs.shard.strategy.matrix.shard).toEqual(Array.from({ length: shards }, (_, i) => i));
      const merge = wf.jobs.merge.steps.map((s: { run?: string }) => s.run ?? "").join("\n");
      for (let i = 0; i < shards; i++) expect(merge).toContain(`-shard-${i} `);
    }
  });

  it("the zoo build file the image runs is valid", () => {
    const spec = readBuildFile(join(ROOT, "deploy", "zoo.build.json"));
    expect(spec.models.map((m) => m.zoo)).toEqual(["wordnet8-disc", "wordnet8-gen", "spam-disc", "spam-gen"]);
    for (const m of spec.models) expect(existsSync(m.file)).toBe(true);
  });
});
