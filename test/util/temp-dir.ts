/**
 * A fresh folder under the OS temp directory for tests that touch the filesystem. Node and Deno
 * only: the `node:` modules are imported when called, so suites that import this still load in the
 * browser (where they skip).
 */
export interface TempDir {
  /** The folder. */
  path: string;
  /** `node:fs/promises`. */
  fs: typeof import("node:fs/promises");
  /** `node:path`'s join. */
  join: (...parts: string[]) => string;
  /** Deletes the folder and everything in it. */
  remove(): Promise<void>;
}

/** Creates `<tmpdir>/<prefix>XXXXXX`. */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  const fs = await import("node:fs/promises");
  const path = await import("node:path");
  const os = await import("node:os");
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  return { path: dir, fs, join: path.join, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}
