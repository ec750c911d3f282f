/**
 * Reference element-wise kernels: f64 arithmetic on f32 inputs, rounded to f32 on output (so a
 * kernel matches to a few ulp).
 */

/** exp of each element. */
export function exp(x: ArrayLike<number>): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = Math.exp(x[i]);
  return y;
}

/** SiLU of one value: x / (1 + exp(-x)). */
export function siluScalar(x: number): number {
  return x / (1 + Math.exp(-x));
}

/**
 * GELU, tanh approximation, of one value: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
 * evaluated as the identical x / (1 + exp(-2u)) because 1 + tanh(u) cancels catastrophically for
 * u << 0 even in f64.
 */
export function geluTanhScalar(x: number): number {
  const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
  return x / (1 + Math.exp(-2 * u));
}

/** cap * tanh(x / cap) of each element. */
export function softcap(x: ArrayLike<number>, cap: number): Float32Array {
  return Float32Array.from(x, (v) => cap * Math.tanh(v / cap));
}

/** SiLU of each element. */
export function silu(x: ArrayLike<number>): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = siluScalar(x[i]);
  return y;
}

/** GELU-tanh of each element. */
export function geluTanh(x: ArrayLike<number>): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = geluTanhScalar(x[i]);
  return y;
}

/** GLU product act(g) * u. */
export function glu(g: ArrayLike<number>, u: ArrayLike<number>, act: "silu" | "gelu_tanh"): Float32Array {
  const f = act === "gelu_tanh" ? geluTanhScalar : siluScalar;
  const h = new Float32Array(g.length);
  for (let i = 0; i < g.length; i++) h[i] = f(g[i]) * u[i];
  return h;
}

/** y + x, element-wise. */
export function add(x: ArrayLike<number>, y: ArrayLike<number>): Float32Array {
  const out = new Float32Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i] + x[i];
  return out;
}

/** Y[r, :] + b for the rows of a row-major [rows, d] matrix. */
export function addBias(Y: ArrayLike<number>, b: ArrayLike<number>, d: number, rows: number): Float32Array {
  const out = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) out[r * d + j] = Y[r * d + j] + b[j];
  return out;
}

/** Softmax of each row of a row-major [rows, n] matrix (max subtracted; NaN poisons a row). */
export function softmax(X: ArrayLike<number>, n: number, rows: number): Float32Array {
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < n; j++) m = Math.max(m, X[r * n + j]);
    let s = 0;
    const e = new Float64Array(n);
    for (let j = 0; j < n; j++) { e[j] = Math.exp(X[r * n + j] - m); s += e[j]; }
    for (let j = 0; j < n; j++) out[r * n + j] = e[j] / s;
  }
  return out;
}
