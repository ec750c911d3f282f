// Classifier-side kernels: per-row negative log-likelihood (log-softmax at the target) and argmax.
import { expv, loadPartial } from "./activations";

// Natural log of a positive normal f64 (fdlibm's __ieee754_log kernel). AssemblyScript's Math.log
// uses lookup tables, i.e. static data, which the shared-memory builds must not carry.
// NaN and +Inf pass through.
// @ts-ignore: decorator
@inline function logPositive(x: f64): f64 {
  if (!(x < Infinity)) return x;
  let bits = reinterpret<u64>(x);
  let k = <i32>(bits >> 52) - 1023;
  bits = (bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000;
  let m = reinterpret<f64>(bits);
  if (m > 1.4142135623730951) { m *= 0.5; k++; }
  const f = m - 1.0;
  const dk = <f64>k;
  const s = f / (2.0 + f);
  const z = s * s;
  const w = z * z;
  const t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
  const t2 = z * (6.666666666666735130e-01 + w * (2.857142874366239149e-01 + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
  const R = t2 + t1;
  const hfsq = 0.5 * f * f;
  return dk * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + R) + dk * 1.90821492927058770002e-10)) - f);
}

// nll[r] = logsumexp(L[r, :]) - L[r, target[r]] for rows [r0, r1) of a row-major [rows, V] f32
// matrix, written as f64. The max is subtracted before exp; exp is the f32 vector exp, the sum and
// the log are f64. A target < 0 marks an ignored row (nll = 0). NaN anywhere in a row gives NaN.
export function nll_f32(L: usize, V: i32, target: usize, nll: usize, r0: i32, r1: i32): void {
  const rowBytes = <usize>V << 2;
  for (let r = r0; r < r1; r++) {
    const tg = load<i32>(target + (<usize>r << 2));
    const out = nll + (<usize>r << 3);
    if (tg < 0) { store<f64>(out, 0); continue; }
    const x = L + <usize>r * rowBytes;
    let mv = f32x4.splat(-Infinity);
    let i = 0;
    for (; i + 4 <= V; i += 4) mv = f32x4.max(mv, v128.load(x + (<usize>i << 2)));
    let m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)),
                max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (; i < V; i++) m = max(m, load<f32>(x + (<usize>i << 2)));
    const mm = f32x4.splat(m);
    let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
    i = 0;
    for (; i + 4 <= V; i += 4) {
      const e = expv(f32x4.sub(v128.load(x + (<usize>i << 2)), mm));
      s0 = f64x2.add(s0, f64x2.promote_low_f32x4(e));
      s1 = f64x2.add(s1, f64x2.promote_low_f32x4(v128.shuffle<f32>(e, e, 2, 3, 0, 1)));
    }
    let s = (f64x2.extract_lane(s0, 0) + f64x2.extract_lane(s0, 1)) + (f64x2.extract_lane(s1, 0) + f64x2.extract_lane(s1, 1));
    if (i < V) {
      const k = V - i;
      const e = expv(f32x4.sub(loadPartial(x + (<usize>i << 2), k), mm));
      s += <f64>f32x4.extract_lane(e, 0);
      if (k > 1) s += <f64>f32x4.extract_lane(e, 1);
      if (k > 2) s += <f64>f32x4.extract_lane(e, 2);
    }
    store<f64>(out, logPositive(s) + (<f64>m - <f64>load<f32>(x + (<usize>tg << 2))));
  }
}

// out[r] = first index of the largest element of row r of a row-major [rows, V] f32 matrix, rows
// [r0, r1). NaNs are skipped; a row of NaNs gives 0.
export function argmax_f32(L: usize, V: i32, out: usize, r0: i32, r1: i32): void {
  const rowBytes = <usize>V << 2;
  for (let r = r0; r < r1; r++) {
    const x = L + <usize>r * rowBytes;
    let best: f32 = -Infinity;
    let bi = 0;
    let found = false;
    for (let i = 0; i < V; i++) {
      const v = load<f32>(x + (<usize>i << 2));
      if (v > best || (!found && v == v)) { best = v; bi = i; found = true; }
    }
    store<i32>(out + (<usize>r << 2), bi);
  }
}
