// The arena: host-owned allocation in Wasm memory. The kernels never allocate (AssemblyScript's
// allocator state is per instance, so allocating from several workers would be unsafe); the
// host hands them pointers. Blocks are 64-byte aligned (cache lines, v128 loads) and freed
// explicitly, or all at once through a Scope.
import { ArgumentError, WasmMemoryError } from "../errors.js";

/** Element types a WasmArray can hold. */
export type DType = "f32" | "f64" | "u8" | "u16" | "u32" | "i32";

interface ArrayTypes {
  f32: Float32Array; f64: Float64Array; u8: Uint8Array; u16: Uint16Array; u32: Uint32Array; i32: Int32Array;
}
/** The typed array class matching a DType. */
export type ArrayFor<K extends DType> = ArrayTypes[K];

const CTORS = {
  f32: Float32Array, f64: Float64Array, u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, i32: Int32Array,
} as const;

/** Bytes per element of each DType. */
export const DTYPE_BYTES: Record<DType, number> = { f32: 4, f64: 8, u8: 1, u16: 2, u32: 4, i32: 4 };

const PAGE = 65536;
const ALIGN = 64;
/** Wasm32 with AssemblyScript: 65536 pages of 64 KiB. */
export const MAX_WASM_BYTES = 65536 * PAGE;
/** The first page stays unused so that a null pointer never aliases data. */
const HEAP_START = PAGE;

/** Any typed range of Wasm memory a kernel can read or write: a whole WasmArray or a slice of one. */
export interface WasmRef<K extends DType = DType> {
  readonly ptr: number;
  readonly length: number;
  readonly kind: K;
  view(): ArrayFor<K>;
}

/** A typed block of Wasm memory. Views are fresh on each call: memory growth replaces the buffer. */
export class WasmArray<K extends DType = DType> implements WasmRef<K> {
  /** Byte offset in Wasm memory. */
  readonly ptr: number;
  readonly length: number;
  readonly kind: K;
  private readonly heap: WasmHeap;
  private freed = false;

  /** @internal */
  constructor(heap: WasmHeap, kind: K, ptr: number, length: number) {
    this.heap = heap; this.kind = kind; this.ptr = ptr; this.length = length;
  }
  get byteLength(): number { return this.length * DTYPE_BYTES[this.kind]; }
  /** A view over the block; valid until the next allocation that grows memory. */
  view(): ArrayFor<K> {
    if (this.freed) throw new ArgumentError("array", "used after free");
    const C = CTORS[this.kind] as unknown as new (b: ArrayBufferLike, o: number, n: number) => ArrayFor<K>;
    return new C(this.heap.memory.buffer, this.ptr, this.length);
  }
  /** Copies `src` in, starting at element `offset`. */
  set(src: ArrayLike<number>, offset = 0): this {
    if (offset + src.length > this.length) {
      throw new ArgumentError("src", `${src.length} elements at offset ${offset} do not fit in ${this.length}`);
    }
    (this.view() as unknown as { set(a: ArrayLike<number>, o: number): void }).set(src, offset);
    return this;
  }
  /** The elements [start, end) as a reference that shares this block (not freeable on its own). */
  sub(start: number, end = this.length): WasmRef<K> {
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= this.length)) {
      throw new ArgumentError("range", `[${start}, ${end}) is outside [0, ${this.length})`);
    }
    const ptr = this.ptr + start * DTYPE_BYTES[this.kind], length = end - start, kind = this.kind;
    const C = CTORS[kind] as unknown as new (b: ArrayBufferLike, o: number, n: number) => ArrayFor<K>;
    const memory = this.heap.memory;
    return { ptr, length, kind, view: () => new C(memory.buffer, ptr, length) };
  }
  /** A copy of the contents, detached from Wasm memory. */
  read(): ArrayFor<K> {
    return this.view().slice() as ArrayFor<K>;
  }
  /** Returns the block to the heap. Freeing twice is a no-op. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.heap.release(this.ptr);
  }
  get isFreed(): boolean { return this.freed; }
}

/** First-fit allocator over a WebAssembly.Memory, growing it on demand up to 4 GiB. */
export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  /** Free blocks, sorted by address: [ptr, bytes]. */
  private free_: Array<[number, number]> = [];
  private sizes = new Map<number, number>();
  private top = HEAP_START;
  private inUse = 0;
  private peak = 0;

  constructor(memory: WebAssembly.Memory) {
    this.memory = memory;
  }

  /** Bytes currently allocated. */
  get bytesInUse(): number { return this.inUse; }
  /** Highest bytesInUse since creation or the last resetPeak(). */
  get peakBytes(): number { return this.peak; }
  /** Size of Wasm memory (it never shrinks). */
  get memoryBytes(): number { return this.memory.buffer.byteLength; }
  resetPeak(): void { this.peak = this.inUse; }

  /** Allocates `length` elements of `kind`, zero-filled. */
  alloc<K extends DType>(kind: K, length: number): WasmArray<K> {
    if (!Number.isInteger(length) || length < 0) throw new ArgumentError("length", `must be a non-negative integer, got ${length}`);
    const ptr = this.allocBytes(length * DTYPE_BYTES[kind]);
    new Uint8Array(this.memory.buffer, ptr, length * DTYPE_BYTES[kind]).fill(0);
    return new WasmArray(this, kind, ptr, length);
  }

  /** Allocates and copies `src` in. */
  from<K extends DType>(kind: K, src: ArrayLike<number>): WasmArray<K> {
    return this.alloc(kind, src.length).set(src);
  }

  /** Raw allocation; returns a 64-byte aligned pointer. */
  allocBytes(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    if (size > MAX_WASM_BYTES - HEAP_START) {
      throw new WasmMemoryError(bytes, this.inUse, "larger than the wasm32 address space");
    }
    for (let i = 0; i < this.free_.length; i++) {
      const [p, n] = this.free_[i];
      if (n < size) continue;
      if (n === size) this.free_.splice(i, 1);
      else this.free_[i] = [p + size, n - size];
      return this.track(p, size);
    }
    // Extend the top, reusing a free block that ends at the top.
    let p = this.top;
    const last = this.free_[this.free_.length - 1];
    if (last && last[0] + last[1] === this.top) { p = last[0]; this.free_.pop(); }
    const end = p + size;
    if (end > MAX_WASM_BYTES) {
      if (p !== this.top) this.free_.push([p, this.top - p]);
      throw new WasmMemoryError(bytes, this.inUse, "the wasm32 address space (4 GiB) is exhausted");
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch (e) {
        if (p !== this.top) this.free_.push([p, this.top - p]);
        throw new WasmMemoryError(bytes, this.inUse, `the engine refused to grow memory (${(e as Error).message})`);
      }
    }
    this.top = end;
    return this.track(p, size);
  }

  private track(p: number, size: number): number {
    this.sizes.set(p, size);
    this.inUse += size;
    if (this.inUse > this.peak) this.peak = this.inUse;
    return p;
  }

  /** @internal Frees a block by pointer, merging it with free neighbours. */
  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new ArgumentError("ptr", `${ptr} is not an allocated block`);
    this.sizes.delete(ptr);
    this.inUse -= size;
    let lo = 0, hi = this.free_.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (this.free_[m][0] < ptr) lo = m + 1; else hi = m; }
    let start = ptr, n = size;
    const next = this.free_[lo];
    let removeNext = false;
    if (next && start + n === next[0]) { n += next[1]; removeNext = true; }
    const prev = this.free_[lo - 1];
    if (prev && prev[0] + prev[1] === start) {
      prev[1] += n;
      if (removeNext) this.free_.splice(lo, 1);
    } else if (removeNext) {
      this.free_[lo] = [start, n];
    } else {
      this.free_.splice(lo, 0, [start, n]);
    }
  }

  /** A scope whose allocations are all freed by `release()` (or by `using`). */
  scope(): Scope { return new Scope(this); }
}

/** Allocations with one shared lifetime. */
export class Scope {
  private readonly heap: WasmHeap;
  private readonly owned: WasmArray[] = [];
  constructor(heap: WasmHeap) { this.heap = heap; }
  alloc<K extends DType>(kind: K, length: number): WasmArray<K> {
    const a = this.heap.alloc(kind, length);
    this.owned.push(a);
    return a;
  }
  from<K extends DType>(kind: K, src: ArrayLike<number>): WasmArray<K> {
    return this.alloc(kind, src.length).set(src);
  }
  /** Frees every array allocated through this scope. */
  release(): void {
    for (const a of this.owned) a.free();
    this.owned.length = 0;
  }
}
