/**
 * Exports one zoo data set for training: `npx tsx scripts/zoo/export-data.ts NAME OUT_DIR`.
 * Prints the split sizes and class counts.
 */
import { exportDataset } from "../../src/data/export.ts";

const [name, outDir] = process.argv.slice(2);
if (!name || !outDir) {
  process.stderr.write("usage: export-data.ts NAME OUT_DIR\n");
  process.exit(2);
}
const meta = exportDataset(name, outDir);
process.stdout.write(`${name}: sizes ${JSON.stringify(meta.sizes)}, per class ${JSON.stringify(meta.per_class)}\n`);
