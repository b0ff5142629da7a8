/**
 * Renders a study's report.html in headless Chromium (Debian's `chromium` package; CI installs
 * it with `apt-get install -y chromium`) and checks that every plot is laid out with its marks.
 * Skips when /usr/bin/chromium is missing.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runStudy } from "../../src/study/study.ts";
import { tempDir } from "../helpers.ts";
import { quickGrid, writeStudyData } from "./data.ts";

const CHROMIUM = "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--allow-file-access-from-files"];

/** Appended to a copy of the report (not the report itself, which has no scripts): measures each plot. */
const PROBE = `<script>
const plots = [...document.querySelectorAll("svg.plot")].map((s) => {
  const r = s.getBoundingClientRect();
  return { plot: s.dataset.plot, width: r.width, height: r.height, points: s.querySelectorAll("circle.point").length,
    lines: s.querySelectorAll("path.line").length, visible: r.width > 0 && getComputedStyle(s).display !== "none" };
});
const pre = document.createElement("pre");
pre.id = "plot-probe";
pre.textContent = JSON.stringify({ plots, tables: document.querySelectorAll("table").length, title: document.title });
document.body.appendChild(pre);
</script>`;

describe.skipIf(!existsSync(CHROMIUM))("report.html in headless Chromium", () => {
  it("lays out every plot with its points and lines", async () => {
    const out = join(tempDir("ptq-onnx-study-chromium-"), "study");
    await runStudy({ ...quickGrid(writeStudyData()), out, jobs: 2 });
    const report = join(out, "report.html");
    const probe = join(out, "probe.html");
    writeFileSync(probe, readFileSync(report, "utf8").replace("</body>", `${PROBE}</body>`));

    const dom = spawnSync(CHROMIUM, [...FLAGS, "--dump-dom", `file://${probe}`], { encoding: "utf8", timeout: 90_000 });
    expect(dom.status, dom.stderr).toBe(0);
    const m = /<pre id="plot-probe">(.*?)<\/pre>/s.exec(dom.stdout);
    expect(m, "the probe script ran").not.toBeNull();
    const result = JSON.parse(m![1].replace(/&quot;/g, '"').replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">"));
    expect(result.title).toBe("ptq-onnx study");
    expect(result.tables).toBeGreaterThanOrEqual(6);
    const byKind = (id: string) => result.plots.filter((p: { plot: string }) => p.plot === id);
    expect(byKind("accuracy-vs-bits")).toHaveLength(2);
    expect(byKind("drop-vs-bits")).toHaveLength(1);
    expect(byKind("robustness")).toHaveLength(4);
    expect(byKind("drops-ci")).toHaveLength(1);
    expect(byKind("calibration-ci")).toHaveLength(1);
    for (const p of result.plots) {
      expect(p.visible).toBe(true);
      expect(p.width).toBeGreaterThan(300);
      expect(p.height).toBeGreaterThan(100);
      expect(p.points).toBeGreaterThan(0);
    }
    // accuracy vs bits: 2 calibration modes x 2 bit widths, one line per mode.
    for (const p of byKind("accuracy-vs-bits")) expect(p).toMatchObject({ points: 4, lines: 2 });
    expect(byKind("drops-ci")[0].points).toBe(8);

    // The report itself (no probe) renders to a non-trivial image.
    const png = join(out, "report.png");
    const shot = spawnSync(CHROMIUM, [...FLAGS, "--window-size=1200,2400", `--screenshot=${png}`, `file://${report}`], { encoding: "utf8", timeout: 90_000 });
    expect(shot.status, shot.stderr).toBe(0);
    expect(statSync(png).size).toBeGreaterThan(50_000);
  });
});
