// Output-axis 2:4 and 4:8 sparse GEMV on the class-sorted "cls" layout (src/sparse/layout.ts).
// Rows go in groups of 8 (one 4:8 row-group or two 2:4 ones); within a group the columns of one
// class keep the same 4 rows, so a class is a dense 4-row block over a list of columns. Lanes are
// the class's 4 rows: per column, its 4 kept weights (one vector) times x[j] splatted, one
// multiply-add per 4 kept weights and no gather. Work units are rows, split at multiples of 8.
// Each row sums its classes in order, each class as one chain over its columns in order,
// whatever the split.
// Scratch per thread: x copied with a zero at index cols (the index of padding columns), then
// 4 x 8 floats of row sums.
import { madd } from "./simd";

// x[j] splatted, j = the u16 index at ip.
// @ts-ignore: decorator
@inline function xs1(xs: usize, ip: usize): v128 {
  return v128.load32_splat(xs + (<usize>load<u16>(ip) << 2));
}

// The columns [vp, ve) of a class into its chain, in order.
// @ts-ignore: decorator
@inline function chain(vp: usize, ip: usize, ve: usize, xs: usize, a: v128): v128 {
  while (vp < ve) {
    a = madd(v128.load(vp), xs1(xs, ip), a);
    vp += 16; ip += 2;
  }
  return a;
}

// Adds a class's 4 row sums (lanes = its kept rows in order) to the group's row sums.
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
// of classes (36 for 2:4, 70 for 4:8). Four groups, one from each quarter of the range, run in
// step class by class (four memory streams; one or two measured 1.2-1.4x slower), one column of
// each per step (more live vectors spill in V8); each class of each group is one chain.
export function gemv_sparse_cls(vals: usize, idx: usize, counts: usize, starts: usize, rowsLut: usize, x: usize, y: usize, rows: i32, cols: i32, E: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const xs = scratch + <usize>tid * <usize>stride;
  memory.copy(xs, x, <usize>cols << 2);
  store<f32>(xs + (<usize>cols << 2), 0);
  const y0 = xs + ((<usize>cols + 16) << 2 & ~63); // 4 groups x 8 row sums
  const cstride = <usize>E << 1;
  const g0 = r0 >> 3, g1 = (r1 + 7) >> 3;
  const q = (g1 - g0 + 3) >> 2;
  for (let i = 0; i < q; i++) {
    const ga = g0 + i, gb = ga + q, gc = gb + q, gd = gc + q;
    if (gd >= g1) {
      for (let g = ga; g < g1; g += q) {
        v128.store(y0, f32x4.splat(0));
        v128.store(y0, f32x4.splat(0), 16);
        let b = <usize>load<u32>(starts + (<usize>g << 2));
        const cn = counts + <usize>g * cstride;
        for (let c = 0; c < E; c++) {
          const n = <usize>load<u16>(cn + (<usize>c << 1));
          if (n) flush(y0, rowsLut, c, chain(vals + (b << 6), idx + (b << 3), vals + ((b + n) << 6), xs, f32x4.splat(0)));
          b += n;
        }
        storeGroup(y, rows, g, y0);
      }
      continue;
    }
    const ya = y0, yb = y0 + 32, yc = y0 + 64, yd = y0 + 96;
    for (let k = 0; k < 8; k++) v128.store(y0 + (<usize>k << 4), f32x4.splat(0));
    let ba = <usize>load<u32>(starts + (<usize>ga << 2)), bb = <usize>load<u32>(starts + (<usize>gb << 2));
    let bc = <usize>load<u32>(starts + (<usize>gc << 2)), bd = <usize>load<u32>(starts + (<usize>gd << 2));
    const ca = counts + <usize>ga * cstride, cb = counts + <usize>gb * cstride;
    const cc = counts + <usize>gc * cstride, cd = counts + <usize>gd * cstride;
    for (let c = 0; c < E; c++) {
      const co = <usize>c << 1;
      const na = <usize>load<u16>(ca + co), nb = <usize>load<u16>(cb + co);
      const nc = <usize>load<u16>(cc + co), nd = <usize>load<u16>(cd + co);
      let va = vals + (ba << 6), ia = idx + (ba << 3), vb = vals + (bb << 6), ib = idx + (bb << 3);
      let vc = vals + (bc << 6), ic = idx + (bc << 3), vd = vals + (bd << 6), id = idx + (bd << 3);
      let a = f32x4.splat(0), b = a, e = a, d = a;
      const ve = va + (min(min(na, nb), min(nc, nd)) << 6);
      while (va < ve) {
        a = madd(v128.load(va), xs1(xs, ia), a);
        b = madd(v128.load(vb), xs1(xs, ib), b);
        e = madd(v128.load(vc), xs1(xs, ic), e);
        d = madd(v128.load(vd), xs1(xs, id), d);
        va += 16; ia += 2; vb += 16; ib += 2; vc += 16; ic += 2; vd += 16; id += 2;
      }
      if (na) flush(ya, rowsLut, c, chain(va, ia, vals + ((ba + na) << 6), xs, a));
      if (nb) flush(yb, rowsLut, c, chain(vb, ib, vals + ((bb + nb) << 6), xs, b));
      if (nc) flush(yc, rowsLut, c, chain(vc, ic, vals + ((bc + nc) << 6), xs, e));
      if (nd) flush(yd, rowsLut, c, chain(vd, id, vals + ((bd + nd) << 6), xs, d));
      ba += na; bb += nb; bc += nc; bd += nd;
    }
    storeGroup(y, rows, ga, ya); storeGroup(y, rows, gb, yb);
    storeGroup(y, rows, gc, yc); storeGroup(y, rows, gd, yd);
  }
}
