// Output-axis 2:4 and 4:8 sparse GEMV in the "swz" layout (src/sparse/layout.ts): groups of M rows
// within a column (DaSS's gate/up pattern). A row-group's M outputs are the lanes of one (2:4) or
// two (4:8) accumulators; each column's kept products are routed to their rows by a byte swizzle
// whose mask comes from a 32-byte LUT entry per code. Work units are rows, split at multiples of M.

import { swz } from "./nm_bits";

// 2:4. Per row-group of 4 rows and column pair q: 16 bytes of values (column 2q's two kept values,
// then column 2q+1's) and a code byte 6a + b. lut[code] = two masks routing lanes 0-1 and 2-3.
// Scratch per thread: 16 * ceil(cols / 2) bytes for x duplicated as [x0 x0 x1 x1] per pair.
export function gemv_sparse24_out(vals: usize, codes: usize, lut: usize, x: usize, y: usize, rows: i32, cols: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const Q = (cols + 1) >> 1;
  const xd = scratch + <usize>tid * <usize>stride;
  for (let q = 0; q < Q; q++) {
    const j = q << 1;
    const x1 = j + 1 < cols ? load<f32>(x + (<usize>(j + 1) << 2)) : <f32>0;
    const v = f32x4.replace_lane(f32x4.splat(load<f32>(x + (<usize>j << 2))), 2, x1);
    v128.store(xd + (<usize>q << 4), f32x4.replace_lane(v, 3, x1));
  }
  for (let g = r0 >> 2; (g << 2) < r1; g++) {
    let vp = vals + (<usize>g * <usize>Q << 4);
    let cp = codes + <usize>g * <usize>Q;
    let xp = xd;
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
    let q = 0;
    for (; q + 2 <= Q; q += 2) {
      const p0 = f32x4.mul(v128.load(vp), v128.load(xp));
      const m0 = lut + (<usize>load<u8>(cp) << 5);
      const p1 = f32x4.mul(v128.load(vp, 16), v128.load(xp, 16));
      const m1 = lut + (<usize>load<u8>(cp, 1) << 5);
      a0 = f32x4.add(a0, swz(p0, v128.load(m0)));
      a1 = f32x4.add(a1, swz(p0, v128.load(m0, 16)));
      a2 = f32x4.add(a2, swz(p1, v128.load(m1)));
      a3 = f32x4.add(a3, swz(p1, v128.load(m1, 16)));
      vp += 32; cp += 2; xp += 32;
    }
    if (q < Q) {
      const p0 = f32x4.mul(v128.load(vp), v128.load(xp));
      const m0 = lut + (<usize>load<u8>(cp) << 5);
      a0 = f32x4.add(a0, swz(p0, v128.load(m0)));
      a1 = f32x4.add(a1, swz(p0, v128.load(m0, 16)));
    }
    storeRows(y, g << 2, rows, f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  }
}

// 4:8. Per row-group of 8 rows and column j: 16 bytes of values (the 4 kept, by row) and a code
// byte (rank of the kept 4-subset). lut[code] = masks routing the products to rows 0-3 and 4-7.
export function gemv_sparse48_out(vals: usize, codes: usize, lut: usize, x: usize, y: usize, rows: i32, cols: i32, r0: i32, r1: i32): void {
  for (let g = r0 >> 3; (g << 3) < r1; g++) {
    let vp = vals + (<usize>g * <usize>cols << 4);
    let cp = codes + <usize>g * <usize>cols;
    let xp = x;
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
    let j = 0;
    for (; j + 2 <= cols; j += 2) {
      const p0 = f32x4.mul(v128.load(vp), v128.load32_splat(xp));
      const m0 = lut + (<usize>load<u8>(cp) << 5);
      const p1 = f32x4.mul(v128.load(vp, 16), v128.load32_splat(xp, 4));
      const m1 = lut + (<usize>load<u8>(cp, 1) << 5);
      a0 = f32x4.add(a0, swz(p0, v128.load(m0)));
      a1 = f32x4.add(a1, swz(p0, v128.load(m0, 16)));
      a2 = f32x4.add(a2, swz(p1, v128.load(m1)));
      a3 = f32x4.add(a3, swz(p1, v128.load(m1, 16)));
      vp += 32; cp += 2; xp += 8;
    }
    if (j < cols) {
      const p0 = f32x4.mul(v128.load(vp), v128.load32_splat(xp));
      const m0 = lut + (<usize>load<u8>(cp) << 5);
      a0 = f32x4.add(a0, swz(p0, v128.load(m0)));
      a1 = f32x4.add(a1, swz(p0, v128.load(m0, 16)));
    }
    storeRows(y, g << 3, rows, f32x4.add(a0, a2));
    storeRows(y, (g << 3) + 4, rows, f32x4.add(a1, a3));
  }
}

// y[rb .. rb+3] = v, dropping lanes of padded rows (>= rows).
// @ts-ignore: decorator
@inline function storeRows(y: usize, rb: i32, rows: i32, v: v128): void {
  const o = y + (<usize>rb << 2);
  if (rb + 4 <= rows) { v128.store(o, v); return; }
  if (rb < rows) store<f32>(o, f32x4.extract_lane(v, 0));
  if (rb + 1 < rows) store<f32>(o, f32x4.extract_lane(v, 1), 4);
  if (rb + 2 < rows) store<f32>(o, f32x4.extract_lane(v, 2), 8);
}
