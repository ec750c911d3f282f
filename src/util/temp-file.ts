/**
 * A temporary file of f32 data read and written at byte offsets: where pruning keeps what would not
 * fit in RAM (calibration activations, pruned matrices waiting for the write). Node and Deno only
 * (node:fs, imported on first use).
 *
 * The file is created under a hidden random name and unlinked as soon as it is open where the OS
 * allows it (POSIX), so it disappears even if the process is killed; elsewhere `close()` removes it.
 * I/O is synchronous: callers move one tensor or one chunk of sequences at a time, and a page-cache
 * read of a 7B MLP matrix (180 MB) takes a few tens of milliseconds.
 */
import { DassError } from "../errors.js";

type Fs = typeof import("node:fs");

/** An open temporary file (see `TempFile.create`). */
export class TempFile {
  private closed = false;

  private constructor(private readonly fs: Fs, private readonly fd: number, private readonly unlinked: boolean, readonly path: string) {}

  /** Creates `<dir>/.<prefix>-<pid>.<random>.tmp` (dir: default the OS temp folder). */
  static async create(prefix: string, dir?: string): Promise<TempFile> {
    const fs = await import("node:fs");
    const pathMod = await import("node:path");
    const base = dir ?? (await import("node:os")).tmpdir();
    const path = pathMod.join(pathMod.resolve(base), `.${prefix}-${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
    let fd: number;
    try {
      fd = fs.openSync(path, "wx+", 0o600);
    } catch (e) {
      throw ioError(path, "cannot create it", e);
    }
    let unlinked = false;
    try {
      fs.unlinkSync(path);
      unlinked = true;
    } catch {
      // Windows cannot unlink an open file: close() removes it.
    }
    return new TempFile(fs, fd, unlinked, path);
  }

  /** Writes all of `data` at byte offset `pos`. */
  write(data: Float32Array, pos: number): void {
    this.checkOpen();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    try {
      for (let off = 0; off < bytes.length;) off += this.fs.writeSync(this.fd, bytes, off, bytes.length - off, pos + off);
    } catch (e) {
      throw ioError(this.path, `cannot write ${bytes.length} bytes at ${pos}`, e);
    }
  }

  /** Fills `into` from byte offset `pos`. */
  read(into: Float32Array, pos: number): void {
    this.checkOpen();
    const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
    let off = 0;
    try {
      while (off < bytes.length) {
        const n = this.fs.readSync(this.fd, bytes, off, bytes.length - off, pos + off);
        if (n <= 0) break;
        off += n;
      }
    } catch (e) {
      throw ioError(this.path, `cannot read ${bytes.length} bytes at ${pos}`, e);
    }
    if (off < bytes.length) throw ioError(this.path, `truncated: ${bytes.length} bytes at ${pos} asked for, ${off} read`, null);
  }

  // A closed descriptor's number may already belong to another file.
  private checkOpen(): void {
    if (this.closed) throw ioError(this.path, "used after close()", null);
  }

  /** Closes and removes the file (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try { this.fs.closeSync(this.fd); } catch { /* already closed */ }
    if (!this.unlinked) {
      try { this.fs.rmSync(this.path, { force: true }); } catch { /* best effort */ }
    }
  }
}

function ioError(path: string, what: string, e: unknown): DassError {
  return new DassError("tempfile", `temporary file ${path}: ${what}${e ? `: ${e instanceof Error ? e.message : String(e)}` : ""}`);
}
