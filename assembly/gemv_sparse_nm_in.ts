// General N:M (any M <= 32) along the INPUT axis, straight from the canonical format: each row's
// groups are decoded from the keep masks. Correct for every pattern and tail; the 2:4 and 4:8 fast
// paths live in gemv_sparse_tab8_in.ts.
import { nmMask, nmKept } from "./nm_bits";

// y[r] = sum over kept (r, j) of W[r, j] x[j] for rows [r0, r1). Canonical values/masks.
export function gemv_sparse_nm_in(vals: usize, masks: usize, x: usize, y: usize, cols: i32, n: i32, m: i32, r0: i32, r1: i32): void {
  const gpr = (cols + m - 1) / m;
  const full = cols / m;
  const krow = full * (m - n) + nmKept(cols - full * m, n, m);
  const low: u64 = (<u64>1 << <u64>m) - 1;
  for (let r = r0; r < r1; r++) {
    store<f32>(y + (<usize>r << 2), rowDot(vals + ((<usize>r * <usize>krow) << 2), masks, <u64>r * <u64>gpr * <u64>m, x, gpr, m, low));
  }
}

// Y[t, r] = sum over kept (r, j) of W[r, j] X[t, j]: X token-major [T, cols], Y token-major [T, rows].
// Each token repeats exactly the GEMV arithmetic, so T = 1 matches gemv_sparse_nm_in bit for bit.
export function gemm_sparse_nm_in(vals: usize, masks: usize, X: usize, Y: usize, rows: i32, cols: i32, n: i32, m: i32, T: i32, r0: i32, r1: i32): void {
  const gpr = (cols + m - 1) / m;
  const full = cols / m;
  const krow = full * (m - n) + nmKept(cols - full * m, n, m);
  const low: u64 = (<u64>1 << <u64>m) - 1;
  for (let r = r0; r < r1; r++) {
    const vp = vals + ((<usize>r * <usize>krow) << 2);
    const bit = <u64>r * <u64>gpr * <u64>m;
    for (let t = 0; t < T; t++) {
      const s = rowDot(vp, masks, bit, X + ((<usize>t * <usize>cols) << 2), gpr, m, low);
      store<f32>(Y + ((<usize>t * <usize>rows + <usize>r) << 2), s);
    }
  }
}

// @ts-ignore: decorator
@inline function rowDot(vp: usize, masks: usize, bit: u64, x: usize, gpr: i32, m: i32, low: u64): f32 {
  let s: f32 = 0;
  let xb = x;
  for (let g = 0; g < gpr; g++) {
    let mk = nmMask(masks, bit, low);
    while (mk) {
      s += load<f32>(vp) * load<f32>(xb + (<usize>ctz(mk) << 2));
      vp += 4;
      mk &= mk - 1;
    }
    bit += <u64>m;
    xb += <usize>m << 2;
  }
  return s;
}
