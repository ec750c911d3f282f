/**
 * Reference of the sparse N:M kernels: decompress, then a plain dense product in f64 over the
 * KEPT positions (pruned positions are structural zeros: they contribute nothing, even for a NaN
 * or infinite input, exactly like the kernels; a kept explicit zero times Inf is NaN).
 */
import { ArgumentError } from "../errors.js";
import { decompressNM, type CompressedNM } from "../sparse/format.js";

/** y = W x for a compressed W `[rows, cols]`; x has `cols` elements. Returns `rows` values (f64 sums). */
export function sparseGemvRef(c: CompressedNM, x: ArrayLike<number>): Float64Array {
  return sparseGemmRef(c, x, 1);
}

/**
 * Y[t] = W X[t] for T tokens: X token-major `[T, cols]`, result token-major `[T, rows]`, summed in
 * f64 in column order.
 */
export function sparseGemmRef(c: CompressedNM, X: ArrayLike<number>, T: number): Float64Array {
  const { rows, cols } = c;
  if (!Number.isInteger(T) || T < 1) throw new ArgumentError("T", `must be a positive integer, got ${T}`);
  if (X.length !== T * cols) throw new ArgumentError("X", `length ${X.length} != ${T} x ${cols}`);
  const keep = new Uint8Array(rows * cols);
  const W = decompressNM(c, keep);
  const Y = new Float64Array(T * rows);
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < cols; j++) if (keep[r * cols + j]) s += W[r * cols + j] * X[t * cols + j];
      Y[t * rows + r] = s;
    }
  }
  return Y;
}
