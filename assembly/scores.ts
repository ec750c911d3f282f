// Pruning scores: S = |W| (magnitude) or S = |W| * f with one factor per row or per column
// (Wanda: f = sqrt(s_j) per column; DaSS gate/up: f = a_k^(alpha/2) per row). The factors are
// computed by the host in f64 and rounded to f32, so the kernel does exactly one f32 multiply per
// weight and every build (relaxed or not) gives bit-identical scores.
//
// Every kernel also checks W for NaN/Inf: a thread that sees one stores 1 at bad + 4*tid. The
// host zeroes those slots before the run and turns a set flag into an error.

// @ts-ignore: decorator
@inline const F32_MAX: f32 = 3.4028234663852886e38;

// All lanes finite: |x| <= FLT_MAX is false for Inf and NaN.
// @ts-ignore: decorator
@inline function finiteMask(a: v128): v128 {
  return f32x4.le(a, f32x4.splat(F32_MAX));
}

// @ts-ignore: decorator
@inline function flag(bad: usize, tid: i32): void {
  store<u32>(bad + (<usize>tid << 2), 1);
}

// S[i] = |W[i]| for i in the element chunks [u0, u1) of `chunk` elements (chunk % 16 == 0).
// S may be W itself (in place).
export function score_abs_f32(W: usize, S: usize, n: i32, chunk: i32, bad: usize, u0: i32, u1: i32, tid: i32): void {
  const begin = u0 * chunk;
  const end = min(n, u1 * chunk);
  let ok = i32x4.splat(-1);
  let i = begin;
  for (; i + 16 <= end; i += 16) {
    const o = <usize>i << 2;
    const a0 = f32x4.abs(v128.load(W + o));
    const a1 = f32x4.abs(v128.load(W + o, 16));
    const a2 = f32x4.abs(v128.load(W + o, 32));
    const a3 = f32x4.abs(v128.load(W + o, 48));
    ok = v128.and(ok, v128.and(v128.and(finiteMask(a0), finiteMask(a1)), v128.and(finiteMask(a2), finiteMask(a3))));
    v128.store(S + o, a0);
    v128.store(S + o, a1, 16);
    v128.store(S + o, a2, 32);
    v128.store(S + o, a3, 48);
  }
  let okS = true;
  for (; i < end; i++) {
    const a = Mathf.abs(load<f32>(W + (<usize>i << 2)));
    okS = okS && a <= F32_MAX;
    store<f32>(S + (<usize>i << 2), a);
  }
  if (!okS || !i32x4.all_true(ok)) flag(bad, tid);
}

// S[r, c] = |W[r, c]| * f[r] for rows [r0, r1).
export function score_scaled_row_f32(W: usize, f: usize, S: usize, cols: i32, bad: usize, r0: i32, r1: i32, tid: i32): void {
  let ok = i32x4.splat(-1);
  let okS = true;
  for (let r = r0; r < r1; r++) {
    const base = <usize>r * <usize>cols << 2;
    const w = W + base, s = S + base;
    const fs = load<f32>(f + (<usize>r << 2));
    const fv = f32x4.splat(fs);
    let c = 0;
    for (; c + 16 <= cols; c += 16) {
      const o = <usize>c << 2;
      const a0 = f32x4.abs(v128.load(w + o));
      const a1 = f32x4.abs(v128.load(w + o, 16));
      const a2 = f32x4.abs(v128.load(w + o, 32));
      const a3 = f32x4.abs(v128.load(w + o, 48));
      ok = v128.and(ok, v128.and(v128.and(finiteMask(a0), finiteMask(a1)), v128.and(finiteMask(a2), finiteMask(a3))));
      v128.store(s + o, f32x4.mul(a0, fv));
      v128.store(s + o, f32x4.mul(a1, fv), 16);
      v128.store(s + o, f32x4.mul(a2, fv), 32);
      v128.store(s + o, f32x4.mul(a3, fv), 48);
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      const a = Mathf.abs(load<f32>(w + o));
      okS = okS && a <= F32_MAX;
      store<f32>(s + o, a * fs);
    }
  }
  if (!okS || !i32x4.all_true(ok)) flag(bad, tid);
}

// S[r, c] = |W[r, c]| * f[c] for rows [r0, r1).
export function score_scaled_col_f32(W: usize, f: usize, S: usize, cols: i32, bad: usize, r0: i32, r1: i32, tid: i32): void {
  let ok = i32x4.splat(-1);
  let okS = true;
  for (let r = r0; r < r1; r++) {
    const base = <usize>r * <usize>cols << 2;
    const w = W + base, s = S + base;
    let c = 0;
    for (; c + 16 <= cols; c += 16) {
      const o = <usize>c << 2;
      const a0 = f32x4.abs(v128.load(w + o));
      const a1 = f32x4.abs(v128.load(w + o, 16));
      const a2 = f32x4.abs(v128.load(w + o, 32));
      const a3 = f32x4.abs(v128.load(w + o, 48));
      ok = v128.and(ok, v128.and(v128.and(finiteMask(a0), finiteMask(a1)), v128.and(finiteMask(a2), finiteMask(a3))));
      v128.store(s + o, f32x4.mul(a0, v128.load(f + o)));
      v128.store(s + o, f32x4.mul(a1, v128.load(f + o, 16)), 16);
      v128.store(s + o, f32x4.mul(a2, v128.load(f + o, 32)), 32);
      v128.store(s + o, f32x4.mul(a3, v128.load(f + o, 48)), 48);
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2;
      const a = Mathf.abs(load<f32>(w + o));
      okS = okS && a <= F32_MAX;
      store<f32>(s + o, a * load<f32>(f + o));
    }
  }
  if (!okS || !i32x4.all_true(ok)) flag(bad, tid);
}
