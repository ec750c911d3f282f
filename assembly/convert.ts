// Storage conversions between f32 and the 16-bit float formats, over elements [r0, r1).
// Rounding to 16 bits is to nearest, ties to even; NaN stays NaN with its sign and top payload bits
// and the quiet bit set (as x86 F16C and numpy/torch do); infinities stay infinite; f16 subnormals
// are exact both ways. The vector and scalar paths compute the same bits, so a split never shows.

// ---- f16 -> f32 ------------------------------------------------------------------------------
// Placing the 15 magnitude bits at bit 13 gives an f32 with the f16 exponent unbiased by 112;
// multiplying by 2^112 rebiases normals and turns f16 subnormals (then f32 subnormals) into the
// exact normal value. Exponent 31 (Inf/NaN) instead gets the f32 all-ones exponent.
const F16_REBIAS: u32 = 0x77800000; // 2^112

// @ts-ignore: decorator
@inline export function f16BitsToF32(h: u32): f32 {
  const em = h & 0x7fff;
  const bits = em >= 0x7c00
    ? (em << 13) | 0x7f800000
    : reinterpret<u32>(reinterpret<f32>(em << 13) * reinterpret<f32>(F16_REBIAS));
  return reinterpret<f32>(bits | ((h & 0x8000) << 16));
}

// @ts-ignore: decorator
@inline function f16x4ToF32(h: v128): v128 {
  const em = v128.and(h, i32x4.splat(0x7fff));
  const sh = i32x4.shl(em, 13);
  const fin = f32x4.mul(sh, i32x4.splat(F16_REBIAS));
  const inf = v128.or(sh, i32x4.splat(0x7f800000));
  const r = v128.bitselect(inf, fin, i32x4.gt_s(em, i32x4.splat(0x7bff)));
  return v128.or(r, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

export function f16_to_f32(src: usize, dst: usize, r0: i32, r1: i32): void {
  let i = r0;
  for (; i + 8 <= r1; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    const d = dst + (<usize>i << 2);
    v128.store(d, f16x4ToF32(i32x4.extend_low_i16x8_u(h)));
    v128.store(d, f16x4ToF32(i32x4.extend_high_i16x8_u(h)), 16);
  }
  for (; i < r1; i++) store<f32>(dst + (<usize>i << 2), f16BitsToF32(<u32>load<u16>(src + (<usize>i << 1))));
}

// ---- bf16 -> f32: the top half of an f32 -------------------------------------------------------
export function bf16_to_f32(src: usize, dst: usize, r0: i32, r1: i32): void {
  let i = r0;
  for (; i + 8 <= r1; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    const d = dst + (<usize>i << 2);
    v128.store(d, i32x4.shl(i32x4.extend_low_i16x8_u(h), 16));
    v128.store(d, i32x4.shl(i32x4.extend_high_i16x8_u(h), 16), 16);
  }
  for (; i < r1; i++) store<u32>(dst + (<usize>i << 2), <u32>load<u16>(src + (<usize>i << 1)) << 16);
}

// ---- f32 -> f16 ----------------------------------------------------------------------------------
// With a = |x| as bits: a >= 2^16 (65536.0) overflows to Inf (or is Inf/NaN); a < 2^-14 is an f16
// subnormal, rounded by the f32 adder itself when 0.5 is added (its ulp is 2^-24, the f16 subnormal
// step); otherwise rebias the exponent and round the 13 dropped bits half to even.
const F16_OVERFLOW: u32 = 0x47800000; // 65536.0
const F16_MIN_NORMAL: u32 = 0x38800000; // 2^-14
const HALF: u32 = 0x3f000000; // 0.5

// @ts-ignore: decorator
@inline function f32ToF16Bits(x: u32): u32 {
  const a = x & 0x7fffffff;
  let r: u32;
  if (a >= F16_OVERFLOW) r = a > 0x7f800000 ? 0x7e00 | ((a >> 13) & 0x3ff) : 0x7c00;
  else if (a < F16_MIN_NORMAL) r = reinterpret<u32>(reinterpret<f32>(a) + reinterpret<f32>(HALF)) - HALF;
  else r = (a - 0x38000000 + 0xfff + ((a >> 13) & 1)) >> 13;
  return r | ((x >> 16) & 0x8000);
}

// @ts-ignore: decorator
@inline function f32x4ToF16(x: v128): v128 {
  const a = v128.and(x, i32x4.splat(0x7fffffff));
  const nan = v128.or(i32x4.splat(0x7e00), v128.and(i32x4.shr_u(a, 13), i32x4.splat(0x3ff)));
  const big = v128.bitselect(nan, i32x4.splat(0x7c00), i32x4.gt_s(a, i32x4.splat(0x7f800000)));
  const sub = i32x4.sub(f32x4.add(a, i32x4.splat(HALF)), i32x4.splat(HALF));
  const odd = v128.and(i32x4.shr_u(a, 13), i32x4.splat(1));
  const nrm = i32x4.shr_u(i32x4.add(i32x4.add(a, i32x4.splat(<i32>0xc8000fff)), odd), 13);
  let r = v128.bitselect(sub, nrm, i32x4.lt_s(a, i32x4.splat(F16_MIN_NORMAL)));
  r = v128.bitselect(big, r, i32x4.gt_s(a, i32x4.splat(F16_OVERFLOW - 1)));
  return v128.or(r, v128.and(i32x4.shr_u(x, 16), i32x4.splat(0x8000)));
}

export function f32_to_f16(src: usize, dst: usize, r0: i32, r1: i32): void {
  let i = r0;
  for (; i + 8 <= r1; i += 8) {
    const s = src + (<usize>i << 2);
    const lo = f32x4ToF16(v128.load(s)), hi = f32x4ToF16(v128.load(s, 16));
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(lo, hi));
  }
  for (; i < r1; i++) store<u16>(dst + (<usize>i << 1), <u16>f32ToF16Bits(load<u32>(src + (<usize>i << 2))));
}

// ---- f32 -> bf16 ---------------------------------------------------------------------------------
// Round the low 16 bits half to even (a carry into the exponent is the correct rounding, up to Inf);
// NaN keeps its top bits with the quiet bit set instead of possibly rounding into Inf.
// @ts-ignore: decorator
@inline function f32ToBf16Bits(x: u32): u32 {
  if ((x & 0x7fffffff) > 0x7f800000) return (x >> 16) | 0x40;
  return (x + 0x7fff + ((x >> 16) & 1)) >> 16;
}

// @ts-ignore: decorator
@inline function f32x4ToBf16(x: v128): v128 {
  const hi = i32x4.shr_u(x, 16);
  const r = i32x4.shr_u(i32x4.add(i32x4.add(x, i32x4.splat(0x7fff)), v128.and(hi, i32x4.splat(1))), 16);
  const nan = i32x4.gt_s(v128.and(x, i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000));
  return v128.bitselect(v128.or(hi, i32x4.splat(0x40)), r, nan);
}

export function f32_to_bf16(src: usize, dst: usize, r0: i32, r1: i32): void {
  let i = r0;
  for (; i + 8 <= r1; i += 8) {
    const s = src + (<usize>i << 2);
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(f32x4ToBf16(v128.load(s)), f32x4ToBf16(v128.load(s, 16))));
  }
  for (; i < r1; i++) store<u16>(dst + (<usize>i << 1), <u16>f32ToBf16Bits(load<u32>(src + (<usize>i << 2))));
}
