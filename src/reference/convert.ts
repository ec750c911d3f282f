/**
 * Reference conversions between f32 and 16-bit float bit patterns, one element at a time with
 * integer arithmetic: round to nearest, ties to even; NaN keeps sign and top payload bits with the
 * quiet bit set; infinities stay infinite; f16 subnormals exact.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0];
}

function floatOf(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

/** The value of one f16 bit pattern (a NaN pattern gives NaN). */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return floatOf(((h & 0x8000) << 16) | 0x7f800000 | (m << 13));
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** The f16 bit pattern nearest to the f32 value `x` (x is rounded to f32 first; NaN payload lost). */
export function numberToF16Bits(x: number): number {
  return f32BitsToF16Bits(bitsOf(x));
}

/** The f16 bit pattern nearest to the f32 with bits `b`. */
export function f32BitsToF16Bits(b: number): number {
  b >>>= 0;
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  const m = b & 0x7fffff;
  if (e === 0xff) return sign | (m === 0 ? 0x7c00 : 0x7e00 | (m >>> 13));
  // |x| = (2^23 + m) * 2^(e - 150) for normals, m * 2^-149 for subnormals; the f16 result is an
  // integer count of its unit 2^(E - 25) (E the f16 exponent, at least 1), rounded half to even.
  const mant = e === 0 ? m : m | 0x800000;
  const exp2 = e === 0 ? -149 : e - 150; // |x| = mant * 2^exp2
  let E = Math.max(1, e - 127 + 15);
  const shift = E - 25 - exp2; // bits of mant below the f16 unit
  let q: number;
  if (shift <= 0) q = mant * 2 ** -shift;
  else if (shift > 31) q = 0;
  else {
    const div = 2 ** shift;
    q = Math.floor(mant / div);
    const rem = mant - q * div;
    if (rem * 2 > div || (rem * 2 === div && q % 2 === 1)) q++;
  }
  // q counts units of 2^(E - 25): q < 2^11 for the chosen E; carries renormalise.
  if (E === 1 && q < 0x400) return sign | q; // subnormal (or zero)
  if (q >= 0x800) { q /= 2; E++; }
  if (E >= 31) return sign | 0x7c00;
  return sign | (E << 10) | (q - 0x400);
}

/** The f32 value of one bf16 bit pattern. */
export function bf16BitsToNumber(h: number): number {
  return floatOf((h & 0xffff) << 16);
}

/** The bf16 bit pattern nearest to the f32 value `x` (x is rounded to f32 first; NaN payload lost). */
export function numberToBf16Bits(x: number): number {
  return f32BitsToBf16Bits(bitsOf(x));
}

/** The bf16 bit pattern nearest to the f32 with bits `b`. */
export function f32BitsToBf16Bits(b: number): number {
  b >>>= 0;
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x40;
  const hi = b >>> 16, lo = b & 0xffff;
  if (lo > 0x8000 || (lo === 0x8000 && (hi & 1) === 1)) return (hi + 1) & 0xffff;
  return hi;
}

/** f16 bit patterns to f32 (NaN payloads kept: the result's bits are written directly). */
export function f16ToF32(src: ArrayLike<number>): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) {
    const h = src[i] & 0xffff;
    bits[i] = (h & 0x7c00) === 0x7c00 ? ((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13) : bitsOf(f16BitsToNumber(h));
  }
  return out;
}

/** bf16 bit patterns to f32 (NaN payloads kept). */
export function bf16ToF32(src: ArrayLike<number>): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = (src[i] & 0xffff) << 16;
  return out;
}

/** f32 values to f16 bit patterns; NaN payloads are read from the bits of `src`. */
export function f32ToF16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return out;
}

/** f32 values to bf16 bit patterns; NaN payloads are read from the bits of `src`. */
export function f32ToBf16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToBf16Bits(bits[i]);
  return out;
}
