/**
 * Plain TypeScript reference of mask selection (docs/methods.md, "Scores and masks" and "N:M with
 * a length that M does not divide"): every comparison group is listed in its own order, sorted
 * by score with a stable sort (so equal scores keep group order), and its first k are pruned.
 * Mask bytes: 1 = pruned, 0 = kept. Deliberately slow and obvious.
 */
import { ArgumentError } from "../errors.js";
import type { MaskSpec, NMAxis } from "../kernels/masks.js";

/**
 * The mask of scores S [rows, cols] (row-major) for `spec`. For a column block only columns
 * [c0, c1) are written (into `out` if given, else into a fresh zeroed array).
 */
export function selectMask(S: ArrayLike<number>, rows: number, cols: number, spec: MaskSpec, out?: Uint8Array): Uint8Array {
  const mask = out ?? new Uint8Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) {
    if (!(S[i] >= 0)) throw new ArgumentError("S", `S[${Math.floor(i / cols)}, ${i % cols}] = ${S[i]}: scores must be >= 0 and not NaN`);
  }
  const prune = (group: number[], k: number): void => {
    // Array.prototype.sort is stable: ties stay in group order, so lower positions come first.
    const sorted = group.slice().sort((a, b) => (S[a] < S[b] ? -1 : S[a] > S[b] ? 1 : 0));
    for (const i of group) mask[i] = 0;
    for (let j = 0; j < k; j++) mask[sorted[j]] = 1;
  };
  const amount = (size: number): number => {
    const u = spec as { count?: number; sparsity?: number };
    return u.count !== undefined ? u.count : Math.floor((u.sparsity as number) * size);
  };
  const range = (a: number, b: number, f: (i: number) => number): number[] => {
    const g: number[] = [];
    for (let i = a; i < b; i++) g.push(f(i));
    return g;
  };

  if ("nm" in spec && spec.nm) {
    const { n, m } = spec.nm;
    const along = spec.axis === "input" ? cols : rows;
    const lines = spec.axis === "input" ? rows : cols;
    for (let line = 0; line < lines; line++) {
      for (let start = 0; start < along; start += m) {
        const len = Math.min(m, along - start);
        const np = Math.floor((n * len) / m);
        const g = spec.axis === "input"
          ? range(start, start + len, (c) => line * cols + c)
          : range(start, start + len, (r) => r * cols + line);
        prune(g, np);
      }
    }
    return mask;
  }
  const u = spec as Exclude<MaskSpec, { nm: unknown }>;
  switch (u.group) {
    case "row":
      for (let r = 0; r < rows; r++) prune(range(0, cols, (c) => r * cols + c), amount(cols));
      break;
    case "col":
      for (let c = 0; c < cols; c++) prune(range(0, rows, (r) => r * cols + c), amount(rows));
      break;
    case "matrix":
      prune(range(0, rows * cols, (i) => i), amount(rows * cols));
      break;
    case "colblock": {
      const w = u.c1 - u.c0;
      prune(range(0, rows * w, (i) => Math.floor(i / w) * cols + u.c0 + (i % w)), amount(rows * w));
      break;
    }
  }
  return mask;
}

/** A copy of W with the pruned (mask != 0) entries set to +0. */
export function applyMask(W: ArrayLike<number>, mask: ArrayLike<number>): Float32Array {
  const out = Float32Array.from(W);
  for (let i = 0; i < out.length; i++) if (mask[i] !== 0) out[i] = 0;
  return out;
}

/** How many entries are zero (either sign). */
export function countZeros(W: ArrayLike<number>): number {
  let c = 0;
  for (let i = 0; i < W.length; i++) if (W[i] === 0) c++;
  return c;
}

/**
 * How many N:M groups of W [rows, cols] along `axis` hold fewer zeros than the pattern prunes
 * (n, or floor(n * r / m) for a trailing partial group of r).
 */
export function checkNM(W: ArrayLike<number>, rows: number, cols: number, n: number, m: number, axis: NMAxis): number {
  const along = axis === "input" ? cols : rows;
  const lines = axis === "input" ? rows : cols;
  let bad = 0;
  for (let line = 0; line < lines; line++) {
    for (let start = 0; start < along; start += m) {
      const len = Math.min(m, along - start);
      let zeros = 0;
      for (let j = start; j < start + len; j++) {
        const i = axis === "input" ? line * cols + j : j * cols + line;
        if (W[i] === 0) zeros++;
      }
      if (zeros < Math.floor((n * len) / m)) bad++;
    }
  }
  return bad;
}
