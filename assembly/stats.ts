// Calibration statistics over a batch of token rows X [T, d] (f32, token-major).
import { madd } from "./simd";

/** Tokens per block in colsumsq_f64: the rows of a block are read as contiguous column ranges. */
const CS_TB: i32 = 64;

// acc[c] += sum_t X[t, c]^2 for columns c in [c0, c1), in f64. Each square is exact in f64 and each
// column adds its tokens in the order t = 0..T-1 whatever the blocking or the thread split, so the
// result is deterministic. The accumulators stay in acc between token blocks.
export function colsumsq_f64(X: usize, T: i32, d: i32, acc: usize, c0: i32, c1: i32): void {
  const rb = <usize>d << 2;
  for (let t0 = 0; t0 < T; t0 += CS_TB) {
    const t1 = min(t0 + CS_TB, T);
    let c = c0;
    // 16 columns = one whole cache line of a row per token (a row is d floats from the next).
    for (; c + 16 <= c1; c += 16) {
      const ap = acc + (<usize>c << 3);
      let s0 = v128.load(ap), s1 = v128.load(ap, 16), s2 = v128.load(ap, 32), s3 = v128.load(ap, 48);
      let s4 = v128.load(ap, 64), s5 = v128.load(ap, 80), s6 = v128.load(ap, 96), s7 = v128.load(ap, 112);
      let x = X + <usize>t0 * rb + (<usize>c << 2);
      for (let t = t0; t < t1; t++) {
        let u = v128.load(x);
        let p = f64x2.promote_low_f32x4(u); s0 = f64x2.add(s0, f64x2.mul(p, p));
        p = f64x2.promote_low_f32x4(i64x2.shuffle(u, u, 1, 0)); s1 = f64x2.add(s1, f64x2.mul(p, p));
        u = v128.load(x, 16);
        p = f64x2.promote_low_f32x4(u); s2 = f64x2.add(s2, f64x2.mul(p, p));
        p = f64x2.promote_low_f32x4(i64x2.shuffle(u, u, 1, 0)); s3 = f64x2.add(s3, f64x2.mul(p, p));
        u = v128.load(x, 32);
        p = f64x2.promote_low_f32x4(u); s4 = f64x2.add(s4, f64x2.mul(p, p));
        p = f64x2.promote_low_f32x4(i64x2.shuffle(u, u, 1, 0)); s5 = f64x2.add(s5, f64x2.mul(p, p));
        u = v128.load(x, 48);
        p = f64x2.promote_low_f32x4(u); s6 = f64x2.add(s6, f64x2.mul(p, p));
        p = f64x2.promote_low_f32x4(i64x2.shuffle(u, u, 1, 0)); s7 = f64x2.add(s7, f64x2.mul(p, p));
        x += rb;
      }
      v128.store(ap, s0); v128.store(ap, s1, 16); v128.store(ap, s2, 32); v128.store(ap, s3, 48);
      v128.store(ap, s4, 64); v128.store(ap, s5, 80); v128.store(ap, s6, 96); v128.store(ap, s7, 112);
    }
    for (; c < c1; c++) {
      const ap = acc + (<usize>c << 3);
      let s = load<f64>(ap);
      let x = X + <usize>t0 * rb + (<usize>c << 2);
      for (let t = t0; t < t1; t++) { const v = <f64>load<f32>(x); s += v * v; x += rb; }
      store<f64>(ap, s);
    }
  }
}

// ---- Hessian: H += scale * X^T X -------------------------------------------------------------------
// H [d, d] is symmetric, so only the upper triangle is computed and a second job copies it onto the
// lower one. The wrapper feeds tokens in blocks of HB (from t = 0): hessian_pack_f32 copies a block
// into panels P[g][t][0..8) of 8 columns (zero beyond d), so that the inner loop of
// hessian_upper_f32 reads memory contiguously (rows of X are d floats apart, and with d a power of
// two every token of a column would fall into the same cache set). For every element the block
// gives c = sum_t x_ti x_tj (one f32 chain from zero, t in order) and H_ij = madd(scale, c, H_ij);
// every element is computed by the same 4 x 8 vector tile, so neither the tiling nor the thread
// split changes a bit.
// Work units of the upper pass pair row tile u with tile (tiles - 1 - u): every unit then has about
// the same number of upper-triangle elements, and a contiguous split of units balances threads.

/** Tokens per arithmetic block of the Hessian (part of the result's definition). */
export const HB: i32 = 256;
/** Column groups (of 8) per cache block: HB x 256 x 4 B = 256 KiB of panels stay in L2. */
const HJ: i32 = 32;

// P[g][t][c] = X[t0 + t, 8g + c] for groups g in [g0, g1), t < n; zero for columns >= d.
export function hessian_pack_f32(X: usize, d: i32, t0: i32, n: i32, P: usize, g0: i32, g1: i32): void {
  const rb = <usize>d << 2;
  for (let g = g0; g < g1; g++) {
    let src = X + <usize>t0 * rb + (<usize>g << 5);
    let dst = P + (<usize>g * <usize>n << 5);
    const cols = min(8, d - (g << 3));
    if (cols == 8) {
      for (let t = 0; t < n; t++) {
        v128.store(dst, v128.load(src)); v128.store(dst, v128.load(src, 16), 16);
        src += rb; dst += 32;
      }
    } else {
      for (let t = 0; t < n; t++) {
        for (let c = 0; c < 8; c++) store<f32>(dst + (<usize>c << 2), c < cols ? load<f32>(src + (<usize>c << 2)) : 0);
        src += rb; dst += 32;
      }
    }
  }
}

// Stores madd(s, c, H) for the first `valid` of 8 columns at h (a row of H), reading and writing
// nothing beyond them.
// @ts-ignore: decorator
@inline function update8(h: usize, valid: i32, c0: v128, c1: v128, s: v128): void {
  if (valid >= 8) {
    v128.store(h, madd(s, c0, v128.load(h)));
    v128.store(h, madd(s, c1, v128.load(h, 16)), 16);
    return;
  }
  let h0 = f32x4.splat(0), h1 = f32x4.splat(0);
  if (valid > 0) h0 = f32x4.replace_lane(h0, 0, load<f32>(h));
  if (valid > 1) h0 = f32x4.replace_lane(h0, 1, load<f32>(h, 4));
  if (valid > 2) h0 = f32x4.replace_lane(h0, 2, load<f32>(h, 8));
  if (valid > 3) h0 = f32x4.replace_lane(h0, 3, load<f32>(h, 12));
  if (valid > 4) h1 = f32x4.replace_lane(h1, 0, load<f32>(h, 16));
  if (valid > 5) h1 = f32x4.replace_lane(h1, 1, load<f32>(h, 20));
  if (valid > 6) h1 = f32x4.replace_lane(h1, 2, load<f32>(h, 24));
  const r0 = madd(s, c0, h0), r1 = madd(s, c1, h1);
  if (valid > 0) store<f32>(h, f32x4.extract_lane(r0, 0));
  if (valid > 1) store<f32>(h, f32x4.extract_lane(r0, 1), 4);
  if (valid > 2) store<f32>(h, f32x4.extract_lane(r0, 2), 8);
  if (valid > 3) store<f32>(h, f32x4.extract_lane(r0, 3), 12);
  if (valid > 4) store<f32>(h, f32x4.extract_lane(r1, 0), 16);
  if (valid > 5) store<f32>(h, f32x4.extract_lane(r1, 1), 20);
  if (valid > 6) store<f32>(h, f32x4.extract_lane(r1, 2), 24);
}

// Rows i..i+3 of H (those < d), column group g, over the n tokens of the packed block.
// @ts-ignore: decorator
@inline function h4x8(P: usize, n: i32, d: i32, H: usize, i: i32, g: i32, s: v128): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), e0 = f32x4.splat(0), e1 = f32x4.splat(0);
  let pa = P + ((<usize>(i >> 3) * <usize>n) << 5) + (<usize>(i & 7) << 2);
  let pb = P + ((<usize>g * <usize>n) << 5);
  const pe = pb + (<usize>n << 5);
  while (pb < pe) {
    const u = v128.load(pb), v = v128.load(pb, 16);
    let q = v128.load32_splat(pa); a0 = madd(q, u, a0); a1 = madd(q, v, a1);
    q = v128.load32_splat(pa, 4); b0 = madd(q, u, b0); b1 = madd(q, v, b1);
    q = v128.load32_splat(pa, 8); c0 = madd(q, u, c0); c1 = madd(q, v, c1);
    q = v128.load32_splat(pa, 12); e0 = madd(q, u, e0); e1 = madd(q, v, e1);
    pa += 32; pb += 32;
  }
  const hb = <usize>d << 2;
  const valid = min(8, d - (g << 3));
  let h = H + <usize>i * hb + (<usize>g << 5);
  update8(h, valid, a0, a1, s);
  if (i + 1 < d) update8(h + hb, valid, b0, b1, s);
  if (i + 2 < d) update8(h + 2 * hb, valid, c0, c1, s);
  if (i + 3 < d) update8(h + 3 * hb, valid, e0, e1, s);
}

// Upper triangle (from each row tile's own 8-column group on) of H += scale * X_blk^T X_blk for the
// n packed tokens in P, units [u0, u1) (unit u = row tiles u and tiles - 1 - u).
export function hessian_upper_f32(P: usize, n: i32, d: i32, H: usize, scale: f32, u0: i32, u1: i32): void {
  const tiles = (d + 3) >> 2;
  const groups = (d + 7) >> 3;
  const s = f32x4.splat(scale);
  for (let j0 = 0; j0 < groups; j0 += HJ) {
    const j1 = min(j0 + HJ, groups);
    for (let u = u0; u < u1; u++) {
      const v = tiles - 1 - u;
      for (let g = max(j0, u >> 1); g < j1; g++) h4x8(P, n, d, H, u << 2, g, s);
      if (v != u) for (let g = max(j0, v >> 1); g < j1; g++) h4x8(P, n, d, H, v << 2, g, s);
    }
  }
}

// H[i, j] = H[j, i] for j < i, rows i in [r0, r1). Blocks of 16 x 16 strictly below the diagonal
// are moved as 4 x 4 register transposes, each cache line read or written whole; the rest is scalar.
export function hessian_mirror_f32(H: usize, d: i32, r0: i32, r1: i32): void {
  const hb = <usize>d << 2;
  for (let i0 = r0; i0 < r1; i0 += 16) {
    const i1 = min(i0 + 16, r1);
    let j0 = 0;
    if (i1 - i0 == 16) {
      for (; j0 + 16 <= i0; j0 += 16) {
        for (let p = 0; p < 16; p += 4) {
          const src = H + <usize>(j0 + p) * hb + (<usize>i0 << 2);
          const dst = H + <usize>i0 * hb + (<usize>(j0 + p) << 2);
          for (let q = 0; q < 16; q += 4) {
            const o = <usize>q << 2;
            const r0v = v128.load(src + o), r1v = v128.load(src + hb + o);
            const r2v = v128.load(src + 2 * hb + o), r3v = v128.load(src + 3 * hb + o);
            const t0 = i32x4.shuffle(r0v, r1v, 0, 4, 1, 5), t1 = i32x4.shuffle(r0v, r1v, 2, 6, 3, 7);
            const t2 = i32x4.shuffle(r2v, r3v, 0, 4, 1, 5), t3 = i32x4.shuffle(r2v, r3v, 2, 6, 3, 7);
            const d0 = dst + <usize>q * hb;
            v128.store(d0, i64x2.shuffle(t0, t2, 0, 2));
            v128.store(d0 + hb, i64x2.shuffle(t0, t2, 1, 3));
            v128.store(d0 + 2 * hb, i64x2.shuffle(t1, t3, 0, 2));
            v128.store(d0 + 3 * hb, i64x2.shuffle(t1, t3, 1, 3));
          }
        }
      }
    }
    for (let i = i0; i < i1; i++) {
      const row = H + <usize>i * hb;
      for (let j = j0; j < i; j++) store<f32>(row + (<usize>j << 2), load<f32>(H + <usize>j * hb + (<usize>i << 2)));
    }
  }
}
