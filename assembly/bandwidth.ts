// Memory read ceiling for the benchmarks: the fastest plain read of a buffer this engine manages,
// so kernels that stream weights can be judged as a fraction of it.

/** Floats per work unit of read_sum_f32 (64 KiB). */
const CHUNK: i32 = 16384;
const QUARTER: usize = 16384; // bytes: a quarter of a chunk

// Sums src[0, n) in chunks of CHUNK floats; thread `tid` writes its partial sum to out[tid].
// A full chunk is read as four interleaved streams of 16 KiB: a single sequential stream measured
// ~1.4x slower, both here and in C, because the hardware prefetcher restarts at every 4 KiB page
// and one stream leaves too few misses in flight. Several rows of a GEMV run in parallel the same
// way, so four streams is the honest ceiling for them.
export function read_sum_f32(src: usize, n: i32, out: usize, r0: i32, r1: i32, tid: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const full = min(r1, n / CHUNK);
  for (let c = r0; c < full; c++) {
    let p = src + (<usize>c << 16);
    const e = p + QUARTER;
    while (p < e) {
      a0 = f32x4.add(a0, v128.load(p));
      a1 = f32x4.add(a1, v128.load(p, 16384));
      a2 = f32x4.add(a2, v128.load(p, 32768));
      a3 = f32x4.add(a3, v128.load(p, 49152));
      p += 16;
    }
  }
  const v = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  let s = (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
  // The last, partial chunk (if this thread owns it).
  for (let i = max(r0, full) * CHUNK, e = min(n, r1 * CHUNK); i < e; i++) s += load<f32>(src + (<usize>i << 2));
  store<f32>(out + (<usize>tid << 2), s);
}
