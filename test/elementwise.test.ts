// Element-wise, RMSNorm, RoPE, attention and NLL kernels against their plain-TS references: odd
// sizes, NaN/Inf, one and two threads (bit-identical), and argument errors.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArgumentError, createRuntime, type Runtime } from "../src/index.js";
import * as K from "../src/kernels/index.js";
import * as R from "../src/reference/index.js";
import { mulberry32, randomF32, randInt, type Rng } from "./util/random.js";

const rts: Runtime[] = [];
const rtFor = (threads: number): Runtime => rts[threads - 1];

/** |a - b| <= abs + rel * |b| elementwise, NaN matching NaN and infinities matching exactly. */
function assertClose(
  got: ArrayLike<number>, want: ArrayLike<number>, rel: number | ((i: number) => number), abs: number, what: string,
): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const a = got[i], b = want[i];
    const r = typeof rel === "number" ? rel : rel(i);
    if (Number.isNaN(b)) { assert.ok(Number.isNaN(a), `${what}[${i}]: got ${a}, want NaN`); continue; }
    if (!Number.isFinite(b)) { assert.is(a, b, `${what}[${i}]`); continue; }
    assert.ok(Math.abs(a - b) <= abs + r * Math.abs(b), `${what}[${i}]: got ${a}, want ${b} (input index ${i})`);
  }
}

function assertSameBits(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.is(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (Object.is(a[i], b[i])) continue;
    assert.unreachable(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1e-30, -1e-30, 88.7, 88.73, 89, -87.3, -87.4, -100, -103.9, -104, 1e20, -1e20, 3.4e38, -3.4e38];

function inputs(rng: Rng, n: number, scale: number): Float32Array {
  const x = randomF32(n, rng, scale);
  for (let i = 0; i < Math.min(n, SPECIALS.length); i++) x[(i * 7) % n] = SPECIALS[i];
  return x;
}

async function runUnary(rt: Runtime, fn: typeof K.silu, x: Float32Array): Promise<Float32Array> {
  const a = rt.heap.from("f32", x);
  const y = rt.heap.alloc("f32", x.length);
  try {
    await fn(rt, a, y, x.length);
    return y.read();
  } finally { a.free(); y.free(); }
}

const SIZES = [1, 3, 17, 172, 40001];

/**
 * GELU's exp argument -2u, u = sqrt(2/pi) (x + 0.044715 x^3), carries f32 rounding of about
 * a few |u| * 2^-24, which becomes that much relative error in the deep negative tail.
 */
const geluTol = (x: ArrayLike<number>) => (i: number) =>
  2e-6 + 8e-7 * Math.abs(0.8 * (x[i] + 0.044715 * x[i] * x[i] * x[i]));

const unary = suite("elementwise: exp, SiLU, GELU, GLU, adds, softmax");
unary.before(async () => { rts.push(await createRuntime({ threads: 1 }), await createRuntime({ threads: 2, minParallelWork: 0 })); });
unary.after(() => { for (const rt of rts.splice(0)) rt.close(); });

unary("exp is within 2 ulp of Math.exp, NaN/Inf handled, results below FLT_MIN flush to 0", async () => {
  const rng = mulberry32(1);
  for (const n of SIZES) {
    const x = inputs(rng, n, 100);
    for (const threads of [1, 2]) {
      const y = await runUnary(rtFor(threads), K.exp, x);
      assertClose(y, R.exp(x), 2.5e-7, 1.18e-38, `exp n=${n} t=${threads}`);
      for (let i = 0; i < n; i++) if (x[i] < -87.34) assert.is(y[i], 0, `exp(${x[i]}) flushes to 0`);
    }
  }
});

unary("silu and gelu_tanh match the reference", async () => {
  const rng = mulberry32(2);
  for (const n of SIZES) {
    const x = inputs(rng, n, 12);
    for (const threads of [1, 2]) {
      assertClose(await runUnary(rtFor(threads), K.silu, x), R.silu(x), 1e-6, 1e-37, `silu n=${n}`);
      assertClose(await runUnary(rtFor(threads), K.geluTanh, x), R.geluTanh(x), geluTol(x), 1e-37, `gelu n=${n}`);
    }
  }
});

unary("glu = act(g) * u for both activations, in place too", async () => {
  const rng = mulberry32(3);
  for (const n of SIZES) {
    const g = inputs(rng, n, 8), u = randomF32(n, rng, 2);
    for (const act of ["silu", "gelu_tanh"] as const) {
      for (const threads of [1, 2]) {
        const rt = rtFor(threads);
        const G = rt.heap.from("f32", g), U = rt.heap.from("f32", u);
        await K.glu(rt, G, U, G, n, act);
        assertClose(G.read(), R.glu(g, u, act), act === "silu" ? 2e-6 : geluTol(g), 1e-37, `glu ${act} n=${n}`);
        G.free(); U.free();
      }
    }
  }
});

unary("add, addBias and softmax match the reference", async () => {
  const rng = mulberry32(4);
  for (const n of SIZES) {
    const x = randomF32(n, rng, 3), y = randomF32(n, rng, 3);
    const want = Float32Array.from(y, (v, i) => Math.fround(v + x[i]));
    for (const threads of [1, 2]) {
      const rt = rtFor(threads);
      const X = rt.heap.from("f32", x), Y = rt.heap.from("f32", y);
      await K.addInPlace(rt, X, Y, n);
      assertSameBits(Y.read(), want, `add n=${n}`);
      X.free(); Y.free();
    }
  }
  for (const [d, rows] of [[1, 1], [3, 5], [17, 3], [172, 300]]) {
    const Y0 = randomF32(d * rows, rng, 2), b = randomF32(d, rng, 1);
    const rowsSm = rows;
    const S0 = randomF32(d * rowsSm, rng, 30);
    if (d > 2) { S0[1] = NaN; S0[d + 2] = -Infinity; }
    for (const threads of [1, 2]) {
      const rt = rtFor(threads);
      const Y = rt.heap.from("f32", Y0), B = rt.heap.from("f32", b);
      await K.addBias(rt, Y, B, d, rows);
      assertClose(Y.read(), R.addBias(Y0, b, d, rows), 0, 0, `addBias d=${d}`);
      const S = rt.heap.from("f32", S0);
      await K.softmax(rt, S, d, rowsSm);
      // f32 x - max carries up to |x - max| * 2^-24 absolute error into exp's argument.
      assertClose(S.read(), R.softmax(S0, d, rowsSm), 6e-6, 1e-37, `softmax n=${d}`);
      Y.free(); B.free(); S.free();
    }
  }
});

unary("one and two threads give identical bits on large inputs", async () => {
  const rng = mulberry32(5);
  const n = 100003;
  const x = inputs(rng, n, 20), u = randomF32(n, rng, 2);
  const outs: Float32Array[][] = [];
  for (const threads of [1, 2]) {
    const rt = rtFor(threads);
    const r: Float32Array[] = [];
    for (const f of [K.exp, K.silu, K.geluTanh]) r.push(await runUnary(rt, f, x));
    const G = rt.heap.from("f32", x), U = rt.heap.from("f32", u);
    await K.glu(rt, G, U, G, n, "silu");
    r.push(G.read());
    const S = rt.heap.from("f32", x.subarray(0, 1000 * 97));
    await K.softmax(rt, S, 97, 1000);
    r.push(S.read());
    G.free(); U.free(); S.free();
    outs.push(r);
  }
  outs[0].forEach((a, i) => assertSameBits(a, outs[1][i], `kernel ${i}`));
});

unary("bad arguments throw ArgumentError", async () => {
  const rt = rtFor(1);
  const a = rt.heap.alloc("f32", 4), i = rt.heap.alloc("i32", 4);
  try {
    const bad: Array<() => Promise<void>> = [
      () => K.silu(rt, a, a, 5),
      () => K.silu(rt, a, a, -1),
      () => K.silu(rt, i as never, a, 4),
      () => K.glu(rt, a, a, a, 4, "relu" as never),
      () => K.softmax(rt, a, 0, 1),
      () => K.addBias(rt, a, a, 3, 2),
    ];
    for (const f of bad) {
      let err: unknown;
      try { await f(); } catch (e) { err = e; }
      assert.instance(err, ArgumentError);
    }
  } finally { a.free(); i.free(); }
});

unary.run();

// ---------------------------------------------------------------- norms, rope, attention, nll

const rest = suite("kernels: RMSNorm, RoPE, attention, NLL");
rest.before(async () => { rts.push(await createRuntime({ threads: 1 }), await createRuntime({ threads: 2, minParallelWork: 0 })); });
rest.after(() => { for (const rt of rts.splice(0)) rt.close(); });

rest("rmsnorm (w and 1 + w) matches the reference, NaN rows stay NaN", async () => {
  const rng = mulberry32(10);
  for (const [d, rows] of [[1, 1], [3, 2], [17, 5], [172, 3], [1000, 70]]) {
    const x = randomF32(d * rows, rng, 4), w = randomF32(d, rng, 1);
    if (rows > 1) x[d] = NaN;
    for (const plusOne of [false, true]) {
      const outs: Float32Array[] = [];
      for (const threads of [1, 2]) {
        const rt = rtFor(threads);
        const X = rt.heap.from("f32", x), W = rt.heap.from("f32", w), Y = rt.heap.alloc("f32", d * rows);
        await K.rmsnorm(rt, X, W, Y, d, rows, { eps: 1e-5, plusOne });
        outs.push(Y.read());
        assertClose(Y.read(), R.rmsnorm(x, w, d, rows, 1e-5, plusOne), 1e-6, 1e-6, `rmsnorm d=${d} plusOne=${plusOne}`);
        X.free(); W.free(); Y.free();
      }
      assertSameBits(outs[0], outs[1], `rmsnorm threads d=${d}`);
    }
  }
  const rt = rtFor(1);
  const a = rt.heap.alloc("f32", 8);
  let err: unknown;
  try { await K.rmsnorm(rt, a, a, a, 4, 2, { eps: NaN }); } catch (e) { err = e; }
  assert.instance(err, ArgumentError);
  a.free();
});

rest("rope matches the reference in both layouts (vector and scalar paths)", async () => {
  const rng = mulberry32(11);
  for (const layout of ["adjacent", "half"] as const) {
    for (const [headDim, nHeads, extra] of [[2, 1, 0], [6, 3, 5], [8, 2, 0], [64, 3, 7], [10, 2, 1]]) {
      const rows = 9, stride = nHeads * headDim + extra, positions = 300;
      const x = randomF32(rows * stride, rng, 2);
      const pos = Int32Array.from({ length: rows }, () => randInt(rng, 0, positions));
      const want = R.rope(x, rows, stride, nHeads, headDim, pos, 10000, layout);
      const outs: Float32Array[] = [];
      for (const threads of [1, 2]) {
        const rt = rtFor(threads);
        const table = new K.RopeTable(rt, headDim, positions, 10000, layout);
        const X = rt.heap.from("f32", x), P = rt.heap.from("i32", pos);
        await K.rope(rt, table, X, rows, stride, nHeads, P);
        const got = X.read();
        outs.push(got);
        assertClose(got, want, 1e-6, 1e-6, `rope ${layout} d=${headDim}`);
        // Untouched tail of each row.
        for (let r = 0; r < rows; r++) for (let j = nHeads * headDim; j < stride; j++) assert.is(got[r * stride + j], x[r * stride + j]);
        let err: unknown;
        P.view()[0] = positions;
        try { await K.rope(rt, table, X, rows, stride, nHeads, P); } catch (e) { err = e; }
        assert.instance(err, ArgumentError);
        table.free(); X.free(); P.free();
      }
      assertSameBits(outs[0], outs[1], "rope threads");
    }
  }
});

rest("RoPE scaling: llama3 keeps high, divides low and blends middle frequencies; linear divides all", async () => {
  // Llama 3.1's parameters, against the formula in float64 (transformers runs it in float32).
  const s = { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 } as const;
  const freq = K.ropeFrequencies(128, 500000, s);
  const regimes = { kept: 0, divided: 0, blended: 0 };
  for (let i = 0; i < 64; i++) {
    const base = 1 / Math.pow(500000, (2 * i) / 128);
    const wavelen = (2 * Math.PI) / base;
    let want = base;
    if (wavelen > 8192) { want = base / 8; regimes.divided++; }
    else if (wavelen >= 2048) {
      const sm = (8192 / wavelen - 1) / 3;
      want = ((1 - sm) * base) / 8 + sm * base;
      regimes.blended++;
    } else regimes.kept++;
    assert.ok(Math.abs(freq[i] - want) <= 2e-6 * want, `pair ${i}: ${freq[i]} vs ${want}`);
  }
  assert.equal(regimes, { kept: 29, divided: 29, blended: 6 });
  const lin = K.ropeFrequencies(8, 10000, { type: "linear", factor: 4 });
  const plain = K.ropeFrequencies(8, 10000);
  for (let i = 0; i < 4; i++) assert.is(lin[i], Math.fround(plain[i] / 4));
  // The kernel's tables against the reference, in every regime (originalContext 64 with headDim 8 has all three).
  const rng = mulberry32(13);
  for (const scaling of [{ type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 } as const, { type: "linear", factor: 2 } as const]) {
    const rows = 5, headDim = 8, nHeads = 2, stride = 16, positions = 200;
    const x = randomF32(rows * stride, rng, 2);
    const pos = Int32Array.from({ length: rows }, () => randInt(rng, 0, positions));
    const rt = rtFor(1);
    const table = new K.RopeTable(rt, headDim, positions, 10000, "half", scaling);
    const X = rt.heap.from("f32", x), P = rt.heap.from("i32", pos);
    await K.rope(rt, table, X, rows, stride, nHeads, P);
    assertClose(X.read(), R.rope(x, rows, stride, nHeads, headDim, pos, 10000, "half", scaling), 1e-6, 1e-6, `rope ${scaling.type}`);
    const unscaled = R.rope(x, rows, stride, nHeads, headDim, pos, 10000, "half");
    assert.ok(X.read().some((v, j) => Math.abs(v - unscaled[j]) > 1e-3), `${scaling.type} changes the rotation`);
    table.free(); X.free(); P.free();
  }
  assert.throws(() => K.ropeTables(8, 4, 10000, "half", { type: "llama3", factor: 8, lowFreqFactor: 4, highFreqFactor: 1, originalContext: 64 }), (e: unknown) => e instanceof ArgumentError);
});

rest("LongRoPE: short factors within the original context, long ones in a pass beyond it, cos and sin scaled; threads identical", async () => {
  const f = Math.fround;
  const longrope = { type: "longrope", shortFactors: [1, 1.25, 1.5, 2], longFactors: [1, 3, 9, 27], originalContext: 64, attentionFactor: 1.2 } as const;
  // transformers' f32 inv_freq = 1 / (factor * theta ^ (2i / d)).
  const short = K.ropeFrequencies(8, 10000, longrope), long = K.ropeFrequencies(8, 10000, longrope, true);
  for (let i = 0; i < 4; i++) {
    const power = f(Math.pow(10000, f(f(2 * i) / 8)));
    assert.equal([short[i], long[i]], [f(1 / f(longrope.shortFactors[i] * power)), f(1 / f(longrope.longFactors[i] * power))], `pair ${i}`);
  }
  const plain = K.ropeTables(8, 3, 10000, "half"), scaled = K.ropeTables(8, 3, 10000, "half", { ...longrope, shortFactors: [1, 1, 1, 1] });
  for (let j = 0; j < 24; j++) assert.is(scaled.cos[j], f(plain.cos[j] * f(1.2)), `cos ${j} scaled by the attention factor`);
  const rng = mulberry32(23);
  const rows = 6, headDim = 8, nHeads = 2, stride = 16, positions = 200;
  const x = randomF32(rows * stride, rng, 2);
  const pos = Int32Array.from({ length: rows }, () => randInt(rng, 0, 64));
  const results: Float32Array[] = [];
  for (const threads of [1, 2] as const) {
    const rt = rtFor(threads);
    const table = new K.RopeTable(rt, headDim, positions, 10000, "half", longrope);
    assert.is(table.byteLength, 2 * 4 * headDim * (64 + positions), "a short set of the original context, a long one of all positions");
    const P = rt.heap.from("i32", pos);
    for (const end of [undefined, 64, 65, positions]) {
      const X = rt.heap.from("f32", x);
      await K.rope(rt, table, X, rows, stride, nHeads, P, end);
      const want = R.rope(x, rows, stride, nHeads, headDim, pos, 10000, "half", longrope, end);
      assertClose(X.read(), want, 1e-6, 1e-6, `sequence end ${end}`);
      results.push(X.read());
      X.free();
    }
    const X = rt.heap.from("f32", x);
    assert.throws(() => K.rope(rt, table, X, rows, stride, nHeads, P, Math.max(...pos)), (e: unknown) => e instanceof ArgumentError && e.arg === "sequenceEnd");
    X.free(); P.free(); table.free();
  }
  assert.equal(results[0], results[1], "the default end is the last position + 1, within the original context");
  assert.ok(results[1].some((v, j) => Math.abs(v - results[2][j]) > 1e-3), "beyond the original context the long factors rotate");
  for (let i = 0; i < 4; i++) assert.equal(results[i], results[4 + i], "threads identical");
  assert.throws(() => K.ropeTables(8, 4, 10000, "half", { ...longrope, longFactors: [1, 2, 3] }), (e: unknown) => e instanceof ArgumentError && /shortFactors has 4 entries, longFactors 3/.test(e.message));
  assert.throws(() => K.ropeTables(8, 4, 10000, "half", { ...longrope, attentionFactor: 0 }), (e: unknown) => e instanceof ArgumentError && /attentionFactor/.test(e.message));
  assert.throws(() => K.ropeTables(8, 4, 10000, "half", { ...longrope, originalContext: 64.5 }), (e: unknown) => e instanceof ArgumentError && /originalContext must be an integer >= 1/.test(e.message));
});

rest("soft-capping (Gemma 2): elements and attention scores against the reference; threads identical", async () => {
  const rng = mulberry32(14);
  for (const n of [1, 3, 17, 172, 1000]) {
    for (const cap of [0.5, 3, 30]) {
      const x = randomF32(n, rng, 4 * cap);
      x[0] = n > 1 ? 1e30 : x[0];
      if (n > 2) x[1] = -Infinity;
      const want = R.softcap(x, cap);
      const outs: Float32Array[] = [];
      for (const threads of [1, 2]) {
        const rt = rtFor(threads);
        const X = rt.heap.from("f32", x);
        await K.softcap(rt, X, n, cap);
        outs.push(X.read());
        assertClose(X.read(), want, 1e-6, 1e-6 * cap, `softcap n=${n} cap=${cap}`);
        X.free();
      }
      assertSameBits(outs[0], outs[1], "softcap threads");
    }
  }
  const rt1 = rtFor(1), one = rt1.heap.alloc("f32", 1);
  for (const bad of [0, -1, NaN]) {
    let err: unknown;
    try { await K.softcap(rt1, one, 1, bad); } catch (e) { err = e; }
    assert.instance(err, ArgumentError, `cap ${bad}`);
  }
  one.free();
  for (const [T, pos0, nHeads, nKv, hd] of [[1, 5, 4, 2, 8], [9, 3, 4, 2, 16], [64, 0, 2, 1, 20]]) {
    const n = pos0 + T, scale = 1 / Math.sqrt(2 * hd), cap = 1.5;
    const q = randomF32(T * nHeads * hd, rng, 3), k = randomF32(n * nKv * hd, rng, 3), v = randomF32(n * nKv * hd, rng, 1);
    const want = R.attention(q, k, v, T, pos0, nHeads, nKv, hd, scale, cap);
    const plain = R.attention(q, k, v, T, pos0, nHeads, nKv, hd, scale);
    const outs: Float32Array[] = [];
    for (const threads of [1, 2]) {
      const rt = rtFor(threads);
      const Kc = rt.heap.alloc("f32", nKv * n * hd), Vc = rt.heap.alloc("f32", nKv * n * hd);
      const kb = rt.heap.from("f32", k), vb = rt.heap.from("f32", v);
      await K.kvStore(rt, kb, Kc, n, 0, nKv, hd, n);
      await K.kvStore(rt, vb, Vc, n, 0, nKv, hd, n);
      const Q = rt.heap.from("f32", q), Y = rt.heap.alloc("f32", q.length);
      await K.attention(rt, { Q, K: Kc, V: Vc, Y, T, pos0, nHeads, nKvHeads: nKv, headDim: hd, capacity: n, scale, softcap: cap });
      outs.push(Y.read());
      assertClose(Y.read(), want, 1e-5, 1e-5, `capped attention T=${T} pos0=${pos0} hd=${hd}`);
      Q.free(); Kc.free(); Vc.free(); Y.free(); kb.free(); vb.free();
    }
    assert.ok(outs[0].some((y, i) => Math.abs(y - plain[i]) > 1e-3), "the cap changes the result");
    assertSameBits(outs[0], outs[1], "capped attention threads");
  }
});

rest("attention: GQA, causal, sliding windows, batches at an offset, odd head sizes; threads identical", async () => {
  const rng = mulberry32(12);
  const cases: Array<[number, number, number, number, number, number]> = [
    // T, pos0, nHeads, nKvHeads, headDim, sliding window (0: none)
    [1, 0, 1, 1, 1, 0], [1, 6, 4, 2, 8, 0], [11, 2, 4, 2, 8, 0], [5, 0, 3, 1, 3, 0], [4, 7, 2, 2, 20, 0], [3, 2, 8, 4, 64, 0], [64, 0, 8, 2, 64, 0], [17, 30, 6, 3, 36, 0], [70, 5, 4, 2, 8, 0], [3, 130, 4, 1, 20, 0], [2, 200, 2, 1, 6, 0],
    [1, 6, 4, 2, 8, 3], [11, 2, 4, 2, 8, 1], [64, 0, 8, 2, 64, 17], [17, 30, 6, 3, 36, 40], [70, 5, 4, 2, 8, 75], [3, 130, 4, 1, 20, 64], [5, 0, 3, 1, 3, 2], [5, 300, 4, 2, 16, 100],
  ];
  for (const [T, pos0, nHeads, nKv, hd, window] of cases) {
    const n = pos0 + T;
    const q = randomF32(T * nHeads * hd, rng, 1.5), k = randomF32(n * nKv * hd, rng, 1.5), v = randomF32(n * nKv * hd, rng, 1);
    const want = R.attention(q, k, v, T, pos0, nHeads, nKv, hd, undefined, 0, window);
    if (window > 0 && window < n) {
      const full = R.attention(q, k, v, T, pos0, nHeads, nKv, hd);
      assert.ok(want.some((y, i) => Math.abs(y - full[i]) > 1e-4), `window ${window} changes the result`);
    }
    // A cache of the whole sequence, and for a window a ring of the fewest rows the batch needs (and a
    // few more): position p in row p % capacity, so the ring wraps.
    const ring = window + T - 1;
    const capacities = [n + 3, ...(window > 0 && ring < n ? [ring, Math.min(n - 1, ring + 3)] : [])];
    for (const capacity of capacities) {
      const outs: Float32Array[] = [];
      for (const threads of [1, 2]) {
        const rt = rtFor(threads);
        // The batch's own rows go through kvStore; earlier positions are written head-major directly.
        const Kc = rt.heap.alloc("f32", nKv * capacity * hd), Vc = rt.heap.alloc("f32", nKv * capacity * hd);
        const kv = Kc.view(), vv = Vc.view();
        for (let p = 0; p < pos0; p++) {
          for (let h = 0; h < nKv; h++) {
            for (let i = 0; i < hd; i++) {
              kv[(h * capacity + (p % capacity)) * hd + i] = k[p * nKv * hd + h * hd + i];
              vv[(h * capacity + (p % capacity)) * hd + i] = v[p * nKv * hd + h * hd + i];
            }
          }
        }
        const kb = rt.heap.from("f32", k.subarray(pos0 * nKv * hd)), vb = rt.heap.from("f32", v.subarray(pos0 * nKv * hd));
        await K.kvStore(rt, kb, Kc, T, pos0, nKv, hd, capacity);
        await K.kvStore(rt, vb, Vc, T, pos0, nKv, hd, capacity);
        const Q = rt.heap.from("f32", q), Y = rt.heap.alloc("f32", q.length);
        await K.attention(rt, { Q, K: Kc, V: Vc, Y, T, pos0, nHeads, nKvHeads: nKv, headDim: hd, capacity, window });
        outs.push(Y.read());
        assertClose(Y.read(), want, 1e-5, 1e-5, `attention T=${T} pos0=${pos0} hd=${hd} window=${window} capacity=${capacity}`);
        // Decode-style: one query at a time gives identical bits to the batch.
        if (T > 1) {
          const Y1 = rt.heap.alloc("f32", nHeads * hd);
          for (let t = 0; t < T; t++) {
            const Qt = Q.sub(t * nHeads * hd, (t + 1) * nHeads * hd);
            await K.attention(rt, { Q: Qt, K: Kc, V: Vc, Y: Y1, T: 1, pos0: pos0 + t, nHeads, nKvHeads: nKv, headDim: hd, capacity, window });
            assertSameBits(Y1.read(), Y.read().subarray(t * nHeads * hd, (t + 1) * nHeads * hd), `attention decode t=${t}`);
          }
          Y1.free();
        }
        Q.free(); Kc.free(); Vc.free(); Y.free(); kb.free(); vb.free();
      }
      assertSameBits(outs[0], outs[1], `attention threads T=${T} capacity=${capacity}`);
    }
  }
  // NaN in one key poisons exactly the queries that see it.
  const rt = rtFor(1);
  const Q = rt.heap.from("f32", randomF32(3 * 4, rng)), Kc = rt.heap.from("f32", randomF32(3 * 4, rng)), Vc = rt.heap.from("f32", randomF32(3 * 4, rng));
  Kc.view()[4] = NaN; // position 1 (one head: head-major = token-major)
  const Y = rt.heap.alloc("f32", 12);
  await K.attention(rt, { Q, K: Kc, V: Vc, Y, T: 3, pos0: 0, nHeads: 1, nKvHeads: 1, headDim: 4, capacity: 3 });
  const y = Y.read();
  assert.ok(y.slice(0, 4).every(Number.isFinite), "position 0 does not see the NaN key");
  assert.ok(y.slice(4).every(Number.isNaN), "positions 1, 2 do");
  await K.attention(rt, { Q, K: Kc, V: Vc, Y, T: 3, pos0: 0, nHeads: 1, nKvHeads: 1, headDim: 4, capacity: 3, window: 1 });
  const yw = Y.read();
  assert.ok(yw.slice(4, 8).every(Number.isNaN) && yw.slice(8).every(Number.isFinite), "a window of 1 hides the NaN key from position 2");
  for (const bad of [
    () => K.attention(rt, { Q, K: Kc, V: Vc, Y, T: 3, pos0: 0, nHeads: 3, nKvHeads: 2, headDim: 1, capacity: 3 }),
    () => K.attention(rt, { Q, K: Kc, V: Vc, Y, T: 3, pos0: 1, nHeads: 1, nKvHeads: 1, headDim: 4, capacity: 3 }),
    () => K.attention(rt, { Q, K: Kc, V: Vc, Y, T: 3, pos0: 0, nHeads: 1, nKvHeads: 1, headDim: 4, capacity: 4 }),
    () => K.attention(rt, { Q, K: Kc, V: Vc, Y: Q, T: 3, pos0: 0, nHeads: 1, nKvHeads: 1, headDim: 4, capacity: 3 }),
    () => K.attention(rt, { Q, K: Kc, V: Vc, Y, T: 3, pos0: 0, nHeads: 1, nKvHeads: 1, headDim: 4, capacity: 3, window: -1 }),
    () => K.attention(rt, { Q, K: Kc, V: Vc, Y, T: 2, pos0: 4, nHeads: 1, nKvHeads: 1, headDim: 4, capacity: 2, window: 2 }), // a ring needs window + T - 1 = 3 rows
    () => K.attention(rt, { Q, K: Kc, V: Vc, Y, T: 3, pos0: 0, nHeads: 1, nKvHeads: 1, headDim: 4, capacity: 3, window: 1.5 }),
  ]) {
    let err: unknown;
    try { await bad(); } catch (e) { err = e; }
    assert.instance(err, ArgumentError);
  }
  Q.free(); Kc.free(); Vc.free(); Y.free();
});

rest("nll and argmax match the reference, ignored rows, NaN rows, bad targets", async () => {
  const rng = mulberry32(13);
  for (const [V, rows] of [[1, 2], [5, 3], [37, 4], [512, 9], [3001, 40]]) {
    const L = randomF32(V * rows, rng, 8);
    const tg = Int32Array.from({ length: rows }, () => randInt(rng, 0, V));
    if (rows > 2) { tg[1] = -1; L[2 * V] = NaN; }
    if (rows > 3 && V > 2) { L[3 * V + 1] = -Infinity; }
    const outs: Float64Array[] = [];
    for (const threads of [1, 2]) {
      const rt = rtFor(threads);
      const Lw = rt.heap.from("f32", L), T = rt.heap.from("i32", tg), O = rt.heap.alloc("f64", rows), A = rt.heap.alloc("i32", rows);
      await K.nll(rt, Lw, V, T, O, rows);
      outs.push(O.read());
      assertClose(O.read(), R.nll(L, V, tg, rows), 1e-6, 1e-6, `nll V=${V}`);
      await K.argmax(rt, Lw, V, A, rows);
      assert.equal(Array.from(A.read()), Array.from(R.argmax(L, V, rows)), `argmax V=${V}`);
      T.view()[0] = V;
      let err: unknown;
      try { await K.nll(rt, Lw, V, T, O, rows); } catch (e) { err = e; }
      assert.instance(err, ArgumentError);
      Lw.free(); T.free(); O.free(); A.free();
    }
    assertSameBits(outs[0], outs[1], `nll threads V=${V}`);
  }
});

rest.run();
