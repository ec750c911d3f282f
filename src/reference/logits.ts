/** Reference classifier-side functions (f64). */

/** nll[r] = logsumexp(L[r, :]) - L[r, target[r]]; target < 0 gives 0. */
export function nll(L: ArrayLike<number>, V: number, target: ArrayLike<number>, rows: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    if (target[r] < 0) continue;
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, L[r * V + v]);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(L[r * V + v] - m);
    out[r] = Math.log(s) + (m - L[r * V + target[r]]);
  }
  return out;
}

/** First index of the largest element of each row (NaN skipped; all-NaN gives 0). */
export function argmax(L: ArrayLike<number>, V: number, rows: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = -Infinity, bi = 0, found = false;
    for (let v = 0; v < V; v++) {
      const x = L[r * V + v];
      if (x > best || (!found && x === x)) { best = x; bi = v; found = true; }
    }
    out[r] = bi;
  }
  return out;
}
