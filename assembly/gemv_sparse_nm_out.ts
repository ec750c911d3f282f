// General N:M (any M <= 32) along the OUTPUT axis (groups of M rows within a column, DaSS's
// gate/up pattern), straight from the canonical format. Work units are rows; the host must split
// them at multiples of M (grain = M) so that a row-group is never shared by two threads.
import { nmMask } from "./nm_bits";

// y[r] = sum over kept (r, j) of W[r, j] x[j]; each row sums in column order.
export function gemv_sparse_nm_out(vals: usize, masks: usize, x: usize, y: usize, rows: i32, cols: i32, n: i32, m: i32, r0: i32, r1: i32): void {
  groups(vals, masks, x, y, rows, cols, n, m, r0, r1);
}

// Y[t] = W X[t] for T tokens (X [T, cols], Y [T, rows], token-major); per token the GEMV arithmetic.
export function gemm_sparse_nm_out(vals: usize, masks: usize, X: usize, Y: usize, rows: i32, cols: i32, n: i32, m: i32, T: i32, r0: i32, r1: i32): void {
  for (let t = 0; t < T; t++) {
    groups(vals, masks, X + ((<usize>t * <usize>cols) << 2), Y + ((<usize>t * <usize>rows) << 2), rows, cols, n, m, r0, r1);
  }
}

// @ts-ignore: decorator
@inline function groups(vals: usize, masks: usize, x: usize, y: usize, rows: i32, cols: i32, n: i32, m: i32, r0: i32, r1: i32): void {
  const low: u64 = (<u64>1 << <u64>m) - 1;
  for (let g = r0 / m; g * m < r1; g++) {
    const rb = g * m;
    const len = min(m, rows - rb);
    const yb = y + (<usize>rb << 2);
    for (let i = 0; i < len; i++) store<f32>(yb + (<usize>i << 2), 0);
    // Every earlier row-group is full: cols groups of M - N values.
    let vp = vals + ((<usize>g * <usize>cols * <usize>(m - n)) << 2);
    let bit = <u64>g * <u64>cols * <u64>m;
    for (let j = 0; j < cols; j++) {
      const xj = load<f32>(x + (<usize>j << 2));
      let mk = nmMask(masks, bit, low);
      while (mk) {
        const o = yb + (<usize>ctz(mk) << 2);
        store<f32>(o, load<f32>(o) + load<f32>(vp) * xj);
        vp += 4;
        mk &= mk - 1;
      }
      bit += <u64>m;
    }
  }
}
