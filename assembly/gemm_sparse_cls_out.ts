// Output-axis 2:4 and 4:8 sparse GEMM on the class-sorted "cls" layout (src/sparse/layout.ts).
// Lanes hold tokens: each thread first transposes its block of 8 tokens of X into Xt[j][t]
// (scratch, with a zero row at j = cols for padding columns); then per column of a class, each of
// the 4 kept weights is splatted against the column's two Xt quads: 4 rows x 2 token quads = 8
// accumulators, 8 multiply-adds per gathered column. Work units are rows, split at multiples of
// 8; padded rows and tokens are dropped.
import { madd } from "./simd";

// @ts-ignore: decorator
@inline function addRow(p: usize, a: v128, off: usize): void {
  v128.store(p + off, f32x4.add(v128.load(p + off), a));
}

// Y[t, r] for tokens [tb0, tb0 + 8) and the 8-row groups of rows [r0, r1). E = number of classes.
export function gemm_sparse_cls(vals: usize, idx: usize, counts: usize, starts: usize, rowsLut: usize, X: usize, Y: usize, rows: i32, cols: i32, E: i32, T: i32, tb0: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const xt = scratch + <usize>tid * <usize>stride;
  // Xt[j][t] = X[tb0 + t][j], 0 for t >= T and for j = cols.
  for (let t = 0; t < 8; t++) {
    const src = X + ((<usize>(tb0 + t) * <usize>cols) << 2);
    const dst = xt + (<usize>t << 2);
    if (tb0 + t < T) {
      for (let j = 0; j < cols; j++) store<f32>(dst + (<usize>j << 5), load<f32>(src + (<usize>j << 2)));
    } else {
      for (let j = 0; j < cols; j++) store<f32>(dst + (<usize>j << 5), 0);
    }
    store<f32>(dst + (<usize>cols << 5), 0);
  }
  const yp = xt + ((((<usize>cols + 1) << 5) + 63) & ~63); // 8 rows x 8 tokens of sums
  for (let g = r0 >> 3; (g << 3) < r1; g++) {
    for (let i = 0; i < 16; i++) v128.store(yp + (<usize>i << 4), f32x4.splat(0));
    let b = <usize>load<u32>(starts + (<usize>g << 2));
    const cnt = counts + <usize>g * <usize>E * 2;
    for (let c = 0; c < E; c++) {
      const nb = <usize>load<u16>(cnt + (<usize>c << 1));
      if (nb == 0) continue;
      let vp = vals + (b << 6), ip = idx + (b << 3);
      const ve = vp + (nb << 6);
      let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
      while (vp < ve) {
        for (let k = 0; k < 4; k++) {
          const xp = xt + (<usize>load<u16>(ip + (<usize>k << 1)) << 5);
          const x0 = v128.load(xp), x1 = v128.load(xp, 16);
          let w = v128.load32_splat(vp + (<usize>k << 4));
          a0 = madd(w, x0, a0); a1 = madd(w, x1, a1);
          w = v128.load32_splat(vp + (<usize>k << 4), 4);
          b0 = madd(w, x0, b0); b1 = madd(w, x1, b1);
          w = v128.load32_splat(vp + (<usize>k << 4), 8);
          c0 = madd(w, x0, c0); c1 = madd(w, x1, c1);
          w = v128.load32_splat(vp + (<usize>k << 4), 12);
          d0 = madd(w, x0, d0); d1 = madd(w, x1, d1);
        }
        vp += 64; ip += 8;
      }
      b += nb;
      const rw = load<u32>(rowsLut + (<usize>c << 2));
      let p = yp + (<usize>(rw & 255) << 5); addRow(p, a0, 0); addRow(p, a1, 16);
      p = yp + (<usize>((rw >> 8) & 255) << 5); addRow(p, b0, 0); addRow(p, b1, 16);
      p = yp + (<usize>((rw >> 16) & 255) << 5); addRow(p, c0, 0); addRow(p, c1, 16);
      p = yp + (<usize>(rw >> 24) << 5); addRow(p, d0, 0); addRow(p, d1, 16);
    }
    const rb = g << 3;
    for (let i = 0; i < 8 && rb + i < rows; i++) {
      for (let t = 0; t < 8 && tb0 + t < T; t++) {
        store<f32>(Y + ((<usize>(tb0 + t) * <usize>rows + <usize>(rb + i)) << 2), load<f32>(yp + (<usize>(i * 8 + t) << 2)));
      }
    }
  }
}
