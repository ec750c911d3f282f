/** RMSNorm over token rows, LLaMA style (w) or Gemma style (1 + w). */
import type { WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import { checkCount, checkFinite, checkRef } from "./activations.js";
import { ArgumentError } from "../errors.js";

/** Options of rmsnorm(). */
export interface RmsNormOptions {
  /** Epsilon added to the mean square (> 0, finite). */
  eps: number;
  /** Multiply by (1 + w) instead of w (Gemma). Default false. */
  plusOne?: boolean;
}

/**
 * Y[r, j] = X[r, j] / sqrt(mean_j X[r, j]^2 + eps) * w'[j] for `rows` rows of width d, w' = w or
 * 1 + w. Y may be X. The mean square is accumulated in f64.
 */
export function rmsnorm(
  rt: Runtime, X: WasmRef<"f32">, w: WasmRef<"f32">, Y: WasmRef<"f32">, d: number, rows: number, opts: RmsNormOptions,
): Promise<void> {
  checkCount("d", d, 1);
  checkCount("rows", rows);
  checkRef("X", X, "f32", rows * d);
  checkRef("w", w, "f32", d);
  checkRef("Y", Y, "f32", rows * d);
  checkFinite("eps", opts.eps);
  if (opts.eps < 0) throw new ArgumentError("eps", `must be >= 0, got ${opts.eps}`);
  return rt.run("rmsnorm_f32", [X.ptr, w.ptr, Y.ptr, d, opts.eps, opts.plusOne ? 1 : 0], rows, 1, rows * d);
}
