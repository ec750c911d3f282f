/**
 * Mask selection, application and checks on the Wasm kernels.
 *
 * MASK CONVENTION: a mask is one u8 per weight, row-major like the weights; **1 = pruned**
 * (the weight becomes zero), 0 = kept. applyMask treats any non-zero byte as pruned.
 *
 * Selection prunes EXACTLY the stated count of every comparison group (docs/methods.md): the k
 * smallest scores, and among equal scores the lower position in the group's order first (row
 * order for a column, column order for a row, row-major for a whole matrix or column block).
 * Scores must be f32 values >= 0 (+Inf allowed, -0 counts as 0); NaN or a negative score is an
 * ArgumentError("S"). Results do not depend on the thread count.
 */
import { ArgumentError } from "../errors.js";
import type { DType, Scope, WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import { tailPruneCount, unstructuredPruneCount, validateNM } from "../pruning/pattern.js";

/**
 * How many weights of each group to prune: exactly one of `count` (an integer from 0 to the
 * group size) or `sparsity` (in [0, 1]; the count is floor(sparsity * group size)).
 */
export type PruneAmount =
  | { count: number; sparsity?: undefined }
  | { sparsity: number; count?: undefined };

/**
 * Unstructured selection; `group` names the comparison group:
 * - `"row"`: each row (prune k of `cols`; Wanda, DaSS down);
 * - `"col"`: each column (prune k of `rows`; DaSS gate/up);
 * - `"matrix"`: the whole matrix, row-major (magnitude);
 * - `"colblock"`: columns [c0, c1) of all rows as one row-major group (SparseGPT's block); only
 *   those mask columns are written, the others are left as they are.
 */
export type UnstructuredSpec =
  | ({ group: "row" | "col" | "matrix" } & PruneAmount)
  | ({ group: "colblock"; c0: number; c1: number } & PruneAmount);

/**
 * N:M selection: `n` pruned of every `m` consecutive weights (1 <= n < m <= 32) along `axis`:
 * `"input"` = per row, groups of m consecutive columns (the reduction axis; Wanda, DaSS down);
 * `"output"` = per column, groups of m consecutive rows (DaSS gate/up). A trailing partial group
 * of r < m weights prunes floor(n * r / m).
 */
export interface NMSpec {
  nm: { n: number; m: number };
  axis: "input" | "output";
}

/** What selectMask prunes. */
export type MaskSpec = UnstructuredSpec | NMSpec;

/** N:M axis. */
export type NMAxis = NMSpec["axis"];

/** Chunk of the one-dimensional kernels (multiple of 16 lanes). */
const CHUNK = 8192;
/** Per-group histogram of the row/column selection kernels (2048 u32 bins). */
const HIST_BYTES = 8192;
/** Bins of the two-dimensional radix select, per pass and thread. */
const BINS = 65536;
/** Column blocks at most this wide (and narrower than the matrix) are copied contiguously first. */
const GATHER_MAX = 2048;

interface Resolved {
  kind: "row" | "col" | "block" | "nm-input" | "nm-output";
  k: number;
  c0: number;
  c1: number;
  n: number;
  m: number;
}

/**
 * The number of weights `spec` prunes in a [rows, cols] matrix (for a column block: in the block).
 * Validates like selectMask.
 */
export function prunedCount(spec: MaskSpec, rows: number, cols: number): number {
  checkCount("rows", rows);
  checkCount("cols", cols);
  const s = resolve(spec, rows, cols);
  switch (s.kind) {
    case "row": return rows * s.k;
    case "col": return cols * s.k;
    case "block": return s.k;
    case "nm-input": return rows * nmPerLine(cols, s.n, s.m);
    case "nm-output": return cols * nmPerLine(rows, s.n, s.m);
  }
}

function nmPerLine(len: number, n: number, m: number): number {
  return Math.floor(len / m) * n + tailPruneCount(n, m, len % m);
}

function resolve(spec: MaskSpec, rows: number, cols: number): Resolved {
  if (spec === null || typeof spec !== "object") throw new ArgumentError("spec", "must be an object");
  if ("nm" in spec && spec.nm !== undefined) {
    const { nm, axis } = spec;
    if (nm === null || typeof nm !== "object") throw new ArgumentError("spec.nm", "must be { n, m }");
    validateNM("spec.nm", nm.n, nm.m);
    if (axis !== "input" && axis !== "output") throw new ArgumentError("spec.axis", `must be "input" or "output", got ${String(axis)}`);
    return { kind: axis === "input" ? "nm-input" : "nm-output", k: 0, c0: 0, c1: cols, n: nm.n, m: nm.m };
  }
  const u = spec as UnstructuredSpec;
  let kind: Resolved["kind"], size: number, c0 = 0, c1 = cols;
  switch (u.group) {
    case "row": kind = "row"; size = cols; break;
    case "col": kind = "col"; size = rows; break;
    case "matrix": kind = "block"; size = rows * cols; break;
    case "colblock": {
      kind = "block";
      c0 = u.c0; c1 = u.c1;
      if (!Number.isInteger(c0) || !Number.isInteger(c1) || c0 < 0 || c1 < c0 || c1 > cols) {
        throw new ArgumentError("spec.c0", `column block [${c0}, ${c1}) must be integers with 0 <= c0 <= c1 <= cols = ${cols}`);
      }
      size = rows * (c1 - c0);
      break;
    }
    default:
      throw new ArgumentError("spec.group", `must be "row", "col", "matrix" or "colblock" (or give spec.nm), got ${String((u as { group?: unknown }).group)}`);
  }
  const hasCount = u.count !== undefined, hasSparsity = u.sparsity !== undefined;
  if (hasCount === hasSparsity) throw new ArgumentError("spec", "give exactly one of count and sparsity");
  let k: number;
  if (hasCount) {
    k = u.count as number;
    if (!Number.isInteger(k) || k < 0 || k > size) throw new ArgumentError("spec.count", `must be an integer in [0, ${size}], got ${k}`);
  } else {
    const s = u.sparsity as number;
    if (typeof s !== "number" || !(s >= 0 && s <= 1)) throw new ArgumentError("spec.sparsity", `must be in [0, 1], got ${s}`);
    k = unstructuredPruneCount(s, size);
  }
  return { kind, k, c0, c1, n: 0, m: 0 };
}

/**
 * Writes the mask (1 = pruned) of scores S [rows, cols] (row-major f32, all >= 0) as `spec`
 * says. `mask` holds at least rows*cols bytes and must not overlap S. Throws ArgumentError
 * naming the offending argument: shapes, spec fields, or "S" for a NaN/negative score (the mask
 * is then unspecified).
 */
export async function selectMask(
  rt: Runtime, S: WasmRef<"f32">, rows: number, cols: number, spec: MaskSpec, mask: WasmRef<"u8">,
): Promise<void> {
  checkCount("rows", rows);
  checkCount("cols", cols);
  const n = rows * cols;
  checkRef("S", S, "f32", n);
  checkRef("mask", mask, "u8", n);
  if (mask.ptr < S.ptr + n * 4 && S.ptr < mask.ptr + n && n > 0) throw new ArgumentError("mask", "overlaps S");
  const s = resolve(spec, rows, cols);
  if (n === 0) return;
  const T = rt.threads;
  const scope = rt.heap.scope();
  try {
    const bad = scope.alloc("u32", T);
    const badScore = (): ArgumentError => invalidScore(S, rows, cols, s.kind === "block" ? s.c0 : 0, s.kind === "block" ? s.c1 : cols);
    const check = (): void => { if (bad.view().some((x) => x !== 0)) throw badScore(); };
    switch (s.kind) {
      case "nm-input":
        await rt.run("mask_select_nm_input", [S.ptr, mask.ptr, cols, s.n, s.m, bad.ptr], rows, 1, n);
        return check();
      case "nm-output": {
        const units = Math.ceil(rows / s.m);
        await rt.run("mask_select_nm_output", [S.ptr, mask.ptr, rows, cols, s.n, s.m, bad.ptr], units, 1, n);
        return check();
      }
      case "row": {
        const stride = align64(HIST_BYTES + 4 * cols);
        const scratch = scope.alloc("u8", stride * T);
        await rt.run("mask_select_rows", [S.ptr, mask.ptr, cols, s.k, scratch.ptr, stride, bad.ptr], rows, 1, n);
        return check();
      }
      case "col": {
        // Odd number of cache lines per panel column (see the kernel).
        const colBytes = ((Math.ceil((4 * rows) / 64)) | 1) * 64;
        const stride = align64(HIST_BYTES + 4 * rows + 64 * colBytes);
        const scratch = scope.alloc("u8", stride * T);
        const thr = scope.alloc("u32", cols), need = scope.alloc("i32", cols);
        // Grain 64: a thread's columns are whole 64-column panels (whole cache lines per row).
        await rt.run("mask_select_cols", [S.ptr, rows, cols, s.k, scratch.ptr, stride, thr.ptr, need.ptr, bad.ptr], cols, 64, n);
        check();
        await rt.run("mask_cols_apply", [S.ptr, mask.ptr, rows, cols, thr.ptr, need.ptr], cols, 64, n);
        return;
      }
      case "block":
        await selectBlock(rt, S, rows, cols, s.c0, s.c1, s.k, mask, bad, scope, check);
        return;
    }
  } finally {
    scope.release();
  }
}

// Radix select over columns [c0, c1) of all rows: high 16 key bits, then low 16 bits, then the
// mask pass and the row-major tie quotas. A narrow block is copied contiguously by the first pass
// (see the kernels: walking down rows costs a TLB miss per row and pass).
async function selectBlock(
  rt: Runtime, S: WasmRef<"f32">, rows: number, cols: number, c0: number, c1: number, k: number,
  mask: WasmRef<"u8">, bad: WasmRef<"u32">, scope: Scope, check: () => void,
): Promise<void> {
  const width = c1 - c0;
  if (width === 0) return;
  const work = rows * width;
  const T = rt.threads;
  const hist = scope.alloc("u32", BINS * T);
  const copy = width < cols && width <= GATHER_MAX && rows > 1 ? scope.alloc("f32", rows * width) : undefined;
  await rt.run("mask_block_hist_hi", [S.ptr + 4 * c0, cols, width, hist.ptr, bad.ptr, copy?.ptr ?? 0], rows, 1, work);
  check();
  const src = copy ? copy.ptr : S.ptr + 4 * c0, ld = copy ? width : cols;
  let key = 0, below = 0;
  if (k > 0) {
    const hi = findBin(hist.view(), T, k - 1);
    hist.view().fill(0);
    await rt.run("mask_block_hist_lo", [src, ld, width, hist.ptr, hi.bin], rows, 1, work);
    const lo = findBin(hist.view(), T, k - 1 - hi.below);
    key = hi.bin * 65536 + lo.bin;
    below = hi.below + lo.below;
  }
  const eq = scope.alloc("u32", rows);
  const m0 = mask.ptr + c0;
  await rt.run("mask_block_lt", [src, ld, width, m0, cols, key, eq.ptr], rows, 1, work);
  let need = k - below;
  if (need <= 0) return;
  // Row-major order: the first `need` scores equal to the threshold, row by row.
  const q = eq.view();
  let first = -1, last = -1;
  for (let r = 0; r < rows; r++) {
    const take = Math.min(q[r], need);
    q[r] = take;
    need -= take;
    if (take > 0) { if (first < 0) first = r; last = r; }
  }
  if (need !== 0 || first < 0) throw new Error("internal: block selection lost its tie count");
  await rt.run("mask_block_ties", [src, ld, width, m0, cols, key, eq.ptr, first], last - first + 1, last - first + 1);
}

function findBin(h: Uint32Array, threads: number, t: number): { bin: number; below: number } {
  let below = 0;
  for (let b = 0; b < BINS; b++) {
    let c = 0;
    for (let i = 0; i < threads; i++) c += h[i * BINS + b];
    if (below + c > t) return { bin: b, below };
    below += c;
  }
  throw new Error("internal: histogram holds fewer scores than the group");
}

/** W[i] = 0 (+0) where mask[i] != 0, for i < n. */
export async function applyMask(rt: Runtime, W: WasmRef<"f32">, mask: WasmRef<"u8">, n: number): Promise<void> {
  checkCount("n", n);
  checkRef("W", W, "f32", n);
  checkRef("mask", mask, "u8", n);
  if (mask.ptr < W.ptr + n * 4 && W.ptr < mask.ptr + n && n > 0) throw new ArgumentError("mask", "overlaps W");
  if (n === 0) return;
  const units = Math.ceil(n / CHUNK);
  await rt.run("mask_apply_f32", [W.ptr, mask.ptr, n, CHUNK], units, 1, n);
}

/** How many of W[0, n) are zero (+0 or -0). */
export async function countZeros(rt: Runtime, W: WasmRef<"f32">, n: number): Promise<number> {
  checkCount("n", n);
  checkRef("W", W, "f32", n);
  if (n === 0) return 0;
  const units = Math.ceil(n / CHUNK);
  const out = rt.heap.alloc("u32", units);
  try {
    await rt.run("count_zeros_f32", [W.ptr, n, CHUNK, out.ptr], units, 1, n);
    return sum(out.view());
  } finally {
    out.free();
  }
}

/**
 * How many N:M groups of W [rows, cols] are violated, i.e. hold fewer zeros than the pattern
 * prunes (n, or floor(n * r / m) for a trailing partial group of r). Axis as in NMSpec: "input"
 * = groups of m consecutive columns in each row, "output" = groups of m consecutive rows in each
 * column. 0 means W satisfies the pattern.
 */
export async function checkNM(
  rt: Runtime, W: WasmRef<"f32">, rows: number, cols: number, n: number, m: number, axis: NMAxis,
): Promise<number> {
  checkCount("rows", rows);
  checkCount("cols", cols);
  validateNM("n", n, m);
  if (axis !== "input" && axis !== "output") throw new ArgumentError("axis", `must be "input" or "output", got ${String(axis)}`);
  checkRef("W", W, "f32", rows * cols);
  if (rows * cols === 0) return 0;
  const units = axis === "input" ? rows : Math.ceil(rows / m);
  const out = rt.heap.alloc("u32", units);
  try {
    if (axis === "input") await rt.run("check_nm_input_f32", [W.ptr, cols, n, m, out.ptr], units, 1, rows * cols);
    else await rt.run("check_nm_output_f32", [W.ptr, rows, cols, n, m, out.ptr], units, 1, rows * cols);
    return sum(out.view());
  } finally {
    out.free();
  }
}

function sum(a: Uint32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

function invalidScore(S: WasmRef<"f32">, rows: number, cols: number, c0: number, c1: number): ArgumentError {
  const v = S.view();
  for (let r = 0; r < rows; r++) {
    for (let c = c0; c < c1; c++) {
      const x = v[r * cols + c];
      if (!(x >= 0)) return new ArgumentError("S", `S[${r}, ${c}] = ${x}: scores must be >= 0 and not NaN`);
    }
  }
  return new ArgumentError("S", "scores must be >= 0 and not NaN");
}

function align64(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}

function checkCount(arg: string, n: number): void {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
    throw new ArgumentError(arg, `must be a non-negative integer, got ${n}`);
  }
}

function checkRef(arg: string, ref: WasmRef, kind: DType, n: number): void {
  if (!ref || typeof ref.ptr !== "number" || typeof ref.length !== "number") throw new ArgumentError(arg, "must be a WasmArray or WasmRef");
  if (ref.kind !== kind) throw new ArgumentError(arg, `must hold ${kind}, got ${ref.kind}`);
  if (ref.length < n) throw new ArgumentError(arg, `needs ${n} elements, has ${ref.length}`);
}
