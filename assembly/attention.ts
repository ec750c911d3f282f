// Causal multi-head attention of a batch of query tokens against a KV cache, with grouped-query
// heads (query head h reads kv head h / (nHeads / nKvHeads), as llama2.c and HF repeat_kv do).
//
// Q, Y: [T, qStride] f32 (heads packed at the start of each row; Y may not alias Q).
// K, V: the layer's cache, head-major [nKvHeads, capacity, headDim] f32: each kv head's keys are
//       contiguous, so a query streams them. Position j sits in row j % capacity: a cache of the whole
//       sequence (capacity >= pos0 + T) never wraps, and a sliding-window layer's ring of
//       window + T - 1 rows or more still holds every key the batch attends to. They already hold the
//       batch's own keys and values (see kv_store_f32).
// Query t sits at position pos0 + t and attends to positions [0, pos0 + t], or with a sliding
// window (window > 0) to the last `window` of them, [max(0, pos0 + t + 1 - window), pos0 + t].
//
// Work units are (kv head, token) pairs, u = kvh * T + t: one unit serves the kv head's whole
// group of query heads, so each key and value row is fetched from cache/memory once per group
// (GQA models share a kv head among 4-8 query heads) and reused from L1. Values are consumed in
// chunks of VCHUNK keys for that reuse. A chunk of units is a run of whole triangles (balanced
// across threads). Each query's arithmetic depends only on its own position, never on T, pos0 or
// the split: a prefill and a sequence of decode steps give identical bits.
// scratch: per-thread, thread tid at scratch + tid * scratchStride bytes, room for
// group * (keys + 3) + group floats, keys = the most any query attends to (a score row per query
// head of the group, then totals).
import { madd } from "./simd";
import { expRowSum, softcap_f32 } from "./activations";

// Keys per value chunk: 64 rows of up to 256 floats stay within L1/L2 while the group reuses them.
// @ts-ignore: decorator
@inline const VCHUNK = 64;

// The dot product of one key: lanes accumulated over the head in steps of 4, then (l0+l2)+(l1+l3),
// the same order as the 4-key transposed reduction below.
// @ts-ignore: decorator
@inline function reduce1(a: v128): f32 {
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 2)) + (f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 3));
}

// Scores sc[j] = scale * q . k_j for keys j < n of one query head.
// @ts-ignore: decorator
@inline function scores(q: usize, kb: usize, sc: usize, n: i32, headDim: i32, scale: f32): void {
  const hb = <usize>headDim << 2;
  let j = 0;
  if ((headDim & 3) == 0) {
    const sv = f32x4.splat(scale);
    for (; j + 4 <= n; j += 4) {
      const k0 = kb + <usize>j * hb, k1 = k0 + hb, k2 = k1 + hb, k3 = k2 + hb;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let i = 0; i < headDim; i += 4) {
        const o = <usize>i << 2;
        const qv = v128.load(q + o);
        a0 = madd(qv, v128.load(k0 + o), a0);
        a1 = madd(qv, v128.load(k1 + o), a1);
        a2 = madd(qv, v128.load(k2 + o), a2);
        a3 = madd(qv, v128.load(k3 + o), a3);
      }
      const t01 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
      const t23 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
      const s = f32x4.add(v128.shuffle<f32>(t01, t23, 0, 1, 4, 5), v128.shuffle<f32>(t01, t23, 2, 3, 6, 7));
      v128.store(sc + (<usize>j << 2), f32x4.mul(s, sv));
    }
    for (; j < n; j++) {
      const k0 = kb + <usize>j * hb;
      let a0 = f32x4.splat(0);
      for (let i = 0; i < headDim; i += 4) {
        const o = <usize>i << 2;
        a0 = madd(v128.load(q + o), v128.load(k0 + o), a0);
      }
      store<f32>(sc + (<usize>j << 2), reduce1(a0) * scale);
    }
  } else {
    for (; j < n; j++) {
      const k0 = kb + <usize>j * hb;
      let s: f32 = 0;
      for (let i = 0; i < headDim; i++) s += load<f32>(q + (<usize>i << 2)) * load<f32>(k0 + (<usize>i << 2));
      store<f32>(sc + (<usize>j << 2), s * scale);
    }
  }
}

// y (+)= sum_{j0 <= j < j1} p[j] v_j over the head's dims; `first` stores instead of adding.
// @ts-ignore: decorator
@inline function weighted(y: usize, p: usize, vb: usize, j0: i32, j1: i32, headDim: i32, first: bool): void {
  const hb = <usize>headDim << 2;
  let i = 0;
  if ((headDim & 3) == 0) {
    for (; i + 16 <= headDim; i += 16) {
      const o = <usize>i << 2;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
      let j = j0;
      for (; j + 2 <= j1; j += 2) {
        const p0 = v128.load32_splat(p + (<usize>j << 2));
        const p1 = v128.load32_splat(p + (<usize>j << 2), 4);
        const v0 = vb + <usize>j * hb + o, v1 = v0 + hb;
        a0 = madd(p0, v128.load(v0), a0);
        a1 = madd(p0, v128.load(v0, 16), a1);
        a2 = madd(p0, v128.load(v0, 32), a2);
        a3 = madd(p0, v128.load(v0, 48), a3);
        b0 = madd(p1, v128.load(v1), b0);
        b1 = madd(p1, v128.load(v1, 16), b1);
        b2 = madd(p1, v128.load(v1, 32), b2);
        b3 = madd(p1, v128.load(v1, 48), b3);
      }
      if (j < j1) {
        const p0 = v128.load32_splat(p + (<usize>j << 2));
        const v0 = vb + <usize>j * hb + o;
        a0 = madd(p0, v128.load(v0), a0);
        a1 = madd(p0, v128.load(v0, 16), a1);
        a2 = madd(p0, v128.load(v0, 32), a2);
        a3 = madd(p0, v128.load(v0, 48), a3);
      }
      a0 = f32x4.add(a0, b0); a1 = f32x4.add(a1, b1); a2 = f32x4.add(a2, b2); a3 = f32x4.add(a3, b3);
      if (!first) {
        a0 = f32x4.add(v128.load(y + o), a0);
        a1 = f32x4.add(v128.load(y + o, 16), a1);
        a2 = f32x4.add(v128.load(y + o, 32), a2);
        a3 = f32x4.add(v128.load(y + o, 48), a3);
      }
      v128.store(y + o, a0);
      v128.store(y + o, a1, 16);
      v128.store(y + o, a2, 32);
      v128.store(y + o, a3, 48);
    }
    for (; i < headDim; i += 4) {
      const o = <usize>i << 2;
      let a0 = f32x4.splat(0), b0 = f32x4.splat(0), c0 = f32x4.splat(0), d0 = f32x4.splat(0);
      let j = j0;
      for (; j + 4 <= j1; j += 4) {
        const v0 = vb + <usize>j * hb + o;
        const pp = p + (<usize>j << 2);
        a0 = madd(v128.load32_splat(pp), v128.load(v0), a0);
        b0 = madd(v128.load32_splat(pp, 4), v128.load(v0 + hb), b0);
        c0 = madd(v128.load32_splat(pp, 8), v128.load(v0 + 2 * hb), c0);
        d0 = madd(v128.load32_splat(pp, 12), v128.load(v0 + 3 * hb), d0);
      }
      for (; j < j1; j++) {
        a0 = madd(v128.load32_splat(p + (<usize>j << 2)), v128.load(vb + <usize>j * hb + o), a0);
      }
      let s = f32x4.add(f32x4.add(a0, b0), f32x4.add(c0, d0));
      if (!first) s = f32x4.add(v128.load(y + o), s);
      v128.store(y + o, s);
    }
  } else {
    for (; i < headDim; i++) {
      const o = <usize>i << 2;
      let a: f32 = 0;
      for (let j = j0; j < j1; j++) a += load<f32>(p + (<usize>j << 2)) * load<f32>(vb + <usize>j * hb + o);
      store<f32>(y + o, first ? a : load<f32>(y + o) + a);
    }
  }
}

export function attention_f32(Q: usize, K: usize, V: usize, Y: usize, T: i32, pos0: i32,
                              nHeads: i32, nKvHeads: i32, headDim: i32, qStride: i32, capacity: i32,
                              scale: f32, softcap: f32, window: i32, scratch: usize, scratchStride: i32,
                              r0: i32, r1: i32, tid: i32): void {
  const sc = scratch + <usize>tid * <usize>scratchStride;
  const group = nHeads / nKvHeads;
  const qRow = <usize>qStride << 2;
  const hb = <usize>headDim << 2;
  const headBytes = <usize>capacity * hb;
  for (let u = r0; u < r1; u++) {
    const kvh = u / T;
    const t = u - kvh * T;
    // Keys [j0, j0 + n): the scores start at the window's first key. In a ring the run may wrap:
    // its first nA keys from row j0 % capacity on, the rest from row 0.
    const j0 = window > 0 ? max(0, pos0 + t + 1 - window) : 0;
    const n = pos0 + t + 1 - j0;
    const s0 = j0 % capacity;
    const nA = min(n, capacity - s0);
    const kHead = K + <usize>kvh * headBytes, vHead = V + <usize>kvh * headBytes;
    const rowBytes = <usize>((n + 3) & ~3) << 2;
    const zs = sc + <usize>group * rowBytes;
    const h0 = kvh * group;
    // Scores and softmax numerators of every query head of the group (the key rows stay hot).
    for (let g = 0; g < group; g++) {
      const p = sc + <usize>g * rowBytes;
      const q = Q + <usize>t * qRow + <usize>(h0 + g) * hb;
      scores(q, kHead + <usize>s0 * hb, p, nA, headDim, scale);
      if (nA < n) scores(q, kHead, p + (<usize>nA << 2), n - nA, headDim, scale);
      if (softcap > 0) softcap_f32(p, softcap, 0, n);
      store<f32>(zs + (<usize>g << 2), expRowSum(p, n));
    }
    // Weighted sums, a chunk of value rows at a time for the whole group. Score j's value row is at
    // vA + j * hb before the wrap and at vB + j * hb after it (row j - nA).
    const vA = vHead + <usize>s0 * hb, vB = vHead - <usize>nA * hb;
    const y0 = Y + <usize>t * qRow + <usize>h0 * hb;
    for (let c0 = 0; c0 < n; c0 += VCHUNK) {
      const c1 = min(n, c0 + VCHUNK);
      for (let g = 0; g < group; g++) {
        const y = y0 + <usize>g * hb, p = sc + <usize>g * rowBytes;
        if (c0 < nA) weighted(y, p, vA, c0, min(c1, nA), headDim, c0 == 0);
        if (c1 > nA) weighted(y, p, vB, max(c0, nA), c1, headDim, false); // nA >= 1: the first chunk starts before the wrap
      }
    }
    // Divide by the softmax totals once.
    for (let g = 0; g < group; g++) {
      const y = y0 + <usize>g * hb;
      const zv = v128.load32_splat(zs + (<usize>g << 2));
      let i = 0;
      for (; i + 4 <= headDim; i += 4) {
        const o = <usize>i << 2;
        v128.store(y + o, f32x4.div(v128.load(y + o), zv));
      }
      for (; i < headDim; i++) {
        const o = <usize>i << 2;
        store<f32>(y + o, load<f32>(y + o) / f32x4.extract_lane(zv, 0));
      }
    }
  }
}

// Stores token-major rows src [T, nKvHeads * headDim] (a batch's keys or values, RoPE applied)
// into a head-major cache dst [nKvHeads, capacity, headDim] at positions pos0 .. pos0 + T - 1
// (rows (pos0 + t) % capacity).
// Work units are rows [r0, r1).
export function kv_store_f32(src: usize, dst: usize, pos0: i32, nKvHeads: i32, headDim: i32, capacity: i32,
                             r0: i32, r1: i32): void {
  const hb = <usize>headDim << 2;
  const rowBytes = <usize>nKvHeads * hb;
  const headBytes = <usize>capacity * hb;
  for (let t = r0; t < r1; t++) {
    const s = src + <usize>t * rowBytes;
    const d = dst + <usize>((pos0 + t) % capacity) * hb;
    for (let h = 0; h < nKvHeads; h++) {
      memory.copy(d + <usize>h * headBytes, s + <usize>h * hb, hb);
    }
  }
}
