/**
 * Plain TypeScript reference of the pruning scores (docs/methods.md, "Scores and masks"):
 * straightforward loops, used by tests and by anyone who wants to check the kernels. Scores are
 * f32 (`Math.fround` of the exact product of two f32 values, which is what an f32 multiply gives).
 */
import { ArgumentError } from "../errors.js";

/**
 * Factors `fround(v[i]^p)` computed in f64: sqrt for p = 0.5, sqrt(sqrt(v)) for p = 0.25, v for
 * p = 1, 1 for p = 0, Math.pow otherwise. Statistics must be finite and >= 0.
 */
export function scaleFactors(stats: ArrayLike<number>, p: number): Float32Array {
  if (!Number.isFinite(p) || p < 0) throw new ArgumentError("p", `must be a finite number >= 0, got ${p}`);
  const f = new Float32Array(stats.length);
  for (let i = 0; i < stats.length; i++) {
    const v = stats[i];
    if (!(v >= 0) || !Number.isFinite(v)) throw new ArgumentError("stats", `stats[${i}] = ${v}: statistics must be finite and >= 0`);
    const x = Math.abs(v);
    let y: number;
    if (p === 0.5) y = Math.sqrt(x);
    else if (p === 0.25) y = Math.sqrt(Math.sqrt(x));
    else if (p === 1) y = x;
    else if (p === 0) y = 1;
    else y = Math.pow(x, p);
    f[i] = y;
    if (!Number.isFinite(f[i])) throw new ArgumentError("stats", `stats[${i}] = ${v}: ${v}^${p} overflows f32`);
  }
  return f;
}

/** |W| as f32. Throws ArgumentError("W") for NaN/Inf. */
export function scoreMagnitude(W: ArrayLike<number>): Float32Array {
  const S = new Float32Array(W.length);
  for (let i = 0; i < W.length; i++) {
    if (!Number.isFinite(W[i])) throw new ArgumentError("W", `W[${i}] = ${W[i]}: weights must be finite`);
    S[i] = Math.abs(W[i]);
  }
  return S;
}

/**
 * S[r, c] = fround(|W[r, c]| * f) with f = scaleFactors(stats, p) taken per row (axis "row",
 * stats has `rows` entries) or per column (axis "col", `cols` entries).
 */
export function scoreScaled(
  W: ArrayLike<number>, stats: ArrayLike<number>, p: number, axis: "row" | "col", rows: number, cols: number,
): Float32Array {
  if (stats.length !== (axis === "row" ? rows : cols)) throw new ArgumentError("stats", "wrong length");
  const f = scaleFactors(stats, p);
  const S = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const w = W[r * cols + c];
      if (!Number.isFinite(w)) throw new ArgumentError("W", `W[${r}, ${c}] = ${w}: weights must be finite`);
      S[r * cols + c] = Math.fround(Math.abs(Math.fround(w)) * (axis === "row" ? f[r] : f[c]));
    }
  }
  return S;
}
