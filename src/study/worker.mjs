// A study worker process: loads the TypeScript sources through tsx (the package has no build
// step), then serves the tasks its parent sends (see worker.ts).
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");
