/**
 * SparseMatrix: an N:M matrix resident in Wasm memory in the fastest layout its pattern has, with
 * GEMV and GEMM.
 *
 * | pattern           | layout (layout.ts) | kernels                                         |
 * |-------------------|--------------------|-------------------------------------------------|
 * | 2:4, 4:8 input    | tab8               | gemv_sparse{24,48}_in, gemm_sparse{24,48}_in    |
 * | 2:4, 4:8 output   | cls                | gemv_sparse_cls, gemm_sparse_cls                |
 * | (forced only)     | swz                | gemv_sparse{24,48}_out; GEMM = GEMV per token   |
 * | any other N:M     | canonical          | gemv/gemm_sparse_nm_{in,out} (correct, slower)  |
 *
 * Products follow the structural semantics of format.ts (pruned weights contribute nothing, even
 * for NaN/Inf inputs). Every output is computed by a fixed sequence of f32 operations that does not
 * depend on the thread count (bit-identical for any split). GEMM and GEMV of the same token may
 * differ in the last bits (different association), and the relaxed-SIMD builds fuse multiply-adds.
 */
import { ArgumentError } from "../errors.js";
import type { WasmArray, WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import {
  checkPattern, compressNM, validateCompressed, type CompressedNM, type NMAxis, type NMValueDType,
} from "./format.js";
import {
  CLS_CLASSES, CLS_PANEL, CLS_PANEL_POS, CLS_ROWS, clsApplies, packCls, packSwz, packTab8, swzApplies, tab8Applies, TAB8_ENTRIES, TAB8_PANEL, unpackCls, unpackSwz, unpackTab8,
} from "./layout.js";

/** Options of SparseMatrix.fromDense(). */
export interface SparseMatrixOptions {
  /** Pruned per group. */
  n: number;
  /** Group size (<= 32). */
  m: number;
  /** Axis of the groups: "input" (columns within a row) or "output" (rows within a column). */
  axis: NMAxis;
  /** Round values to f16 first (they are still computed in f32). Default "f32". */
  dtype?: NMValueDType;
  /** Force a runtime layout (for tests and benchmarks); default: the fastest that applies. */
  layout?: SparseLayoutKind;
}

/** Options of SparseMatrix.fromCompressed(). */
export interface SparseUploadOptions {
  /** Force a runtime layout (for tests and benchmarks); default: the fastest that applies. */
  layout?: SparseLayoutKind;
}

/** Which kernel family a SparseMatrix uses. */
export type SparseLayoutKind = "tab8" | "cls" | "swz" | "canonical";

// Scratch bytes per thread of each kernel (must match the kernels' own layout of their scratch).
function gemvScratch(kind: SparseLayoutKind, pattern: string, rows: number, cols: number): number {
  if (kind === "tab8") {
    const p = pattern as "2:4" | "4:8";
    return TAB8_PANEL[p] * TAB8_ENTRIES[p] * 16 + 32 + rows * 16;
  }
  if (kind === "cls") return align64(Math.ceil(cols / CLS_PANEL) * CLS_PANEL_POS * 4) + 64; // x, then a group's sums
  if (kind === "swz" && pattern === "2:4") return 16 * Math.ceil(cols / 2);
  return 0;
}
function gemmScratch(kind: SparseLayoutKind, pattern: string, rows: number, cols: number): number {
  if (kind === "tab8") {
    // Code table (128 bytes per code and octet of a panel), one octet's pair table (64 bytes per
    // position pair: 12 for 2:4, 28 for 4:8), the code LUT, two padded rows, 8 sums per row.
    const p = pattern as "2:4" | "4:8";
    return TAB8_PANEL[p] * TAB8_ENTRIES[p] * 128 + (p === "2:4" ? 12 : 28) * 64 + 512 + 64 + rows * 32;
  }
  if (kind === "cls") return clsGemmScratch(rows, cols);
  return gemvScratch(kind, pattern, rows, cols);
}
const align64 = (n: number) => Math.ceil(n / 64) * 64;
/** Tokens per call of the cls GEMM kernel. */
const CLS_GEMM_T = 64;
// The cls GEMM's scratch, as the kernel lays it out: Xt (64 bytes per position: a pass of 16
// tokens), then 64 tokens of sums for every row of the thread's 8-row groups.
function clsGemmScratch(rows: number, cols: number): number {
  return align64(Math.ceil(cols / CLS_PANEL) * CLS_PANEL_POS * 64) + Math.ceil(rows / 8) * 8 * 256;
}

// Token blocks of the GEMM kernels hold 8 tokens; a block (or the last partial one) with fewer
// than this many runs as one GEMV per token instead, which is faster there (measured on
// 4096 x 11008 and 11008 x 4096: an 8-token block costs 2.4-3 GEMVs for tab8, 2.1-2.5 for cls).
const GEMM_MIN_T: Record<SparseLayoutKind, number> = { tab8: 3, cls: 3, swz: Infinity, canonical: 1 };

/** The shape and pattern of a matrix (a CompressedNM without its data). */
export type MatrixShape = Pick<CompressedNM, "rows" | "cols" | "n" | "m" | "axis" | "dtype">;

/** A host array of a runtime layout. */
export type LayoutArray = Float32Array | Uint8Array | Uint16Array | Uint32Array;

/** A matrix's runtime layout packed on the host (layout.ts), before it is copied into Wasm memory. */
export interface PackedSparse {
  readonly layout: SparseLayoutKind;
  /** In the order the kernels take them. */
  readonly arrays: readonly LayoutArray[];
}

/** What the kernels need of one layout array in Wasm memory (a WasmArray, or SparseLinear's placed arrays). */
export interface SparseArrayStore {
  readonly ptr: number;
  readonly length: number;
  readonly byteLength: number;
  read(): ArrayLike<number>;
  free(): void;
}

/** The Wasm element kind of a layout array. */
export function layoutArrayKind(a: LayoutArray): "f32" | "u8" | "u16" | "u32" {
  if (a instanceof Float32Array) return "f32";
  if (a instanceof Uint8Array) return "u8";
  if (a instanceof Uint16Array) return "u16";
  return "u32";
}

/**
 * Packs a canonical compressed matrix (already validated) in `layout`, or by default in the fastest
 * layout that applies to its pattern.
 */
export function packSparse(c: CompressedNM, layout?: SparseLayoutKind): PackedSparse {
  const applies: Record<SparseLayoutKind, boolean> = { tab8: tab8Applies(c), cls: clsApplies(c), swz: swzApplies(c), canonical: true };
  if (layout !== undefined) {
    if (!(layout in applies)) throw new ArgumentError("layout", `unknown layout ${JSON.stringify(layout)}`);
    if (!applies[layout]) throw new ArgumentError("layout", `${layout} does not apply to ${c.n}:${c.m} along the ${c.axis} axis`);
  }
  const kind = layout ?? (Object.keys(applies) as SparseLayoutKind[]).find((k) => applies[k])!;
  if (kind === "tab8") {
    const t = packTab8(c);
    return { layout: kind, arrays: [t.vals, t.codes] };
  }
  if (kind === "cls") {
    const t = packCls(c);
    return { layout: kind, arrays: [t.vals, t.deltas, t.counts, t.starts, t.lut] };
  }
  if (kind === "swz") {
    const t = packSwz(c);
    return { layout: kind, arrays: [t.vals, t.codes, t.lut] };
  }
  // The canonical kernels read masks 8 bytes at a time: pad with zeros.
  const masks = new Uint8Array(c.masks.length + 8);
  masks.set(c.masks);
  return { layout: kind, arrays: [c.values instanceof Float32Array ? c.values : Float32Array.from(c.values), masks] };
}

/** An N:M sparse matrix resident in Wasm memory. Free it with free(). */
export class SparseMatrix {
  /** Rows (d_out). */
  readonly rows: number;
  /** Columns (d_in). */
  readonly cols: number;
  readonly n: number;
  readonly m: number;
  readonly axis: NMAxis;
  /** Precision the values were declared with (computation is f32 either way). */
  readonly dtype: NMValueDType;
  /** The runtime layout in use. */
  readonly layout: SparseLayoutKind;
  private readonly rt: Runtime;
  private readonly arrays: SparseArrayStore[];
  private readonly pattern: string;
  private freed = false;

  private constructor(rt: Runtime, c: MatrixShape, layout: SparseLayoutKind, arrays: SparseArrayStore[]) {
    this.rt = rt;
    this.rows = c.rows; this.cols = c.cols; this.n = c.n; this.m = c.m; this.axis = c.axis; this.dtype = c.dtype;
    this.pattern = `${c.n}:${c.m}`;
    this.layout = layout;
    this.arrays = arrays;
  }

  /** Uploads a packed layout (see packSparse) of the matrix `c` describes into Wasm memory. */
  private static upload(rt: Runtime, c: MatrixShape, packed: PackedSparse): SparseMatrix {
    const arrays: WasmArray[] = [];
    try {
      for (const a of packed.arrays) arrays.push(rt.heap.from(layoutArrayKind(a), a));
    } catch (e) {
      for (const a of arrays) a.free();
      throw e;
    }
    return new SparseMatrix(rt, c, packed.layout, arrays);
  }

  /**
   * @internal A matrix over layout arrays whose memory the caller manages (SparseLinear places
   * them itself). `arrays` must hold `packed.arrays`' data, in that order, whenever a kernel runs.
   */
  static over(rt: Runtime, c: MatrixShape, layout: SparseLayoutKind, arrays: SparseArrayStore[]): SparseMatrix {
    return new SparseMatrix(rt, c, layout, arrays);
  }

  /**
   * Compresses a dense `[rows, cols]` matrix that already follows the pattern (every group has at
   * least N zeros; ArgumentError otherwise) and uploads it.
   */
  static fromDense(rt: Runtime, W: ArrayLike<number> | WasmRef<"f32">, rows: number, cols: number, opts: SparseMatrixOptions): SparseMatrix {
    if (!opts || typeof opts !== "object") throw new ArgumentError("opts", "must be { n, m, axis }");
    checkPattern(opts.n, opts.m, opts.axis, "opts");
    const dense = isRef(W) ? (W.view() as Float32Array) : W;
    const c = compressNM(dense, rows, cols, opts.n, opts.m, opts.axis, { dtype: opts.dtype });
    return SparseMatrix.upload(rt, c, packSparse(c, opts.layout));
  }

  /** Uploads a canonical compressed matrix (validated first). */
  static fromCompressed(rt: Runtime, c: CompressedNM, opts: SparseUploadOptions = {}): SparseMatrix {
    validateCompressed(c);
    return SparseMatrix.upload(rt, c, packSparse(c, opts.layout));
  }

  /** Resident weight bytes in Wasm memory (values, codes or masks, LUT). */
  get bytes(): number {
    return this.arrays.reduce((s, a) => s + a.byteLength, 0);
  }

  /** Reads the matrix back in canonical form. */
  toCompressed(): CompressedNM {
    this.check();
    const [a, b, c] = this.arrays;
    let out: CompressedNM;
    if (this.layout === "tab8") {
      out = unpackTab8({ pattern: this.pattern as "2:4" | "4:8", rows: this.rows, cols: this.cols, po: TAB8_PANEL[this.pattern as "2:4" | "4:8"], vals: a.read() as Float32Array, codes: b.read() as Uint8Array });
    } else if (this.layout === "cls") {
      out = unpackCls({
        pattern: this.pattern as "2:4" | "4:8", rows: this.rows, cols: this.cols, vals: a.read() as Float32Array, deltas: b.read() as Uint8Array,
        counts: c.read() as Uint16Array, starts: this.arrays[3].read() as Uint32Array, lut: this.arrays[4].read() as Uint8Array,
      });
    } else if (this.layout === "swz") {
      out = unpackSwz({ pattern: this.pattern as "2:4" | "4:8", rows: this.rows, cols: this.cols, vals: a.read() as Float32Array, codes: b.read() as Uint8Array, lut: c.read() as Uint8Array });
    } else {
      const masks = b.read() as Uint8Array;
      out = { rows: this.rows, cols: this.cols, n: this.n, m: this.m, axis: this.axis, values: a.read() as Float32Array, masks: masks.slice(0, masks.length - 8), dtype: "f32" };
    }
    out.dtype = this.dtype;
    return out;
  }

  /** y = W x (x: cols floats, y: rows floats; y must not overlap x). */
  gemv(x: WasmRef<"f32">, y: WasmRef<"f32">): Promise<void> {
    this.check();
    checkRef("x", x, this.cols);
    checkRef("y", y, this.rows);
    checkDisjoint("y", y, "x", x);
    return this.runGemv(x.ptr, y.ptr);
  }

  /**
   * Y[t] = W X[t] for T tokens: X token-major `[T, cols]`, Y token-major `[T, rows]` (Y must not
   * overlap X).
   */
  async gemm(X: WasmRef<"f32">, Y: WasmRef<"f32">, T: number): Promise<void> {
    this.check();
    if (!Number.isInteger(T) || T < 1) throw new ArgumentError("T", `must be a positive integer, got ${T}`);
    checkRef("X", X, T * this.cols);
    checkRef("Y", Y, T * this.rows);
    checkDisjoint("Y", Y, "X", X);
    const { rt, rows, cols } = this;
    const work = rows * cols * T; // dense-equivalent multiply-adds: the runtime keeps small calls on one thread
    let tb = 0; // tokens done by the block kernels
    if (this.layout === "cls" && T >= GEMM_MIN_T.cls) {
      // Chunks of up to 64 tokens, padded to whole 8-token blocks, except that a last block of
      // fewer than GEMM_MIN_T tokens after full ones runs as GEMVs (cheaper than a padded block).
      const E = CLS_CLASSES[this.pattern as "2:4" | "4:8"];
      const rem = T % 8, Tk = T > 8 && rem < GEMM_MIN_T.cls ? T - rem : T;
      for (; tb < Tk; tb += Math.min(CLS_GEMM_T, Tk - tb)) {
        const Tc = Math.min(CLS_GEMM_T, Tk - tb);
        // Scratch right before each run: it is only valid until the runtime's next scratch() call.
        const s = rt.scratch(clsGemmScratch(rows, cols));
        await rt.run("gemm_sparse_cls", [...this.arrays.map((a) => a.ptr), X.ptr, Y.ptr, rows, cols, E, tb, Tc, s.ptr, s.stride], rows, CLS_ROWS, work);
      }
    }
    if (this.layout === "tab8") {
      const min = GEMM_MIN_T[this.layout];
      for (; tb < T && T - tb >= min; tb += 8) {
        // Scratch right before each run: it is only valid until the runtime's next scratch() call.
        const s = rt.scratch(gemmScratch(this.layout, this.pattern, rows, cols));
        const [vals, codes] = this.arrays;
        await rt.run(`gemm_sparse${this.pattern === "2:4" ? "24" : "48"}_in`, [vals.ptr, codes.ptr, X.ptr, Y.ptr, rows, cols, T, tb, s.ptr, s.stride], rows, 4, work);
      }
    }
    if (this.layout === "canonical") {
      const [vals, masks] = this.arrays;
      const name = this.axis === "input" ? "gemm_sparse_nm_in" : "gemm_sparse_nm_out";
      return rt.run(name, [vals.ptr, masks.ptr, X.ptr, Y.ptr, rows, cols, this.n, this.m, T], rows, this.axis === "input" ? 1 : this.m, work);
    }
    for (let t = Math.min(tb, T); t < T; t++) await this.runGemv(X.ptr + t * cols * 4, Y.ptr + t * rows * 4);
  }

  /** Returns the Wasm memory. Using the matrix afterwards throws. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    for (const a of this.arrays) a.free();
  }

  private runGemv(x: number, y: number): Promise<void> {
    const { rt, rows, cols } = this;
    const work = rows * cols;
    const p = this.pattern === "2:4" ? "24" : "48";
    if (this.layout === "tab8") {
      const [vals, codes] = this.arrays;
      const s = rt.scratch(gemvScratch(this.layout, this.pattern, rows, cols));
      return rt.run(`gemv_sparse${p}_in`, [vals.ptr, codes.ptr, x, y, rows, cols, s.ptr, s.stride], rows, 4, work);
    }
    if (this.layout === "cls") {
      const s = rt.scratch(gemvScratch(this.layout, this.pattern, rows, cols));
      const E = CLS_CLASSES[this.pattern as "2:4" | "4:8"];
      return rt.run("gemv_sparse_cls", [...this.arrays.map((a) => a.ptr), x, y, rows, cols, E, s.ptr, s.stride], rows, CLS_ROWS, work);
    }
    if (this.layout === "swz") {
      const [vals, codes, lut] = this.arrays;
      if (this.pattern === "2:4") {
        const s = rt.scratch(gemvScratch(this.layout, this.pattern, rows, cols));
        return rt.run("gemv_sparse24_out", [vals.ptr, codes.ptr, lut.ptr, x, y, rows, cols, s.ptr, s.stride], rows, 4, work);
      }
      return rt.run("gemv_sparse48_out", [vals.ptr, codes.ptr, lut.ptr, x, y, rows, cols], rows, 8, work);
    }
    const [vals, masks] = this.arrays;
    if (this.axis === "input") {
      return rt.run("gemv_sparse_nm_in", [vals.ptr, masks.ptr, x, y, cols, this.n, this.m], rows, 1, work);
    }
    return rt.run("gemv_sparse_nm_out", [vals.ptr, masks.ptr, x, y, rows, cols, this.n, this.m], rows, this.m, work);
  }

  private check(): void {
    if (this.freed) throw new ArgumentError("matrix", "used after free()");
  }
}

function isRef(W: unknown): W is WasmRef<"f32"> {
  return typeof W === "object" && W !== null && typeof (W as WasmRef).ptr === "number" && typeof (W as WasmRef).view === "function";
}

function checkRef(name: string, r: WasmRef<"f32">, length: number): void {
  if (!r || typeof r.ptr !== "number") throw new ArgumentError(name, "must be a WasmArray or WasmRef");
  if (r.kind !== "f32") throw new ArgumentError(name, `must be f32, got ${r.kind}`);
  if (r.length !== length) throw new ArgumentError(name, `has ${r.length} elements, expected ${length}`);
}

function checkDisjoint(a: string, A: WasmRef<"f32">, b: string, B: WasmRef<"f32">): void {
  const a0 = A.ptr, a1 = A.ptr + A.length * 4, b0 = B.ptr, b1 = B.ptr + B.length * 4;
  if (a0 < b1 && b0 < a1) throw new ArgumentError(a, `must not overlap ${b}`);
}
