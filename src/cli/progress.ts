/** A one-line progress bar on stderr, only when stderr is a terminal (the contract keeps pipes clean). */
export function progressBar(label: string): { update: (done: number, total: number) => void; done: () => void } | undefined {
  if (!process.stderr.isTTY) return undefined;
  const width = 30;
  return {
    update(done: number, total: number) {
      const filled = total > 0 ? Math.round((done / total) * width) : width;
      process.stderr.write(`\r${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${done}/${total}`);
    },
    done() {
      process.stderr.write("\r\x1b[K");
    },
  };
}
