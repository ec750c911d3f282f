/**
 * Dense f32 matrix-vector and matrix-matrix products on the Wasm kernels, and the memory read
 * ceiling the benchmarks compare them with.
 *
 * Every output of `gemv` and `gemm` follows one fixed arithmetic (k in blocks of 1024, one f32x4
 * chain per block, blocks summed in order, leftover `dIn % 4` products last), so results are
 * bit-identical for any thread count, for any `T`, and between `gemv` and `gemm` for the same token
 * (within one build: the relaxed-SIMD build fuses multiply-adds, the plain build does not).
 */
import { ArgumentError } from "../errors.js";
import type { DType, WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";

/** Row grain of gemv: the kernel's 8-row group (a group shares x loads and runs 8 memory streams). */
export const GEMV_GRAIN = 8;
/** Row grain of gemm: the kernel's 4-row register tile. */
export const GEMM_GRAIN = 4;
/**
 * gemm runs k-blocks outermost, on per-thread packed copies of X's blocks and W's panels, from
 * this many tokens when X is larger than {@link GEMM_X_FIT}; otherwise rows outermost, streaming W
 * once in long runs. Packing a 4-row panel pays off only over many tokens: at T = 8 on 4096x11008
 * the k-outer order ran 1.5x slower, and at T = 16 no faster.
 */
const GEMM_KOUTER_T = 32;
/**
 * Bytes of X (half of this machine's 512 KiB L2) above which the row-outer order would re-read X
 * from L3 for every 4-row tile (64 tokens x 2048 inputs ran 10-15% slower that way).
 */
const GEMM_X_FIT = 256 * 1024;
/** Bytes of that per-thread scratch: X's block (64 tokens x 1024 inputs), then 4 packed rows x 1024. */
const GEMM_XBLOCK_BYTES = 64 * 1024 * 4 + 4 * 1024 * 4;
/** Floats per work unit of `readSum` (64 KiB). */
export const READ_CHUNK = 16384;
/** Steps of 8 multiply-add chains per work unit of `fmaPeak`. */
export const FMA_PEAK_STEPS = 65536;

const BYTES: Record<DType, number> = { f32: 4, f64: 8, u8: 1, u16: 2, u32: 4, i32: 4 };

/** @internal Throws ArgumentError unless `n` is a positive integer that fits the kernels' i32. */
export function checkDim(arg: string, n: number): void {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 0x7fffffff) {
    throw new ArgumentError(arg, `must be a positive integer, got ${String(n)}`);
  }
}

/** @internal Throws ArgumentError unless `ref` is a WasmRef of `kind` with at least `n` elements. */
export function checkArray(arg: string, ref: WasmRef, kind: DType, n: number, shape: string): void {
  if (!ref || typeof ref !== "object" || typeof ref.ptr !== "number" || typeof ref.length !== "number") {
    throw new ArgumentError(arg, "must be a WasmArray or WasmRef");
  }
  if (ref.kind !== kind) throw new ArgumentError(arg, `must hold ${kind}, got ${String(ref.kind)}`);
  if (ref.length < n) throw new ArgumentError(arg, `needs ${n} elements for ${shape}, has ${ref.length}`);
}

/**
 * @internal Throws ArgumentError(`outArg`) if the first `outN` elements of `out` overlap the first
 * `inN` elements of `input`: threads would read what others already overwrote.
 */
export function checkDisjoint(outArg: string, out: WasmRef, outN: number, inArg: string, input: WasmRef, inN: number): void {
  const a0 = out.ptr, a1 = out.ptr + outN * BYTES[out.kind];
  const b0 = input.ptr, b1 = input.ptr + inN * BYTES[input.kind];
  if (a0 < b1 && b0 < a1) throw new ArgumentError(outArg, `must not overlap ${inArg}`);
}

/**
 * y = W x. `W` is row-major [dOut, dIn], `x` has dIn elements, `y` dOut (longer arrays are fine:
 * the extra elements are ignored). Threads split the rows in multiples of {@link GEMV_GRAIN}.
 */
export async function gemv(
  rt: Runtime, W: WasmRef<"f32">, x: WasmRef<"f32">, y: WasmRef<"f32">, dOut: number, dIn: number,
): Promise<void> {
  checkDim("dOut", dOut);
  checkDim("dIn", dIn);
  checkArray("W", W, "f32", dOut * dIn, `[${dOut}, ${dIn}]`);
  checkArray("x", x, "f32", dIn, `[${dIn}]`);
  checkArray("y", y, "f32", dOut, `[${dOut}]`);
  checkDisjoint("y", y, dOut, "W", W, dOut * dIn);
  checkDisjoint("y", y, dOut, "x", x, dIn);
  return rt.run("gemv_f32", [W.ptr, x.ptr, y.ptr, dIn], dOut, GEMV_GRAIN, dOut * dIn);
}

/**
 * Y[t] = W X[t] for t < T: `W` row-major [dOut, dIn], `X` [T, dIn] and `Y` [T, dOut] token-major.
 * Threads split the rows in multiples of {@link GEMM_GRAIN}. Y[t] is bit-identical to
 * `gemv(W, X[t])`; T = 1 runs the GEMV kernel.
 */
export async function gemm(
  rt: Runtime, W: WasmRef<"f32">, X: WasmRef<"f32">, Y: WasmRef<"f32">, dOut: number, dIn: number, T: number,
): Promise<void> {
  checkDim("dOut", dOut);
  checkDim("dIn", dIn);
  checkDim("T", T);
  checkArray("W", W, "f32", dOut * dIn, `[${dOut}, ${dIn}]`);
  checkArray("X", X, "f32", T * dIn, `[${T}, ${dIn}]`);
  checkArray("Y", Y, "f32", T * dOut, `[${T}, ${dOut}]`);
  checkDisjoint("Y", Y, T * dOut, "W", W, dOut * dIn);
  checkDisjoint("Y", Y, T * dOut, "X", X, T * dIn);
  if (T === 1) {
    return rt.run("gemv_f32", [W.ptr, X.ptr, Y.ptr, dIn], dOut, GEMV_GRAIN, dOut * dIn);
  }
  const work = dOut * dIn * T;
  if (T < GEMM_KOUTER_T || T * dIn * 4 <= GEMM_X_FIT) return rt.run("gemm_f32", [W.ptr, X.ptr, Y.ptr, dOut, dIn, T, 0, 0], dOut, GEMM_GRAIN, work);
  const scratch = rt.heap.allocBytes(GEMM_XBLOCK_BYTES * rt.threads);
  try {
    await rt.run("gemm_f32", [W.ptr, X.ptr, Y.ptr, dOut, dIn, T, scratch, GEMM_XBLOCK_BYTES], dOut, GEMM_GRAIN, work);
  } finally {
    rt.heap.release(scratch);
  }
}

/**
 * Reads every element of `src`: the memory read ceiling for benchmarks. Thread `tid` stores the f32
 * sum of what it read in `out[tid]` (so `out` needs at least `rt.threads` elements; the split, and
 * so the rounding of the partial sums, depends on the thread count).
 */
export async function readSum(rt: Runtime, src: WasmRef<"f32">, out: WasmRef<"f32">): Promise<void> {
  checkArray("src", src, "f32", 1, "a non-empty buffer");
  checkArray("out", out, "f32", rt.threads, `${rt.threads} threads`);
  checkDisjoint("out", out, rt.threads, "src", src, src.length);
  out.view().fill(0, 0, rt.threads);
  await rt.run("read_sum_f32", [src.ptr, src.length, out.ptr], Math.ceil(src.length / READ_CHUNK), 1);
}

/**
 * Runs `units` x {@link FMA_PEAK_STEPS} steps of 8 independent f32x4 multiply-add chains held in
 * registers (`a = a * 0.5 + 0.5` from 1, so every lane stays exactly 1): the arithmetic ceiling for
 * benchmarks, in the build this runtime runs (fused multiply-add in the relaxed build). Thread
 * `tid` stores its lanes' sum (32) in `out[tid]`. Returns the floating-point operations done
 * (2 per lane per multiply-add).
 */
export async function fmaPeak(rt: Runtime, out: WasmRef<"f32">, units: number): Promise<number> {
  checkDim("units", units);
  checkArray("out", out, "f32", rt.threads, `${rt.threads} threads`);
  out.view().fill(0, 0, rt.threads);
  await rt.run("fma_peak_f32", [FMA_PEAK_STEPS, 0.5, 0.5, out.ptr], units, 1, units * FMA_PEAK_STEPS * 32);
  return units * FMA_PEAK_STEPS * 8 * 4 * 2;
}
