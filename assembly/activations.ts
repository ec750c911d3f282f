// Element-wise kernels: accurate vector exp, SiLU, GELU (tanh form), the GLU product, residual and
// bias adds, soft-capping, and row softmax.
//
// Every element is computed with the same lane-wise vector arithmetic whether it sits in the body
// or in a tail (tails go through a partially filled vector), so results never depend on where a
// thread's chunk starts. No fused multiply-add here (madd would differ between the relaxed and the
// portable builds, and between the body and a scalar tail).

// Cephes-style expf: Cody-Waite reduction by ln2, degree-6 polynomial, two-step scaling so that
// large inputs overflow to +Inf. Max error about 1-2 ulp for normal results. Results below
// FLT_MIN (x < ln FLT_MIN = -87.3365) flush to 0: producing subnormals costs x86 a microcode
// assist per lane (softmax of peaky attention scores hits this constantly), and every consumer
// (softmax, SiLU, GELU, NLL) is indifferent to values below 1.2e-38.
// NaN propagates (Wasm f32x4.min/max return NaN), -Inf gives 0, +Inf gives +Inf.
// @ts-ignore: decorator
@inline export function expv(x: v128): v128 {
  const xc = f32x4.max(f32x4.min(x, f32x4.splat(88.8)), f32x4.splat(-103.5));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  const z = f32x4.mul(r, r);
  let p = f32x4.add(f32x4.mul(f32x4.splat(1.9875691500e-4), r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const y = f32x4.add(f32x4.add(f32x4.mul(p, z), r), f32x4.splat(1.0));
  // 2^n as 2^a * 2^b with a = n >> 1, b = n - a: both stay normal for n in [-150, 128].
  const ni = i32x4.trunc_sat_f32x4_s(n);
  const a = i32x4.shr_s(ni, 1);
  const b = i32x4.sub(ni, a);
  const sa = i32x4.shl(i32x4.add(a, i32x4.splat(127)), 23);
  const sb = i32x4.shl(i32x4.add(b, i32x4.splat(127)), 23);
  const e = f32x4.mul(f32x4.mul(y, sa), sb);
  return v128.andnot(e, f32x4.lt(x, f32x4.splat(-87.3365448)));
}

// x * sigmoid(x) = x / (1 + exp(-x)).
// @ts-ignore: decorator
@inline function siluv(x: v128): v128 {
  return f32x4.div(x, f32x4.add(f32x4.splat(1.0), expv(f32x4.neg(x))));
}

// 0.5 x (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3) equals x / (1 + exp(-2u)): no
// cancellation near u = 0 and no separate tanh.
// @ts-ignore: decorator
@inline function geluv(x: v128): v128 {
  const x3 = f32x4.mul(f32x4.mul(x, x), x);
  const u = f32x4.mul(f32x4.splat(0.7978845608028654), f32x4.add(x, f32x4.mul(f32x4.splat(0.044715), x3)));
  return f32x4.div(x, f32x4.add(f32x4.splat(1.0), expv(f32x4.mul(f32x4.splat(-2.0), u))));
}

// cap * tanh(x / cap) as 2 cap / (1 + exp(-2x / cap)) - cap (k = -2 / cap): Gemma 2's bound on
// attention scores and logits. No cancellation matters here: the error is a few ulp of cap.
// @ts-ignore: decorator
@inline function softcapv(x: v128, cap: v128, k: v128): v128 {
  return f32x4.sub(f32x4.div(f32x4.add(cap, cap), f32x4.add(f32x4.splat(1.0), expv(f32x4.mul(x, k)))), cap);
}

// Loads lanes [0, k) (k in 1..3) and zero elsewhere.
// @ts-ignore: decorator
@inline export function loadPartial(p: usize, k: i32): v128 {
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (k > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (k > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

// @ts-ignore: decorator
@inline export function storePartial(p: usize, v: v128, k: i32): void {
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (k > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (k > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

// y[i] = exp(x[i]) for elements i in [r0, r1). In place allowed.
export function exp_f32(x: usize, y: usize, r0: i32, r1: i32): void {
  let i = r0;
  for (; i + 4 <= r1; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, expv(v128.load(x + o)));
  }
  if (i < r1) {
    const o = <usize>i << 2;
    storePartial(y + o, expv(loadPartial(x + o, r1 - i)), r1 - i);
  }
}

// y[i] = silu(x[i]) for elements i in [r0, r1). In place allowed.
export function silu_f32(x: usize, y: usize, r0: i32, r1: i32): void {
  let i = r0;
  for (; i + 4 <= r1; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, siluv(v128.load(x + o)));
  }
  if (i < r1) {
    const o = <usize>i << 2;
    storePartial(y + o, siluv(loadPartial(x + o, r1 - i)), r1 - i);
  }
}

// y[i] = gelu_tanh(x[i]) for elements i in [r0, r1). In place allowed.
export function gelu_tanh_f32(x: usize, y: usize, r0: i32, r1: i32): void {
  let i = r0;
  for (; i + 4 <= r1; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, geluv(v128.load(x + o)));
  }
  if (i < r1) {
    const o = <usize>i << 2;
    storePartial(y + o, geluv(loadPartial(x + o, r1 - i)), r1 - i);
  }
}

// x[i] = cap * tanh(x[i] / cap) in place, for elements i in [r0, r1) (cap > 0).
export function softcap_f32(x: usize, cap: f32, r0: i32, r1: i32): void {
  const c = f32x4.splat(cap), k = f32x4.splat(<f32>-2.0 / cap);
  let i = r0;
  for (; i + 4 <= r1; i += 4) {
    const o = <usize>i << 2;
    v128.store(x + o, softcapv(v128.load(x + o), c, k));
  }
  if (i < r1) {
    const o = <usize>i << 2;
    storePartial(x + o, softcapv(loadPartial(x + o, r1 - i), c, k), r1 - i);
  }
}

// GLU product h[i] = act(g[i]) * u[i] for elements [r0, r1); act = SiLU (gelu == 0) or GELU-tanh.
// h may alias g or u.
export function glu_f32(g: usize, u: usize, h: usize, gelu: i32, r0: i32, r1: i32): void {
  let i = r0;
  if (gelu) {
    for (; i + 4 <= r1; i += 4) {
      const o = <usize>i << 2;
      v128.store(h + o, f32x4.mul(geluv(v128.load(g + o)), v128.load(u + o)));
    }
  } else {
    for (; i + 4 <= r1; i += 4) {
      const o = <usize>i << 2;
      v128.store(h + o, f32x4.mul(siluv(v128.load(g + o)), v128.load(u + o)));
    }
  }
  if (i < r1) {
    const o = <usize>i << 2, k = r1 - i;
    const a = gelu ? geluv(loadPartial(g + o, k)) : siluv(loadPartial(g + o, k));
    storePartial(h + o, f32x4.mul(a, loadPartial(u + o, k)), k);
  }
}

// y[i] += x[i] for elements [r0, r1) (the residual add).
export function add_f32(x: usize, y: usize, r0: i32, r1: i32): void {
  let i = r0;
  for (; i + 4 <= r1; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), v128.load(x + o)));
  }
  for (; i < r1; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + load<f32>(x + o));
  }
}

// Y[r, :] += b for rows r in [r0, r1) of a row-major [rows, d] matrix (projection biases).
export function add_bias_f32(Y: usize, b: usize, d: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>d << 2;
  for (let r = r0; r < r1; r++) {
    const y = Y + <usize>r * rowBytes;
    let j = 0;
    for (; j + 4 <= d; j += 4) {
      const o = <usize>j << 2;
      v128.store(y + o, f32x4.add(v128.load(y + o), v128.load(b + o)));
    }
    for (; j < d; j++) {
      const o = <usize>j << 2;
      store<f32>(y + o, load<f32>(y + o) + load<f32>(b + o));
    }
  }
}

// In place: p[i] = exp(p[i] - max) over n contiguous floats (n >= 1); returns their sum,
// accumulated in f32 lanes in a fixed order. Wasm f32.max propagates NaN like f32x4.max, so one
// NaN poisons the row in body and tail alike. Shared with the attention kernel, which divides its
// weighted sum by the returned total instead of normalising every probability.
export function expRowSum(p: usize, n: i32): f32 {
  let mv = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) mv = f32x4.max(mv, v128.load(p + (<usize>i << 2)));
  let m = f32x4.extract_lane(mv, 0);
  m = max(m, f32x4.extract_lane(mv, 1));
  m = max(m, f32x4.extract_lane(mv, 2));
  m = max(m, f32x4.extract_lane(mv, 3));
  for (; i < n; i++) m = max(m, load<f32>(p + (<usize>i << 2)));
  const mm = f32x4.splat(m);
  let sv = f32x4.splat(0);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const e = expv(f32x4.sub(v128.load(p + o), mm));
    v128.store(p + o, e);
    sv = f32x4.add(sv, e);
  }
  if (i < n) {
    const o = <usize>i << 2, k = n - i;
    // Zero-filled lanes would add exp(0 - m); mask them out of the sum.
    const e = expv(f32x4.sub(loadPartial(p + o, k), mm));
    storePartial(p + o, e, k);
    const keep = k == 1 ? i32x4(-1, 0, 0, 0) : k == 2 ? i32x4(-1, -1, 0, 0) : i32x4(-1, -1, -1, 0);
    sv = f32x4.add(sv, v128.and(e, keep));
  }
  return (f32x4.extract_lane(sv, 0) + f32x4.extract_lane(sv, 1)) + (f32x4.extract_lane(sv, 2) + f32x4.extract_lane(sv, 3));
}

// In-place softmax of n contiguous floats at p: exp(x - max) / sum.
export function softmaxRow(p: usize, n: i32): void {
  if (n <= 0) return;
  const s = f32x4.splat(expRowSum(p, n));
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(p + o, f32x4.div(v128.load(p + o), s));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(p + o, load<f32>(p + o) / f32x4.extract_lane(s, 0));
  }
}

// Row softmax of a row-major [rows, n] matrix, in place, rows [r0, r1).
export function softmax_f32(X: usize, n: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>n << 2;
  for (let r = r0; r < r1; r++) softmaxRow(X + <usize>r * rowBytes, n);
}
