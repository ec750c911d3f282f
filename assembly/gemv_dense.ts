// Dense f32 GEMV, y = W x, W row-major [dOut, dIn].
//
// Arithmetic of one output (shared with gemm_f32, so a token gives the same bits through either):
// k runs in blocks of KC over the first dIn & ~3 inputs; in each block one f32x4 chain
// acc = madd(w, x, acc) from zero, then h = hsum(acc) and y = h (first block) or y + h; finally
// the last dIn % 4 products are added one by one. Every path below follows exactly this, so a
// row's result depends neither on which rows share its group nor on the thread split.
import { madd, hsum } from "./simd";

/** Inputs per arithmetic block (part of the result's definition, do not tune per call). */
export const KC: i32 = 1024;

// @ts-ignore: decorator
@inline function acc(y: usize, h: f32, first: bool): void {
  store<f32>(y, first ? h : load<f32>(y) + h);
}

// The dIn % 4 leftover products, added one by one to the finished blocks.
// @ts-ignore: decorator
@inline export function dotTail(y: usize, w: usize, x: usize, d4: i32, dIn: i32): void {
  let s = d4 == 0 ? <f32>0 : load<f32>(y);
  for (let k = d4; k < dIn; k++) s += load<f32>(w + (<usize>k << 2)) * load<f32>(x + (<usize>k << 2));
  store<f32>(y, s);
}

/** One row: the reference shape of the arithmetic, used for rows that do not fill a group. */
// @ts-ignore: decorator
@inline export function dotRow(w: usize, x: usize, y: usize, dIn: i32): void {
  const d4 = dIn & ~3;
  for (let k0 = 0; k0 < d4; k0 += KC) {
    const k1 = min(k0 + KC, d4);
    let a = f32x4.splat(0);
    for (let o = <usize>k0 << 2, e = <usize>k1 << 2; o < e; o += 16) a = madd(v128.load(w + o), v128.load(x + o), a);
    acc(y, hsum(a), k0 == 0);
  }
  dotTail(y, w, x, d4, dIn);
}

// y[r] = W[r, :] . x for rows r in [r0, r1). Eight rows at a time share each x load; eight rows
// also means eight memory streams in flight, which is what reaches the read ceiling (one or two
// rows at a time leave DRAM bandwidth unused: see read_sum_f32).
export function gemv_f32(W: usize, x: usize, y: usize, dIn: i32, r0: i32, r1: i32): void {
  const rb = <usize>dIn << 2;
  const d4 = dIn & ~3;
  let r = r0;
  for (; r + 8 <= r1; r += 8) {
    const w0 = W + <usize>r * rb;
    const yp = y + (<usize>r << 2);
    for (let k0 = 0; k0 < d4; k0 += KC) {
      const k1 = min(k0 + KC, d4);
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
      let w = w0 + (<usize>k0 << 2), xp = x + (<usize>k0 << 2);
      const xe = x + (<usize>k1 << 2);
      while (xp < xe) {
        const xv = v128.load(xp);
        a0 = madd(v128.load(w), xv, a0);
        a1 = madd(v128.load(w + rb), xv, a1);
        a2 = madd(v128.load(w + 2 * rb), xv, a2);
        a3 = madd(v128.load(w + 3 * rb), xv, a3);
        a4 = madd(v128.load(w + 4 * rb), xv, a4);
        a5 = madd(v128.load(w + 5 * rb), xv, a5);
        a6 = madd(v128.load(w + 6 * rb), xv, a6);
        a7 = madd(v128.load(w + 7 * rb), xv, a7);
        xp += 16; w += 16;
      }
      const first = k0 == 0;
      acc(yp, hsum(a0), first); acc(yp + 4, hsum(a1), first);
      acc(yp + 8, hsum(a2), first); acc(yp + 12, hsum(a3), first);
      acc(yp + 16, hsum(a4), first); acc(yp + 20, hsum(a5), first);
      acc(yp + 24, hsum(a6), first); acc(yp + 28, hsum(a7), first);
    }
    if (d4 < dIn) for (let i = 0; i < 8; i++) dotTail(yp + (<usize>i << 2), w0 + <usize>i * rb, x, d4, dIn);
  }
  for (; r < r1; r++) dotRow(W + <usize>r * rb, x, y + (<usize>r << 2), dIn);
}
