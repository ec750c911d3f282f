/**
 * SparseLinear: an N:M sparse matrix as a forward-pass `Linear` whose Wasm memory is placed by the
 * model, so a model's memory plan can count its real bytes and stream it through a block slot like
 * dense weights.
 *
 * The matrix is a `SparseMatrix` (fastest layout for its pattern, threaded kernels) built once on
 * the host: its runtime-layout arrays are packed into JS memory and given addresses relative to a
 * placement base. `place(ptr)` copies them to `[ptr, ptr + placementBytes)` (memory the caller owns)
 * and from then on the kernels run there; `unplace()` detaches them again. A resident matrix is
 * placed once (`persistent`, the host copy is then dropped); a streamed one is placed into the
 * block slot each time its block is uploaded (the host copy stays: it is the upload source).
 */
import { ArgumentError } from "../errors.js";
import { DTYPE_BYTES, type ArrayFor, type DType, type WasmArray, type WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import { checkPattern, compressNM, decompressNM, validateCompressed, type CompressedNM, type NMAxis, type NMValueDType } from "./format.js";
import { layoutArrayKind, packSparse, SparseMatrix, type SparseLayoutKind } from "./matrix.js";

const ALIGN = 64;
const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

const CTORS = {
  f32: Float32Array, f64: Float64Array, u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, i32: Int32Array,
} as const;

/** Options of SparseLinear.fromCompressed() / fromDense(). */
export interface SparseLinearOptions {
  /** Force a runtime layout (tests, benchmarks); default: the fastest for the pattern. */
  layout?: SparseLayoutKind;
  /**
   * The values of a dtype "f16" matrix were decoded from f16 storage (as a reader's
   * readCompressed() returns them), so the scan that checks they are representable in f16 is
   * skipped. The masks are still checked.
   */
  valuesFromF16?: boolean;
}

/**
 * One runtime-layout array of the matrix: host data until placed, then Wasm memory at
 * `base + offset`. The SparseMatrix's kernels take its `ptr` (which throws while unplaced).
 */
class PlacedArray<K extends DType = DType> {
  constructor(
    private readonly owner: SparseLinear,
    readonly kind: K,
    readonly length: number,
    readonly offset: number,
    public host: ArrayFor<K> | null,
  ) {}
  get ptr(): number { return this.owner.placementPtr() + this.offset; }
  get byteLength(): number { return this.length * DTYPE_BYTES[this.kind]; }
  view(): ArrayFor<K> {
    const base = this.owner.placedAt;
    if (base < 0) return this.host!;
    const C = CTORS[this.kind] as unknown as new (b: ArrayBufferLike, o: number, n: number) => ArrayFor<K>;
    return new C(this.owner.memory.buffer, base + this.offset, this.length);
  }
  read(): ArrayFor<K> { return this.view().slice() as ArrayFor<K>; }
  /** The memory belongs to whoever placed the matrix: nothing to return. */
  free(): void {}
  bytes(): Uint8Array {
    const v = this.view();
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
}

/** An N:M sparse matrix usable as a Transformer linear, with model-placed Wasm memory. */
export class SparseLinear {
  readonly dOut: number;
  readonly dIn: number;
  readonly n: number;
  readonly m: number;
  readonly axis: NMAxis;
  /** Precision the values were declared with. */
  readonly dtype: NMValueDType;
  /** Runtime layout of the kernels. */
  readonly layout: SparseLayoutKind;
  /** Bytes of Wasm memory a placement needs (a multiple of 64). */
  readonly placementBytes: number;
  /** @internal */
  readonly memory: WebAssembly.Memory;
  /** Base pointer of the current placement, or -1. @internal */
  placedAt = -1;
  private readonly rt: Runtime;
  private readonly matrix: SparseMatrix;
  private readonly arrays: PlacedArray[] = [];
  /** Memory this object allocated itself (placeResident()), if any. */
  private own: WasmArray<"u8"> | null = null;
  private freed = false;

  private constructor(rt: Runtime, c: CompressedNM, opts: SparseLinearOptions) {
    this.rt = rt;
    this.memory = rt.heap.memory;
    // Values decoded from f16 storage need no representability scan: check them as f32.
    validateCompressed(c.dtype === "f16" && opts.valuesFromF16 ? { ...c, dtype: "f32" } : c);
    // The layout arrays stay on the host, each at an offset inside the future placement.
    const packed = packSparse(c, opts.layout);
    let size = 0;
    for (const host of packed.arrays) {
      const kind = layoutArrayKind(host);
      this.arrays.push(new PlacedArray(this, kind, host.length, size, host));
      size += align(Math.max(1, host.byteLength));
    }
    this.matrix = SparseMatrix.over(rt, c, packed.layout, this.arrays);
    this.dOut = c.rows; this.dIn = c.cols; this.n = c.n; this.m = c.m; this.axis = c.axis; this.dtype = c.dtype;
    this.layout = packed.layout;
    this.placementBytes = size;
  }

  /** A sparse linear from a canonical compressed matrix (validated first: ArgumentError when malformed). */
  static fromCompressed(rt: Runtime, c: CompressedNM, opts: SparseLinearOptions = {}): SparseLinear {
    return new SparseLinear(rt, c, opts);
  }

  /**
   * A sparse linear from a dense `[rows, cols]` matrix that follows the pattern (ArgumentError
   * otherwise). Not placed yet.
   */
  static fromDense(
    rt: Runtime, W: ArrayLike<number>, rows: number, cols: number,
    opts: { n: number; m: number; axis: NMAxis; dtype?: NMValueDType } & SparseLinearOptions,
  ): SparseLinear {
    if (!opts || typeof opts !== "object") throw new ArgumentError("opts", "must be { n, m, axis }");
    checkPattern(opts.n, opts.m, opts.axis, "opts");
    return new SparseLinear(rt, compressNM(W, rows, cols, opts.n, opts.m, opts.axis, { dtype: opts.dtype }), { layout: opts.layout });
  }

  /** Whether the weights are in Wasm memory (gemv/gemm may run). */
  get placed(): boolean {
    return this.placedAt >= 0;
  }

  /** Bytes of the weights in the runtime layout (what a placement holds, without alignment padding). */
  get bytes(): number {
    return this.arrays.reduce((s, a) => s + a.byteLength, 0);
  }

  /**
   * Copies the weights to `[ptr, ptr + placementBytes)` of Wasm memory (64-byte aligned, owned by
   * the caller, not overlapping anything in use) and runs there from now on. `persistent` drops the
   * host copy (the placement is then the only one; unplace() copies it back first).
   */
  place(ptr: number, persistent = false): void {
    this.check();
    if (!Number.isInteger(ptr) || ptr <= 0 || ptr % ALIGN !== 0 || ptr + this.placementBytes > this.memory.buffer.byteLength) {
      throw new ArgumentError("ptr", `must be a 64-byte aligned offset with ${this.placementBytes} bytes of Wasm memory after it, got ${ptr}`);
    }
    if (this.placedAt === ptr) {
      if (persistent) this.dropHost();
      return;
    }
    if (this.placedAt >= 0) this.unplace();
    const mem = new Uint8Array(this.memory.buffer);
    for (const a of this.arrays) mem.set(a.bytes(), ptr + a.offset);
    this.placedAt = ptr;
    if (persistent) this.dropHost();
  }

  /** Detaches from the current placement (its memory is about to be reused or freed). */
  unplace(): void {
    if (this.placedAt < 0) return;
    for (const a of this.arrays) if (!a.host) a.host = a.read();
    this.placedAt = -1;
    if (this.own) { this.own.free(); this.own = null; }
  }

  /** Places the weights in Wasm memory this object allocates and owns (freed by free() or unplace()). */
  placeResident(): void {
    this.check();
    if (this.own) return;
    const mem = this.rt.heap.alloc("u8", this.placementBytes);
    try {
      this.place(mem.ptr, true);
    } catch (e) {
      mem.free();
      throw e;
    }
    this.own = mem;
  }

  /** y = W x. */
  gemv(x: WasmRef<"f32">, y: WasmRef<"f32">): Promise<void> {
    this.checkPlaced();
    return this.matrix.gemv(x, y);
  }

  /** Y[t] = W X[t] for T tokens (token-major). */
  gemm(X: WasmRef<"f32">, Y: WasmRef<"f32">, T: number): Promise<void> {
    this.checkPlaced();
    return this.matrix.gemm(X, Y, T);
  }

  /** The matrix in canonical compressed form. */
  toCompressed(): CompressedNM {
    this.check();
    return { ...this.matrix.toCompressed(), dtype: this.dtype };
  }

  /** The dense `[dOut, dIn]` weights (pruned positions 0). */
  denseWeights(): Float32Array {
    return decompressNM(this.toCompressed());
  }

  /** Releases memory this object allocated; using it afterwards throws. */
  free(): void {
    if (this.freed) return;
    this.unplace();
    this.freed = true;
    this.matrix.free();
    for (const a of this.arrays) a.host = null;
  }

  /** @internal The placement base (throws when not placed, so no kernel sees a stale pointer). */
  placementPtr(): number {
    if (this.placedAt < 0) throw new ArgumentError("matrix", "sparse linear is not placed in Wasm memory");
    return this.placedAt;
  }

  private dropHost(): void {
    for (const a of this.arrays) a.host = null;
  }

  private check(): void {
    if (this.freed) throw new ArgumentError("matrix", "used after free()");
  }

  private checkPlaced(): void {
    this.check();
    if (this.placedAt < 0) {
      throw new ArgumentError("matrix", `sparse linear [${this.dOut}, ${this.dIn}] is not placed in Wasm memory (its block is not loaded)`);
    }
  }
}
