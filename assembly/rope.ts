// Rotary position embedding, in place, on the heads of token rows.
//
// The host supplies per-position tables for one layout (see src/kernels/rope.ts), each
// [positions, headDim]: C[p, j] = cos(angle of j's pair) and S[p, j] = -sin for the first member of
// a pair, +sin for the second. With partner(j) the other member of j's pair,
//   out[j] = x[j] * C[p, j] + x[partner(j)] * S[p, j],
// which is exactly llama2.c's (v0 cos - v1 sin, v0 sin + v1 cos) and HF's x cos + rotate_half(x) sin.
// Layouts: adjacent pairs (j, j^1) (llama2.c, GGUF llama) or halves (j, j +- headDim/2) (HF).
//
// X: [rows, rowStride] f32, heads packed at the start of each row; pos: i32 position per row.
// Work units are rows [r0, r1).
export function rope_f32(X: usize, rowStride: i32, nHeads: i32, headDim: i32, pos: usize,
                         C: usize, S: usize, half: i32, r0: i32, r1: i32): void {
  const tabRow = <usize>headDim << 2;
  const hd = headDim >> 1;
  for (let r = r0; r < r1; r++) {
    const p = <usize>load<i32>(pos + (<usize>r << 2));
    const c = C + p * tabRow;
    const s = S + p * tabRow;
    const row = X + <usize>r * (<usize>rowStride << 2);
    for (let h = 0; h < nHeads; h++) {
      const x = row + <usize>h * tabRow;
      if (half) {
        const hb = <usize>hd << 2;
        let j = 0;
        if ((hd & 3) == 0) {
          for (; j < hd; j += 4) {
            const o = <usize>j << 2;
            const lo = v128.load(x + o), hi = v128.load(x + hb + o);
            v128.store(x + o, f32x4.add(f32x4.mul(lo, v128.load(c + o)), f32x4.mul(hi, v128.load(s + o))));
            v128.store(x + hb + o, f32x4.add(f32x4.mul(hi, v128.load(c + hb + o)), f32x4.mul(lo, v128.load(s + hb + o))));
          }
        }
        for (; j < hd; j++) {
          const o = <usize>j << 2;
          const lo = load<f32>(x + o), hi = load<f32>(x + hb + o);
          store<f32>(x + o, lo * load<f32>(c + o) + hi * load<f32>(s + o));
          store<f32>(x + hb + o, hi * load<f32>(c + hb + o) + lo * load<f32>(s + hb + o));
        }
      } else {
        let j = 0;
        if ((headDim & 3) == 0) {
          for (; j < headDim; j += 4) {
            const o = <usize>j << 2;
            const v = v128.load(x + o);
            const w = v128.shuffle<f32>(v, v, 1, 0, 3, 2);
            v128.store(x + o, f32x4.add(f32x4.mul(v, v128.load(c + o)), f32x4.mul(w, v128.load(s + o))));
          }
        }
        for (; j < headDim; j += 2) {
          const o = <usize>j << 2;
          const x0 = load<f32>(x + o), x1 = load<f32>(x + o, 4);
          store<f32>(x + o, x0 * load<f32>(c + o) + x1 * load<f32>(s + o));
          store<f32>(x + o, x1 * load<f32>(c + o, 4) + x0 * load<f32>(s + o, 4), 4);
        }
      }
    }
  }
}
