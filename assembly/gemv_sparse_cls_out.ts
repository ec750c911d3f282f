// Output-axis 2:4 and 4:8 sparse GEMV on the class-sorted "cls" layout (src/sparse/layout.ts).
// Rows go in groups of 8 (one 4:8 row-group or two 2:4 ones); within a group the columns of one
// class keep the same 4 rows, so a class is a dense 4-row block over a list of columns. Lanes are
// the class's 4 rows: per entry, its 4 kept weights (one vector) times x[j] splatted, one
// multiply-add per 4 kept weights and no gather. j walks the list by one-byte deltas.
// Work units are rows, split at multiples of 8. Each row's sum is fixed by the data alone: per
// (panel, class) unit in order, entry i of the unit goes to chain i mod 4, the chains are summed
// as (0 + 1) + (2 + 3), and that sum is added to the row (lanes of other rows add an exact +0).
// Scratch per thread: x copied panel by panel with a 0 at every zero slot (bridging entries land
// there, so a non-finite x never meets a pruned weight), then 32 bytes for a partial last group.
import { madd } from "./simd";
import { swz } from "./nm_bits";

// Fixed layout constants (CLS_PANEL, CLS_RUN, CLS_PANEL_POS in layout.ts).
// @ts-ignore: decorator
@inline const PANEL: i32 = 4096;
// @ts-ignore: decorator
@inline const RUN: i32 = 252;
// @ts-ignore: decorator
@inline const PP: i32 = 4112;

// x of `cols` columns into xs: panel p at position p * PP, column c of it at c + c / RUN, and a
// 0 at the slot after every full run.
// @ts-ignore: decorator
@inline function clsCopyX(xs: usize, x: usize, cols: i32): void {
  for (let j0 = 0, q0 = 0; j0 < cols; j0 += PANEL, q0 += PP) {
    const w = min(PANEL, cols - j0);
    for (let c = 0; c < w; c += RUN) {
      const n = min(RUN, w - c);
      const dst = xs + ((<usize>(q0 + c + c / RUN)) << 2);
      memory.copy(dst, x + (<usize>(j0 + c) << 2), <usize>n << 2);
      if (n == RUN) store<f32>(dst + (<usize>RUN << 2), 0);
    }
  }
}

// y[r] for the 8-row groups of rows [r0, r1); rows of a padded last group are dropped.
// E = classes (36 for 2:4, 70 for 4:8). A group's chains 0-3 read their values from four
// sub-streams of the (group, panel) region: four sequential reads in flight, as the dense GEMV's
// eight rows (one stream alone leaves DRAM bandwidth unused: see read_sum_f32).
export function gemv_sparse_cls(vals: usize, deltas: usize, counts: usize, starts: usize, lut: usize, x: usize, y: usize, rows: i32, cols: i32, E: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const xs = scratch + <usize>tid * <usize>stride;
  clsCopyX(xs, x, cols);
  const P = (cols + PANEL - 1) / PANEL;
  for (let g = r0 >> 3; (g << 3) < r1; g++) {
    let lo = f32x4.splat(0), hi = lo; // rows 0-3 and 4-7 of the group
    let cn = counts + ((<usize>g * <usize>P * <usize>E) << 1);
    for (let p = 0; p < P; p++) {
      const sp = starts + (<usize>(g * P + p) << 4);
      let dp = deltas + <usize>load<u32>(sp);
      let v0 = vals + (<usize>load<u32>(sp) << 4), v1 = vals + (<usize>load<u32>(sp, 4) << 4);
      let v2 = vals + (<usize>load<u32>(sp, 8) << 4), v3 = vals + (<usize>load<u32>(sp, 12) << 4);
      const base = xs + (<usize>(p * PP) << 2);
      for (let c = 0; c < E; c++) {
        const n = <usize>load<u16>(cn);
        cn += 2;
        if (n == 0) continue;
        let xa = base;
        let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
        // Four independent chains also hide the multiply-add latency.
        const dq = dp + (n & ~3);
        while (dp < dq) {
          xa += <usize>load<u8>(dp) << 2;
          a0 = madd(v128.load(v0), v128.load32_splat(xa), a0);
          xa += <usize>load<u8>(dp, 1) << 2;
          a1 = madd(v128.load(v1), v128.load32_splat(xa), a1);
          xa += <usize>load<u8>(dp, 2) << 2;
          a2 = madd(v128.load(v2), v128.load32_splat(xa), a2);
          xa += <usize>load<u8>(dp, 3) << 2;
          a3 = madd(v128.load(v3), v128.load32_splat(xa), a3);
          dp += 4; v0 += 16; v1 += 16; v2 += 16; v3 += 16;
        }
        const r = n & 3;
        if (r) {
          xa += <usize>load<u8>(dp) << 2;
          a0 = madd(v128.load(v0), v128.load32_splat(xa), a0);
          v0 += 16;
          if (r > 1) {
            xa += <usize>load<u8>(dp, 1) << 2;
            a1 = madd(v128.load(v1), v128.load32_splat(xa), a1);
            v1 += 16;
            if (r > 2) {
              xa += <usize>load<u8>(dp, 2) << 2;
              a2 = madd(v128.load(v2), v128.load32_splat(xa), a2);
              v2 += 16;
            }
          }
          dp += r;
        }
        const s = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
        const m = lut + (<usize>c << 5);
        lo = f32x4.add(lo, swz(s, v128.load(m)));
        hi = f32x4.add(hi, swz(s, v128.load(m, 16)));
      }
    }
    const rb = g << 3;
    if (rb + 8 <= rows) {
      v128.store(y + (<usize>rb << 2), lo);
      v128.store(y + (<usize>rb << 2), hi, 16);
    } else {
      // A partial last group: its padded rows are dropped.
      const tmp = xs + (<usize>(P * PP) << 2);
      v128.store(tmp, lo);
      v128.store(tmp, hi, 16);
      for (let i = 0; rb + i < rows; i++) store<f32>(y + (<usize>(rb + i) << 2), load<f32>(tmp + (<usize>i << 2)));
    }
  }
}
