/**
 * Minimal random-access file abstraction so format readers stream tensor bytes on demand instead of loading
 * whole models, plus output folders for writers. Node's `fs/promises` backs the path-based versions (it works
 * in Deno too); in-memory versions serve browsers and tests. `node:` modules are imported dynamically so
 * browser bundles never see them.
 */
import { ArgumentError, FormatError } from "../errors.js";

/** A readable file of known size. */
export interface RandomAccessFile {
  /** Path or display name, used in error messages. */
  readonly name: string;
  /** Size in bytes. */
  readonly size: number;
  /**
   * Reads exactly `length` bytes at `offset` into a fresh buffer. Throws FormatError when the range runs past
   * the end of the file (a truncated file), never returns short.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

function checkRange(file: RandomAccessFile, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new FormatError(file.name, `invalid read range offset ${offset}, length ${length}`);
  }
  if (offset + length > file.size) {
    throw new FormatError(file.name, `truncated: need bytes [${offset}, ${offset + length}) but the file has ${file.size}`);
  }
}

/** A RandomAccessFile over bytes already in memory (browsers, tests, small files). */
export class MemoryFile implements RandomAccessFile {
  readonly name: string;
  readonly size: number;
  private bytes: Uint8Array | null;
  constructor(bytes: Uint8Array, name = "<memory>") {
    this.bytes = bytes;
    this.name = name;
    this.size = bytes.byteLength;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!this.bytes) throw new FormatError(this.name, "file is closed");
    checkRange(this, offset, length);
    // A copy, so callers may keep or mutate what they get without aliasing the source.
    return this.bytes.slice(offset, offset + length);
  }
  async close(): Promise<void> {
    this.bytes = null;
  }
}

/** True where `node:fs` is usable (Node, Deno); false in browsers. */
export function hasNodeFs(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string";
}

type FsPromises = typeof import("node:fs/promises");
type PathModule = typeof import("node:path");
let fsMod: Promise<FsPromises> | null = null;
let pathMod: Promise<PathModule> | null = null;

/** Dynamically imported `node:fs/promises` (kept out of browser bundles). */
export function nodeFs(): Promise<FsPromises> {
  if (!hasNodeFs()) return Promise.reject(new ArgumentError("path", "file paths need node:fs (Node or Deno); in a browser pass in-memory files"));
  return (fsMod ??= import("node:fs/promises"));
}

/** Dynamically imported `node:path`. */
export function nodePath(): Promise<PathModule> {
  if (!hasNodeFs()) return Promise.reject(new ArgumentError("path", "file paths need node:path (Node or Deno)"));
  return (pathMod ??= import("node:path"));
}

// One read call is capped: Node rejects single reads beyond 2 GiB.
const MAX_CHUNK = 1 << 30;

class NodeFile implements RandomAccessFile {
  constructor(
    readonly name: string,
    readonly size: number,
    private handle: import("node:fs/promises").FileHandle | null,
  ) {}
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!this.handle) throw new FormatError(this.name, "file is closed");
    checkRange(this, offset, length);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const want = Math.min(MAX_CHUNK, length - done);
      const { bytesRead } = await this.handle.read(out, done, want, offset + done);
      if (bytesRead === 0) throw new FormatError(this.name, `unexpected end of file at byte ${offset + done} (file shrank while reading?)`);
      done += bytesRead;
    }
    return out;
  }
  async close(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    await h?.close();
  }
}

/** Opens a file path for random access reads. */
export async function openFile(path: string): Promise<RandomAccessFile> {
  const fs = await nodeFs();
  let handle: import("node:fs/promises").FileHandle;
  try {
    handle = await fs.open(path, "r");
  } catch (e) {
    throw new FormatError(path, `cannot open: ${(e as Error).message}`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new FormatError(path, "not a regular file");
    return new NodeFile(path, st.size, handle);
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** Reads a whole (small) file: config and tokenizer files, never model weights. */
export async function readSmallFile(file: RandomAccessFile, limit = 512 * 1024 * 1024): Promise<Uint8Array> {
  if (file.size > limit) throw new FormatError(file.name, `file too large (${file.size} bytes) for an auxiliary file`);
  return file.read(0, file.size);
}

/** A file being written; nothing is visible under its final name until `commit`. */
export interface FileWriter {
  /** Appends bytes. */
  write(chunk: Uint8Array): Promise<void>;
  /** Bytes written so far. */
  readonly position: number;
  /** Finishes the file and moves it into place atomically. */
  commit(): Promise<void>;
  /** Discards the partial file. */
  abort(): Promise<void>;
}

/** A destination folder writers create files in. */
export interface OutputFolder {
  /** Display name / path for messages. */
  readonly name: string;
  create(fileName: string): Promise<FileWriter>;
}

/** An in-memory output folder; committed files appear in `files`. */
export class MemoryFolder implements OutputFolder {
  readonly files = new Map<string, Uint8Array>();
  constructor(readonly name = "<memory>") {}
  async create(fileName: string): Promise<FileWriter> {
    const chunks: Uint8Array[] = [];
    let position = 0;
    const files = this.files;
    return {
      get position() { return position; },
      async write(chunk: Uint8Array) { chunks.push(chunk.slice()); position += chunk.byteLength; },
      async commit() {
        const all = new Uint8Array(position);
        let p = 0;
        for (const c of chunks) { all.set(c, p); p += c.byteLength; }
        files.set(fileName, all);
      },
      async abort() { chunks.length = 0; },
    };
  }
}

// Writes are batched: tensor chunks are often small and one syscall each would dominate.
const WRITE_BUFFER = 4 << 20;

/** An output folder on disk: each file is written to a temporary name in the folder, then renamed. */
export class DiskFolder implements OutputFolder {
  constructor(readonly name: string) {}
  async create(fileName: string): Promise<FileWriter> {
    const fs = await nodeFs();
    const path = await nodePath();
    await fs.mkdir(this.name, { recursive: true });
    const finalPath = path.join(this.name, fileName);
    const rand = Math.random().toString(36).slice(2, 10);
    const tmpPath = path.join(this.name, `.dass-tmp-${rand}-${fileName}`);
    const handle = await fs.open(tmpPath, "wx");
    let position = 0;
    let buf = new Uint8Array(WRITE_BUFFER);
    let used = 0;
    let closed = false;
    const flush = async () => {
      let off = 0;
      while (off < used) {
        const { bytesWritten } = await handle.write(buf, off, used - off);
        off += bytesWritten;
      }
      used = 0;
    };
    return {
      get position() { return position; },
      async write(chunk: Uint8Array) {
        if (chunk.byteLength >= WRITE_BUFFER) {
          await flush();
          let off = 0;
          while (off < chunk.byteLength) {
            const { bytesWritten } = await handle.write(chunk, off, chunk.byteLength - off);
            off += bytesWritten;
          }
        } else {
          if (used + chunk.byteLength > buf.byteLength) await flush();
          buf.set(chunk, used);
          used += chunk.byteLength;
        }
        position += chunk.byteLength;
      },
      async commit() {
        await flush();
        await handle.sync();
        await handle.close();
        closed = true;
        await fs.rename(tmpPath, finalPath);
      },
      async abort() {
        if (!closed) { closed = true; await handle.close().catch(() => {}); }
        buf = new Uint8Array(0);
        await fs.unlink(tmpPath).catch(() => {});
      },
    };
  }
}

/** A folder of files to read from (an HF model folder on disk or in memory). */
export interface FileSource {
  /** Folder path or display name. */
  readonly name: string;
  /** Opens a file in the folder, or returns null when it does not exist. */
  open(fileName: string): Promise<RandomAccessFile | null>;
}

/** Files given in memory, keyed by file name. */
export type MemoryFiles = Record<string, Uint8Array | RandomAccessFile> | Map<string, Uint8Array | RandomAccessFile>;

/** A FileSource over in-memory files. */
export class MemorySource implements FileSource {
  private readonly files: Map<string, Uint8Array | RandomAccessFile>;
  constructor(files: MemoryFiles, readonly name = "<memory>") {
    this.files = files instanceof Map ? new Map(files) : new Map(Object.entries(files));
  }
  /** File names present. */
  list(): string[] {
    return [...this.files.keys()];
  }
  async open(fileName: string): Promise<RandomAccessFile | null> {
    const f = this.files.get(fileName);
    if (!f) return null;
    // A fresh view each time so closing one reader never invalidates the caller's bytes.
    return f instanceof Uint8Array ? new MemoryFile(f, `${this.name}/${fileName}`) : f;
  }
}

/** A FileSource over a folder on disk. */
export class DiskSource implements FileSource {
  constructor(readonly name: string) {}
  async open(fileName: string): Promise<RandomAccessFile | null> {
    const path = await nodePath();
    const fs = await nodeFs();
    const full = path.join(this.name, fileName);
    try {
      await fs.access(full);
    } catch {
      return null;
    }
    return openFile(full);
  }
}
