/** Reference calibration statistics over token rows X [T, d] (row-major), in f64. */

/**
 * acc[c] + Σ_t X[t, c]² for c < d, adding tokens in order t = 0..T-1 in f64 (each square is exact),
 * so it matches the kernel bit for bit. `acc` defaults to zeros and is not modified.
 */
export function colSumSq(X: ArrayLike<number>, T: number, d: number, acc?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(d);
  for (let c = 0; c < d; c++) {
    let s = acc ? acc[c] : 0;
    for (let t = 0; t < T; t++) s += X[t * d + c] * X[t * d + c];
    out[c] = s;
  }
  return out;
}

/** H + scale * XᵀX in f64 ([d, d]; H defaults to zeros and is not modified). */
export function hessian(X: ArrayLike<number>, T: number, d: number, H?: ArrayLike<number>, scale = 1): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += X[t * d + i] * X[t * d + j];
      out[i * d + j] = (H ? H[i * d + j] : 0) + scale * s;
    }
  }
  return out;
}
