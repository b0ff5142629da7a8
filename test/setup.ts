import { afterAll } from "vitest";
import { removeTempDirs } from "./temp.ts";

// Runs after each test file (setup files are loaded once per file).
afterAll(removeTempDirs);
