// Applying and checking masks. A mask byte != 0 means "pruned" (selection writes 1).

// W[i] = 0 where mask[i] != 0, for i in the element chunks [u0, u1) of `chunk` elements
// (chunk % 16 == 0). Pruned weights become +0.
export function mask_apply_f32(W: usize, mask: usize, n: i32, chunk: i32, u0: i32, u1: i32): void {
  const begin = u0 * chunk;
  const end = min(n, u1 * chunk);
  let i = begin;
  const z = i8x16.splat(0);
  for (; i + 16 <= end; i += 16) {
    // Non-zero bytes -> 0xff, then sign-extend to four i32 lane masks.
    const m8 = i8x16.ne(v128.load(mask + <usize>i), z);
    const lo = i16x8.extend_low_i8x16_s(m8), hi = i16x8.extend_high_i8x16_s(m8);
    const o = W + (<usize>i << 2);
    v128.store(o, v128.andnot(v128.load(o), i32x4.extend_low_i16x8_s(lo)));
    v128.store(o, v128.andnot(v128.load(o, 16), i32x4.extend_high_i16x8_s(lo)), 16);
    v128.store(o, v128.andnot(v128.load(o, 32), i32x4.extend_low_i16x8_s(hi)), 32);
    v128.store(o, v128.andnot(v128.load(o, 48), i32x4.extend_high_i16x8_s(hi)), 48);
  }
  for (; i < end; i++) {
    if (load<u8>(mask + <usize>i) != 0) store<f32>(W + (<usize>i << 2), 0);
  }
}

// out[u] = number of elements == 0 (either sign) in chunk u.
export function count_zeros_f32(W: usize, n: i32, chunk: i32, out: usize, u0: i32, u1: i32): void {
  const z = f32x4.splat(0);
  for (let u = u0; u < u1; u++) {
    const begin = u * chunk;
    const end = min(n, begin + chunk);
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0);
    let i = begin;
    for (; i + 16 <= end; i += 16) {
      const o = W + (<usize>i << 2);
      a0 = i32x4.add(a0, i32x4.add(f32x4.eq(v128.load(o), z), f32x4.eq(v128.load(o, 16), z)));
      a1 = i32x4.add(a1, i32x4.add(f32x4.eq(v128.load(o, 32), z), f32x4.eq(v128.load(o, 48), z)));
    }
    const a = i32x4.add(a0, a1);
    let c = -(i32x4.extract_lane(a, 0) + i32x4.extract_lane(a, 1) + i32x4.extract_lane(a, 2) + i32x4.extract_lane(a, 3));
    for (; i < end; i++) c += <i32>(load<f32>(W + (<usize>i << 2)) == 0);
    store<u32>(out + (<usize>u << 2), c);
  }
}

// N:M validity along the input axis: out[r] = groups of row r (m consecutive columns; a trailing
// partial group of len needs floor(n*len/m)) holding fewer zeros than the pattern prunes.
export function check_nm_input_f32(W: usize, cols: i32, n: i32, m: i32, out: usize, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const w = W + (<usize>r * <usize>cols << 2);
    let bad = 0;
    for (let c = 0; c < cols; c += m) {
      const len = min(m, cols - c);
      const need = len == m ? n : n * len / m;
      let zeros = 0;
      for (let j = 0; j < len; j++) zeros += <i32>(load<f32>(w + (<usize>(c + j) << 2)) == 0);
      bad += <i32>(zeros < need);
    }
    store<u32>(out + (<usize>r << 2), bad);
  }
}

// N:M validity along the output axis: units are row groups g (rows [g*m, g*m + len)); out[g] =
// columns of that group holding fewer zeros than the pattern prunes.
export function check_nm_output_f32(W: usize, rows: i32, cols: i32, n: i32, m: i32, out: usize, g0: i32, g1: i32): void {
  const rowBytes = <usize>cols << 2;
  const z = f32x4.splat(0);
  for (let g = g0; g < g1; g++) {
    const rs = g * m;
    const len = min(m, rows - rs);
    const need = len == m ? n : n * len / m;
    const needv = i32x4.splat(-need);
    const base = W + <usize>rs * rowBytes;
    let badv = i32x4.splat(0);
    let c = 0;
    for (; c + 8 <= cols; c += 8) {
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0);
      for (let i = 0; i < len; i++) {
        const o = base + <usize>i * rowBytes + (<usize>c << 2);
        a0 = i32x4.add(a0, f32x4.eq(v128.load(o), z));
        a1 = i32x4.add(a1, f32x4.eq(v128.load(o, 16), z));
      }
      // a = -zeros; violating iff zeros < need iff a > -need.
      badv = i32x4.add(badv, i32x4.add(i32x4.gt_s(a0, needv), i32x4.gt_s(a1, needv)));
    }
    let bad = -(i32x4.extract_lane(badv, 0) + i32x4.extract_lane(badv, 1) + i32x4.extract_lane(badv, 2) + i32x4.extract_lane(badv, 3));
    for (; c < cols; c++) {
      let zeros = 0;
      for (let i = 0; i < len; i++) zeros += <i32>(load<f32>(base + <usize>i * rowBytes + (<usize>c << 2)) == 0);
      bad += <i32>(zeros < need);
    }
    store<u32>(out + (<usize>g << 2), bad);
  }
}
