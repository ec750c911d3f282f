// Dense f32 GEMM for a batch of tokens: Y[t] = W X[t], W row-major [dOut, dIn], X [T, dIn] and
// Y [T, dOut] token-major.
//
// Each output Y[t, i] follows the arithmetic of gemv_f32 exactly (k-blocks of KC, one f32x4 chain
// per block, hsum, blocks added in order, then the dIn % 4 leftover products), so the result for a
// token depends neither on T, nor on the tile that computed it, nor on the thread split. Register
// tile: 4 rows x 2 tokens (8 chains; each k step loads 4 weight and 2 token vectors for 8 madds).
// Loop order only moves data, never changes the arithmetic:
// - for few tokens, or when all of X fits in L2 (scratch = 0), rows outermost: W streams once, in
//   long runs that the prefetcher follows, and X is re-read from cache;
// - otherwise k-blocks outermost within token blocks of TB tokens: a 4 x KC weight panel stays in
//   L1 while it meets every token of the block, and the TB x KC slice of X stays in L2. Both are
//   first packed into a per-thread buffer, so that the tile loads everything at immediate offsets
//   from two pointers: X's slice by token pairs (rows of X are dIn floats apart, and with dIn a
//   power of two they also fall into a few L2 sets and evict each other), W's panel with its 4
//   rows interleaved by k-quad.
import { madd, hsum } from "./simd";
import { KC, dotRow, dotTail } from "./gemv_dense";

/** Tokens per block in the k-outer order: TB x KC x 4 B = 256 KiB of X. */
const TB: i32 = 64;
/** Bytes of the per-thread copy of X's block; the packed 4-row weight panel (16 KiB) follows. */
const XBLOCK: usize = <usize>TB * <usize>KC * 4;

// @ts-ignore: decorator
@inline function acc(y: usize, h: f32, first: bool): void {
  store<f32>(y, first ? h : load<f32>(y) + h);
}

// Rows i..i+3, tokens t, t+1 over inputs [k0, k1): w points at W[i, k0], x at X[t, k0], y at Y[t, i].
// @ts-ignore: decorator
@inline function tile4x2(w: usize, rb: usize, x: usize, xb: usize, y: usize, yb: usize, n: usize, first: bool): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  const xe = x + n;
  while (x < xe) {
    const u = v128.load(x), v = v128.load(x + xb);
    let q = v128.load(w); a00 = madd(q, u, a00); a01 = madd(q, v, a01);
    q = v128.load(w + rb); a10 = madd(q, u, a10); a11 = madd(q, v, a11);
    q = v128.load(w + 2 * rb); a20 = madd(q, u, a20); a21 = madd(q, v, a21);
    q = v128.load(w + 3 * rb); a30 = madd(q, u, a30); a31 = madd(q, v, a31);
    x += 16; w += 16;
  }
  acc(y, hsum(a00), first); acc(y + 4, hsum(a10), first); acc(y + 8, hsum(a20), first); acc(y + 12, hsum(a30), first);
  y += yb;
  acc(y, hsum(a01), first); acc(y + 4, hsum(a11), first); acc(y + 8, hsum(a21), first); acc(y + 12, hsum(a31), first);
}

// The same tile on packed operands (the k-outer order): w holds the 4 rows' k-quads interleaved
// (64 bytes per quad step), x the two tokens' (32 bytes per step). Every load is then the one
// pointer plus an immediate offset; with rows dIn floats apart, V8 computes each row's address
// with its own lea (4 more instructions per 8 multiply-adds, about a sixth of the loop). Measured
// against the unpacked tile at T = 64 on the 7B and 1.1B shapes: 0-23% faster (median about 5%).
// @ts-ignore: decorator
@inline function tile4x2p(w: usize, x: usize, y: usize, yb: usize, n: usize, first: bool): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  const xe = x + 2 * n;
  while (x < xe) {
    const u = v128.load(x), v = v128.load(x, 16);
    let q = v128.load(w); a00 = madd(q, u, a00); a01 = madd(q, v, a01);
    q = v128.load(w, 16); a10 = madd(q, u, a10); a11 = madd(q, v, a11);
    q = v128.load(w, 32); a20 = madd(q, u, a20); a21 = madd(q, v, a21);
    q = v128.load(w, 48); a30 = madd(q, u, a30); a31 = madd(q, v, a31);
    x += 32; w += 64;
  }
  acc(y, hsum(a00), first); acc(y + 4, hsum(a10), first); acc(y + 8, hsum(a20), first); acc(y + 12, hsum(a30), first);
  y += yb;
  acc(y, hsum(a01), first); acc(y + 4, hsum(a11), first); acc(y + 8, hsum(a21), first); acc(y + 12, hsum(a31), first);
}

// One token on packed operands (an odd last token: its k-quads 32 bytes apart).
// @ts-ignore: decorator
@inline function tile4x1p(w: usize, x: usize, y: usize, n: usize, first: bool): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const xe = x + 2 * n;
  while (x < xe) {
    const u = v128.load(x);
    a0 = madd(v128.load(w), u, a0);
    a1 = madd(v128.load(w, 16), u, a1);
    a2 = madd(v128.load(w, 32), u, a2);
    a3 = madd(v128.load(w, 48), u, a3);
    x += 32; w += 64;
  }
  acc(y, hsum(a0), first); acc(y + 4, hsum(a1), first); acc(y + 8, hsum(a2), first); acc(y + 12, hsum(a3), first);
}

// Rows i..i+3, one token.
// @ts-ignore: decorator
@inline function tile4x1(w: usize, rb: usize, x: usize, y: usize, n: usize, first: bool): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const xe = x + n;
  while (x < xe) {
    const u = v128.load(x);
    a0 = madd(v128.load(w), u, a0);
    a1 = madd(v128.load(w + rb), u, a1);
    a2 = madd(v128.load(w + 2 * rb), u, a2);
    a3 = madd(v128.load(w + 3 * rb), u, a3);
    x += 16; w += 16;
  }
  acc(y, hsum(a0), first); acc(y + 4, hsum(a1), first); acc(y + 8, hsum(a2), first); acc(y + 12, hsum(a3), first);
}

// All tokens [t0, t1) of rows i..i+3 over the k-block [k0, k1).
// @ts-ignore: decorator
@inline function panel(W: usize, X: usize, Y: usize, dOut: i32, dIn: i32, i: i32, t0: i32, t1: i32, k0: i32, k1: i32): void {
  const rb = <usize>dIn << 2, yb = <usize>dOut << 2;
  const w = W + <usize>i * rb + (<usize>k0 << 2);
  const n = <usize>(k1 - k0) << 2;
  const first = k0 == 0;
  let t = t0;
  for (; t + 2 <= t1; t += 2) {
    tile4x2(w, rb, X + <usize>t * rb + (<usize>k0 << 2), rb, Y + <usize>t * yb + (<usize>i << 2), yb, n, first);
  }
  if (t < t1) tile4x1(w, rb, X + <usize>t * rb + (<usize>k0 << 2), Y + <usize>t * yb + (<usize>i << 2), n, first);
}

// The dIn % 4 leftover products of rows i..i+3 for tokens [t0, t1).
// @ts-ignore: decorator
@inline function tails(W: usize, X: usize, Y: usize, dOut: i32, dIn: i32, i: i32, t0: i32, t1: i32): void {
  const d4 = dIn & ~3;
  if (d4 == dIn) return;
  const rb = <usize>dIn << 2;
  for (let t = t0; t < t1; t++) {
    for (let r = i; r < i + 4; r++) {
      dotTail(Y + (<usize>t * dOut + r << 2), W + <usize>r * rb, X + <usize>t * rb, d4, dIn);
    }
  }
}

// Y[t, r] for rows r in [r0, r1) and all tokens. Rows are split in multiples of 4 (the grain) for
// speed only: the arithmetic of every output is the same whichever path computes it. `scratch` is 0
// for the row-outer order (the wrapper picks it below 32 tokens or when X fits in 256 KiB), else XBLOCK + 16 KiB per
// thread at scratch + tid * stride for the k-outer order.
export function gemm_f32(
  W: usize, X: usize, Y: usize, dOut: i32, dIn: i32, T: i32, scratch: usize, stride: usize, r0: i32, r1: i32, tid: i32,
): void {
  const d4 = dIn & ~3;
  const r4 = r0 + ((r1 - r0) & ~3);
  const rb = <usize>dIn << 2, yb = <usize>dOut << 2;
  if (scratch == 0) {
    for (let i = r0; i < r4; i += 4) {
      for (let k0 = 0; k0 < d4; k0 += KC) panel(W, X, Y, dOut, dIn, i, 0, T, k0, min(k0 + KC, d4));
      tails(W, X, Y, dOut, dIn, i, 0, T);
    }
  } else {
    const xp = scratch + <usize>tid * stride;
    const wp = xp + XBLOCK;
    for (let t0 = 0; t0 < T; t0 += TB) {
      const t1 = min(t0 + TB, T);
      for (let k0 = 0; k0 < d4; k0 += KC) {
        const k1 = min(k0 + KC, d4);
        const n = <usize>(k1 - k0) << 2;
        // xp: tokens in pairs, pair p at p * 2n with the two tokens' k-quads interleaved.
        for (let t = t0; t < t1; t++) {
          const src = X + <usize>t * rb + (<usize>k0 << 2);
          const dst = xp + <usize>(t - t0) / 2 * 2 * n + (<usize>((t - t0) & 1) << 4);
          for (let o: usize = 0; o < n; o += 16) v128.store(dst + 2 * o, v128.load(src + o));
        }
        const first = k0 == 0;
        for (let i = r0; i < r4; i += 4) {
          // wp: the 4 rows' k-quads interleaved, 64 bytes per quad step.
          const w = W + <usize>i * rb + (<usize>k0 << 2);
          for (let o: usize = 0; o < n; o += 16) {
            v128.store(wp + 4 * o, v128.load(w + o));
            v128.store(wp + 4 * o, v128.load(w + rb + o), 16);
            v128.store(wp + 4 * o, v128.load(w + 2 * rb + o), 32);
            v128.store(wp + 4 * o, v128.load(w + 3 * rb + o), 48);
          }
          const y = Y + (<usize>i << 2);
          let t = t0;
          for (; t + 2 <= t1; t += 2) tile4x2p(wp, xp + <usize>(t - t0) * n, y + <usize>t * yb, yb, n, first);
          if (t < t1) tile4x1p(wp, xp + <usize>(t - t0) * n, y + <usize>t * yb, n, first);
        }
      }
      for (let i = r0; i < r4; i += 4) tails(W, X, Y, dOut, dIn, i, t0, t1);
    }
  }
  for (let r = r4; r < r1; r++) {
    for (let t = 0; t < T; t++) dotRow(W + <usize>r * rb, X + <usize>t * rb, Y + (<usize>t * dOut + r << 2), dIn);
  }
}
