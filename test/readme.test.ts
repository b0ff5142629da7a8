/**
 * README's library example, run as written: the fenced `ts` block under "## Library" is
 * copied to a scratch directory whose node_modules/ptq-onnx links to this package (so
 * `import ... from "ptq-onnx"` resolves through package.json's exports, as for a user), and
 * run with tsx from the repository root (the example's relative paths).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, tempDir } from "./helpers.ts";

function libraryExample(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Library"), readme.indexOf("## Layout"));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error("README.md has no ```ts block under ## Library");
  return m[1];
}

describe("README library example", () => {
  it("runs as written and quantizes the tiny zoo model at 8 bits without changing its predictions much", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(ROOT, join(dir, "node_modules", "ptq-onnx"), "dir");
    const file = join(dir, "example.mts"); // an ES module, as in a "type": "module" package
    writeFileSync(file, libraryExample());
    const r = spawnSync(process.execPath, ["--import", "tsx", file], { cwd: ROOT, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split("\n");
    const last = JSON.parse(lines[lines.length - 1]);
    // The LSTM summary printed first: tiny-disc is one forward LSTM, hidden 24 over 16-wide embeddings.
    expect(r.stdout).toContain("direction: 'forward'");
    expect(r.stdout).toMatch(/hidden_size: 24/);
    // 8-bit weights and activations on a 7k-parameter model: at most 1 of 60 rows changes its class.
    expect(last.agreement).toBeGreaterThanOrEqual(59 / 60);
    expect(Math.abs(last.accuracy - last.float)).toBeLessThanOrEqual(1 / 60 + 1e-12);
  });
});

describe("the library API", () => {
  it("has one function per CLI command", async () => {
    const api: Record<string, unknown> = await import("../src/index.ts");
    const commands: Record<string, string> = {
      inspect: "inspectFile",
      quantize: "quantizeModel",
      eval: "runEval",
      robustness: "runRobustness",
      bench: "runBench",
      parity: "runParity",
      "stats test": "testFromFiles",
      "stats compare": "compareModels",
      study: "runStudy",
      "study merge": "mergeStudies",
      lower: "lowerModel",
      "data export": "exportDataset",
      build: "runBuild",
      "build merge": "mergeBuilds",
      sensitivity: "runSensitivity",
      tune: "runTune",
    };
    const cli = readFileSync(join(ROOT, "src", "cli", "commands", "index.ts"), "utf8");
    for (const [command, fn] of Object.entries(commands)) {
      expect(typeof api[fn], `${command}: ${fn}`).toBe("function");
      expect(cli, command).toContain(`${command.split(" ")[0]}Command`);
    }
  });
});
