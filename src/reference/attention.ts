/** Reference causal grouped-query attention (f64). */

/**
 * Y [T, nHeads * headDim]: query t (row t of Q, at position pos0 + t) attends to cache rows
 * [0, pos0 + t] of K and V ([positions, nKvHeads * headDim]), or with window > 0 the last `window`
 * of them; query head h uses kv head h / (nHeads / nKvHeads).
 */
export function attention(
  Q: ArrayLike<number>, K: ArrayLike<number>, V: ArrayLike<number>, T: number, pos0: number,
  nHeads: number, nKvHeads: number, headDim: number, scale = 1 / Math.sqrt(headDim), softcap = 0, window = 0,
): Float32Array {
  const qDim = nHeads * headDim, kvDim = nKvHeads * headDim, group = nHeads / nKvHeads;
  const Y = new Float32Array(T * qDim);
  for (let t = 0; t < T; t++) {
    const n = pos0 + t + 1;
    const j0 = window > 0 ? Math.max(0, n - window) : 0;
    for (let h = 0; h < nHeads; h++) {
      const kvh = Math.floor(h / group);
      const s = new Float64Array(n);
      let m = -Infinity;
      for (let j = j0; j < n; j++) {
        let d = 0;
        for (let i = 0; i < headDim; i++) d += Q[t * qDim + h * headDim + i] * K[j * kvDim + kvh * headDim + i];
        s[j] = softcap > 0 ? softcap * Math.tanh((d * scale) / softcap) : d * scale;
        m = Math.max(m, s[j]);
      }
      let z = 0;
      for (let j = j0; j < n; j++) { s[j] = Math.exp(s[j] - m); z += s[j]; }
      for (let i = 0; i < headDim; i++) {
        let acc = 0;
        for (let j = j0; j < n; j++) acc += (s[j] / z) * V[j * kvDim + kvh * headDim + i];
        Y[t * qDim + h * headDim + i] = acc;
      }
    }
  }
  return Y;
}
