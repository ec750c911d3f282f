/**
 * Registry of test modules. Every environment (Node, Deno, Chromium) runs exactly this list, so a
 * test module that is not listed here does not run anywhere. Add one line per `test/<name>.test.ts`.
 */
export const SUITES: readonly string[] = [
  "smoke",
  "runtime",
  "elementwise",
  "forward",
  "eval",
  "generate",
  "chat",
  "scores",
  "masks",
  "formats",
  "ggml-quants",
  "dequant",
  "tokenizers",
  "dense",
  "convert",
  "stats",
  "sparse",
  "sparse-runtime",
  "pull",
  "cli",
  "calibration",
  "sparsegpt",
  "pruning",
  "prune-cli",
  "examples",
  "package",
];

/**
 * Imports every listed test module (or those named in `only`), in order. `beforeEach` runs before
 * each import so the harness can route the module's uvu suites into its own queue group; an import
 * that throws is reported through `onError` and the remaining modules still load.
 */
export async function loadSuites(
  only: readonly string[] = [],
  beforeEach: (name: string) => void = () => {},
  onError: (name: string, err: unknown) => void = (_name, err) => {
    throw err;
  },
): Promise<string[]> {
  const names = only.length ? SUITES.filter((s) => only.includes(s)) : [...SUITES];
  for (const name of names) {
    beforeEach(name);
    try {
      await import(`./${name}.test.js`);
    } catch (err) {
      onError(name, err);
    }
  }
  return names;
}
