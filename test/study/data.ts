/** Tiny labelled id rows for the fixture models (vocabularies of 30 to 50 rows) and the quick study grid over them. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StudyOptions } from "../../src/study/plan.ts";
import { fixtureModel, tempDir } from "../helpers.ts";

export interface StudyData {
  dir: string;
  calib: string;
  test: string;
}

/** A calibration pool (60 rows) and a test set (90 rows), labels 0..2, ids 2..28, seeded. */
export function writeStudyData(): StudyData {
  const dir = tempDir("ptq-onnx-study-");
  let s = 7;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const write = (name: string, n: number) => {
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      const len = 1 + Math.floor(rand() * 9);
      lines.push(JSON.stringify({ ids: Array.from({ length: len }, () => 2 + Math.floor(rand() * 27)), label: i % 3 }));
    }
    const path = join(dir, name);
    writeFileSync(path, lines.join("\n") + "\n");
    return path;
  };
  return { dir, calib: write("calib.jsonl", 60), test: write("test.jsonl", 90) };
}

export const MODELS = [fixtureModel("disc-tiny"), fixtureModel("gen-tiny")];

/** 2 float + 2 models x 2 bit widths x 2 calibration modes = 10 cells. */
export function quickGrid(d: StudyData): StudyOptions {
  return {
    models: MODELS,
    quick: true,
    calibData: d.calib,
    testData: d.test,
    calibSize: 30,
    noise: ["gauss:0.2", "sub:0.2"],
    resamples: 500,
  };
}

/** The same grid as CLI arguments. */
export function quickArgs(d: StudyData): string[] {
  return ["--models", MODELS.join(","), "--quick", "--calib-data", d.calib, "--test-data", d.test, "--calib-size", "30", "--noise", "gauss:0.2", "--noise", "sub:0.2", "--resamples", "500"];
}
