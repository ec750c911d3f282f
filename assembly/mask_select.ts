// Mask selection: given scores S [rows, cols] (row-major f32, every score >= 0), write a u8 mask
// (1 = pruned, 0 = kept) that prunes EXACTLY the requested count of every comparison group.
//
// Order: a score's key is its f32 bit pattern as u32 (for non-negative floats the integer order
// is the numeric order; -0 is folded to +0), then its position in the group. The k pruned
// elements of a group are the k smallest keys, so equal scores are pruned lowest position first.
// Unstructured groups find the k-th smallest score value v (histogram + quickselect: the value
// is unique whatever algorithm finds it) and the count c of scores below v; the mask pass then
// prunes every score < v and the first k - c scores == v in group order.
//
// Invalid scores (NaN, negative) set the thread's flag at bad + 4*tid (zeroed by the host); the
// mask is then unspecified and the host raises an error.

// Keys above this are NaN or negative (sign bit set).
// @ts-ignore: decorator
@inline const KEY_MAX: u32 = 0x7f800000;
// Groups shorter than this skip the histograms: clearing and scanning them would cost more than they save.
// @ts-ignore: decorator
@inline const HIST_MIN: i32 = 256;
// The per-group histogram: 2048 bins over key bits 30..20 (sign | exponent | 3 mantissa bits).
// @ts-ignore: decorator
@inline const HIST_BYTES: usize = 8192;

// @ts-ignore: decorator
@inline function flag(bad: usize, tid: i32): void {
  store<u32>(bad + (<usize>tid << 2), 1);
}

// @ts-ignore: decorator
@inline function canon(bits: u32): u32 {
  return bits == 0x80000000 ? 0 : bits;
}

// @ts-ignore: decorator
@inline function u8ones(m0: v128, m1: v128, m2: v128, m3: v128): v128 {
  // Four i32 lane masks (-1/0) -> sixteen bytes 1/0.
  return v128.and(
    i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(m0, m1), i16x8.narrow_i32x4_s(m2, m3)),
    i8x16.splat(1),
  );
}

// ---------------------------------------------------------------------------------------------
// Quickselect on u32 keys: returns the value of order statistic t (0-based) of a[0, n), permuting
// a so that a[0, t) <= a[t] <= a[t+1, n). Hoare partition around a pivot moved to the range start
// (which keeps both parts non-empty); equal keys stop both scans, so heavy ties still split
// evenly. Pivot = median of three pseudo-random samples, so no input order is adversarial in
// practice.
function qselect(a: usize, n: i32, t: i32): u32 {
  let lo = 0, hi = n - 1;
  let seed: u32 = 0x9e3779b9 ^ <u32>n;
  while (hi - lo > 16) {
    const len = <u32>(hi - lo + 1);
    seed ^= seed << 13; seed ^= seed >> 17; seed ^= seed << 5;
    const i1 = lo + <i32>(seed % len);
    seed ^= seed << 13; seed ^= seed >> 17; seed ^= seed << 5;
    const i2 = lo + <i32>(seed % len);
    seed ^= seed << 13; seed ^= seed >> 17; seed ^= seed << 5;
    const i3 = lo + <i32>(seed % len);
    const v1 = load<u32>(a + (<usize>i1 << 2));
    const v2 = load<u32>(a + (<usize>i2 << 2));
    const v3 = load<u32>(a + (<usize>i3 << 2));
    let pi = i1;
    if ((v1 <= v2) == (v2 <= v3)) pi = i2;
    else if ((v2 <= v1) == (v1 <= v3)) pi = i1;
    else pi = i3;
    const pa = a + (<usize>pi << 2), la = a + (<usize>lo << 2);
    const p = load<u32>(pa);
    store<u32>(pa, load<u32>(la));
    store<u32>(la, p);
    let i = lo - 1, j = hi + 1;
    while (true) {
      do { i++; } while (load<u32>(a + (<usize>i << 2)) < p);
      do { j--; } while (load<u32>(a + (<usize>j << 2)) > p);
      if (i >= j) break;
      const ia = a + (<usize>i << 2), ja = a + (<usize>j << 2);
      const x = load<u32>(ia);
      store<u32>(ia, load<u32>(ja));
      store<u32>(ja, x);
    }
    if (t <= j) hi = j; else lo = j + 1;
  }
  for (let i = lo + 1; i <= hi; i++) {
    const x = load<u32>(a + (<usize>i << 2));
    let j = i - 1;
    while (j >= lo && load<u32>(a + (<usize>j << 2)) > x) {
      store<u32>(a + (<usize>(j + 1) << 2), load<u32>(a + (<usize>j << 2)));
      j--;
    }
    store<u32>(a + (<usize>(j + 1) << 2), x);
  }
  return load<u32>(a + (<usize>t << 2));
}

// How many of a[0, n) are < v.
function countBelow(a: usize, n: i32, v: u32): i32 {
  const vv = i32x4.splat(<i32>v);
  let acc = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) acc = i32x4.sub(acc, i32x4.lt_u(v128.load(a + (<usize>i << 2)), vv));
  let c = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
  for (; i < n; i++) c += <i32>(load<u32>(a + (<usize>i << 2)) < v);
  return c;
}

// Whether every element of f32 src[0, n) is a valid score (>= 0, not NaN).
function allValid(src: usize, n: i32): bool {
  let ok = i32x4.splat(-1);
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) ok = v128.and(ok, f32x4.ge(v128.load(src + (<usize>i << 2)), z));
  let okS = i32x4.all_true(ok);
  for (; i < n; i++) okS = okS && load<f32>(src + (<usize>i << 2)) >= 0;
  return okS;
}

// The k-th smallest key (1 <= k <= n) of the f32 scores src[0, n) (contiguous, left unchanged),
// packed as (key << 32) | (number of keys below it); u64.MAX_VALUE if a score is invalid.
// work: 4n bytes; hist: HIST_BYTES.
function selectKth(src: usize, n: i32, k: i32, work: usize, hist: usize): u64 {
  if (n < HIST_MIN) {
    let worst: u32 = 0;
    for (let i = 0; i < n; i++) {
      const key = canon(load<u32>(src + (<usize>i << 2)));
      worst = max(worst, key);
      store<u32>(work + (<usize>i << 2), key);
    }
    if (worst > KEY_MAX) return u64.MAX_VALUE;
    const v = qselect(work, n, k - 1);
    return (<u64>v << 32) | <u64>countBelow(work, k - 1, v);
  }
  // Histogram of the top bits narrows the search to one bucket of candidates.
  memory.fill(hist, 0, HIST_BYTES);
  const negz = i32x4.splat(0x80000000);
  let badv = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    let v = v128.load(src + (<usize>i << 2));
    v = v128.andnot(v, i32x4.eq(v, negz));
    badv = v128.or(badv, i32x4.gt_u(v, i32x4.splat(KEY_MAX)));
    // Byte offsets of the bins: ((key >> 20) & 0x7ff) << 2.
    const off = v128.and(i32x4.shr_u(v, 18), i32x4.splat(0x1ffc));
    const h0 = hist + <usize>i32x4.extract_lane(off, 0);
    store<u32>(h0, load<u32>(h0) + 1);
    const h1 = hist + <usize>i32x4.extract_lane(off, 1);
    store<u32>(h1, load<u32>(h1) + 1);
    const h2 = hist + <usize>i32x4.extract_lane(off, 2);
    store<u32>(h2, load<u32>(h2) + 1);
    const h3 = hist + <usize>i32x4.extract_lane(off, 3);
    store<u32>(h3, load<u32>(h3) + 1);
  }
  let worst: u32 = 0;
  for (; i < n; i++) {
    const key = canon(load<u32>(src + (<usize>i << 2)));
    worst = max(worst, key);
    const h = hist + (<usize>((key >> 20) & 0x7ff) << 2);
    store<u32>(h, load<u32>(h) + 1);
  }
  if (worst > KEY_MAX || v128.any_true(badv)) return u64.MAX_VALUE;
  // Level 1 fixes key bits 30..20; candidates of that bucket go to work; level 2 fixes bits
  // 19..9 and compacts work in place; level 3 fixes bits 8..0. Each level only counts, so ties
  // and adversarial orders cost nothing extra. Small candidate sets finish by quickselect.
  let t = k - 1;
  let b1 = findBin(hist, 0, t);
  let below = <i32>(b1 >> 32);
  const k1 = <u32>b1;
  // Candidates are a few percent of the group: test four at a time, copy the rare hits.
  let m = 0;
  const kv = i32x4.splat(k1);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    let v = v128.load(src + (<usize>i << 2));
    v = v128.andnot(v, i32x4.eq(v, negz));
    let bits = i32x4.bitmask(i32x4.eq(i32x4.shr_u(v, 20), kv));
    while (bits != 0) {
      const l = ctz(bits);
      store<u32>(work + (<usize>m << 2), canon(load<u32>(src + (<usize>(i + l) << 2))));
      m++;
      bits &= bits - 1;
    }
  }
  for (; i < n; i++) {
    const key = canon(load<u32>(src + (<usize>i << 2)));
    store<u32>(work + (<usize>m << 2), key);
    m += <i32>((key >> 20) == k1);
  }
  t -= below;
  if (m <= SMALL) return finishSmall(work, m, t, below);
  memory.fill(hist, 0, HIST_BYTES);
  for (let i = 0; i < m; i++) {
    const h = hist + (<usize>((load<u32>(work + (<usize>i << 2)) >> 9) & 0x7ff) << 2);
    store<u32>(h, load<u32>(h) + 1);
  }
  const b2 = findBin(hist, 0, t);
  below += <i32>(b2 >> 32);
  t -= <i32>(b2 >> 32);
  const k2 = <u32>b2;
  let m2 = 0;
  for (let i = 0; i < m; i++) {
    const key = load<u32>(work + (<usize>i << 2));
    store<u32>(work + (<usize>m2 << 2), key);
    m2 += <i32>(((key >> 9) & 0x7ff) == k2);
  }
  if (m2 <= SMALL) return finishSmall(work, m2, t, below);
  memory.fill(hist, 0, 2048);
  for (let i = 0; i < m2; i++) {
    const h = hist + (<usize>(load<u32>(work + (<usize>i << 2)) & 0x1ff) << 2);
    store<u32>(h, load<u32>(h) + 1);
  }
  const b3 = findBin(hist, 0, t);
  below += <i32>(b3 >> 32);
  const v = (k1 << 20) | (k2 << 9) | <u32>b3;
  return (<u64>v << 32) | <u64>below;
}

// Candidate sets this small finish by quickselect (cheaper than another histogram).
// @ts-ignore: decorator
@inline const SMALL: i32 = 48;

// @ts-ignore: decorator
@inline function finishSmall(work: usize, m: i32, t: i32, below: i32): u64 {
  const v = qselect(work, m, t);
  return (<u64>v << 32) | <u64>(below + countBelow(work, t, v));
}

// The bin of hist (u32 counts from bin `from`, a multiple of 16) holding order statistic t,
// packed as (count below it << 32) | bin. Sixteen bins at a time, then bin by bin.
function findBin(hist: usize, from: u32, t: i32): u64 {
  let below = 0, b = from;
  while (true) {
    const o = hist + (<usize>b << 2);
    const s4 = i32x4.add(i32x4.add(v128.load(o), v128.load(o, 16)), i32x4.add(v128.load(o, 32), v128.load(o, 48)));
    const c = i32x4.extract_lane(s4, 0) + i32x4.extract_lane(s4, 1) + i32x4.extract_lane(s4, 2) + i32x4.extract_lane(s4, 3);
    if (below + c > t) break;
    below += c;
    b += 16;
  }
  while (true) {
    const c = <i32>load<u32>(hist + (<usize>b << 2));
    if (below + c > t) break;
    below += c;
    b++;
  }
  return (<u64>below << 32) | <u64>b;
}

// dst[i] = 1 for every src[i] < T and for the first `need` src[i] == T; 0 otherwise.
function maskPass(src: usize, dst: usize, n: i32, T: f32, need: i32): void {
  const tv = f32x4.splat(T);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = src + (<usize>i << 2);
    const v0 = v128.load(o), v1 = v128.load(o, 16), v2 = v128.load(o, 32), v3 = v128.load(o, 48);
    v128.store(dst + <usize>i, u8ones(f32x4.lt(v0, tv), f32x4.lt(v1, tv), f32x4.lt(v2, tv), f32x4.lt(v3, tv)));
    if (need > 0) {
      const e = v128.or(v128.or(f32x4.eq(v0, tv), f32x4.eq(v1, tv)), v128.or(f32x4.eq(v2, tv), f32x4.eq(v3, tv)));
      if (v128.any_true(e)) {
        for (let j = i; j < i + 16 && need > 0; j++) {
          if (load<f32>(src + (<usize>j << 2)) == T) { store<u8>(dst + <usize>j, 1); need--; }
        }
      }
    }
  }
  for (; i < n; i++) {
    const x = load<f32>(src + (<usize>i << 2));
    let p = x < T;
    if (!p && x == T && need > 0) { p = true; need--; }
    store<u8>(dst + <usize>i, <u8>p);
  }
}

// Group = each row: prune k of its cols scores. Scratch per thread: HIST_BYTES + 4*cols.
export function mask_select_rows(S: usize, mask: usize, cols: i32, k: i32, scratch: usize, stride: usize, bad: usize, r0: i32, r1: i32, tid: i32): void {
  const hist = scratch + <usize>tid * stride;
  const work = hist + HIST_BYTES;
  for (let r = r0; r < r1; r++) {
    const src = S + (<usize>r * <usize>cols << 2);
    const dst = mask + <usize>r * <usize>cols;
    if (k == 0) {
      if (!allValid(src, cols)) { flag(bad, tid); return; }
      memory.fill(dst, 0, <usize>cols);
      continue;
    }
    const res = selectKth(src, cols, k, work, hist);
    if (res == u64.MAX_VALUE) { flag(bad, tid); return; }
    const v = <u32>(res >> 32);
    maskPass(src, dst, cols, reinterpret<f32>(v), k - <i32>(<u32>res));
  }
}

// Group = each column: prune k of its rows scores. Two kernels. mask_select_cols finds each
// column's threshold: units are columns in panels of 64 (the host uses grain 64); a panel is
// copied column-major into scratch (4 rows at a time, transposed in registers) and each column
// is selected there; it writes thr[c] (threshold key) and need[c] (ties still to prune). Then
// mask_cols_apply writes the mask in one row-major pass, which streams S and the mask instead of
// walking down the rows a second time.
// Scratch per thread: HIST_BYTES + 4*rows (work) + 64*colBytes (panel), colBytes = 4*rows rounded
// up to an odd number of cache lines so the 64 column streams do not alias in the L1 sets.
export function mask_select_cols(S: usize, rows: i32, cols: i32, k: i32, scratch: usize, stride: usize, thr: usize, need: usize, bad: usize, c0: i32, c1: i32, tid: i32): void {
  const hist = scratch + <usize>tid * stride;
  const work = hist + HIST_BYTES;
  const panel = work + (<usize>rows << 2);
  const colBytes = ((((<usize>rows << 2) + 63) >> 6) | 1) << 6;
  const rowBytes = <usize>cols << 2;
  const rows4 = rows & ~3;
  for (let p = c0; p < c1; p += 64) {
    const w = min(64, c1 - p);
    const sp = S + (<usize>p << 2);
    if (k == 0) {
      for (let r = 0; r < rows; r++) {
        if (!allValid(sp + <usize>r * rowBytes, w)) { flag(bad, tid); return; }
      }
      memory.fill(thr + (<usize>p << 2), 0, <usize>w << 2);
      memory.fill(need + (<usize>p << 2), 0, <usize>w << 2);
      continue;
    }
    const w4 = w & ~3;
    for (let r = 0; r < rows4; r += 4) {
      const s = sp + <usize>r * rowBytes;
      const d = panel + (<usize>r << 2);
      for (let j = 0; j < w4; j += 4) {
        const o = s + (<usize>j << 2);
        const ra = v128.load(o), rb = v128.load(o + rowBytes);
        const rc = v128.load(o + 2 * rowBytes), rd = v128.load(o + 3 * rowBytes);
        const t0 = i32x4.shuffle(ra, rb, 0, 4, 1, 5), t1 = i32x4.shuffle(ra, rb, 2, 6, 3, 7);
        const t2 = i32x4.shuffle(rc, rd, 0, 4, 1, 5), t3 = i32x4.shuffle(rc, rd, 2, 6, 3, 7);
        const dj = d + <usize>j * colBytes;
        v128.store(dj, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
        v128.store(dj + colBytes, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
        v128.store(dj + 2 * colBytes, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
        v128.store(dj + 3 * colBytes, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
      }
      for (let j = w4; j < w; j++) {
        for (let i = 0; i < 4; i++) {
          store<u32>(d + <usize>j * colBytes + (<usize>i << 2), load<u32>(s + <usize>i * rowBytes + (<usize>j << 2)));
        }
      }
    }
    for (let r = rows4; r < rows; r++) {
      const s = sp + <usize>r * rowBytes;
      const d = panel + (<usize>r << 2);
      for (let j = 0; j < w; j++) store<u32>(d + <usize>j * colBytes, load<u32>(s + (<usize>j << 2)));
    }
    for (let j = 0; j < w; j++) {
      const res = selectKth(panel + <usize>j * colBytes, rows, k, work, hist);
      if (res == u64.MAX_VALUE) { flag(bad, tid); return; }
      const c = <usize>(p + j) << 2;
      store<u32>(thr + c, <u32>(res >> 32));
      store<i32>(need + c, k - <i32>(<u32>res));
    }
  }
}

// mask[r, c] for all rows and columns [c0, c1): score < thr[c], plus the first need[c] scores
// equal to thr[c] going down the rows (need[] is consumed). Units are columns (grain 64).
export function mask_cols_apply(S: usize, mask: usize, rows: i32, cols: i32, thr: usize, need: usize, c0: i32, c1: i32): void {
  const rowBytes = <usize>cols << 2;
  const w = c1 - c0;
  const w16 = w & ~15;
  let needTotal = 0;
  for (let c = c0; c < c1; c++) needTotal += load<i32>(need + (<usize>c << 2));
  const th = thr + (<usize>c0 << 2), nd = need + (<usize>c0 << 2);
  for (let r = 0; r < rows; r++) {
    const s = S + <usize>r * rowBytes + (<usize>c0 << 2);
    const d = mask + <usize>r * <usize>cols + <usize>c0;
    for (let j = 0; j < w16; j += 16) {
      const sj = s + (<usize>j << 2), tj = th + (<usize>j << 2);
      const t0 = v128.load(tj), t1 = v128.load(tj, 16), t2 = v128.load(tj, 32), t3 = v128.load(tj, 48);
      const v0 = v128.load(sj), v1 = v128.load(sj, 16), v2 = v128.load(sj, 32), v3 = v128.load(sj, 48);
      v128.store(d + <usize>j, u8ones(f32x4.lt(v0, t0), f32x4.lt(v1, t1), f32x4.lt(v2, t2), f32x4.lt(v3, t3)));
      if (needTotal > 0) {
        const e = v128.or(v128.or(f32x4.eq(v0, t0), f32x4.eq(v1, t1)), v128.or(f32x4.eq(v2, t2), f32x4.eq(v3, t3)));
        if (v128.any_true(e)) needTotal -= tiesAt(sj, d + <usize>j, tj, nd + (<usize>j << 2), 16);
      }
    }
    if (w16 < w) {
      for (let j = w16; j < w; j++) {
        store<u8>(d + <usize>j, <u8>(load<f32>(s + (<usize>j << 2)) < load<f32>(th + (<usize>j << 2))));
      }
      if (needTotal > 0) needTotal -= tiesAt(s + (<usize>w16 << 2), d + <usize>w16, th + (<usize>w16 << 2), nd + (<usize>w16 << 2), w - w16);
    }
  }
}

// One row of a column panel: marks scores equal to their column's threshold while that column
// still needs ties; returns how many it marked.
function tiesAt(s: usize, d: usize, thr: usize, needs: usize, w: i32): i32 {
  let marked = 0;
  for (let j = 0; j < w; j++) {
    const na = needs + (<usize>j << 2);
    const nd = load<i32>(na);
    if (nd > 0 && load<f32>(s + (<usize>j << 2)) == load<f32>(thr + (<usize>j << 2))) {
      store<u8>(d + <usize>j, 1);
      store<i32>(na, nd - 1);
      marked++;
    }
  }
  return marked;
}

// ---------------------------------------------------------------------------------------------
// Two-dimensional groups (whole matrix, SparseGPT column block), row-major. Row r of the group
// is src + 4*r*ld, elements [0, width); its mask row is mask + r*mld. Radix select driven by the
// host: histogram of the high 16 key bits, then of the low 16 bits within the chosen bucket,
// which gives the threshold key T and the count below it; then a mask pass that also counts, per
// row, the scores equal to T; the host turns those counts into per-row tie quotas (row-major
// order) for mask_block_ties. Units are rows; each thread has its own 65536-bin histogram at
// hist + tid*262144 (zeroed by the host), summed by the host.
// A narrow block of a wide matrix is a walk down many rows, and every row is another page: TLB
// misses (nested paging in VMs) then cost far more than the work. So the first pass can also
// copy the block to `copy` (contiguous, ld = width; 0 = no copy) for the later passes to read.

export function mask_block_hist_hi(src: usize, ld: i32, width: i32, hist: usize, bad: usize, copy: usize, r0: i32, r1: i32, tid: i32): void {
  const h0 = hist + (<usize>tid << 18);
  let ok = true;
  if (copy == 0) {
    for (let r = r0; r < r1; r++) ok = histHi(src + (<usize>r * <usize>ld << 2), width, h0) && ok;
  } else {
    // Copy 16 rows, then count them from the copy: the copy loop is short enough for the CPU
    // to have many rows' loads in flight; counting row by row straight from S would not.
    const rowBytes = <usize>width << 2;
    const w4 = width & ~3;
    for (let rb = r0; rb < r1; rb += 16) {
      const re = min(rb + 16, r1);
      for (let r = rb; r < re; r++) {
        const s = src + (<usize>r * <usize>ld << 2);
        const d = copy + <usize>r * rowBytes;
        let c = 0;
        for (; c < w4; c += 4) v128.store(d + (<usize>c << 2), v128.load(s + (<usize>c << 2)));
        for (; c < width; c++) store<u32>(d + (<usize>c << 2), load<u32>(s + (<usize>c << 2)));
      }
      ok = histHi(copy + <usize>rb * rowBytes, (re - rb) * width, h0) && ok;
    }
  }
  if (!ok) flag(bad, tid);
}

// Adds the high 16 key bits of the f32 scores s[0, n) to the 65536-bin histogram h0; false if a
// score is invalid.
function histHi(s: usize, n: i32, h0: usize): bool {
  const negz = i32x4.splat(0x80000000);
  let badv = i32x4.splat(0);
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    let v = v128.load(s + (<usize>c << 2));
    v = v128.andnot(v, i32x4.eq(v, negz));
    badv = v128.or(badv, i32x4.gt_u(v, i32x4.splat(KEY_MAX)));
    // Byte offsets of the bins: (key >> 16) << 2.
    const off = v128.and(i32x4.shr_u(v, 14), i32x4.splat(0x3fffc));
    const a0 = h0 + <usize>i32x4.extract_lane(off, 0);
    store<u32>(a0, load<u32>(a0) + 1);
    const a1 = h0 + <usize>i32x4.extract_lane(off, 1);
    store<u32>(a1, load<u32>(a1) + 1);
    const a2 = h0 + <usize>i32x4.extract_lane(off, 2);
    store<u32>(a2, load<u32>(a2) + 1);
    const a3 = h0 + <usize>i32x4.extract_lane(off, 3);
    store<u32>(a3, load<u32>(a3) + 1);
  }
  let worst: u32 = 0;
  for (; c < n; c++) {
    const key = canon(load<u32>(s + (<usize>c << 2)));
    worst = max(worst, key);
    const h = h0 + (<usize>(key >> 16) << 2);
    store<u32>(h, load<u32>(h) + 1);
  }
  return worst <= KEY_MAX && !v128.any_true(badv);
}

export function mask_block_hist_lo(src: usize, ld: i32, width: i32, hist: usize, hi: u32, r0: i32, r1: i32, tid: i32): void {
  const h0 = hist + (<usize>tid << 18);
  const negz = i32x4.splat(0x80000000);
  const hv = i32x4.splat(hi);
  for (let r = r0; r < r1; r++) {
    const s = src + (<usize>r * <usize>ld << 2);
    let c = 0;
    for (; c + 4 <= width; c += 4) {
      let v = v128.load(s + (<usize>c << 2));
      v = v128.andnot(v, i32x4.eq(v, negz));
      let bits = i32x4.bitmask(i32x4.eq(i32x4.shr_u(v, 16), hv));
      while (bits != 0) {
        const key = canon(load<u32>(s + (<usize>(c + ctz(bits)) << 2)));
        const h = h0 + (<usize>(key & 0xffff) << 2);
        store<u32>(h, load<u32>(h) + 1);
        bits &= bits - 1;
      }
    }
    for (; c < width; c++) {
      const key = canon(load<u32>(s + (<usize>c << 2)));
      if ((key >> 16) == hi) {
        const h = h0 + (<usize>(key & 0xffff) << 2);
        store<u32>(h, load<u32>(h) + 1);
      }
    }
  }
}

// mask = score < T over the group's rows; eq[r] = scores == T in row r.
export function mask_block_lt(src: usize, ld: i32, width: i32, mask: usize, mld: i32, T: u32, eq: usize, r0: i32, r1: i32): void {
  const tf = reinterpret<f32>(T);
  const tv = f32x4.splat(tf);
  for (let r = r0; r < r1; r++) {
    const s = src + (<usize>r * <usize>ld << 2);
    const dst = mask + <usize>r * <usize>mld;
    let acc = i32x4.splat(0);
    let i = 0;
    for (; i + 16 <= width; i += 16) {
      const o = s + (<usize>i << 2);
      const v0 = v128.load(o), v1 = v128.load(o, 16), v2 = v128.load(o, 32), v3 = v128.load(o, 48);
      v128.store(dst + <usize>i, u8ones(f32x4.lt(v0, tv), f32x4.lt(v1, tv), f32x4.lt(v2, tv), f32x4.lt(v3, tv)));
      acc = i32x4.add(i32x4.add(acc, f32x4.eq(v0, tv)), f32x4.eq(v1, tv));
      acc = i32x4.add(i32x4.add(acc, f32x4.eq(v2, tv)), f32x4.eq(v3, tv));
    }
    let c = 0;
    for (; i < width; i++) {
      const x = load<f32>(s + (<usize>i << 2));
      store<u8>(dst + <usize>i, <u8>(x < tf));
      c += <i32>(x == tf);
    }
    // Lanes hold minus their counts.
    c -= i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
    store<u32>(eq + (<usize>r << 2), c);
  }
}

// Marks the first need[r] scores == T of rows rOff + [r0, r1).
export function mask_block_ties(src: usize, ld: i32, width: i32, mask: usize, mld: i32, T: u32, need: usize, rOff: i32, r0: i32, r1: i32): void {
  const tf = reinterpret<f32>(T);
  for (let r = rOff + r0; r < rOff + r1; r++) {
    let nd = load<i32>(need + (<usize>r << 2));
    const s = src + (<usize>r * <usize>ld << 2);
    const dst = mask + <usize>r * <usize>mld;
    for (let c = 0; c < width && nd > 0; c++) {
      if (load<f32>(s + (<usize>c << 2)) == tf) { store<u8>(dst + <usize>c, 1); nd--; }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// N:M. A group of len elements prunes np = n (full group) or floor(n*len/m) (trailing partial
// group). Element i is pruned iff its rank (how many elements of the group come before it in key
// order) is < np; "before" = smaller score, or equal score at a lower position.

// One group at src with element stride `stride` bytes (scalar, any length up to 32).
// @ts-ignore: decorator
@inline function nmGroup(src: usize, stride: usize, dst: usize, dstride: usize, len: i32, np: i32): bool {
  let ok = true;
  for (let i = 0; i < len; i++) {
    const x = load<f32>(src + <usize>i * stride);
    ok = ok && x >= 0;
    let rank = 0;
    for (let j = 0; j < i; j++) rank += <i32>(load<f32>(src + <usize>j * stride) <= x);
    for (let j = i + 1; j < len; j++) rank += <i32>(load<f32>(src + <usize>j * stride) < x);
    store<u8>(dst + <usize>i * dstride, <u8>(rank < np));
  }
  return ok;
}

// Groups whose length m is a multiple of 4, along a row: a group is q = m/4 vectors. The prune
// mask of vector a of the group at g: lane i's rank counts, for every other vector b, the lanes
// of b that precede it (all four rotations of b: "<=" if b lies before a, "<" if after); within
// a itself lane i meets lane (i + s) % 4 for s = 1..3, which precedes it on a tie iff it wrapped
// around (i + s >= 4). Pruned iff rank < np, i.e. -rank > -np (negNp).
// @ts-ignore: decorator
@inline function rankVec(g: usize, a: i32, q: i32, negNp: v128): v128 {
  const v = v128.load(g + (<usize>a << 4));
  const r1 = i32x4.shuffle(v, v, 1, 2, 3, 0);
  const r2 = i32x4.shuffle(v, v, 2, 3, 0, 1);
  const r3 = i32x4.shuffle(v, v, 3, 0, 1, 2);
  let acc = i32x4.add(
    i32x4.add(
      v128.bitselect(f32x4.le(r1, v), f32x4.lt(r1, v), i32x4(0, 0, 0, -1)),
      v128.bitselect(f32x4.le(r2, v), f32x4.lt(r2, v), i32x4(0, 0, -1, -1))),
    v128.bitselect(f32x4.le(r3, v), f32x4.lt(r3, v), i32x4(0, -1, -1, -1)));
  for (let b = 0; b < a; b++) {
    const u = v128.load(g + (<usize>b << 4));
    acc = i32x4.add(acc, i32x4.add(
      i32x4.add(f32x4.le(u, v), f32x4.le(i32x4.shuffle(u, u, 1, 2, 3, 0), v)),
      i32x4.add(f32x4.le(i32x4.shuffle(u, u, 2, 3, 0, 1), v), f32x4.le(i32x4.shuffle(u, u, 3, 0, 1, 2), v))));
  }
  for (let b = a + 1; b < q; b++) {
    const u = v128.load(g + (<usize>b << 4));
    acc = i32x4.add(acc, i32x4.add(
      i32x4.add(f32x4.lt(u, v), f32x4.lt(i32x4.shuffle(u, u, 1, 2, 3, 0), v)),
      i32x4.add(f32x4.lt(i32x4.shuffle(u, u, 2, 3, 0, 1), v), f32x4.lt(i32x4.shuffle(u, u, 3, 0, 1, 2), v))));
  }
  return i32x4.gt_s(acc, negNp);
}

// Input axis: per row, groups of m consecutive columns. Units are rows. For m % 4 == 0 each
// 16-column step handles four vectors (one to four groups); the rest is scalar.
export function mask_select_nm_input(S: usize, mask: usize, cols: i32, n: i32, m: i32, bad: usize, r0: i32, r1: i32, tid: i32): void {
  const full = cols - cols % m;
  const tail = cols - full;
  const npTail = n * tail / m;
  let okV = i32x4.splat(-1);
  let ok = true;
  const z = f32x4.splat(0);
  const negN = i32x4.splat(-n);
  const q = m >> 2;
  // Vector mode needs whole 16-column steps made of whole groups: m divides 16 or 16 divides m.
  const simd = (m & 3) == 0 && (m <= 16 ? 16 % m == 0 : (m & 15) == 0);
  for (let r = r0; r < r1; r++) {
    const src = S + (<usize>r * <usize>cols << 2);
    const dst = mask + <usize>r * <usize>cols;
    let c = 0;
    if (simd) {
      const step = max(16, m);
      const end = full - full % step;
      for (; c < end; c += 16) {
        const o = src + (<usize>c << 2);
        okV = v128.and(okV, v128.and(
          v128.and(f32x4.ge(v128.load(o), z), f32x4.ge(v128.load(o, 16), z)),
          v128.and(f32x4.ge(v128.load(o, 32), z), f32x4.ge(v128.load(o, 48), z))));
        // Vector u of this step is vector (c/4 + u) % q of its group.
        const a0 = (c >> 2) % q;
        const g0 = o - (<usize>a0 << 4);
        let p0: v128, p1: v128, p2: v128, p3: v128;
        if (q == 1) {
          p0 = rankVec(o, 0, 1, negN); p1 = rankVec(o + 16, 0, 1, negN);
          p2 = rankVec(o + 32, 0, 1, negN); p3 = rankVec(o + 48, 0, 1, negN);
        } else if (q == 2) {
          p0 = rankVec(o, 0, 2, negN); p1 = rankVec(o, 1, 2, negN);
          p2 = rankVec(o + 32, 0, 2, negN); p3 = rankVec(o + 32, 1, 2, negN);
        } else {
          p0 = rankVec(g0, a0, q, negN); p1 = rankVec(g0, a0 + 1, q, negN);
          p2 = rankVec(g0, a0 + 2, q, negN); p3 = rankVec(g0, a0 + 3, q, negN);
        }
        v128.store(dst + <usize>c, u8ones(p0, p1, p2, p3));
      }
    }
    for (; c < full; c += m) {
      ok = nmGroup(src + (<usize>c << 2), 4, dst + <usize>c, 1, m, n) && ok;
    }
    if (tail > 0) ok = nmGroup(src + (<usize>full << 2), 4, dst + <usize>full, 1, tail, npTail) && ok;
  }
  if (!ok || !i32x4.all_true(okV)) flag(bad, tid);
}

// Output axis: per column, groups of m consecutive rows. Units are row groups (ceil(rows/m)),
// each a contiguous [len, cols] slab: 16 columns (16 independent groups) per step.
export function mask_select_nm_output(S: usize, mask: usize, rows: i32, cols: i32, n: i32, m: i32, bad: usize, g0: i32, g1: i32, tid: i32): void {
  let okV = i32x4.splat(-1);
  let ok = true;
  const z = f32x4.splat(0);
  const rowBytes = <usize>cols << 2;
  for (let g = g0; g < g1; g++) {
    const rs = g * m;
    const len = min(m, rows - rs);
    const np = len == m ? n : n * len / m;
    const npv = i32x4.splat(np);
    const base = S + <usize>rs * rowBytes;
    const mbase = mask + <usize>rs * <usize>cols;
    let c = 0;
    for (; c + 16 <= cols; c += 16) {
      const col = base + (<usize>c << 2);
      for (let i = 0; i < len; i++) {
        const xi = col + <usize>i * rowBytes;
        const x0 = v128.load(xi), x1 = v128.load(xi, 16), x2 = v128.load(xi, 32), x3 = v128.load(xi, 48);
        okV = v128.and(okV, v128.and(v128.and(f32x4.ge(x0, z), f32x4.ge(x1, z)), v128.and(f32x4.ge(x2, z), f32x4.ge(x3, z))));
        let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
        for (let j = 0; j < i; j++) {
          const y = col + <usize>j * rowBytes;
          a0 = i32x4.sub(a0, f32x4.le(v128.load(y), x0));
          a1 = i32x4.sub(a1, f32x4.le(v128.load(y, 16), x1));
          a2 = i32x4.sub(a2, f32x4.le(v128.load(y, 32), x2));
          a3 = i32x4.sub(a3, f32x4.le(v128.load(y, 48), x3));
        }
        for (let j = i + 1; j < len; j++) {
          const y = col + <usize>j * rowBytes;
          a0 = i32x4.sub(a0, f32x4.lt(v128.load(y), x0));
          a1 = i32x4.sub(a1, f32x4.lt(v128.load(y, 16), x1));
          a2 = i32x4.sub(a2, f32x4.lt(v128.load(y, 32), x2));
          a3 = i32x4.sub(a3, f32x4.lt(v128.load(y, 48), x3));
        }
        v128.store(mbase + <usize>i * <usize>cols + <usize>c,
          u8ones(i32x4.lt_s(a0, npv), i32x4.lt_s(a1, npv), i32x4.lt_s(a2, npv), i32x4.lt_s(a3, npv)));
      }
    }
    for (; c < cols; c++) {
      ok = nmGroup(base + (<usize>c << 2), rowBytes, mbase + <usize>c, <usize>cols, len, np) && ok;
    }
  }
  if (!ok || !i32x4.all_true(okV)) flag(bad, tid);
}
