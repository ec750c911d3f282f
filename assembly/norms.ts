// RMSNorm over the rows of a row-major [rows, d] matrix:
//   Y[r, j] = (X[r, j] * inv_r) * w'[j],  inv_r = 1 / sqrt(mean_j X[r, j]^2 + eps),
// with w' = w (LLaMA) or 1 + w (Gemma). The sum of squares is accumulated in f64 (cheap next to a
// matmul, and it keeps large-d rows exact enough that the order of summation does not matter).
// Y may alias X.
export function rmsnorm_f32(X: usize, w: usize, Y: usize, d: i32, eps: f64, plusOne: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>d << 2;
  for (let r = r0; r < r1; r++) {
    const x = X + <usize>r * rowBytes;
    const y = Y + <usize>r * rowBytes;
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
    let j = 0;
    for (; j + 4 <= d; j += 4) {
      const v = v128.load(x + (<usize>j << 2));
      const lo = f64x2.promote_low_f32x4(v);
      const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
      a0 = f64x2.add(a0, f64x2.mul(lo, lo));
      a1 = f64x2.add(a1, f64x2.mul(hi, hi));
    }
    let ss = (f64x2.extract_lane(a0, 0) + f64x2.extract_lane(a0, 1)) +
             (f64x2.extract_lane(a1, 0) + f64x2.extract_lane(a1, 1));
    for (; j < d; j++) {
      const v = <f64>load<f32>(x + (<usize>j << 2));
      ss += v * v;
    }
    const inv = <f32>(1.0 / Math.sqrt(ss / <f64>d + eps));
    const iv = f32x4.splat(inv);
    j = 0;
    if (plusOne) {
      const one = f32x4.splat(1.0);
      for (; j + 4 <= d; j += 4) {
        const o = <usize>j << 2;
        v128.store(y + o, f32x4.mul(f32x4.mul(v128.load(x + o), iv), f32x4.add(one, v128.load(w + o))));
      }
      for (; j < d; j++) {
        const o = <usize>j << 2;
        store<f32>(y + o, (load<f32>(x + o) * inv) * (<f32>1.0 + load<f32>(w + o)));
      }
    } else {
      for (; j + 4 <= d; j += 4) {
        const o = <usize>j << 2;
        v128.store(y + o, f32x4.mul(f32x4.mul(v128.load(x + o), iv), v128.load(w + o)));
      }
      for (; j < d; j++) {
        const o = <usize>j << 2;
        store<f32>(y + o, (load<f32>(x + o) * inv) * load<f32>(w + o));
      }
    }
  }
}
