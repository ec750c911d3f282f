// Ceilings for the benchmarks: the fastest plain read of a buffer this engine manages, so kernels
// that stream weights can be judged as a fraction of it, and the multiply-add peak, for kernels
// bound by arithmetic.
import { madd, hsum } from "./simd";

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
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  // The last, partial chunk (if this thread owns it).
  for (let i = max(r0, full) * CHUNK, e = min(n, r1 * CHUNK); i < e; i++) s += load<f32>(src + (<usize>i << 2));
  store<f32>(out + (<usize>tid << 2), s);
}

// `iters` steps of 8 independent multiply-add chains (a = a * m + c) per unit of [r0, r1), in
// registers only: the f32 peak of this engine and build (fused in the relaxed build, mul + add in
// the plain one). Eight chains cover the multiply-add latency on the machines we measured: twelve
// ran no faster. Thread `tid` stores the sum of its chains' lanes in out[tid].
export function fma_peak_f32(iters: i32, m: f32, c: f32, out: usize, r0: i32, r1: i32, tid: i32): void {
  const vm = f32x4.splat(m), vc = f32x4.splat(c);
  let a0 = f32x4.splat(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (let u = r0; u < r1; u++) {
    for (let i = 0; i < iters; i++) {
      a0 = madd(a0, vm, vc); a1 = madd(a1, vm, vc); a2 = madd(a2, vm, vc); a3 = madd(a3, vm, vc);
      a4 = madd(a4, vm, vc); a5 = madd(a5, vm, vc); a6 = madd(a6, vm, vc); a7 = madd(a7, vm, vc);
    }
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  store<f32>(out + (<usize>tid << 2), hsum(s));
}
