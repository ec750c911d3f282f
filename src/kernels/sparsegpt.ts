/**
 * SparseGPT on the Wasm kernels (docs/methods.md, "SparseGPT"): the damped-Hessian factorisation
 * with retries, then the column-block pruning loop that updates W in place.
 *
 * The factorisation runs in f64 (blocked, threaded, SIMD). U, the upper Cholesky factor of H^-1,
 * is computed as P·inv(chol(P H P))·P with P the index reversal: mathematically the same factor as
 * "Cholesky of H, invert, Cholesky of the inverse" (it is unique), with one factorisation and one
 * triangular inverse instead of two factorisations, an inverse and a product (half the flops).
 * A non-positive or non-finite pivot, or a non-finite U, counts as a failed factorisation.
 * The pruning loop is f32 (U rounded once to f32), rows split across threads; the unstructured
 * block selection is exact (f64 scores, radix select) and single-threaded. Results are
 * bit-identical for any thread count.
 */
import { AbortError, ArgumentError } from "../errors.js";
import { NumericalError } from "../pruning/errors.js";
import { unstructuredPruneCount, validateNM, type Pattern } from "../pruning/pattern.js";
import { hessianFailureMessage, SPARSEGPT_DAMP_STEPS } from "../reference/sparsegpt.js";
import type { WasmArray, WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";

/** Cholesky / triangular-inverse block size (multiple of 8). */
const NB = 64;
/** SparseGPT's default column block. */
export const SPARSEGPT_BLOCK = 128;

/** Options of sparsegptFactor(). */
export interface SparseGPTFactorOptions {
  /** Damping fraction of mean(diag H); default 0.01. */
  percdamp?: number;
  /** Names the matrix in errors, e.g. "block 3 mlp.down". */
  label?: string;
  signal?: AbortSignal;
}

/** The factor and how it was obtained. */
export interface SparseGPTFactor {
  /** Upper factor U (H^-1 = Uᵀ U), f32 n×n row-major, zeros below the diagonal; caller frees. */
  U: WasmArray<"f32">;
  /** Damping that succeeded (λ). */
  lambda: number;
  /** 1 + retries used. */
  attempts: number;
  /** Indices j with H_jj == 0 (dead inputs). */
  dead: number[];
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError();
}

function checkRef(arg: string, r: WasmRef, kinds: readonly string[], length: number): void {
  if (!r || typeof r.ptr !== "number" || !kinds.includes(r.kind)) {
    throw new ArgumentError(arg, `must be a WasmRef of kind ${kinds.join(" or ")}`);
  }
  if (r.length < length) throw new ArgumentError(arg, `has ${r.length} elements, needs ${length}`);
}

function checkDim(arg: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new ArgumentError(arg, `must be a positive integer, got ${v}`);
}

/**
 * Steps 1–3 of SparseGPT for Hessian H (n×n, f32 or f64, row-major; left unchanged): dead inputs
 * (H_jj == 0 → 1), damping λ = percdamp · mean(diag H), U = upper Cholesky factor of H^-1, retried
 * from the undamped H with λ×10, ×100, ×1000. Throws NumericalError naming `label` when all fail,
 * ArgumentError("H") when H holds NaN/Inf.
 */
export async function sparsegptFactor(rt: Runtime, H: WasmRef<"f32"> | WasmRef<"f64">, n: number, options: SparseGPTFactorOptions = {}): Promise<SparseGPTFactor> {
  checkDim("n", n);
  checkRef("H", H, ["f32", "f64"], n * n);
  const percdamp = options.percdamp ?? 0.01;
  if (!(percdamp >= 0 && percdamp < Infinity)) throw new ArgumentError("percdamp", `must be finite and >= 0, got ${percdamp}`);
  const label = options.label ?? "matrix";
  const { signal } = options;
  checkAbort(signal);

  const dead: number[] = [];
  let mean = 0;
  {
    const h = H.view();
    for (let j = 0; j < n; j++) {
      let d = h[j * n + j];
      if (d === 0) { dead.push(j); d = 1; }
      mean += d;
    }
  }
  mean /= n;
  const base = percdamp * mean;

  const heap = rt.heap;
  const scope = heap.scope();
  let U: WasmArray<"f32"> | undefined;
  try {
    const A = scope.alloc("f64", n * n);
    const Pt = scope.alloc("f64", NB * (Math.ceil(n / 8) * 8 + 8));
    const T = scope.alloc("f64", n * NB + 8);
    const X11 = scope.alloc("f64", NB * NB);
    const info = scope.alloc("i32", 16);
    const bad = scope.alloc("u8", n);
    const scrStride = 2 * NB * 8;
    const scr = scope.alloc("u8", scrStride * rt.threads);
    // 16 floats of padding: the pruning loop reads whole vectors past a row's end.
    U = heap.alloc("f32", n * n + 16);
    const hF64 = H.kind === "f64" ? 1 : 0;
    const tried: number[] = [];
    for (let a = 0; a < SPARSEGPT_DAMP_STEPS.length; a++) {
      const lambda = base * SPARSEGPT_DAMP_STEPS[a];
      tried.push(lambda);
      await rt.run("sgpt_prepare", [H.ptr, hF64, A.ptr, n, lambda, bad.ptr], n, 1);
      if (bad.view().some((x) => x !== 0)) throw new ArgumentError("H", `${label}: the Hessian holds NaN or Inf`);
      if (!(await cholesky(rt, A, n, Pt, info, signal))) continue;
      await invertLower(rt, A, n, T, X11, scr, scrStride, signal);
      await rt.run("sgpt_to_u", [A.ptr, n, U.ptr, n, bad.ptr], n, 1);
      if (bad.view().some((x) => x !== 0)) continue;
      const out = U;
      U = undefined;
      return { U: out, lambda, attempts: a + 1, dead };
    }
    throw new NumericalError(label, hessianFailureMessage(tried));
  } finally {
    U?.free();
    scope.release();
  }
}

/** Blocked in-place lower Cholesky of A (n×n f64). Returns false on a failed pivot. */
async function cholesky(rt: Runtime, A: WasmRef<"f64">, n: number, Pt: WasmRef<"f64">, info: WasmArray<"i32">, signal?: AbortSignal): Promise<boolean> {
  info.view()[0] = 0;
  for (let k = 0; k < n; k += NB) {
    checkAbort(signal);
    const b = Math.min(NB, n - k);
    await rt.run("chol_diag_f64", [A.ptr, n, k, b, info.ptr], 1, 1);
    if (info.view()[0] !== 0) return false;
    const m = n - k - b;
    if (m === 0) break;
    await rt.run("chol_panel_f64", [A.ptr, n, k, b, Pt.ptr], m, 8);
    await rt.run("chol_update_f64", [A.ptr, n, k, b, n, Pt.ptr], Math.ceil(Math.ceil(m / 2) / 2), 1);
  }
  return true;
}

/** In-place inverse of the lower-triangular A (n×n f64), blocks from the last to the first. */
async function invertLower(rt: Runtime, A: WasmRef<"f64">, n: number, T: WasmRef<"f64">, X11: WasmRef<"f64">, scr: WasmRef<"u8">, scrStride: number, signal?: AbortSignal): Promise<void> {
  const last = Math.floor((n - 1) / NB) * NB;
  for (let j = last; j >= 0; j -= NB) {
    checkAbort(signal);
    const jb = Math.min(NB, n - j);
    await rt.run("trinv_diag_f64", [A.ptr, n, j, jb, n, T.ptr, X11.ptr], 1, 1);
    const m = n - j - jb;
    if (m > 0) await rt.run("trinv_update_f64", [A.ptr, n, j, jb, n, T.ptr, X11.ptr, scr.ptr, scrStride], Math.ceil(Math.ceil(m / 2) / 2), 1);
  }
}

/** Options of sparsegptPrune() and sparsegpt(). */
export interface SparseGPTOptions extends SparseGPTFactorOptions {
  pattern: Pattern;
  /** Column block B (default 128); for N:M, M must divide it. */
  blocksize?: number;
  /** If given (dOut×dIn u8), receives the mask: 1 = pruned. */
  mask?: WasmRef<"u8">;
  /** Called after each column block with the columns done so far. */
  onBlock?: (done: number, total: number) => void;
}

/** What the pruning loop reports. */
export interface SparseGPTResult {
  /** Σ (w - q)^2 / U_jj^2 / 2 over the matrix. */
  loss: number;
  lambda: number;
  attempts: number;
  /** Dead input columns (zeroed). */
  dead: number[];
}

function checkPattern(pattern: Pattern, B: number): void {
  if (!pattern || (pattern.kind !== "unstructured" && pattern.kind !== "nm")) throw new ArgumentError("pattern", "must be an unstructured or N:M pattern");
  if (pattern.kind === "unstructured") {
    if (!(pattern.sparsity > 0 && pattern.sparsity < 1)) throw new ArgumentError("pattern", `sparsity must be in (0, 1), got ${pattern.sparsity}`);
  } else {
    validateNM("pattern", pattern.n, pattern.m);
    if (B % pattern.m !== 0) throw new ArgumentError("pattern", `SparseGPT needs M (${pattern.m}) to divide the column block size ${B}`);
  }
}

/**
 * Step 4–5 of SparseGPT given the factor U (f32 n×n upper, as sparsegptFactor returns; rows must
 * be readable 16 floats past the end): prunes W (dOut×dIn f32, row-major) in place and returns the
 * loss. Dead columns must already be zeroed.
 */
export async function sparsegptPrune(
  rt: Runtime, W: WasmRef<"f32">, dOut: number, dIn: number, U: WasmRef<"f32">, options: Omit<SparseGPTOptions, "percdamp">,
): Promise<number> {
  checkDim("dOut", dOut);
  checkDim("dIn", dIn);
  checkRef("W", W, ["f32"], dOut * dIn);
  checkRef("U", U, ["f32"], dIn * dIn + 16);
  const B = options.blocksize ?? SPARSEGPT_BLOCK;
  checkDim("blocksize", B);
  checkPattern(options.pattern, B);
  if (options.mask) checkRef("mask", options.mask, ["u8"], dOut * dIn);
  const { pattern, signal } = options;
  const scope = rt.heap.scope();
  try {
    const mask = options.mask ?? scope.alloc("u8", dOut * dIn);
    const Err = scope.alloc("f32", dOut * B);
    const loss = scope.alloc("f64", dOut);
    // 256 bytes of N:M scores, then the packed U panel of the lazy update (B × 512 floats).
    const scrStride = 256 + B * 512 * 4;
    const scr = scope.alloc("u8", scrStride * rt.threads);
    const unstructured = pattern.kind === "unstructured";
    const keys = unstructured ? scope.alloc("f64", dOut * B) : undefined;
    const hist = unstructured ? scope.alloc("u32", 65536) : undefined;
    const N = pattern.kind === "nm" ? pattern.n : 0;
    const M = pattern.kind === "nm" ? pattern.m : 0;
    for (let i1 = 0; i1 < dIn; i1 += B) {
      checkAbort(signal);
      const bw = Math.min(B, dIn - i1);
      if (unstructured) {
        const k = unstructuredPruneCount(pattern.sparsity, dOut * bw);
        await rt.run("sgpt_select", [W.ptr, dIn, U.ptr, dIn, mask.ptr, dIn, i1, bw, dOut, k, keys!.ptr, hist!.ptr], 1, 1);
      }
      await rt.run("sgpt_block", [W.ptr, dIn, U.ptr, dIn, mask.ptr, dIn, Err.ptr, B, loss.ptr, i1, bw, dIn, N, M, scr.ptr, scrStride], dOut, 4);
      options.onBlock?.(i1 + bw, dIn);
    }
    let total = 0;
    for (const x of loss.view()) total += x;
    return total;
  } finally {
    scope.release();
  }
}

/**
 * SparseGPT on one linear: W (dOut×dIn f32, row-major, updated in place) with Hessian H
 * (dIn×dIn, f32 or f64; left unchanged). Throws ArgumentError for bad shapes/patterns, NaN/Inf in
 * W or H, NumericalError when the Hessian cannot be factored, AbortError when aborted (W is then
 * partly updated).
 */
export async function sparsegpt(
  rt: Runtime, W: WasmRef<"f32">, H: WasmRef<"f32"> | WasmRef<"f64">, dOut: number, dIn: number, options: SparseGPTOptions,
): Promise<SparseGPTResult> {
  checkDim("dOut", dOut);
  checkDim("dIn", dIn);
  checkRef("W", W, ["f32"], dOut * dIn);
  checkPattern(options.pattern, options.blocksize ?? SPARSEGPT_BLOCK);
  {
    const w = W.view();
    for (let i = 0; i < dOut * dIn; i++) {
      if (!Number.isFinite(w[i])) throw new ArgumentError("W", `${options.label ?? "matrix"}: W[${Math.floor(i / dIn)}][${i % dIn}] = ${w[i]} is not finite`);
    }
  }
  const f = await sparsegptFactor(rt, H, dIn, options);
  try {
    if (f.dead.length) {
      const w = W.view();
      for (const j of f.dead) for (let r = 0; r < dOut; r++) w[r * dIn + j] = 0;
    }
    const loss = await sparsegptPrune(rt, W, dOut, dIn, f.U, options);
    const w = W.view();
    for (let i = 0; i < dOut * dIn; i++) {
      if (!Number.isFinite(w[i])) throw new NumericalError(options.label ?? "matrix", "SparseGPT's weight update overflowed (non-finite weights)");
    }
    return { loss, lambda: f.lambda, attempts: f.attempts, dead: f.dead };
  } finally {
    f.U.free();
  }
}

