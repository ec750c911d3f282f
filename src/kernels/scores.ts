/**
 * Pruning scores on the Wasm kernels: magnitude `|W|`, and `|W| * f` with one factor per row or
 * per column, `f = v^p` from non-negative statistics `v` (Wanda: `sqrt(s_j)` per input column,
 * p = 0.5; DaSS gate/up: `a_k^(alpha/2)` per output row; DaSS down: `sqrt(a_k)` per column).
 * The factors are computed in f64 and rounded to f32 once, so each score is one correctly
 * rounded f32 product and the kernels, the reference and every build agree bit for bit.
 * SparseGPT's `W^2 / U_jj^2` is computed by the pruning code; the selection kernels take any
 * non-negative f32 scores.
 */
import { ArgumentError } from "../errors.js";
import type { DType, WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";

/** Statistics: plain numbers (e.g. the f64 accumulator) or a vector in Wasm memory. */
export type ScoreStats = ArrayLike<number> | WasmRef<"f32"> | WasmRef<"f64">;

/** Which dimension a factor vector runs along: one factor per row (`f[r]`) or per column (`f[c]`). */
export type ScoreAxis = "row" | "col";

/** Chunk of the one-dimensional magnitude kernel (multiple of 16 lanes). */
const CHUNK = 8192;

/**
 * The factor vector `f[i] = fround(v[i]^p)`, computed in f64: `sqrt` for p = 0.5,
 * `sqrt(sqrt(v))` for p = 0.25 (correctly rounded steps instead of `pow`), `v` for p = 1, 1 for
 * p = 0, `Math.pow` otherwise. Throws ArgumentError(`arg`) for a negative or non-finite statistic
 * (naming its index), a negative or non-finite p, or a factor that overflows f32.
 */
export function scaleFactors(stats: ScoreStats, p: number, arg = "stats"): Float32Array {
  if (typeof p !== "number" || !Number.isFinite(p) || p < 0) throw new ArgumentError("p", `must be a finite number >= 0, got ${p}`);
  const v = isWasmRef(stats) ? stats.view() : stats;
  const f = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (!(x >= 0) || x === Infinity) throw new ArgumentError(arg, `${arg}[${i}] = ${x}: statistics must be finite and >= 0`);
    const y = factor(Math.abs(x), p);
    f[i] = y;
    if (!Number.isFinite(f[i])) throw new ArgumentError(arg, `${arg}[${i}] = ${x}: ${x}^${p} overflows f32`);
  }
  return f;
}

function factor(x: number, p: number): number {
  if (p === 0.5) return Math.sqrt(x);
  if (p === 0.25) return Math.sqrt(Math.sqrt(x));
  if (p === 1) return x;
  if (p === 0) return 1;
  return Math.pow(x, p);
}

/**
 * S[i] = |W[i]| for i < n (magnitude score). S may be W itself (in place) but must not partly
 * overlap it. Throws ArgumentError("W") if W holds NaN or ±Inf (S is then unspecified).
 */
export async function scoreMagnitude(rt: Runtime, W: WasmRef<"f32">, S: WasmRef<"f32">, n: number): Promise<void> {
  checkCount("n", n);
  checkRef("W", W, "f32", n);
  checkRef("S", S, "f32", n);
  checkAlias("S", S, "W", W, n * 4);
  if (n === 0) return;
  const units = Math.ceil(n / CHUNK);
  await withFlags(rt, (bad) => rt.run("score_abs_f32", [W.ptr, S.ptr, n, CHUNK, bad], units, 1, n), () => nonFinite(W, 1, n));
}

/**
 * S[r, c] = |W[r, c]| * f, with f = v^p (see scaleFactors) taken per row (`axis = "row"`, f[r],
 * `stats` has `rows` entries) or per column (`axis = "col"`, f[c], `cols` entries). W and S are
 * row-major [rows, cols]; S may be W itself. Throws ArgumentError naming W, stats, p, axis or a
 * shape argument. A product that overflows f32 gives +Inf, which selection accepts.
 */
export async function scoreScaled(
  rt: Runtime, W: WasmRef<"f32">, stats: ScoreStats, p: number, axis: ScoreAxis, rows: number, cols: number, S: WasmRef<"f32">,
): Promise<void> {
  checkShape(rows, cols);
  checkAxis(axis);
  const want = axis === "row" ? rows : cols;
  if (stats == null || typeof stats.length !== "number") throw new ArgumentError("stats", "must be an array of numbers or a WasmRef");
  if (stats.length !== want) {
    throw new ArgumentError("stats", `needs ${want} entries (one per ${axis === "row" ? "row" : "column"}), has ${stats.length}`);
  }
  const f = scaleFactors(stats, p);
  const fw = rt.heap.from("f32", f);
  try {
    await runScaled(rt, W, fw, axis, rows, cols, S);
  } finally {
    fw.free();
  }
}

/**
 * Like scoreScaled, with the f32 factors already in Wasm memory (`factors` has `rows` entries
 * for axis "row", `cols` for "col"; each finite and >= 0, else ArgumentError("factors")).
 */
export async function scoreWithFactors(
  rt: Runtime, W: WasmRef<"f32">, factors: WasmRef<"f32">, axis: ScoreAxis, rows: number, cols: number, S: WasmRef<"f32">,
): Promise<void> {
  checkShape(rows, cols);
  checkAxis(axis);
  const want = axis === "row" ? rows : cols;
  checkRef("factors", factors, "f32", want);
  const fv = factors.view();
  for (let i = 0; i < want; i++) {
    if (!(fv[i] >= 0) || fv[i] === Infinity) throw new ArgumentError("factors", `factors[${i}] = ${fv[i]}: must be finite and >= 0`);
  }
  await runScaled(rt, W, factors, axis, rows, cols, S);
}

async function runScaled(
  rt: Runtime, W: WasmRef<"f32">, f: WasmRef<"f32">, axis: ScoreAxis, rows: number, cols: number, S: WasmRef<"f32">,
): Promise<void> {
  const n = rows * cols;
  checkRef("W", W, "f32", n);
  checkRef("S", S, "f32", n);
  checkAlias("S", S, "W", W, n * 4);
  if (n === 0) return;
  const name = axis === "row" ? "score_scaled_row_f32" : "score_scaled_col_f32";
  await withFlags(rt, (bad) => rt.run(name, [W.ptr, f.ptr, S.ptr, cols, bad], rows, 1, n), () => nonFinite(W, cols, n));
}

/** Runs `job` with zeroed per-thread flags; throws `error()` if any thread set its flag. */
async function withFlags(rt: Runtime, job: (bad: number) => Promise<void>, error: () => Error): Promise<void> {
  const flags = rt.heap.alloc("u32", rt.threads);
  try {
    await job(flags.ptr);
    if (flags.view().some((x) => x !== 0)) throw error();
  } finally {
    flags.free();
  }
}

function nonFinite(W: WasmRef<"f32">, cols: number, n: number): ArgumentError {
  const v = W.view();
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(v[i])) {
      const at = cols > 1 ? `[${Math.floor(i / cols)}, ${i % cols}]` : `[${i}]`;
      return new ArgumentError("W", `W${at} = ${v[i]}: weights must be finite`);
    }
  }
  return new ArgumentError("W", "weights must be finite");
}

function isWasmRef(x: ScoreStats): x is WasmRef<"f32"> | WasmRef<"f64"> {
  return typeof (x as WasmRef).ptr === "number" && typeof (x as WasmRef).view === "function";
}

function checkAxis(axis: string): void {
  if (axis !== "row" && axis !== "col") throw new ArgumentError("axis", `must be "row" or "col", got ${String(axis)}`);
}

function checkShape(rows: number, cols: number): void {
  checkCount("rows", rows);
  checkCount("cols", cols);
}

function checkCount(arg: string, n: number): void {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new ArgumentError(arg, `must be a non-negative integer, got ${n}`);
  }
}

function checkRef(arg: string, ref: WasmRef, kind: DType, n: number): void {
  if (!ref || typeof ref.ptr !== "number" || typeof ref.length !== "number") throw new ArgumentError(arg, "must be a WasmArray or WasmRef");
  if (ref.kind !== kind) throw new ArgumentError(arg, `must hold ${kind}, got ${ref.kind}`);
  if (ref.length < n) throw new ArgumentError(arg, `needs ${n} elements, has ${ref.length}`);
}

/** Output `a` may coincide with input `b` (in place) but must not partly overlap it. */
function checkAlias(aArg: string, a: WasmRef, bArg: string, b: WasmRef, bytes: number): void {
  if (a.ptr === b.ptr || bytes === 0) return;
  if (a.ptr < b.ptr + bytes && b.ptr < a.ptr + bytes) throw new ArgumentError(aArg, `partly overlaps ${bArg}`);
}
