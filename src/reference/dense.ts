/** Reference dense products: plain loops with f64 accumulation (not rounded to f32). */

/** y = W x with W row-major [dOut, dIn]. */
export function gemv(W: ArrayLike<number>, x: ArrayLike<number>, dOut: number, dIn: number): Float64Array {
  const y = new Float64Array(dOut);
  for (let i = 0; i < dOut; i++) {
    let s = 0;
    for (let k = 0; k < dIn; k++) s += W[i * dIn + k] * x[k];
    y[i] = s;
  }
  return y;
}

/** Y[t] = W X[t] for t < T; X [T, dIn] and the result [T, dOut] token-major. */
export function gemm(W: ArrayLike<number>, X: ArrayLike<number>, dOut: number, dIn: number, T: number): Float64Array {
  const Y = new Float64Array(T * dOut);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < dOut; i++) {
      let s = 0;
      for (let k = 0; k < dIn; k++) s += W[i * dIn + k] * X[t * dIn + k];
      Y[t * dOut + i] = s;
    }
  }
  return Y;
}

/** Σ src[i] in f64. */
export function readSum(src: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < src.length; i++) s += src[i];
  return s;
}

/** The lane sum one thread of `fmaPeak` stores: 8 chains x 4 lanes of `steps` times a = a * m + c from 1, in f32. */
export function fmaPeakSum(steps: number, m = 0.5, c = 0.5): number {
  let a = 1;
  for (let i = 0; i < steps; i++) a = Math.fround(Math.fround(a * m) + c);
  return 32 * a;
}
