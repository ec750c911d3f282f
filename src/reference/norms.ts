/** Reference RMSNorm (f64). */

/** RMSNorm of each row of a row-major [rows, d] matrix; `plusOne` multiplies by (1 + w) (Gemma). */
export function rmsnorm(
  X: ArrayLike<number>, w: ArrayLike<number>, d: number, rows: number, eps: number, plusOne = false,
): Float32Array {
  const out = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += X[r * d + j] * X[r * d + j];
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let j = 0; j < d; j++) out[r * d + j] = X[r * d + j] * inv * (plusOne ? 1 + w[j] : w[j]);
  }
  return out;
}
