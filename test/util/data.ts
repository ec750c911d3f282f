/**
 * Access to the read-only data folder that sits next to the repository (`../shared/data`). It may
 * be absent (e.g. a bare clone), so readers return null and tests skip instead of failing.
 *
 * To have a data-dependent test counted as skipped rather than passed, read the data at module top
 * level and register with `test.skip` when it is missing:
 * ```ts
 * const model = await readSharedData("models/stories260K.bin");
 * if (!model) skipNote("models/stories260K.bin");
 * (model ? test : test.skip)("loads stories260K", () => { ... });
 * ```
 */
import { isBrowser } from "./env.js";

/** Repository root: this file is dist/test/util/data.js once compiled. */
const repoRoot = new URL("../../../", import.meta.url);

/**
 * Reads `../shared/data/<relPath>` (relative to the repo root), or `/shared/data/<relPath>` from the
 * test server in a browser. Returns null when the file (or the whole folder) does not exist.
 */
export async function readSharedData(relPath: string): Promise<Uint8Array | null> {
  const rel = relPath.replace(/^\/+/, "");
  if (isBrowser) {
    const res = await fetch(`/shared/data/${rel}`);
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`fetch /shared/data/${rel}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  // Dynamic so that test modules stay loadable in the browser.
  const fs = await import("node:fs/promises");
  try {
    const buf = await fs.readFile(new URL(`../shared/data/${rel}`, repoRoot));
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return null;
    throw err;
  }
}

/** Like readSharedData, decoded as UTF-8 text. */
export async function readSharedText(relPath: string): Promise<string | null> {
  const bytes = await readSharedData(relPath);
  return bytes && new TextDecoder().decode(bytes);
}

const noted = new Set<string>();

/** Prints (once per `what`) that shared data is missing, so skipped coverage is visible in the log. */
export function skipNote(what: string): void {
  if (noted.has(what)) return;
  noted.add(what);
  console.log(`\n[skip] shared data not available: ${what}`);
}
