/**
 * Row permutation of q/k projections between RoPE layouts. Meta/llama2.c/GGUF-llama rotate adjacent pairs
 * (2i, 2i+1); Hugging Face rotates (i, i + headDim/2). Reordering each head's rows turns one model into the
 * other exactly (it is a relabelling of the head's dimensions, and q·k is invariant under it).
 */
import { ArgumentError } from "../errors.js";

/** Which way to convert. */
export type PermuteDirection = "adjacent-to-half" | "half-to-adjacent";

/**
 * Source row (within one head) of each destination row.
 * adjacent->half: new rows are the old [0, 2, 4, ..., 1, 3, 5, ...] (HF's convert_llama_weights `permute`).
 * half->adjacent: the inverse (llama.cpp's convert_hf_to_gguf `permute`).
 */
export function ropeRowOrder(headDim: number, direction: PermuteDirection): Int32Array {
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) throw new ArgumentError("headDim", `must be a positive even integer, got ${headDim}`);
  const half = headDim / 2;
  const order = new Int32Array(headDim);
  for (let j = 0; j < 2; j++) {
    for (let i = 0; i < half; i++) {
      // Half-layout row j*half+i holds adjacent-layout row 2i+j.
      if (direction === "adjacent-to-half") order[j * half + i] = 2 * i + j;
      else order[2 * i + j] = j * half + i;
    }
  }
  if (direction !== "adjacent-to-half" && direction !== "half-to-adjacent") throw new ArgumentError("direction", `unknown direction ${String(direction)}`);
  return order;
}

/**
 * Permutes the rows of a q or k projection (`[nHeads*headDim, cols]`, row-major) or of its bias (cols = 1)
 * between RoPE layouts. Works on f32 values or on 16-bit storage (f16/bf16 bit patterns) alike; returns a new
 * array of the same type.
 */
export function permuteQK<T extends Float32Array | Uint16Array>(w: T, nHeads: number, headDim: number, direction: PermuteDirection): T {
  if (!Number.isInteger(nHeads) || nHeads < 1) throw new ArgumentError("nHeads", `must be a positive integer, got ${nHeads}`);
  const order = ropeRowOrder(headDim, direction);
  const rows = nHeads * headDim;
  if (w.length % rows !== 0 || w.length === 0) throw new ArgumentError("w", `length ${w.length} is not a multiple of nHeads*headDim = ${rows}`);
  const cols = w.length / rows;
  const out = new (w.constructor as { new (n: number): T })(w.length);
  for (let h = 0; h < nHeads; h++) {
    const base = h * headDim;
    for (let r = 0; r < headDim; r++) {
      const src = (base + order[r]) * cols;
      out.set(w.subarray(src, src + cols), (base + r) * cols);
    }
  }
  return out;
}
