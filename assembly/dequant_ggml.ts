// ggml block-quantised weights to f32, over blocks [r0, r1): the common types of llama.cpp files
// (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K; the others are dequantised by the host). Each value is rounded as
// src/formats/ggml-quants.ts (the reference) rounds it, one f32 operation at a time and never fused,
// so both give the same bits. Block layouts are ggml's `block_*` structs (little-endian, unaligned).
import { f16BitsToF32 } from "./convert";

// Four f32 of the signed 32-bit lanes of the low or high half of 8 signed 16-bit lanes.
// @ts-ignore: decorator
@inline function i16lo(v: v128): v128 { return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(v)); }
// @ts-ignore: decorator
@inline function i16hi(v: v128): v128 { return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(v)); }

// 16 signed 8-bit lanes times s, stored as 16 f32 at y.
// @ts-ignore: decorator
@inline function store16(y: usize, q: v128, s: v128): void {
  const lo = i16x8.extend_low_i8x16_s(q), hi = i16x8.extend_high_i8x16_s(q);
  v128.store(y, f32x4.mul(i16lo(lo), s));
  v128.store(y, f32x4.mul(i16hi(lo), s), 16);
  v128.store(y, f32x4.mul(i16lo(hi), s), 32);
  v128.store(y, f32x4.mul(i16hi(hi), s), 48);
}

// 16 unsigned 8-bit lanes (< 256) times d minus m, stored as 16 f32 at y: f(f(d q) - m).
// @ts-ignore: decorator
@inline function store16dm(y: usize, q: v128, d: v128, m: v128): void {
  const lo = i16x8.extend_low_i8x16_u(q), hi = i16x8.extend_high_i8x16_u(q);
  v128.store(y, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(lo)), d), m));
  v128.store(y, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(lo)), d), m), 16);
  v128.store(y, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(hi)), d), m), 32);
  v128.store(y, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(hi)), d), m), 48);
}

// @ts-ignore: decorator
@inline function half(p: usize): f32 { return f16BitsToF32(<u32>load<u16>(p)); }

/** Q8_0 { f16 d; i8 qs[32] } (34 bytes): q d. */
export function dequant_q8_0_f32(src: usize, dst: usize, r0: i32, r1: i32): void {
  for (let b = r0; b < r1; b++) {
    const p = src + <usize>b * 34, y = dst + (<usize>b << 7);
    const d = f32x4.splat(half(p));
    store16(y, v128.load(p, 2), d);
    store16(y + 64, v128.load(p, 18), d);
  }
}

/** Q4_0 { f16 d; u8 qs[16] } (18 bytes): element j < 16 the low nibble of qs[j], j + 16 the high; (q - 8) d. */
export function dequant_q4_0_f32(src: usize, dst: usize, r0: i32, r1: i32): void {
  const low = i8x16.splat(15), eight = i8x16.splat(8);
  for (let b = r0; b < r1; b++) {
    const p = src + <usize>b * 18, y = dst + (<usize>b << 7);
    const d = f32x4.splat(half(p));
    const q = v128.load(p, 2);
    store16(y, i8x16.sub(v128.and(q, low), eight), d);
    store16(y + 64, i8x16.sub(i8x16.shr_u(q, 4), eight), d);
  }
}

// Scale (low 16 bits) and min (high 16) j of Q4_K/Q5_K: 6 bits each, packed into 12 bytes at s.
// @ts-ignore: decorator
@inline function kScaleMin(s: usize, j: i32): u32 {
  if (j < 4) return (<u32>load<u8>(s + j) & 63) | ((<u32>load<u8>(s + j + 4) & 63) << 16);
  const sc = (<u32>load<u8>(s + j + 4) & 15) | ((<u32>load<u8>(s + j - 4) >> 6) << 4);
  const m = (<u32>load<u8>(s + j + 4) >> 4) | ((<u32>load<u8>(s + j) >> 6) << 4);
  return sc | (m << 16);
}

// Q4_K { f16 d, dmin; u8 scales[12]; u8 qs[128] } (144 bytes) and Q5_K { ...; u8 qh[32]; u8 qs[128] }
// (176 bytes): eight 32-element groups g, nibble (g & 1) of qs[32 (g >> 1) + l], Q5_K's fifth bit g of
// qh[l]; value f(f(d sc) q - f(dmin m)).
// @ts-ignore: decorator
@inline function kQuant(src: usize, dst: usize, r0: i32, r1: i32, fifth: bool): void {
  const bytes: usize = fifth ? 176 : 144;
  const low = i8x16.splat(15), one = i8x16.splat(1);
  for (let b = r0; b < r1; b++) {
    const p = src + <usize>b * bytes, y0 = dst + (<usize>b << 10);
    const d = half(p), dmin = half(p + 2);
    const qs = p + (fifth ? 48 : 16);
    for (let g = 0; g < 8; g++) {
      const sm = kScaleMin(p + 4, g);
      const d1 = f32x4.splat(d * <f32>(sm & 0xffff)), m1 = f32x4.splat(dmin * <f32>(sm >> 16));
      const q = qs + (<usize>(g >> 1) << 5), y = y0 + (<usize>g << 7);
      for (let h = 0; h < 2; h++) {
        const raw = v128.load(q + (<usize>h << 4));
        let v: v128 = (g & 1) ? i8x16.shr_u(raw, 4) : v128.and(raw, low);
        if (fifth) v = v128.or(v, i8x16.shl(v128.and(i8x16.shr_u(v128.load(p + 16 + (<usize>h << 4)), g), one), 4));
        store16dm(y + (<usize>h << 6), v, d1, m1);
      }
    }
  }
}

/** Q4_K (see kQuant). */
export function dequant_q4_k_f32(src: usize, dst: usize, r0: i32, r1: i32): void { kQuant(src, dst, r0, r1, false); }

/** Q5_K (see kQuant). */
export function dequant_q5_k_f32(src: usize, dst: usize, r0: i32, r1: i32): void { kQuant(src, dst, r0, r1, true); }

/**
 * Q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d } (210 bytes): per 128-element half n, four
 * 32-element runs k whose low 4 bits are nibble (k >> 1) of ql[64 n + 32 (k & 1) + l] and high 2 bits
 * bits 2k of qh[32 n + l]; value f(f(d scale) (q - 32)), one signed scale per 16 elements.
 */
export function dequant_q6_k_f32(src: usize, dst: usize, r0: i32, r1: i32): void {
  const low = i8x16.splat(15), three = i8x16.splat(3), bias = i8x16.splat(32);
  for (let b = r0; b < r1; b++) {
    const p = src + <usize>b * 210, y0 = dst + (<usize>b << 10);
    const d = half(p + 208);
    for (let n = 0; n < 2; n++) {
      const ql = p + (<usize>n << 6), qh = p + 128 + (<usize>n << 5), sc = p + 192 + (<usize>n << 3);
      for (let c = 0; c < 2; c++) {
        // Elements l in [16 c, 16 c + 16) of each run share scale c + 2k.
        const o = <usize>c << 4, y = y0 + (<usize>n << 9) + (o << 2);
        const a = v128.load(ql + o), a2 = v128.load(ql + 32 + o), h = v128.load(qh + o);
        const s = sc + <usize>c;
        store16(y, i8x16.sub(v128.or(v128.and(a, low), i8x16.shl(v128.and(h, three), 4)), bias), f32x4.splat(d * <f32>load<i8>(s)));
        store16(y + 128, i8x16.sub(v128.or(v128.and(a2, low), i8x16.shl(v128.and(i8x16.shr_u(h, 2), three), 4)), bias), f32x4.splat(d * <f32>load<i8>(s, 2)));
        store16(y + 256, i8x16.sub(v128.or(i8x16.shr_u(a, 4), i8x16.shl(v128.and(i8x16.shr_u(h, 4), three), 4)), bias), f32x4.splat(d * <f32>load<i8>(s, 4)));
        store16(y + 384, i8x16.sub(v128.or(i8x16.shr_u(a2, 4), i8x16.shl(i8x16.shr_u(h, 6), 4)), bias), f32x4.splat(d * <f32>load<i8>(s, 6)));
      }
    }
  }
}
