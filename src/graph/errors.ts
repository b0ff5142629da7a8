// InputError lives at the bottom of the tree (src/errors.ts) so that src/stats can throw it too.
export { InputError } from "../errors.ts";
