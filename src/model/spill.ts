/**
 * Where a streamed model keeps the weights replaced after load (pruned matrices) until a block runs
 * or the model is saved. By default they stay on the JS heap, so for a model far larger than memory
 * the pruned matrices alone (every MLP of a 7B model: 17 GB in f32) must fit in RAM. A `FileSpill`
 * keeps them in a temporary file instead (src/util/temp-file.ts), so pruning holds about one block.
 */
import { DassError } from "../errors.js";
import { TempFile } from "../util/temp-file.js";

/** A store of f32 tensors by key, for the weights of streamed blocks replaced after load. */
export interface WeightSpill {
  /** Stores a copy of `data` under `key`, replacing what the key held. */
  put(key: string, data: Float32Array): Promise<void>;
  /** A fresh copy of what `key` holds; undefined for a key never stored (or deleted). */
  get(key: string): Promise<Float32Array | undefined>;
  /** Forgets `key` (its space is reused). */
  delete(key: string): void;
}

interface Extent {
  offset: number;
  bytes: number;
}

/**
 * A WeightSpill in a temporary file (Node, Deno), created in `dir` on the first `put`. The caller
 * closes it after the model that uses it.
 */
export class FileSpill implements WeightSpill {
  private file: TempFile | null = null;
  private opening: Promise<TempFile> | null = null;
  private closed = false;
  private end = 0;
  private readonly extents = new Map<string, Extent>();
  /** Freed extents by size: the same shapes come back block after block. */
  private readonly free = new Map<number, number[]>();

  /** `dir`: the folder for the file (default the OS temp folder). */
  constructor(private readonly dir?: string) {}

  /** Size of the file: the most bytes held at once, plus any freed space not reused yet. */
  get fileBytes(): number {
    return this.end;
  }

  async put(key: string, data: Float32Array): Promise<void> {
    const bytes = data.byteLength;
    let e = this.extents.get(key);
    if (e && e.bytes !== bytes) {
      this.delete(key);
      e = undefined;
    }
    const file = await this.open();
    if (!e) {
      const reuse = this.free.get(bytes)?.pop();
      e = { offset: reuse ?? this.end, bytes };
      if (reuse === undefined) this.end += bytes;
      this.extents.set(key, e);
    }
    try {
      file.write(data, e.offset);
    } catch (err) {
      this.delete(key);
      throw err;
    }
  }

  async get(key: string): Promise<Float32Array | undefined> {
    // After close() every key would look absent, and the model would read its weights from before.
    if (this.closed) throw new DassError("spill", "FileSpill used after close()");
    const e = this.extents.get(key);
    if (!e || !this.file) return undefined;
    const out = new Float32Array(e.bytes / 4);
    this.file.read(out, e.offset);
    return out;
  }

  delete(key: string): void {
    const e = this.extents.get(key);
    if (!e) return;
    this.extents.delete(key);
    const list = this.free.get(e.bytes);
    if (list) list.push(e.offset);
    else this.free.set(e.bytes, [e.offset]);
  }

  /** Closes and removes the file; the spill holds nothing afterwards. */
  close(): void {
    this.closed = true;
    this.extents.clear();
    this.free.clear();
    this.file?.close();
    this.file = null;
  }

  private async open(): Promise<TempFile> {
    if (this.closed) throw new DassError("spill", "FileSpill used after close()");
    this.opening ??= TempFile.create("dass-spill", this.dir).then((f) => {
      if (this.closed) f.close();
      return (this.file = f);
    });
    try {
      return await this.opening;
    } catch (e) {
      this.opening = null;
      throw e;
    }
  }
}
