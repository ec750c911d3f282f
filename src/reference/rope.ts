/** Reference RoPE: pair rotation written out per layout, angles computed as llama2.c/HF do (f32). */

/**
 * Rotates, out of place, the first nHeads heads of each row of X ([rows, rowStride]) with row r at
 * position pos[r].
 */
export function rope(
  X: ArrayLike<number>, rows: number, rowStride: number, nHeads: number, headDim: number,
  pos: ArrayLike<number>, theta: number, layout: "adjacent" | "half",
): Float32Array {
  const f = Math.fround;
  const out = Float32Array.from(X);
  const half = headDim / 2;
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < nHeads; h++) {
      const base = r * rowStride + h * headDim;
      for (let i = 0; i < half; i++) {
        const freq = f(1 / f(Math.pow(f(theta), f(f(2 * i) / headDim))));
        const a = f(pos[r] * freq);
        const c = Math.fround(Math.cos(a)), s = Math.fround(Math.sin(a));
        const [j0, j1] = layout === "adjacent" ? [base + 2 * i, base + 2 * i + 1] : [base + i, base + i + half];
        const v0 = X[j0], v1 = X[j1];
        out[j0] = v0 * c - v1 * s;
        out[j1] = v0 * s + v1 * c;
      }
    }
  }
  return out;
}
