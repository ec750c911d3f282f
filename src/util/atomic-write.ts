/**
 * Atomic outputs: a file or folder either appears complete under its final name or not at all.
 *
 * Files are written to a temporary name in the destination's own directory (so the final `rename` never
 * crosses a filesystem), flushed with fsync, then renamed over the destination. On any error, or when the
 * AbortSignal fires, the temporary file is removed and the destination is left as it was. Every helper
 * first refuses an output that would overwrite one of the inputs (same real path, or the same file through
 * a hard link): `ArgumentError("out", ...)`.
 *
 * Node and Deno only (node:fs). `node:` modules are imported lazily so that importing this module from code
 * that also runs in browsers costs nothing until a helper is called.
 *
 * ```ts
 * await writeFileAtomic("out.bin", bytes, { inputs: [modelPath], signal });
 * await withAtomicFile("big.bin", async (f) => { for (const c of chunks) await f.write(c); }, { signal });
 * await withAtomicDir("out-folder", async (tmp) => { ...write files into tmp... }, { inputs: [inDir] });
 * ```
 */
import { AbortError, ArgumentError } from "../errors.js";

type Fs = typeof import("node:fs/promises");
type Path = typeof import("node:path");
type FileHandle = import("node:fs/promises").FileHandle;

let mods: Promise<{ fs: Fs; path: Path; fsSync: typeof import("node:fs") }> | null = null;
function nodeMods(): Promise<{ fs: Fs; path: Path; fsSync: typeof import("node:fs") }> {
  return (mods ??= Promise.all([import("node:fs/promises"), import("node:path"), import("node:fs")]).then(
    ([fs, path, fsSync]) => ({ fs, path, fsSync }),
  ));
}

/** Options shared by the atomic helpers. */
export interface AtomicOptions {
  /**
   * Paths being read to produce this output. The output may not be (or, for folders, contain) any of them;
   * compared by resolved real path and by device + inode. Violations throw `ArgumentError(arg, ...)`.
   */
  inputs?: readonly string[];
  /** Name of the argument reported in errors (default `"out"`). */
  arg?: string;
  /** Cancels the write: the temporary output is removed and AbortError is thrown. */
  signal?: AbortSignal;
  /** File mode for new files (default 0o666, minus the umask). */
  mode?: number;
}

/** A file being written atomically (see `withAtomicFile`). */
export interface AtomicFile {
  /** The temporary path being written (inside the destination's directory). */
  readonly tempPath: string;
  /** The final path it will be renamed to. */
  readonly path: string;
  /** Bytes written so far. */
  readonly position: number;
  /** Appends bytes (the whole chunk, looping over short writes). */
  write(chunk: Uint8Array | string): Promise<void>;
  /** The underlying handle, for callers that need positioned writes (e.g. to patch a header at the end). */
  readonly handle: FileHandle;
}

// Temporary paths currently in flight, so a process that must exit at once (a second Ctrl-C) can still
// remove them synchronously.
const pending = new Set<string>();

/** Temporary files and folders currently being written by this process. */
export function pendingTempPaths(): string[] {
  return [...pending];
}

/**
 * Synchronously removes every temporary output still in flight. For last-resort cleanup right before
 * `process.exit()`; normal error and abort paths clean up by themselves.
 */
export function removePendingTempPathsSync(): void {
  // Loaded by any earlier async helper call; if none ran, nothing is pending.
  const sync = syncFs;
  if (!sync) return;
  for (const p of pending) {
    try {
      sync.rmSync(p, { recursive: true, force: true });
    } catch {
      // Best effort: the process is exiting.
    }
  }
  pending.clear();
}
let syncFs: typeof import("node:fs") | null = null;

function randomSuffix(): string {
  return `${process.pid}.${Math.random().toString(36).slice(2, 10)}`;
}

function abortError(signal: AbortSignal): AbortError {
  const r: unknown = signal.reason;
  if (r instanceof AbortError) return r;
  return new AbortError(r instanceof Error && r.name !== "AbortError" ? `aborted: ${r.message}` : undefined);
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** Real path of `p`, or of its nearest existing ancestor joined with the rest when `p` does not exist. */
async function realish(p: string): Promise<string> {
  const { fs, path } = await nodeMods();
  const abs = path.resolve(p);
  try {
    return await fs.realpath(abs);
  } catch {
    const parent = path.dirname(abs);
    if (parent === abs) return abs;
    return path.join(await realish(parent), path.basename(abs));
  }
}

async function statOrNull(p: string): Promise<import("node:fs").Stats | null> {
  const { fs } = await nodeMods();
  try {
    return await fs.stat(p);
  } catch {
    return null;
  }
}

function isWithin(child: string, parent: string, path: Path): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/**
 * Throws `ArgumentError(arg, ...)` when writing `dest` would overwrite one of `inputs`: the same real path
 * (symlinks resolved), the same file through a hard link, or, with `folder: true`, a folder that contains an
 * input (replacing it would delete the input).
 */
export async function assertNotInput(
  dest: string,
  inputs: readonly string[] | undefined,
  opts: { arg?: string; folder?: boolean } = {},
): Promise<void> {
  const arg = opts.arg ?? "out";
  if (typeof dest !== "string" || dest === "") throw new ArgumentError(arg, "empty output path");
  if (!inputs?.length) return;
  const { path } = await nodeMods();
  const out = await realish(dest);
  const outStat = await statOrNull(out);
  for (const input of inputs) {
    const inp = await realish(input);
    let same = inp === out;
    if (!same && outStat) {
      const inStat = await statOrNull(inp);
      same = !!inStat && inStat.dev === outStat.dev && inStat.ino === outStat.ino;
    }
    if (same) {
      throw new ArgumentError(arg, `${dest} is the input ${input}; refusing to overwrite it (choose another output path)`);
    }
    if (opts.folder && isWithin(inp, out, path)) {
      throw new ArgumentError(arg, `${dest} contains the input ${input}; refusing to replace it (choose another output path)`);
    }
  }
}

/**
 * Creates `dest` atomically: `fill` writes into a temporary file in the same directory, which is then
 * fsynced and renamed over `dest`. On error or abort the temporary file is deleted and `dest` is untouched.
 * Missing parent directories are created. Returns what `fill` returns.
 */
export async function withAtomicFile<T>(
  dest: string,
  fill: (file: AtomicFile) => Promise<T>,
  opts: AtomicOptions = {},
): Promise<T> {
  const { fs, path, fsSync } = await nodeMods();
  syncFs = fsSync;
  await assertNotInput(dest, opts.inputs, { arg: opts.arg });
  checkAbort(opts.signal);
  const finalPath = path.resolve(dest);
  const dir = path.dirname(finalPath);
  await fs.mkdir(dir, { recursive: true });
  const destStat = await statOrNull(finalPath);
  if (destStat?.isDirectory()) throw new ArgumentError(opts.arg ?? "out", `${dest} is a directory; expected a file path`);
  const tempPath = path.join(dir, `.${path.basename(finalPath)}.${randomSuffix()}.tmp`);
  const handle = await fs.open(tempPath, "wx", opts.mode ?? 0o666);
  pending.add(tempPath);
  let closed = false;
  let position = 0;
  const file: AtomicFile = {
    tempPath,
    path: finalPath,
    handle,
    get position() {
      return position;
    },
    async write(chunk: Uint8Array | string): Promise<void> {
      checkAbort(opts.signal);
      const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
      let off = 0;
      while (off < bytes.byteLength) {
        const { bytesWritten } = await handle.write(bytes, off, bytes.byteLength - off, null);
        off += bytesWritten;
      }
      position += bytes.byteLength;
    },
  };
  try {
    const result = await fill(file);
    checkAbort(opts.signal);
    await handle.sync();
    await handle.close();
    closed = true;
    checkAbort(opts.signal);
    await fs.rename(tempPath, finalPath);
    pending.delete(tempPath);
    await fsyncDir(dir);
    return result;
  } catch (err) {
    if (!closed) await handle.close().catch(() => {});
    await fs.rm(tempPath, { force: true }).catch(() => {});
    pending.delete(tempPath);
    if (opts.signal?.aborted && !(err instanceof AbortError)) throw abortError(opts.signal);
    throw err;
  }
}

/** Writes `data` (bytes, text, or a stream of chunks) to `dest` atomically; see `withAtomicFile`. */
export async function writeFileAtomic(
  dest: string,
  data: Uint8Array | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  opts: AtomicOptions = {},
): Promise<void> {
  await withAtomicFile(
    dest,
    async (f) => {
      if (typeof data === "string" || data instanceof Uint8Array) {
        await f.write(data);
        return;
      }
      for await (const chunk of data) await f.write(chunk);
    },
    opts,
  );
}

/**
 * Creates the folder `dest` atomically (e.g. a Hugging Face model folder): `fill` writes files into a fresh
 * temporary folder beside `dest`; every regular file in it is fsynced, then the folder is renamed to `dest`.
 * An existing `dest` is replaced: it is first moved aside, then removed once the new folder is in place (if
 * the final rename fails it is moved back), so `dest` is never seen half-written. On error or abort the
 * temporary folder is removed.
 */
export async function withAtomicDir<T>(
  dest: string,
  fill: (tempDir: string) => Promise<T>,
  opts: AtomicOptions = {},
): Promise<T> {
  const { fs, path, fsSync } = await nodeMods();
  syncFs = fsSync;
  await assertNotInput(dest, opts.inputs, { arg: opts.arg, folder: true });
  checkAbort(opts.signal);
  const finalPath = path.resolve(dest);
  const parent = path.dirname(finalPath);
  await fs.mkdir(parent, { recursive: true });
  const base = path.basename(finalPath);
  const tempDir = path.join(parent, `.${base}.${randomSuffix()}.tmpdir`);
  await fs.mkdir(tempDir);
  pending.add(tempDir);
  try {
    const result = await fill(tempDir);
    checkAbort(opts.signal);
    await fsyncTree(tempDir);
    checkAbort(opts.signal);
    const existing = await lstatOrNull(finalPath);
    if (!existing) {
      await fs.rename(tempDir, finalPath);
    } else {
      const aside = path.join(parent, `.${base}.${randomSuffix()}.old`);
      await fs.rename(finalPath, aside);
      try {
        await fs.rename(tempDir, finalPath);
      } catch (err) {
        await fs.rename(aside, finalPath).catch(() => {});
        throw err;
      }
      await fs.rm(aside, { recursive: true, force: true }).catch(() => {});
    }
    pending.delete(tempDir);
    await fsyncDir(parent);
    return result;
  } catch (err) {
    await fs.rm(tempDir, { recursive: true, force: true }).catch(() => {});
    pending.delete(tempDir);
    if (opts.signal?.aborted && !(err instanceof AbortError)) throw abortError(opts.signal);
    throw err;
  }
}

async function lstatOrNull(p: string): Promise<import("node:fs").Stats | null> {
  const { fs } = await nodeMods();
  try {
    return await fs.lstat(p);
  } catch {
    return null;
  }
}

/**
 * Flushes a folder's entries: a rename into it is only durable after that. Not possible on Windows,
 * where opening a folder fails, so errors are ignored.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const { fs } = await nodeMods();
  let h: FileHandle | null = null;
  try {
    h = await fs.open(dir, "r");
    await h.sync();
  } catch {
    // Not supported here.
  } finally {
    await h?.close().catch(() => {});
  }
}

async function fsyncTree(dir: string): Promise<void> {
  const { fs, path } = await nodeMods();
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await fsyncTree(p);
    else if (entry.isFile()) {
      const h = await fs.open(p, "r+");
      try {
        await h.sync();
      } finally {
        await h.close();
      }
    }
  }
  await fsyncDir(dir);
}
