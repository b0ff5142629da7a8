import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { removeStaleTemps, stageFiles, tempPath, writeFilesAtomic } from "../../src/graph/files.ts";
import { ROOT, listDir, tempDir } from "../helpers.ts";

const FILES_URL = pathToFileURL(join(ROOT, "src", "graph", "files.ts")).href;

/** Two targets with old content, as the pair (model, table) that quantize installs. */
function pair(): { dir: string; a: string; b: string } {
  const dir = tempDir();
  const a = join(dir, "a.onnx");
  const b = join(dir, "a.calib.json");
  writeFileSync(a, "old a");
  writeFileSync(b, "old b");
  return { dir, a, b };
}

describe("writeFilesAtomic", () => {
  it("installs every file, leaving no temporary file", () => {
    const { dir, a, b } = pair();
    writeFilesAtomic([{ path: a, data: "new a" }, { path: b, data: Buffer.from("new b") }]);
    expect([readFileSync(a, "utf8"), readFileSync(b, "utf8")]).toEqual(["new a", "new b"]);
    expect(listDir(dir)).toEqual(["a.calib.json", "a.onnx"]);
  });

  it("rolls the first file back to its old content when the second cannot be installed", () => {
    const { dir, a } = pair();
    const blocked = join(dir, "blocked");
    mkdirSync(blocked);
    writeFileSync(join(blocked, "inside"), "x"); // renaming a file onto a non-empty folder fails
    expect(() => writeFilesAtomic([{ path: a, data: "new a" }, { path: blocked, data: "new b" }])).toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect(readFileSync(a, "utf8")).toBe("old a");
    expect(listDir(dir)).toEqual(["a.calib.json", "a.onnx", "blocked"]);
  });

  it("removes a first file that did not exist before when the second fails", () => {
    const dir = tempDir();
    const blocked = join(dir, "blocked");
    mkdirSync(blocked);
    writeFileSync(join(blocked, "inside"), "x");
    expect(() => writeFilesAtomic([{ path: join(dir, "new.onnx"), data: "a" }, { path: blocked, data: "b" }])).toThrow();
    expect(listDir(dir)).toEqual(["blocked"]);
  });

  it("touches no target when a file cannot be staged", () => {
    const { dir, a } = pair();
    expect(() => writeFilesAtomic([{ path: a, data: "new a" }, { path: join(dir, "missing", "b"), data: "b" }])).toThrow(/ENOENT/);
    expect(readFileSync(a, "utf8")).toBe("old a");
    expect(listDir(dir)).toEqual(["a.calib.json", "a.onnx"]);
  });

  it("discard removes what was staged", () => {
    const { dir, a, b } = pair();
    const staged = stageFiles([{ path: a, data: "new a" }, { path: b, data: "new b" }]);
    expect(existsSync(tempPath(a))).toBe(true);
    staged.discard();
    expect(listDir(dir)).toEqual(["a.calib.json", "a.onnx"]);
    expect(readFileSync(a, "utf8")).toBe("old a");
  });
});

describe("removeStaleTemps", () => {
  it("removes `.NAME.PID.tmp` of dead processes beside the file, nothing else", () => {
    const dir = tempDir();
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    const names = [`.q.onnx.${dead}.tmp`, `.q.onnx.old.${dead}.tmp`, `.q.onnx.${process.pid}.tmp`, `.q.onnx.x${dead}.tmp`, `.r.onnx.${dead}.tmp`, "q.onnx"];
    for (const n of names) writeFileSync(join(dir, n), "");
    expect(removeStaleTemps(join(dir, "q.onnx")).sort()).toEqual([`.q.onnx.${dead}.tmp`, `.q.onnx.old.${dead}.tmp`]);
    expect(listDir(dir)).toEqual(names.slice(2).sort());
  });
});

/**
 * Runs `body` in a child node process (TypeScript through tsx) that has installed
 * removeTempsOnSignals. `onLine` sees each stdout line and may signal the child.
 */
function child(body: string, onLine: (line: string, pid: number) => void): Promise<{ code: number | null; out: string[] }> {
  const dir = tempDir("ptq-onnx-signal-");
  const script = join(dir, "child.ts");
  writeFileSync(script, `import * as files from ${JSON.stringify(FILES_URL)};\nimport * as fs from "node:fs";\nfiles.removeTempsOnSignals();\n${body}\n`);
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["--import", "tsx", script], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    const out: string[] = [];
    let buffered = "";
    // Only a guard against a hung child, not a timing assertion.
    const guard = setTimeout(() => proc.kill("SIGKILL"), 100_000);
    proc.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        out.push(line);
        onLine(line, proc.pid!);
      }
    });
    proc.on("error", reject);
    proc.on("close", (code) => {
      clearTimeout(guard);
      resolve({ code, out });
    });
  });
}

describe("SIGINT and SIGTERM", () => {
  it("remove the staged temporary files and exit 143 (SIGTERM), leaving the targets as they were", async () => {
    const { dir, a, b } = pair();
    let temps: string[] = [];
    const r = await child(
      `files.stageFiles([{ path: ${JSON.stringify(a)}, data: "new a" }, { path: ${JSON.stringify(b)}, data: "new b" }]);\n` +
        `process.stdout.write("staged\\n");\nsetInterval(() => {}, 1000);`,
      (line, pid) => {
        if (line !== "staged") return;
        temps = listDir(dir).filter((f) => f.endsWith(`.${pid}.tmp`));
        process.kill(pid, "SIGTERM");
      },
    );
    expect(r.code).toBe(143);
    expect(temps).toHaveLength(2);
    expect(listDir(dir)).toEqual(["a.calib.json", "a.onnx"]);
    expect([readFileSync(a, "utf8"), readFileSync(b, "utf8")]).toEqual(["old a", "old b"]);
  });

  it("wait while a pair is being installed: both files are installed, then exit 130 (SIGINT)", async () => {
    const { dir, a, b } = pair();
    const go = join(tempDir(), "go");
    // The child pauses between the two renames until the parent has sent SIGINT and created `go`.
    const r = await child(
      `const nap = new Int32Array(new SharedArrayBuffer(4));\n` +
        `files.writeFilesAtomic([{ path: ${JSON.stringify(a)}, data: "new a" }, { path: ${JSON.stringify(b)}, data: "new b" }], (path) => {\n` +
        `  if (path !== ${JSON.stringify(a)}) return;\n` +
        `  fs.writeSync(1, "paused\\n");\n` +
        `  while (!fs.existsSync(${JSON.stringify(go)})) Atomics.wait(nap, 0, 0, 10);\n` +
        `});\n` +
        `fs.writeSync(1, "installed\\n");\nsetInterval(() => {}, 1000);`,
      (line, pid) => {
        if (line !== "paused") return;
        process.kill(pid, "SIGINT");
        writeFileSync(go, "");
      },
    );
    expect(r.code).toBe(130);
    expect(r.out).toEqual(["paused", "installed"]);
    expect([readFileSync(a, "utf8"), readFileSync(b, "utf8")]).toEqual(["new a", "new b"]);
    expect(listDir(dir)).toEqual(["a.calib.json", "a.onnx"]);
  });
});
