/**
 * Conversions between f32 and the 16-bit float storage formats (IEEE half "f16" and bfloat16) on
 * the Wasm kernels. Widening is exact. Narrowing rounds to nearest, ties to even; infinities stay
 * infinite, f16 subnormals are produced exactly, and NaN stays NaN with its sign and top payload
 * bits and the quiet bit set (what x86 F16C, numpy and torch do). Elementwise, so any thread split
 * gives the same bits.
 */
import type { DType, WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import { checkArray, checkDisjoint } from "./dense.js";

/** Element grain of the conversions (a multiple of the 8-lane vector step). */
export const CONVERT_GRAIN = 4096;

async function convert(rt: Runtime, name: string, src: WasmRef, srcKind: DType, dst: WasmRef, dstKind: DType): Promise<void> {
  checkArray("src", src, srcKind, 0, "the source");
  const n = src.length;
  checkArray("dst", dst, dstKind, n, `${n} source elements`);
  checkDisjoint("dst", dst, n, "src", src, n);
  return rt.run(name, [src.ptr, dst.ptr], n, CONVERT_GRAIN, n);
}

/** dst[i] = f16 bits src[i] as f32, for every element of `src` (dst may be longer). */
export function f16ToF32(rt: Runtime, src: WasmRef<"u16">, dst: WasmRef<"f32">): Promise<void> {
  return convert(rt, "f16_to_f32", src, "u16", dst, "f32");
}

/** dst[i] = bf16 bits src[i] as f32, for every element of `src` (dst may be longer). */
export function bf16ToF32(rt: Runtime, src: WasmRef<"u16">, dst: WasmRef<"f32">): Promise<void> {
  return convert(rt, "bf16_to_f32", src, "u16", dst, "f32");
}

/** dst[i] = src[i] rounded to f16 bits, for every element of `src` (dst may be longer). */
export function f32ToF16(rt: Runtime, src: WasmRef<"f32">, dst: WasmRef<"u16">): Promise<void> {
  return convert(rt, "f32_to_f16", src, "f32", dst, "u16");
}

/** dst[i] = src[i] rounded to bf16 bits, for every element of `src` (dst may be longer). */
export function f32ToBf16(rt: Runtime, src: WasmRef<"f32">, dst: WasmRef<"u16">): Promise<void> {
  return convert(rt, "f32_to_bf16", src, "f32", dst, "u16");
}
