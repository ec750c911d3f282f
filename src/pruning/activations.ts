/**
 * Where the calibration activations live between blocks: `nsamples × seqlen × dim` floats, kept
 * outside Wasm memory. Small sets stay on the JS heap; large ones (above a threshold, where a
 * filesystem exists: Node, Deno) are spilled to a temporary file and streamed through in chunks,
 * so the process only holds one chunk at a time.
 */
import { TempFile } from "../util/temp-file.js";

/** The hidden states of every calibration window, visited chunk by chunk. */
export interface ActivationStore {
  readonly count: number;
  /** Floats per sequence. */
  readonly seqFloats: number;
  /** Where they are: "memory" or "file". */
  readonly kind: "memory" | "file";
  /**
   * Calls `fn` on consecutive chunks of sequences (each a Float32Array of seqFloats). With
   * `writeBack`, changes `fn` makes are kept.
   */
  forEachChunk(fn: (seqs: Float32Array[], first: number) => Promise<void>, writeBack: boolean): Promise<void>;
  /** Releases memory / deletes the temporary file. */
  close(): Promise<void>;
}

class MemoryStore implements ActivationStore {
  readonly kind = "memory" as const;
  constructor(private seqs: Float32Array[], readonly seqFloats: number) {}
  get count(): number { return this.seqs.length; }
  async forEachChunk(fn: (seqs: Float32Array[], first: number) => Promise<void>): Promise<void> {
    await fn(this.seqs, 0);
  }
  async close(): Promise<void> { this.seqs = []; }
}

class FileStore implements ActivationStore {
  readonly kind = "file" as const;
  private constructor(private readonly file: TempFile, readonly count: number, readonly seqFloats: number, private readonly chunk: number) {}

  static async create(count: number, seqFloats: number, chunkBytes: number, dir?: string): Promise<FileStore> {
    const chunk = Math.max(1, Math.floor(chunkBytes / (4 * seqFloats)));
    return new FileStore(await TempFile.create("dass-calib", dir), count, seqFloats, chunk);
  }

  /** Writes sequence `i`. */
  write(i: number, data: Float32Array): void {
    this.file.write(data, i * this.seqFloats * 4);
  }

  async forEachChunk(fn: (seqs: Float32Array[], first: number) => Promise<void>, writeBack: boolean): Promise<void> {
    const bufs: Float32Array[] = [];
    for (let first = 0; first < this.count; first += this.chunk) {
      const n = Math.min(this.chunk, this.count - first);
      while (bufs.length < n) bufs.push(new Float32Array(this.seqFloats));
      const seqs = bufs.slice(0, n);
      for (let s = 0; s < n; s++) this.file.read(seqs[s], (first + s) * this.seqFloats * 4);
      await fn(seqs, first);
      if (writeBack) for (let s = 0; s < n; s++) this.write(first + s, seqs[s]);
    }
  }

  async close(): Promise<void> {
    this.file.close();
  }
}

/** Options of createActivationStore(). */
export interface ActivationStoreOptions {
  /** Above this many bytes, spill to a temporary file where a filesystem exists. Default 2 GiB. */
  memoryLimitBytes?: number;
  /** Folder for the temporary file (default: the OS temp folder). */
  dir?: string;
  /** Bytes read per chunk from the file (default 256 MiB). */
  chunkBytes?: number;
}

function hasFs(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string";
}

/**
 * Builds the store from `count` sequences produced by `make(i)` (each seqFloats floats): on the JS
 * heap, or in a temporary file when the total exceeds the memory limit and a filesystem exists.
 */
export async function createActivationStore(
  count: number, seqFloats: number, make: (i: number) => Float32Array, options: ActivationStoreOptions = {},
): Promise<ActivationStore> {
  const limit = options.memoryLimitBytes ?? 2 ** 31;
  const total = count * seqFloats * 4;
  if (total > limit && hasFs()) {
    const store = await FileStore.create(count, seqFloats, options.chunkBytes ?? 2 ** 28, options.dir);
    try {
      for (let i = 0; i < count; i++) store.write(i, make(i));
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }
  const seqs: Float32Array[] = [];
  for (let i = 0; i < count; i++) seqs.push(make(i));
  return new MemoryStore(seqs, seqFloats);
}
