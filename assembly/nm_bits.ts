// Reading the canonical N:M mask stream: one M-bit keep mask per group, little-endian bits, M <= 32.
// The host pads the stream with 8 zero bytes so the 64-bit read below never leaves it.

// @ts-ignore: decorator
@inline export function nmMask(masks: usize, bit: u64, low: u64): u32 {
  return <u32>((load<u64>(masks + <usize>(bit >> 3)) >> (bit & 7)) & low);
}

// Kept values of a group of r elements under N:M: r - floor(N r / M).
// @ts-ignore: decorator
@inline export function nmKept(r: i32, n: i32, m: i32): i32 {
  return r - (n * r) / m;
}

// Byte swizzle whose out-of-range indices (>= 0x80 here) give 0 in both builds: the relaxed form is
// one pshufb on x86, the portable form adds a saturating fix-up.
// @ts-ignore: decorator
@inline export function swz(a: v128, s: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(a, s);
  return i8x16.swizzle(a, s);
}
