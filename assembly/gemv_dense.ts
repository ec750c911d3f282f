import { madd, hsum } from "./simd";

// y[r] = dot(W[r, :], x) for rows r in [r0, r1). W row-major [dOut, dIn].
export function gemv_f32(W: usize, x: usize, y: usize, dIn: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>dIn << 2;
  const d16 = dIn & ~15;
  for (let r = r0; r < r1; r++) {
    const w = W + <usize>r * rowBytes;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let j = 0;
    for (; j < d16; j += 16) {
      const o = <usize>j << 2;
      a0 = madd(v128.load(w + o), v128.load(x + o), a0);
      a1 = madd(v128.load(w + o, 16), v128.load(x + o, 16), a1);
      a2 = madd(v128.load(w + o, 32), v128.load(x + o, 32), a2);
      a3 = madd(v128.load(w + o, 48), v128.load(x + o, 48), a3);
    }
    let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
    for (; j < dIn; j++) s += load<f32>(w + (<usize>j << 2)) * load<f32>(x + (<usize>j << 2));
    store<f32>(y + (<usize>r << 2), s);
  }
}
