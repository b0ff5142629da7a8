import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCases, type LowerGolden } from "../../scripts/lower/golden.ts";
import { ROOT, tempDir } from "../helpers.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("lowerModel", () => {
  it("writes the same bytes as before the switch to the shared builder (test/lower/golden.json)", async () => {
    const golden = JSON.parse(readFileSync(join(ROOT, "test", "lower", "golden.json"), "utf8")) as { cases: LowerGolden[] };
    const dir = tempDir();
    dirs.push(dir);
    const now = await runCases(dir);
    expect(now.map((c) => [c.name, c.sha256])).toEqual(golden.cases.map((c) => [c.name, c.sha256]));
  }, 300_000);
});
