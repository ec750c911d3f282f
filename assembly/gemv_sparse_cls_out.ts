// Output-axis 2:4 and 4:8 sparse GEMV on the class-sorted "cls" layout (src/sparse/layout.ts).
// Rows go in groups of 8 (one 4:8 row-group or two 2:4 ones); within a group the columns of one
// class keep the same 4 rows, so a class is a dense 4-row block over a list of columns. Lanes are
// the class's 4 rows: per column, its 4 kept weights (one vector) times x[j] splatted, one
// multiply-add per 4 kept weights and no gather. Work units are rows, split at multiples of 8.
// Each row sums its classes in order, each class as one chain over its columns in order,
// whatever the split.
// Scratch per thread: x copied with a zero at index cols (the index of padding columns), then 8
// floats of row sums.
import { madd } from "./simd";

// x[j] splatted, j = the u16 index at ip + off.
// @ts-ignore: decorator
@inline function xs1(xs: usize, ip: usize, off: usize): v128 {
  return v128.load32_splat(xs + (<usize>load<u16>(ip + off) << 2));
}

// One block (4 columns) into a class's chain, columns in order.
// @ts-ignore: decorator
@inline function block(vp: usize, ip: usize, xs: usize, a: v128): v128 {
  a = madd(v128.load(vp), xs1(xs, ip, 0), a);
  a = madd(v128.load(vp, 16), xs1(xs, ip, 2), a);
  a = madd(v128.load(vp, 32), xs1(xs, ip, 4), a);
  return madd(v128.load(vp, 48), xs1(xs, ip, 6), a);
}

// Adds a class's 4 row sums (lanes = kept rows in order) to the group's row sums.
// @ts-ignore: decorator
@inline function flush(yp: usize, rowsLut: usize, c: i32, s: v128): void {
  const rw = load<u32>(rowsLut + (<usize>c << 2));
  addTo(yp + (<usize>(rw & 255) << 2), f32x4.extract_lane(s, 0));
  addTo(yp + (<usize>((rw >> 8) & 255) << 2), f32x4.extract_lane(s, 1));
  addTo(yp + (<usize>((rw >> 16) & 255) << 2), f32x4.extract_lane(s, 2));
  addTo(yp + (<usize>(rw >> 24) << 2), f32x4.extract_lane(s, 3));
}

// @ts-ignore: decorator
@inline function addTo(p: usize, v: f32): void {
  store<f32>(p, load<f32>(p) + v);
}

// @ts-ignore: decorator
@inline function storeGroup(y: usize, rows: i32, g: i32, yp: usize): void {
  const rb = g << 3;
  if (rb + 8 <= rows) {
    v128.store(y + (<usize>rb << 2), v128.load(yp));
    v128.store(y + (<usize>rb << 2), v128.load(yp, 16), 16);
  } else {
    for (let i = 0; rb + i < rows; i++) store<f32>(y + (<usize>(rb + i) << 2), load<f32>(yp + (<usize>i << 2)));
  }
}

// y[r] for the 8-row groups of rows [r0, r1); rows of a padded last group are dropped. E = number
// of classes (36 for 2:4, 70 for 4:8). Two groups, from the two halves of the range, run in
// step (two memory streams: one measured 1.2x slower), each class of each group as one chain.
export function gemv_sparse_cls(vals: usize, idx: usize, counts: usize, starts: usize, rowsLut: usize, x: usize, y: usize, rows: i32, cols: i32, E: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const xs = scratch + <usize>tid * <usize>stride;
  memory.copy(xs, x, <usize>cols << 2);
  store<f32>(xs + (<usize>cols << 2), 0);
  const ya = xs + ((<usize>cols + 16) << 2 & ~63), yb = ya + 32;
  const g0 = r0 >> 3, g1 = (r1 + 7) >> 3;
  const h = (g1 - g0 + 1) >> 1;
  for (let i = 0; i < h; i++) {
    const ga = g0 + i, gb = ga + h;
    const two = gb < g1;
    v128.store(ya, f32x4.splat(0)); v128.store(ya, f32x4.splat(0), 16);
    v128.store(yb, f32x4.splat(0)); v128.store(yb, f32x4.splat(0), 16);
    let ba = <usize>load<u32>(starts + (<usize>ga << 2));
    let bb = two ? <usize>load<u32>(starts + (<usize>gb << 2)) : 0;
    const ca = counts + <usize>ga * <usize>E * 2, cb = counts + <usize>gb * <usize>E * 2;
    for (let c = 0; c < E; c++) {
      const na = <usize>load<u16>(ca + (<usize>c << 1));
      const nb = two ? <usize>load<u16>(cb + (<usize>c << 1)) : 0;
      let va = vals + (ba << 6), ia = idx + (ba << 3), vb = vals + (bb << 6), ib = idx + (bb << 3);
      let a = f32x4.splat(0), b = a;
      const ve = va + (min(na, nb) << 6);
      while (va < ve) {
        a = block(va, ia, xs, a);
        b = block(vb, ib, xs, b);
        va += 64; ia += 8; vb += 64; ib += 8;
      }
      const vae = vals + ((ba + na) << 6), vbe = vals + ((bb + nb) << 6);
      while (va < vae) { a = block(va, ia, xs, a); va += 64; ia += 8; }
      while (vb < vbe) { b = block(vb, ib, xs, b); vb += 64; ib += 8; }
      if (na) flush(ya, rowsLut, c, a);
      if (nb) flush(yb, rowsLut, c, b);
      ba += na; bb += nb;
    }
    storeGroup(y, rows, ga, ya);
    if (two) storeGroup(y, rows, gb, yb);
  }
}
