/**
 * Calibration statistics over a batch of token rows X [T, d] (f32, token-major): per-column sums
 * of squares in f64 (Wanda, DaSS) and the Hessian `H += scale * XᵀX` (SparseGPT). Both are
 * deterministic: the same bits for any thread count.
 */
import { ArgumentError } from "../errors.js";
import type { WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import { checkArray, checkDim, checkDisjoint } from "./dense.js";

/** Column grain of colSumSq (the kernel's 8-column vector block). */
export const COLSUMSQ_GRAIN = 8;
/** Row grain of the Hessian's mirror pass (its 16 x 16 copy blocks). */
const MIRROR_GRAIN = 16;

/**
 * acc[c] += Σ_t X[t, c]² for c < d, accumulated in f64 with every square exact and the tokens of
 * each column added in order t = 0..T-1, so repeated calls over a calibration set give the same
 * bits for any thread count. Zero `acc` before the first batch. Threads split the columns in
 * multiples of {@link COLSUMSQ_GRAIN}.
 */
export async function colSumSq(rt: Runtime, X: WasmRef<"f32">, T: number, d: number, acc: WasmRef<"f64">): Promise<void> {
  checkDim("T", T);
  checkDim("d", d);
  checkArray("X", X, "f32", T * d, `[${T}, ${d}]`);
  checkArray("acc", acc, "f64", d, `[${d}]`);
  checkDisjoint("acc", acc, d, "X", X, T * d);
  return rt.run("colsumsq_f64", [X.ptr, T, d, acc.ptr], d, COLSUMSQ_GRAIN, T * d);
}

/** Tokens per arithmetic block of the Hessian (the kernel's HB; part of the result's definition). */
const HESSIAN_BLOCK = 256;

/**
 * H += scale * XᵀX, H [d, d] f32 (SparseGPT: scale = 2 / nsamples, or 1 and scale H at the end).
 * H must be symmetric, as it is when it starts from zeros and only this function adds to it: the
 * upper triangle is accumulated and then copied onto the lower one (half the work). Tokens are taken
 * in blocks of 256 from t = 0; in each block an element gets the f32 sum c of its products in token
 * order, then H = H + f32(scale) * c (fused in the relaxed-SIMD build). The result is identical for
 * any thread count. Needs a temporary of min(T, 256) x d floats in Wasm memory.
 */
export async function hessianAccumulate(
  rt: Runtime, X: WasmRef<"f32">, T: number, d: number, H: WasmRef<"f32">, scale = 1,
): Promise<void> {
  checkDim("T", T);
  checkDim("d", d);
  checkArray("X", X, "f32", T * d, `[${T}, ${d}]`);
  checkArray("H", H, "f32", d * d, `[${d}, ${d}]`);
  checkDisjoint("H", H, d * d, "X", X, T * d);
  if (typeof scale !== "number" || !Number.isFinite(scale)) throw new ArgumentError("scale", `must be finite, got ${String(scale)}`);
  const groups = Math.ceil(d / 8);
  const units = Math.ceil(Math.ceil(d / 4) / 2);
  const P = rt.heap.alloc("f32", groups * 8 * Math.min(T, HESSIAN_BLOCK));
  try {
    for (let t0 = 0; t0 < T; t0 += HESSIAN_BLOCK) {
      const n = Math.min(HESSIAN_BLOCK, T - t0);
      await rt.run("hessian_pack_f32", [X.ptr, d, t0, n, P.ptr], groups, 1, n * d);
      await rt.run("hessian_upper_f32", [P.ptr, n, d, H.ptr, scale], units, 1, (n * d * d) / 2);
    }
  } finally {
    P.free();
  }
  await rt.run("hessian_mirror_f32", [H.ptr, d], d, MIRROR_GRAIN, d * d);
}
