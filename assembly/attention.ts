// Causal multi-head attention of a batch of query tokens against a KV cache, with grouped-query
// heads (query head h reads kv head h / (nHeads / nKvHeads), as llama2.c and HF repeat_kv do).
//
// Q, Y: [T, qStride] f32 (heads packed at the start of each row; Y may not alias Q).
// K, V: the layer's cache, [positions, kvStride] f32, row p = position p, already holding rows
//       [0, pos0 + T) (the batch's own keys and values included).
// Query t sits at position pos0 + t and attends to positions [0, pos0 + t].
// Work units are (head, token) pairs, u = h * T + t, so a chunk of units is a run of whole
// triangles (balanced across threads) and each unit's arithmetic is independent of the split.
// scratch: per-thread f32 score rows, thread tid at scratch + tid * scratchStride bytes, room for
// pos0 + T floats.
import { madd, hsum } from "./simd";
import { softmaxRow } from "./activations";

export function attention_f32(Q: usize, K: usize, V: usize, Y: usize, T: i32, pos0: i32,
                              nHeads: i32, nKvHeads: i32, headDim: i32, qStride: i32, kvStride: i32,
                              scale: f32, scratch: usize, scratchStride: i32,
                              r0: i32, r1: i32, tid: i32): void {
  const sc = scratch + <usize>tid * <usize>scratchStride;
  const group = nHeads / nKvHeads;
  const qRow = <usize>qStride << 2;
  const kvRow = <usize>kvStride << 2;
  const hb = <usize>headDim << 2;
  const d16 = headDim & ~15;
  const d4 = headDim & ~3;
  for (let u = r0; u < r1; u++) {
    const h = u / T;
    const t = u - h * T;
    const kvOff = <usize>(h / group) * hb;
    const q = Q + <usize>t * qRow + <usize>h * hb;
    const n = pos0 + t + 1;
    // Scores.
    for (let j = 0; j < n; j++) {
      const k = K + <usize>j * kvRow + kvOff;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let i = 0;
      for (; i < d16; i += 16) {
        const o = <usize>i << 2;
        a0 = madd(v128.load(q + o), v128.load(k + o), a0);
        a1 = madd(v128.load(q + o, 16), v128.load(k + o, 16), a1);
        a2 = madd(v128.load(q + o, 32), v128.load(k + o, 32), a2);
        a3 = madd(v128.load(q + o, 48), v128.load(k + o, 48), a3);
      }
      for (; i < d4; i += 4) {
        const o = <usize>i << 2;
        a0 = madd(v128.load(q + o), v128.load(k + o), a0);
      }
      let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
      for (; i < headDim; i++) s += load<f32>(q + (<usize>i << 2)) * load<f32>(k + (<usize>i << 2));
      store<f32>(sc + (<usize>j << 2), s * scale);
    }
    softmaxRow(sc, n);
    // Weighted sum of values, 16 output dims at a time held in registers.
    const y = Y + <usize>t * qRow + <usize>h * hb;
    let i = 0;
    for (; i < d16; i += 16) {
      const o = <usize>i << 2;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let j = 0; j < n; j++) {
        const p = v128.load32_splat(sc + (<usize>j << 2));
        const v = V + <usize>j * kvRow + kvOff + o;
        a0 = madd(p, v128.load(v), a0);
        a1 = madd(p, v128.load(v, 16), a1);
        a2 = madd(p, v128.load(v, 32), a2);
        a3 = madd(p, v128.load(v, 48), a3);
      }
      v128.store(y + o, a0);
      v128.store(y + o, a1, 16);
      v128.store(y + o, a2, 32);
      v128.store(y + o, a3, 48);
    }
    for (; i < d4; i += 4) {
      const o = <usize>i << 2;
      let a0 = f32x4.splat(0);
      for (let j = 0; j < n; j++) {
        a0 = madd(v128.load32_splat(sc + (<usize>j << 2)), v128.load(V + <usize>j * kvRow + kvOff + o), a0);
      }
      v128.store(y + o, a0);
    }
    for (; i < headDim; i++) {
      const o = <usize>i << 2;
      let a: f32 = 0;
      for (let j = 0; j < n; j++) a += load<f32>(sc + (<usize>j << 2)) * load<f32>(V + <usize>j * kvRow + kvOff + o);
      store<f32>(y + o, a);
    }
  }
}
