/**
 * An error in what the user gave us (a file, a model, an option), as opposed to a bug.
 * The CLI prints it as one line and exits with code 2.
 */
export class InputError extends Error {
  /** The file the problem is in, when there is one. */
  readonly file?: string;

  constructor(message: string, file?: string) {
    super(file ? `${file}: ${message}` : message);
    this.name = "InputError";
    this.file = file;
  }
}
