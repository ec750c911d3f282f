/**
 * Sparsity patterns: unstructured (a fraction of weights) or N:M (N of every M consecutive
 * weights pruned), and the pruned counts the spec (docs/methods.md) prescribes.
 */
import { ArgumentError } from "../errors.js";

/** Largest M an N:M pattern may use (a group's mask fits in 32 bits). */
export const MAX_NM_M = 32;

/**
 * A sparsity pattern. `unstructured`: a fraction `sparsity` in (0, 1) of each comparison group
 * is pruned. `nm`: in every group of `m` consecutive weights exactly `n` are pruned (so 2:4 keeps
 * 2 of 4); 1 <= n < m <= 32.
 */
export type Pattern =
  | { kind: "unstructured"; sparsity: number }
  | { kind: "nm"; n: number; m: number };

const DECIMAL = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parses a pattern as written on the command line: `"0.5"` (unstructured, sparsity 0.5) or
 * `"2:4"` (N:M, n = 2 pruned of m = 4). Surrounding whitespace is ignored. Throws
 * ArgumentError("pattern", …) for anything malformed, a sparsity outside (0, 1), non-integer N or
 * M, N < 1, N >= M, or M > 32.
 */
export function parsePattern(s: string): Pattern {
  if (typeof s !== "string") throw new ArgumentError("pattern", `must be a string like "0.5" or "2:4", got ${typeof s}`);
  const t = s.trim();
  if (t.includes(":")) {
    const parts = t.split(":").map((x) => x.trim());
    if (parts.length !== 2 || !DECIMAL.test(parts[0]) || !DECIMAL.test(parts[1])) {
      throw new ArgumentError("pattern", `"${s}" is not N:M with two numbers (e.g. "2:4")`);
    }
    const n = Number(parts[0]), m = Number(parts[1]);
    return nmPattern(n, m, s);
  }
  if (!DECIMAL.test(t)) {
    throw new ArgumentError("pattern", `"${s}" is neither a sparsity in (0, 1) (e.g. "0.5") nor N:M (e.g. "2:4")`);
  }
  return unstructuredPattern(Number(t), s);
}

/** An unstructured pattern; throws ArgumentError("pattern", …) unless 0 < sparsity < 1. */
export function unstructuredPattern(sparsity: number, text: string = String(sparsity)): Pattern {
  if (typeof sparsity !== "number" || !(sparsity > 0 && sparsity < 1)) {
    throw new ArgumentError("pattern", `sparsity "${text}" must be strictly between 0 and 1`);
  }
  return { kind: "unstructured", sparsity };
}

/** An N:M pattern; throws ArgumentError("pattern", …) unless N, M are integers with 1 <= N < M <= 32. */
export function nmPattern(n: number, m: number, text: string = `${n}:${m}`): Pattern {
  validateNM("pattern", n, m, text);
  return { kind: "nm", n, m };
}

/** Throws ArgumentError(arg, …) unless n, m are integers with 1 <= n < m <= 32. */
export function validateNM(arg: string, n: number, m: number, text: string = `${n}:${m}`): void {
  if (!Number.isInteger(n) || !Number.isInteger(m)) throw new ArgumentError(arg, `"${text}": N and M must be integers`);
  if (n < 1) throw new ArgumentError(arg, `"${text}": N must be >= 1`);
  if (n >= m) throw new ArgumentError(arg, `"${text}": N (pruned per group) must be less than M`);
  if (m > MAX_NM_M) throw new ArgumentError(arg, `"${text}": M must be <= ${MAX_NM_M}`);
}

/** The pattern in the form parsePattern() reads: "2:4" or "0.5". */
export function formatPattern(p: Pattern): string {
  return p.kind === "nm" ? `${p.n}:${p.m}` : String(p.sparsity);
}

/**
 * How many of a trailing partial N:M group of `r` (< m) elements are pruned: floor(n * r / m)
 * (the spec keeps the pattern's ratio; e.g. 4:8 with a tail of 4 prunes 2). For r = m it is n.
 */
export function tailPruneCount(n: number, m: number, r: number): number {
  return Math.floor((n * r) / m);
}

/**
 * How many of a comparison group of `size` weights unstructured sparsity `s` prunes:
 * floor(s * size), evaluated in double precision exactly as written (so e.g. 0.29 * 100 gives 28).
 */
export function unstructuredPruneCount(s: number, size: number): number {
  return Math.floor(s * size);
}
