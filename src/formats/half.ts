/**
 * IEEE half (f16) and bfloat16 <-> float32 conversion in plain TypeScript. Conversions to 16 bits round to
 * nearest, ties to even, and keep NaN a NaN (quiet) and infinities infinite, like numpy/torch.
 */
import type { TensorDType } from "../model/config.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

// f16 -> f32 by table: 65536 entries is 256 KiB and makes decoding a plain lookup.
let F16_TABLE: Float32Array | null = null;
function f16Table(): Float32Array {
  if (F16_TABLE) return F16_TABLE;
  const t = new Float32Array(65536);
  const tu = new Uint32Array(t.buffer);
  for (let h = 0; h < 65536; h++) tu[h] = f16BitsToF32Bits(h);
  F16_TABLE = t;
  return t;
}

function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let man = h & 0x3ff;
  if (exp === 0) {
    if (man === 0) return sign >>> 0;
    // Subnormal: renormalise.
    let e = -1;
    do { man <<= 1; e++; } while ((man & 0x400) === 0);
    man &= 0x3ff;
    return (sign | ((127 - 15 - e) << 23) | (man << 13)) >>> 0;
  }
  if (exp === 0x1f) return (sign | 0x7f800000 | (man << 13)) >>> 0;
  return (sign | ((exp - 15 + 127) << 23) | (man << 13)) >>> 0;
}

/** Converts one f16 bit pattern to a number. */
export function f16ToF32(h: number): number {
  return f16Table()[h & 0xffff];
}

/** Converts one number to the nearest f16 bit pattern (round to nearest even). */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const man = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man !== 0 ? 0x200 | (man >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflows to zero even after rounding
    const m = man | 0x800000;
    const shift = 14 - e;
    let r = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (r & 1) === 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1) === 1)) r++; // may carry into the exponent, which is correct
  return sign | r;
}

/** Converts one bf16 bit pattern to a number. */
export function bf16ToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

/** Converts one number to the nearest bf16 bit pattern (round to nearest even). */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Decodes little-endian tensor bytes of any supported dtype into a fresh Float32Array. */
export function decodeToF32(dtype: TensorDType, bytes: Uint8Array): Float32Array {
  const size = dtype === "f32" ? 4 : 2;
  if (bytes.byteLength % size !== 0) throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype}`);
  const n = bytes.byteLength / size;
  if (dtype === "f32") {
    const out = new Float32Array(n);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const src = aligned16(bytes);
  const out = new Float32Array(n);
  if (dtype === "f16") {
    const t = f16Table();
    for (let i = 0; i < n; i++) out[i] = t[src[i]];
  } else {
    const ou = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) ou[i] = src[i] << 16;
  }
  return out;
}

/** Encodes f32 values as little-endian bytes of the given dtype (rounding to nearest even for 16-bit types). */
export function encodeFromF32(dtype: TensorDType, values: Float32Array): Uint8Array {
  if (dtype === "f32") return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const out = new Uint16Array(values.length);
  if (dtype === "f16") for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i]);
  else for (let i = 0; i < values.length; i++) out[i] = f32ToBf16(values[i]);
  return new Uint8Array(out.buffer);
}

function aligned16(bytes: Uint8Array): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  return new Uint16Array(bytes.slice().buffer);
}

/** True on little-endian hosts; the formats are little-endian and decoding relies on typed-array views. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
