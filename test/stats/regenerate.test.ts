import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadReference, REFERENCE_PATH } from "./reference.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts", "stats", "scipy_reference.py");

/** scipy's version under /usr/bin/python3, or null when it cannot import scipy. */
function scipyVersion(): string | null {
  const probe = spawnSync(PYTHON, ["-c", "import scipy; print(scipy.__version__)"], { encoding: "utf8" });
  return probe.status === 0 ? probe.stdout.trim() : null;
}

const version = scipyVersion();
const committed = loadReference();

describe("scipy reference fixture", () => {
  // Values legitimately move between scipy releases, so only the release that produced the
  // fixture is expected to reproduce it byte for byte.
  it.skipIf(version === null || version !== committed.scipy_version)(
    "regenerates byte-identical from scripts/stats/scipy_reference.py",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "scipy-ref-"));
      try {
        const out = join(dir, "scipy_reference.json");
        const run = spawnSync(PYTHON, [SCRIPT, "--out", out], { encoding: "utf8", timeout: 120_000 });
        expect(run.status, run.stderr).toBe(0);
        expect(readFileSync(out, "utf8")).toBe(readFileSync(REFERENCE_PATH, "utf8"));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
