// Input-axis 2:4 and 4:8 sparse GEMM on the tab8 layout (src/sparse/layout.ts), Y[t] = W X[t]
// with X, Y token-major. Tokens go in blocks of 8; each block streams the weights once.
// Lanes hold 2 kept weights x 2 tokens: an octet's 4 values become two splatted pairs
// [w0 w1 w0 w1]. For each octet of the panel, a pair table first holds, for every pair (p0, p1)
// of positions an octet can keep, [x_t[p0] x_t[p1] x_u[p0] x_u[p1]] for each of the 4 token
// pairs (t, u); it is then expanded into a code table: entry c (128 bytes) is the pair-table data
// of code c's first kept pair, then of its second. Per octet of a row: one code byte, whose
// entry address is a shift and an add away, two value loads, then per token pair two table
// loads (immediate offsets from the one address) and two multiply-adds. The kernel runs at
// roughly a constant number of instructions per cycle, so instructions are what count: indexing
// the pair table through a LUT per octet (6 more instructions of about 32) ran 2-10% slower on
// the 7B and 1.1B shapes with random masks. The code table's 4.5-8.75 KiB per octet are built
// once per 8-token block for all rows, and the panel's table (140-144 KiB) stays in L2.
// (Measured slower: 16-token blocks, separate accumulators per kept pair (both spill in V8),
// sub-panels smaller than the layout's panel (strided re-reads of the weights), and a chain
// split as a += (v0 * x + v1 * y) (0-5%).)
// Scratch per thread: the code table (panel octets x codes x 128 bytes), the pair table of one
// octet (pairs x 64 bytes), a 512-byte code LUT, two 32-byte zero-padded rows, and 8 floats of
// partial sums per row of the range.
import { madd } from "./simd";

// Pointer to the 8 inputs of octet o of token t, or a zero-padded copy in tmp (t >= T or the
// octet runs past cols).
// @ts-ignore: decorator
@inline function octRow(X: usize, t: i32, T: i32, cols: i32, o: i32, tmp: usize): usize {
  const j = o << 3;
  if (t < T && j + 8 <= cols) return X + ((<usize>t * <usize>cols + <usize>j) << 2);
  v128.store(tmp, f32x4.splat(0));
  v128.store(tmp, f32x4.splat(0), 16);
  if (t < T) for (let i = 0; j + i < cols; i++) store<f32>(tmp + (<usize>i << 2), load<f32>(X + ((<usize>t * <usize>cols + <usize>(j + i)) << 2)));
  return tmp;
}

// [t0 t1 t2 t3] sums from the accumulators of token pairs (t0, t1) and (t2, t3).
// @ts-ignore: decorator
@inline function fold(a: v128, b: v128): v128 {
  return f32x4.add(v128.shuffle<f32>(a, b, 0, 2, 4, 6), v128.shuffle<f32>(a, b, 1, 3, 5, 7));
}

// The rows [r0, r1) over the panel of w octets at octet o0, given the panel's code table
// (`stride` bytes per octet): per row one chain per token pair over the octets in order, added
// to the row's partial sums (or starting them, in the first panel).
// @ts-ignore: decorator
@inline function panelRows(vals: usize, codes: usize, tab: usize, part: usize, rows: i32, o0: i32, w: i32, r0: i32, r1: i32, stride: usize): void {
  const vbase = vals + (<usize>o0 * <usize>rows << 4);
  const cbase = codes + <usize>o0 * <usize>rows;
  for (let r = r0; r < r1; r++) {
    let vp = vbase + (<usize>r * <usize>w << 4);
    let cp = cbase + <usize>r * <usize>w;
    let tp = tab;
    const te = tab + <usize>w * stride;
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
    while (tp < te) {
      const ta = tp + (<usize>load<u8>(cp) << 7);
      const v0 = v128.load64_splat(vp), v1 = v128.load64_splat(vp, 8);
      a0 = madd(v1, v128.load(ta, 64), madd(v0, v128.load(ta), a0));
      a1 = madd(v1, v128.load(ta, 80), madd(v0, v128.load(ta, 16), a1));
      a2 = madd(v1, v128.load(ta, 96), madd(v0, v128.load(ta, 32), a2));
      a3 = madd(v1, v128.load(ta, 112), madd(v0, v128.load(ta, 48), a3));
      vp += 16; cp += 1; tp += stride;
    }
    const pp = part + (<usize>(r - r0) << 5);
    if (o0 == 0) {
      v128.store(pp, fold(a0, a1));
      v128.store(pp, fold(a2, a3), 16);
    } else {
      v128.store(pp, f32x4.add(v128.load(pp), fold(a0, a1)));
      v128.store(pp, f32x4.add(v128.load(pp, 16), fold(a2, a3)), 16);
    }
  }
}

// Y[t, r] for the block's real tokens from the partial sums.
// @ts-ignore: decorator
@inline function storeRows(Y: usize, part: usize, rows: i32, T: i32, tb0: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const pp = part + (<usize>(r - r0) << 5);
    for (let t = 0; t < 8 && tb0 + t < T; t++) store<f32>(Y + ((<usize>(tb0 + t) * <usize>rows + <usize>r) << 2), load<f32>(pp + (<usize>t << 2)));
  }
}

// An octet's code table from its pair table: entry c (128 bytes) holds the 64 bytes of code c's
// first kept pair, then those of its second (lut: their offsets in the pair table).
// @ts-ignore: decorator
@inline function expand(t: usize, pairs: usize, lut: usize, E: i32): void {
  for (let c = 0; c < E; c++) {
    const off = load<u32>(lut + (<usize>c << 2));
    const a = pairs + <usize>(off & 0xffff), b = pairs + <usize>(off >> 16), d = t + (<usize>c << 7);
    v128.store(d, v128.load(a)); v128.store(d, v128.load(a, 16), 16);
    v128.store(d, v128.load(a, 32), 32); v128.store(d, v128.load(a, 48), 48);
    v128.store(d, v128.load(b), 64); v128.store(d, v128.load(b, 16), 80);
    v128.store(d, v128.load(b, 32), 96); v128.store(d, v128.load(b, 48), 112);
  }
}

// 2:4: Y[t, r] for tokens [tb0, tb0 + 8) and rows [r0, r1). Each row's sum: per panel one
// chain per token pair over the octets in order, panels added in order.
export function gemm_sparse24_in(vals: usize, codes: usize, X: usize, Y: usize, rows: i32, cols: i32, T: i32, tb0: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const tab = scratch + <usize>tid * <usize>stride;
  const pairs = tab + 32 * 36 * 128;
  const lut = pairs + 768;
  const tmp0 = lut + 512, tmp1 = tmp0 + 32;
  const part = tmp1 + 32;
  // code -> table offset of the first kept pair | offset of the second << 16
  for (let c = 0; c < 36; c++) store<u32>(lut + (<usize>c << 2), <u32>((c / 6) * 64) | (<u32>((6 + c % 6) * 64) << 16));
  const O = (cols + 7) >> 3;
  for (let o0 = 0; o0 < O; o0 += 32) {
    const w = min(32, O - o0);
    for (let k = 0; k < w; k++) {
      for (let tp = 0; tp < 4; tp++) {
        const q0 = octRow(X, tb0 + 2 * tp, T, cols, o0 + k, tmp0);
        const q1 = octRow(X, tb0 + 2 * tp + 1, T, cols, o0 + k, tmp1);
        build24(pairs + (<usize>tp << 4), v128.load(q0), v128.load(q0, 16), v128.load(q1), v128.load(q1, 16));
      }
      expand(tab + <usize>k * (36 * 128), pairs, lut, 36);
    }
    panelRows(vals, codes, tab, part, rows, o0, w, r0, r1, 36 * 128);
  }
  storeRows(Y, part, rows, T, tb0, r0, r1);
}

// Table entries of one octet and token pair (xa/xb: inputs 0-3 / 4-7 of tokens t, u).
// @ts-ignore: decorator
@inline function build24(t: usize, xa0: v128, xb0: v128, xa1: v128, xb1: v128): void {
  v128.store(t, v128.shuffle<f32>(xa0, xa1, 0, 1, 4, 5), 0);
  v128.store(t, v128.shuffle<f32>(xa0, xa1, 0, 2, 4, 6), 64);
  v128.store(t, v128.shuffle<f32>(xa0, xa1, 0, 3, 4, 7), 128);
  v128.store(t, v128.shuffle<f32>(xa0, xa1, 1, 2, 5, 6), 192);
  v128.store(t, v128.shuffle<f32>(xa0, xa1, 1, 3, 5, 7), 256);
  v128.store(t, v128.shuffle<f32>(xa0, xa1, 2, 3, 6, 7), 320);
  v128.store(t, v128.shuffle<f32>(xb0, xb1, 0, 1, 4, 5), 384);
  v128.store(t, v128.shuffle<f32>(xb0, xb1, 0, 2, 4, 6), 448);
  v128.store(t, v128.shuffle<f32>(xb0, xb1, 0, 3, 4, 7), 512);
  v128.store(t, v128.shuffle<f32>(xb0, xb1, 1, 2, 5, 6), 576);
  v128.store(t, v128.shuffle<f32>(xb0, xb1, 1, 3, 5, 7), 640);
  v128.store(t, v128.shuffle<f32>(xb0, xb1, 2, 3, 6, 7), 704);
}

// 4:8: Y[t, r] for tokens [tb0, tb0 + 8) and rows [r0, r1). Each row's sum: per panel one
// chain per token pair over the octets in order, panels added in order.
export function gemm_sparse48_in(vals: usize, codes: usize, X: usize, Y: usize, rows: i32, cols: i32, T: i32, tb0: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const tab = scratch + <usize>tid * <usize>stride;
  const pairs = tab + 16 * 70 * 128;
  const lut = pairs + 1792;
  const tmp0 = lut + 512, tmp1 = tmp0 + 32;
  const part = tmp1 + 32;
  // code -> table offset of the first kept pair | offset of the second << 16
  store<u32>(lut, 0 | (832 << 16), 0);
  store<u32>(lut, 0 | (896 << 16), 4);
  store<u32>(lut, 0 | (960 << 16), 8);
  store<u32>(lut, 0 | (1024 << 16), 12);
  store<u32>(lut, 0 | (1088 << 16), 16);
  store<u32>(lut, 0 | (1152 << 16), 20);
  store<u32>(lut, 0 | (1216 << 16), 24);
  store<u32>(lut, 0 | (1280 << 16), 28);
  store<u32>(lut, 0 | (1344 << 16), 32);
  store<u32>(lut, 0 | (1408 << 16), 36);
  store<u32>(lut, 0 | (1472 << 16), 40);
  store<u32>(lut, 0 | (1536 << 16), 44);
  store<u32>(lut, 0 | (1600 << 16), 48);
  store<u32>(lut, 0 | (1664 << 16), 52);
  store<u32>(lut, 0 | (1728 << 16), 56);
  store<u32>(lut, 64 | (1152 << 16), 60);
  store<u32>(lut, 64 | (1216 << 16), 64);
  store<u32>(lut, 64 | (1280 << 16), 68);
  store<u32>(lut, 64 | (1344 << 16), 72);
  store<u32>(lut, 64 | (1408 << 16), 76);
  store<u32>(lut, 64 | (1472 << 16), 80);
  store<u32>(lut, 64 | (1536 << 16), 84);
  store<u32>(lut, 64 | (1600 << 16), 88);
  store<u32>(lut, 64 | (1664 << 16), 92);
  store<u32>(lut, 64 | (1728 << 16), 96);
  store<u32>(lut, 128 | (1408 << 16), 100);
  store<u32>(lut, 128 | (1472 << 16), 104);
  store<u32>(lut, 128 | (1536 << 16), 108);
  store<u32>(lut, 128 | (1600 << 16), 112);
  store<u32>(lut, 128 | (1664 << 16), 116);
  store<u32>(lut, 128 | (1728 << 16), 120);
  store<u32>(lut, 192 | (1600 << 16), 124);
  store<u32>(lut, 192 | (1664 << 16), 128);
  store<u32>(lut, 192 | (1728 << 16), 132);
  store<u32>(lut, 256 | (1728 << 16), 136);
  store<u32>(lut, 448 | (1152 << 16), 140);
  store<u32>(lut, 448 | (1216 << 16), 144);
  store<u32>(lut, 448 | (1280 << 16), 148);
  store<u32>(lut, 448 | (1344 << 16), 152);
  store<u32>(lut, 448 | (1408 << 16), 156);
  store<u32>(lut, 448 | (1472 << 16), 160);
  store<u32>(lut, 448 | (1536 << 16), 164);
  store<u32>(lut, 448 | (1600 << 16), 168);
  store<u32>(lut, 448 | (1664 << 16), 172);
  store<u32>(lut, 448 | (1728 << 16), 176);
  store<u32>(lut, 512 | (1408 << 16), 180);
  store<u32>(lut, 512 | (1472 << 16), 184);
  store<u32>(lut, 512 | (1536 << 16), 188);
  store<u32>(lut, 512 | (1600 << 16), 192);
  store<u32>(lut, 512 | (1664 << 16), 196);
  store<u32>(lut, 512 | (1728 << 16), 200);
  store<u32>(lut, 576 | (1600 << 16), 204);
  store<u32>(lut, 576 | (1664 << 16), 208);
  store<u32>(lut, 576 | (1728 << 16), 212);
  store<u32>(lut, 640 | (1728 << 16), 216);
  store<u32>(lut, 832 | (1408 << 16), 220);
  store<u32>(lut, 832 | (1472 << 16), 224);
  store<u32>(lut, 832 | (1536 << 16), 228);
  store<u32>(lut, 832 | (1600 << 16), 232);
  store<u32>(lut, 832 | (1664 << 16), 236);
  store<u32>(lut, 832 | (1728 << 16), 240);
  store<u32>(lut, 896 | (1600 << 16), 244);
  store<u32>(lut, 896 | (1664 << 16), 248);
  store<u32>(lut, 896 | (1728 << 16), 252);
  store<u32>(lut, 960 | (1728 << 16), 256);
  store<u32>(lut, 1152 | (1600 << 16), 260);
  store<u32>(lut, 1152 | (1664 << 16), 264);
  store<u32>(lut, 1152 | (1728 << 16), 268);
  store<u32>(lut, 1216 | (1728 << 16), 272);
  store<u32>(lut, 1408 | (1728 << 16), 276);
  const O = (cols + 7) >> 3;
  for (let o0 = 0; o0 < O; o0 += 16) {
    const w = min(16, O - o0);
    for (let k = 0; k < w; k++) {
      for (let tp = 0; tp < 4; tp++) {
        const q0 = octRow(X, tb0 + 2 * tp, T, cols, o0 + k, tmp0);
        const q1 = octRow(X, tb0 + 2 * tp + 1, T, cols, o0 + k, tmp1);
        build48(pairs + (<usize>tp << 4), v128.load(q0), v128.load(q0, 16), v128.load(q1), v128.load(q1, 16));
      }
      expand(tab + <usize>k * (70 * 128), pairs, lut, 70);
    }
    panelRows(vals, codes, tab, part, rows, o0, w, r0, r1, 70 * 128);
  }
  storeRows(Y, part, rows, T, tb0, r0, r1);
}

// Table entries of one octet and token pair (xa/xb: inputs 0-3 / 4-7 of tokens t, u).
// @ts-ignore: decorator
@inline function build48(t: usize, xa0: v128, xb0: v128, xa1: v128, xb1: v128): void {
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 0, 1, 0, 1), v128.shuffle<f32>(xa1, xb1, 0, 1, 0, 1), 0, 1, 4, 5), 0);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 0, 2, 0, 2), v128.shuffle<f32>(xa1, xb1, 0, 2, 0, 2), 0, 1, 4, 5), 64);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 0, 3, 0, 3), v128.shuffle<f32>(xa1, xb1, 0, 3, 0, 3), 0, 1, 4, 5), 128);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 0, 4, 0, 4), v128.shuffle<f32>(xa1, xb1, 0, 4, 0, 4), 0, 1, 4, 5), 192);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 0, 5, 0, 5), v128.shuffle<f32>(xa1, xb1, 0, 5, 0, 5), 0, 1, 4, 5), 256);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 0, 6, 0, 6), v128.shuffle<f32>(xa1, xb1, 0, 6, 0, 6), 0, 1, 4, 5), 320);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 0, 7, 0, 7), v128.shuffle<f32>(xa1, xb1, 0, 7, 0, 7), 0, 1, 4, 5), 384);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 1, 2, 1, 2), v128.shuffle<f32>(xa1, xb1, 1, 2, 1, 2), 0, 1, 4, 5), 448);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 1, 3, 1, 3), v128.shuffle<f32>(xa1, xb1, 1, 3, 1, 3), 0, 1, 4, 5), 512);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 1, 4, 1, 4), v128.shuffle<f32>(xa1, xb1, 1, 4, 1, 4), 0, 1, 4, 5), 576);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 1, 5, 1, 5), v128.shuffle<f32>(xa1, xb1, 1, 5, 1, 5), 0, 1, 4, 5), 640);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 1, 6, 1, 6), v128.shuffle<f32>(xa1, xb1, 1, 6, 1, 6), 0, 1, 4, 5), 704);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 1, 7, 1, 7), v128.shuffle<f32>(xa1, xb1, 1, 7, 1, 7), 0, 1, 4, 5), 768);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 2, 3, 2, 3), v128.shuffle<f32>(xa1, xb1, 2, 3, 2, 3), 0, 1, 4, 5), 832);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 2, 4, 2, 4), v128.shuffle<f32>(xa1, xb1, 2, 4, 2, 4), 0, 1, 4, 5), 896);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 2, 5, 2, 5), v128.shuffle<f32>(xa1, xb1, 2, 5, 2, 5), 0, 1, 4, 5), 960);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 2, 6, 2, 6), v128.shuffle<f32>(xa1, xb1, 2, 6, 2, 6), 0, 1, 4, 5), 1024);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 2, 7, 2, 7), v128.shuffle<f32>(xa1, xb1, 2, 7, 2, 7), 0, 1, 4, 5), 1088);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 3, 4, 3, 4), v128.shuffle<f32>(xa1, xb1, 3, 4, 3, 4), 0, 1, 4, 5), 1152);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 3, 5, 3, 5), v128.shuffle<f32>(xa1, xb1, 3, 5, 3, 5), 0, 1, 4, 5), 1216);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 3, 6, 3, 6), v128.shuffle<f32>(xa1, xb1, 3, 6, 3, 6), 0, 1, 4, 5), 1280);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 3, 7, 3, 7), v128.shuffle<f32>(xa1, xb1, 3, 7, 3, 7), 0, 1, 4, 5), 1344);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 4, 5, 4, 5), v128.shuffle<f32>(xa1, xb1, 4, 5, 4, 5), 0, 1, 4, 5), 1408);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 4, 6, 4, 6), v128.shuffle<f32>(xa1, xb1, 4, 6, 4, 6), 0, 1, 4, 5), 1472);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 4, 7, 4, 7), v128.shuffle<f32>(xa1, xb1, 4, 7, 4, 7), 0, 1, 4, 5), 1536);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 5, 6, 5, 6), v128.shuffle<f32>(xa1, xb1, 5, 6, 5, 6), 0, 1, 4, 5), 1600);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 5, 7, 5, 7), v128.shuffle<f32>(xa1, xb1, 5, 7, 5, 7), 0, 1, 4, 5), 1664);
  v128.store(t, v128.shuffle<f32>(v128.shuffle<f32>(xa0, xb0, 6, 7, 6, 7), v128.shuffle<f32>(xa1, xb1, 6, 7, 6, 7), 0, 1, 4, 5), 1728);
}
