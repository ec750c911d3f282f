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
    for (; c + 8 <= c1; c += 8) {
      const ap = acc + (<usize>c << 3);
      let s0 = v128.load(ap), s1 = v128.load(ap, 16), s2 = v128.load(ap, 32), s3 = v128.load(ap, 48);
      let x = X + <usize>t0 * rb + (<usize>c << 2);
      for (let t = t0; t < t1; t++) {
        const u = v128.load(x), v = v128.load(x, 16);
        let p = f64x2.promote_low_f32x4(u);
        s0 = f64x2.add(s0, f64x2.mul(p, p));
        p = f64x2.promote_low_f32x4(i64x2.shuffle(u, u, 1, 0));
        s1 = f64x2.add(s1, f64x2.mul(p, p));
        p = f64x2.promote_low_f32x4(v);
        s2 = f64x2.add(s2, f64x2.mul(p, p));
        p = f64x2.promote_low_f32x4(i64x2.shuffle(v, v, 1, 0));
        s3 = f64x2.add(s3, f64x2.mul(p, p));
        x += rb;
      }
      v128.store(ap, s0); v128.store(ap, s1, 16); v128.store(ap, s2, 32); v128.store(ap, s3, 48);
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
// H [d, d] is symmetric, so only the upper triangle is computed (hessian_upper_f32), by row tiles of
// 4 rows; hessian_mirror_f32 then copies it onto the lower triangle in a second job. Per t-block of
// HB tokens each output gets c = sum_t x_ti x_tj (an f32 chain from zero, t in order) and then
// H_ij = madd(scale, c, H_ij). HB is part of the result's definition; row tiles, column tiles and the
// thread split are not (each element's arithmetic depends only on which tile covers it, and tiles
// start at multiples of 4 rows whatever the split).
// Work units pair tile u with tile (tiles - 1 - u), so that every unit has about the same number of
// upper-triangle elements and a contiguous split of units balances the threads.

/** Tokens per arithmetic block of the Hessian (part of the result's definition). */
const HB: i32 = 256;
/** Columns per cache block: HB x HJ x 4 B = 256 KiB of X stays in L2 while all row tiles use it. */
const HJ: i32 = 256;

// Rows i..i+3 (rows of H), columns j..j+7, tokens [t0, t1).
// @ts-ignore: decorator
@inline function h4x8(X: usize, rb: usize, H: usize, hb: usize, i: i32, j: i32, t0: i32, t1: i32, s: v128): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), d0 = f32x4.splat(0), d1 = f32x4.splat(0);
  let pa = X + <usize>t0 * rb + (<usize>i << 2);
  let pb = X + <usize>t0 * rb + (<usize>j << 2);
  for (let t = t0; t < t1; t++) {
    const u = v128.load(pb), v = v128.load(pb, 16);
    let q = v128.load32_splat(pa); a0 = madd(q, u, a0); a1 = madd(q, v, a1);
    q = v128.load32_splat(pa, 4); b0 = madd(q, u, b0); b1 = madd(q, v, b1);
    q = v128.load32_splat(pa, 8); c0 = madd(q, u, c0); c1 = madd(q, v, c1);
    q = v128.load32_splat(pa, 12); d0 = madd(q, u, d0); d1 = madd(q, v, d1);
    pa += rb; pb += rb;
  }
  let h = H + <usize>i * hb + (<usize>j << 2);
  v128.store(h, madd(s, a0, v128.load(h))); v128.store(h, madd(s, a1, v128.load(h, 16)), 16); h += hb;
  v128.store(h, madd(s, b0, v128.load(h))); v128.store(h, madd(s, b1, v128.load(h, 16)), 16); h += hb;
  v128.store(h, madd(s, c0, v128.load(h))); v128.store(h, madd(s, c1, v128.load(h, 16)), 16); h += hb;
  v128.store(h, madd(s, d0, v128.load(h))); v128.store(h, madd(s, d1, v128.load(h, 16)), 16);
}

// Rows i..i+3, columns j..j+3.
// @ts-ignore: decorator
@inline function h4x4(X: usize, rb: usize, H: usize, hb: usize, i: i32, j: i32, t0: i32, t1: i32, s: v128): void {
  let a = f32x4.splat(0), b = f32x4.splat(0), c = f32x4.splat(0), e = f32x4.splat(0);
  let pa = X + <usize>t0 * rb + (<usize>i << 2);
  let pb = X + <usize>t0 * rb + (<usize>j << 2);
  for (let t = t0; t < t1; t++) {
    const u = v128.load(pb);
    a = madd(v128.load32_splat(pa), u, a);
    b = madd(v128.load32_splat(pa, 4), u, b);
    c = madd(v128.load32_splat(pa, 8), u, c);
    e = madd(v128.load32_splat(pa, 12), u, e);
    pa += rb; pb += rb;
  }
  let h = H + <usize>i * hb + (<usize>j << 2);
  v128.store(h, madd(s, a, v128.load(h))); h += hb;
  v128.store(h, madd(s, b, v128.load(h))); h += hb;
  v128.store(h, madd(s, c, v128.load(h))); h += hb;
  v128.store(h, madd(s, e, v128.load(h)));
}

// One element (row i, column j), the scalar path for the last d % 4 columns and rows.
// @ts-ignore: decorator
@inline function h1x1(X: usize, rb: usize, H: usize, hb: usize, i: i32, j: i32, t0: i32, t1: i32, s: f32): void {
  let c: f32 = 0;
  let pa = X + <usize>t0 * rb + (<usize>i << 2);
  let pb = X + <usize>t0 * rb + (<usize>j << 2);
  for (let t = t0; t < t1; t++) { c += load<f32>(pa) * load<f32>(pb); pa += rb; pb += rb; }
  const h = H + <usize>i * hb + (<usize>j << 2);
  store<f32>(h, load<f32>(h) + s * c);
}

// Row tile `tile` (rows 4*tile .. min(4*tile+4, d)), columns [max(j0, 4*tile), j1), tokens [t0, t1).
// Columns start at the tile's first row, so a few elements below the diagonal of the tile's own 4x4
// corner are computed too; the mirror pass overwrites them.
// @ts-ignore: decorator
@inline function hTile(X: usize, rb: usize, H: usize, d: i32, tile: i32, j0: i32, j1: i32, t0: i32, t1: i32, scale: f32): void {
  const hb = <usize>d << 2;
  const i = tile << 2;
  const sv = f32x4.splat(scale);
  let j = max(j0, i);
  if (i + 4 <= d) {
    // Full tiles: 8 columns, then 4, then single columns at the very end of the row.
    const j8 = j + ((j1 - j) & ~7);
    for (; j < j8; j += 8) h4x8(X, rb, H, hb, i, j, t0, t1, sv);
    if (j + 4 <= j1) { h4x4(X, rb, H, hb, i, j, t0, t1, sv); j += 4; }
    for (; j < j1; j++) for (let r = i; r < i + 4; r++) h1x1(X, rb, H, hb, r, j, t0, t1, scale);
  } else {
    for (let r = i; r < d; r++) for (let jj = j; jj < j1; jj++) h1x1(X, rb, H, hb, r, jj, t0, t1, scale);
  }
}

// Upper triangle of H += scale * X^T X for units [u0, u1) (unit u = row tiles u and tiles-1-u).
export function hessian_upper_f32(X: usize, T: i32, d: i32, H: usize, scale: f32, u0: i32, u1: i32): void {
  const rb = <usize>d << 2;
  const tiles = (d + 3) >> 2;
  for (let t0 = 0; t0 < T; t0 += HB) {
    const t1 = min(t0 + HB, T);
    for (let j0 = 0; j0 < d; j0 += HJ) {
      const j1 = min(j0 + HJ, d);
      for (let u = u0; u < u1; u++) {
        const v = tiles - 1 - u;
        if ((u << 2) < j1) hTile(X, rb, H, d, u, j0, j1, t0, t1, scale);
        if (v != u && (v << 2) < j1) hTile(X, rb, H, d, v, j0, j1, t0, t1, scale);
      }
    }
  }
}

// H[i, j] = H[j, i] for j < i, rows i in [r0, r1), in 16 x 16 blocks so that the strided reads of
// the upper triangle use whole cache lines.
export function hessian_mirror_f32(H: usize, d: i32, r0: i32, r1: i32): void {
  const hb = <usize>d << 2;
  for (let i0 = r0; i0 < r1; i0 += 16) {
    const i1 = min(i0 + 16, r1);
    for (let j0 = 0; j0 < i1 - 1; j0 += 16) {
      const j1 = min(j0 + 16, i1 - 1);
      for (let i = i0; i < i1; i++) {
        const je = min(j1, i);
        const dst = H + <usize>i * hb;
        for (let j = j0; j < je; j++) store<f32>(dst + (<usize>j << 2), load<f32>(H + <usize>j * hb + (<usize>i << 2)));
      }
    }
  }
}
