// Output-axis 2:4 and 4:8 sparse GEMV on the class-sorted "cls" layout (src/sparse/layout.ts).
// Within a row-group, the columns of one class keep the same K rows, so a class is a dense
// K-row block over a gathered list of columns: per 4 columns, one gather of x (4 lane loads) feeds
// K multiply-adds of 4 kept weights each. Work units are rows, split at multiples of M.
// Scratch per thread: x copied with a zero at index cols (the index of padding columns), then
// M floats of row sums.
import { madd, hsum } from "./simd";

// x[j] for the 4 indices of a block (u16 at ip).
// @ts-ignore: decorator
@inline function gather4(xs: usize, ip: usize): v128 {
  let v = v128.load32_zero(xs + (<usize>load<u16>(ip) << 2));
  v = v128.load32_lane(xs + (<usize>load<u16>(ip, 2) << 2), v, 1);
  v = v128.load32_lane(xs + (<usize>load<u16>(ip, 4) << 2), v, 2);
  return v128.load32_lane(xs + (<usize>load<u16>(ip, 6) << 2), v, 3);
}

// @ts-ignore: decorator
@inline function copyX(xs: usize, x: usize, cols: i32): usize {
  memory.copy(xs, x, <usize>cols << 2);
  store<f32>(xs + (<usize>cols << 2), 0);
  return xs + ((<usize>cols + 16) << 2 & ~63);
}

// @ts-ignore: decorator
@inline function addTo(p: usize, v: f32): void {
  store<f32>(p, load<f32>(p) + v);
}

// y[r] for the row-groups of rows [r0, r1); rows of a padded last row-group are dropped.
export function gemv_sparse24_cls(vals: usize, idx: usize, counts: usize, starts: usize, rowsLut: usize, x: usize, y: usize, rows: i32, cols: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const xs = scratch + <usize>tid * <usize>stride;
  const yp = copyX(xs, x, cols);
  for (let g = r0 >> 2; (g << 2) < r1; g++) {
    v128.store(yp, f32x4.splat(0));
    let b = <usize>load<u32>(starts + (<usize>g << 2));
    const cnt = counts + <usize>g * 12;
    for (let c = 0; c < 6; c++) {
      const nb = <usize>load<u16>(cnt + (<usize>c << 1));
      if (nb == 0) continue;
      let vp = vals + (b << 5), ip = idx + (b << 3);
      const ve = vp + (nb << 5);
      let a0 = f32x4.splat(0), a1 = a0;
      while (vp < ve) {
        const xv = gather4(xs, ip);
        a0 = madd(v128.load(vp), xv, a0);
        a1 = madd(v128.load(vp, 16), xv, a1);
        vp += 32; ip += 8;
      }
      b += nb;
      const rw = load<u32>(rowsLut + (<usize>c << 2));
      addTo(yp + (<usize>(rw & 255) << 2), hsum(a0));
      addTo(yp + (<usize>((rw >> 8) & 255) << 2), hsum(a1));
    }
    const rb = g << 2;
    if (rb + 4 <= rows) v128.store(y + (<usize>rb << 2), v128.load(yp));
    else for (let i = 0; rb + i < rows; i++) store<f32>(y + (<usize>(rb + i) << 2), load<f32>(yp + (<usize>i << 2)));
  }
}

export function gemv_sparse48_cls(vals: usize, idx: usize, counts: usize, starts: usize, rowsLut: usize, x: usize, y: usize, rows: i32, cols: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const xs = scratch + <usize>tid * <usize>stride;
  const yp = copyX(xs, x, cols);
  for (let g = r0 >> 3; (g << 3) < r1; g++) {
    v128.store(yp, f32x4.splat(0));
    v128.store(yp, f32x4.splat(0), 16);
    let b = <usize>load<u32>(starts + (<usize>g << 2));
    const cnt = counts + <usize>g * 140;
    for (let c = 0; c < 70; c++) {
      const nb = <usize>load<u16>(cnt + (<usize>c << 1));
      if (nb == 0) continue;
      let vp = vals + (b << 6), ip = idx + (b << 3);
      const ve = vp + (nb << 6);
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      while (vp < ve) {
        const xv = gather4(xs, ip);
        a0 = madd(v128.load(vp), xv, a0);
        a1 = madd(v128.load(vp, 16), xv, a1);
        a2 = madd(v128.load(vp, 32), xv, a2);
        a3 = madd(v128.load(vp, 48), xv, a3);
        vp += 64; ip += 8;
      }
      b += nb;
      const rw = load<u32>(rowsLut + (<usize>c << 2));
      addTo(yp + (<usize>(rw & 255) << 2), hsum(a0));
      addTo(yp + (<usize>((rw >> 8) & 255) << 2), hsum(a1));
      addTo(yp + (<usize>((rw >> 16) & 255) << 2), hsum(a2));
      addTo(yp + (<usize>(rw >> 24) << 2), hsum(a3));
    }
    const rb = g << 3;
    for (let i = 0; i < 8 && rb + i < rows; i++) store<f32>(y + (<usize>(rb + i) << 2), load<f32>(yp + (<usize>i << 2)));
  }
}
