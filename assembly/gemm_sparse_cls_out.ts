// Output-axis 2:4 and 4:8 sparse GEMM on the class-sorted "cls" layout (src/sparse/layout.ts).
// Lanes hold tokens: each thread first transposes its token block of X into Xt[j][t] (scratch,
// with a zero row at j = cols for padding columns); then per column of a class, each of the K kept
// weights is splatted against the column's Xt row. 2:4 works on 16 tokens (2 rows x 4 token
// quads = 8 accumulators), 4:8 on 8 tokens (4 rows x 2 quads). Work units are rows, split at
// multiples of M; padded rows and tokens are dropped.
import { madd } from "./simd";

// Xt[j][t] = X[tb0 + t][j] (0 for t >= T or j = cols), TB tokens per row of Xt. Returns the
// scratch past Xt.
// @ts-ignore: decorator
@inline function transpose(xt: usize, X: usize, cols: i32, T: i32, tb0: i32, TB: i32): usize {
  for (let t = 0; t < TB; t++) {
    const src = X + ((<usize>(tb0 + t) * <usize>cols) << 2);
    const dst = xt + (<usize>t << 2);
    const step = <usize>TB << 2;
    if (tb0 + t < T) {
      for (let j = 0; j < cols; j++) store<f32>(dst + <usize>j * step, load<f32>(src + (<usize>j << 2)));
    } else {
      for (let j = 0; j < cols; j++) store<f32>(dst + <usize>j * step, 0);
    }
    store<f32>(dst + <usize>cols * step, 0);
  }
  return xt + ((((<usize>cols + 1) * <usize>TB) << 2) + 63 & ~63);
}

// @ts-ignore: decorator
@inline function addRow(p: usize, a: v128, off: usize): void {
  v128.store(p + off, f32x4.add(v128.load(p + off), a));
}

// Y[t, r] for tokens [tb0, tb0 + 16) and the row-groups of rows [r0, r1).
export function gemm_sparse24_cls(vals: usize, idx: usize, counts: usize, starts: usize, rowsLut: usize, X: usize, Y: usize, rows: i32, cols: i32, T: i32, tb0: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const xt = scratch + <usize>tid * <usize>stride;
  const yp = transpose(xt, X, cols, T, tb0, 16); // 4 rows x 16 tokens of sums
  for (let g = r0 >> 2; (g << 2) < r1; g++) {
    for (let i = 0; i < 16; i++) v128.store(yp + (<usize>i << 4), f32x4.splat(0));
    let b = <usize>load<u32>(starts + (<usize>g << 2));
    const cnt = counts + <usize>g * 12;
    for (let c = 0; c < 6; c++) {
      const nb = <usize>load<u16>(cnt + (<usize>c << 1));
      if (nb == 0) continue;
      let vp = vals + (b << 5), ip = idx + (b << 3);
      const ve = vp + (nb << 5);
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      while (vp < ve) {
        for (let k = 0; k < 4; k++) {
          const xp = xt + (<usize>load<u16>(ip + (<usize>k << 1)) << 6);
          const w0 = v128.load32_splat(vp + (<usize>k << 2)), w1 = v128.load32_splat(vp + (<usize>k << 2), 16);
          let xv = v128.load(xp);
          a0 = madd(w0, xv, a0); b0 = madd(w1, xv, b0);
          xv = v128.load(xp, 16);
          a1 = madd(w0, xv, a1); b1 = madd(w1, xv, b1);
          xv = v128.load(xp, 32);
          a2 = madd(w0, xv, a2); b2 = madd(w1, xv, b2);
          xv = v128.load(xp, 48);
          a3 = madd(w0, xv, a3); b3 = madd(w1, xv, b3);
        }
        vp += 32; ip += 8;
      }
      b += nb;
      const rw = load<u32>(rowsLut + (<usize>c << 2));
      const p0 = yp + (<usize>(rw & 255) << 6), p1 = yp + (<usize>((rw >> 8) & 255) << 6);
      addRow(p0, a0, 0); addRow(p0, a1, 16); addRow(p0, a2, 32); addRow(p0, a3, 48);
      addRow(p1, b0, 0); addRow(p1, b1, 16); addRow(p1, b2, 32); addRow(p1, b3, 48);
    }
    const rb = g << 2;
    for (let i = 0; i < 4 && rb + i < rows; i++) {
      for (let t = 0; t < 16 && tb0 + t < T; t++) {
        store<f32>(Y + ((<usize>(tb0 + t) * <usize>rows + <usize>(rb + i)) << 2), load<f32>(yp + (<usize>(i * 16 + t) << 2)));
      }
    }
  }
}

// Y[t, r] for tokens [tb0, tb0 + 8) and the row-groups of rows [r0, r1).
export function gemm_sparse48_cls(vals: usize, idx: usize, counts: usize, starts: usize, rowsLut: usize, X: usize, Y: usize, rows: i32, cols: i32, T: i32, tb0: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const xt = scratch + <usize>tid * <usize>stride;
  const yp = transpose(xt, X, cols, T, tb0, 8); // 8 rows x 8 tokens of sums
  for (let g = r0 >> 3; (g << 3) < r1; g++) {
    for (let i = 0; i < 16; i++) v128.store(yp + (<usize>i << 4), f32x4.splat(0));
    let b = <usize>load<u32>(starts + (<usize>g << 2));
    const cnt = counts + <usize>g * 140;
    for (let c = 0; c < 70; c++) {
      const nb = <usize>load<u16>(cnt + (<usize>c << 1));
      if (nb == 0) continue;
      let vp = vals + (b << 6), ip = idx + (b << 3);
      const ve = vp + (nb << 6);
      let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
      while (vp < ve) {
        for (let k = 0; k < 4; k++) {
          const xp = xt + (<usize>load<u16>(ip + (<usize>k << 1)) << 5);
          const x0 = v128.load(xp), x1 = v128.load(xp, 16);
          let w = v128.load32_splat(vp + (<usize>k << 2));
          a0 = madd(w, x0, a0); a1 = madd(w, x1, a1);
          w = v128.load32_splat(vp + (<usize>k << 2), 16);
          b0 = madd(w, x0, b0); b1 = madd(w, x1, b1);
          w = v128.load32_splat(vp + (<usize>k << 2), 32);
          c0 = madd(w, x0, c0); c1 = madd(w, x1, c1);
          w = v128.load32_splat(vp + (<usize>k << 2), 48);
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

// 2:4 on 8 tokens (a T = 8 call, or the last < 9 tokens): 2 rows x 2 token quads.
export function gemm_sparse24_cls8(vals: usize, idx: usize, counts: usize, starts: usize, rowsLut: usize, X: usize, Y: usize, rows: i32, cols: i32, T: i32, tb0: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const xt = scratch + <usize>tid * <usize>stride;
  const yp = transpose(xt, X, cols, T, tb0, 8); // 4 rows x 8 tokens of sums
  for (let g = r0 >> 2; (g << 2) < r1; g++) {
    for (let i = 0; i < 8; i++) v128.store(yp + (<usize>i << 4), f32x4.splat(0));
    let b = <usize>load<u32>(starts + (<usize>g << 2));
    const cnt = counts + <usize>g * 12;
    for (let c = 0; c < 6; c++) {
      const nb = <usize>load<u16>(cnt + (<usize>c << 1));
      if (nb == 0) continue;
      let vp = vals + (b << 5), ip = idx + (b << 3);
      const ve = vp + (nb << 5);
      let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0;
      while (vp < ve) {
        for (let k = 0; k < 4; k++) {
          const xp = xt + (<usize>load<u16>(ip + (<usize>k << 1)) << 5);
          const w0 = v128.load32_splat(vp + (<usize>k << 2)), w1 = v128.load32_splat(vp + (<usize>k << 2), 16);
          const x0 = v128.load(xp), x1 = v128.load(xp, 16);
          a0 = madd(w0, x0, a0); b0 = madd(w1, x0, b0);
          a1 = madd(w0, x1, a1); b1 = madd(w1, x1, b1);
        }
        vp += 32; ip += 8;
      }
      b += nb;
      const rw = load<u32>(rowsLut + (<usize>c << 2));
      const p0 = yp + (<usize>(rw & 255) << 5), p1 = yp + (<usize>((rw >> 8) & 255) << 5);
      addRow(p0, a0, 0); addRow(p0, a1, 16);
      addRow(p1, b0, 0); addRow(p1, b1, 16);
    }
    const rb = g << 2;
    for (let i = 0; i < 4 && rb + i < rows; i++) {
      for (let t = 0; t < 8 && tb0 + t < T; t++) {
        store<f32>(Y + ((<usize>(tb0 + t) * <usize>rows + <usize>(rb + i)) << 2), load<f32>(yp + (<usize>(i * 8 + t) << 2)));
      }
    }
  }
}
