// Dense GEMV / GEMM and the read-ceiling kernel against the f64 references: odd shapes, shapes that
// cross the 1024-input arithmetic block and the GEMM's k-outer loop order, NaN/Inf, bit-identical
// results for one and two threads and between gemm and gemv, and argument errors.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArgumentError, createRuntime, type Runtime, type WasmRef } from "../src/index.js";
import * as K from "../src/kernels/index.js";
import * as R from "../src/reference/index.js";
import { mulberry32, randomF32 } from "./util/random.js";

const rts: Runtime[] = [];
const rtFor = (threads: number): Runtime => rts[threads - 1];

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.is(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.unreachable(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

/**
 * Each dot product within 1e-6 * sqrt(n) * Σ|w_k x_k| of the f64 reference (f32 rounding of an
 * n-term sum, with margin); non-finite references must be matched exactly (NaN by NaN).
 */
function closeDots(
  got: ArrayLike<number>, want: ArrayLike<number>, absSum: (i: number) => number, n: number, what: string,
): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const a = got[i], b = want[i];
    if (Number.isNaN(b)) { if (!Number.isNaN(a)) assert.unreachable(`${what}[${i}]: got ${a}, want NaN`); continue; }
    if (!Number.isFinite(b)) { if (a !== b) assert.unreachable(`${what}[${i}]: got ${a}, want ${b}`); continue; }
    const tol = 1e-6 * Math.sqrt(n) * absSum(i) + 1e-30;
    if (!(Math.abs(a - b) <= tol)) assert.unreachable(`${what}[${i}]: got ${a}, want ${b} (tol ${tol})`);
  }
}

async function throwsArg(fn: () => Promise<unknown>, arg: string): Promise<void> {
  let err: unknown;
  try { await fn(); } catch (e) { err = e; }
  assert.instance(err, ArgumentError, `expected ArgumentError(${arg}), got ${String(err)}`);
  assert.is((err as ArgumentError).arg, arg);
}

async function runGemv(rt: Runtime, W: Float32Array, x: Float32Array, dOut: number, dIn: number): Promise<Float32Array> {
  const s = rt.heap.scope();
  try {
    const y = s.alloc("f32", dOut);
    await K.gemv(rt, s.from("f32", W), s.from("f32", x), y, dOut, dIn);
    return y.read();
  } finally { s.release(); }
}

async function runGemm(rt: Runtime, W: Float32Array, X: Float32Array, dOut: number, dIn: number, T: number): Promise<Float32Array> {
  const s = rt.heap.scope();
  try {
    const Y = s.alloc("f32", T * dOut);
    await K.gemm(rt, s.from("f32", W), s.from("f32", X), Y, dOut, dIn, T);
    return Y.read();
  } finally { s.release(); }
}

function gemvAbs(W: Float32Array, x: Float32Array, dIn: number) {
  return (i: number) => { let s = 0; for (let k = 0; k < dIn; k++) s += Math.abs(W[i * dIn + k] * x[k]); return s; };
}

const dense = suite("dense: gemv, gemm, readSum");
dense.before(async () => { rts.push(await createRuntime({ threads: 1 }), await createRuntime({ threads: 2, minParallelWork: 0 })); });
dense.after(() => { for (const rt of rts.splice(0)) rt.close(); });

// [dOut, dIn]: tiny, odd, one row group plus a remainder, and inputs across two 1024-blocks plus a tail.
const GEMV_SHAPES: Array<[number, number]> = [[1, 1], [3, 17], [17, 3], [9, 5], [172, 1000], [13, 2053], [1000, 172]];

dense("gemv matches the reference; 1 and 2 threads give the same bits", async () => {
  const rng = mulberry32(11);
  for (const [dOut, dIn] of GEMV_SHAPES) {
    const W = randomF32(dOut * dIn, rng), x = randomF32(dIn, rng, 2);
    const y1 = await runGemv(rtFor(1), W, x, dOut, dIn);
    closeDots(y1, R.gemv(W, x, dOut, dIn), gemvAbs(W, x, dIn), dIn, `gemv ${dOut}x${dIn}`);
    sameBits(await runGemv(rtFor(2), W, x, dOut, dIn), y1, `gemv ${dOut}x${dIn} threads`);
  }
});

dense("gemv propagates NaN and Inf", async () => {
  const rng = mulberry32(12);
  const dOut = 19, dIn = 37;
  const W = randomF32(dOut * dIn, rng), x = randomF32(dIn, rng);
  W[2 * dIn + 5] = Infinity;           // row 2: +-Inf
  W[7 * dIn + 36] = NaN;               // row 7: NaN, in the scalar tail
  W[11 * dIn + 1] = Infinity; W[11 * dIn + 2] = -Infinity; x[1] = Math.abs(x[1]) + 0.5; x[2] = Math.abs(x[2]) + 0.5; // Inf - Inf
  const y = await runGemv(rtFor(1), W, x, dOut, dIn);
  closeDots(y, R.gemv(W, x, dOut, dIn), gemvAbs(W, x, dIn), dIn, "gemv specials");
  assert.ok(!Number.isFinite(y[2]) && !Number.isNaN(y[2]));
  assert.ok(Number.isNaN(y[7]) && Number.isNaN(y[11]));
  const x2 = x.slice(); x2[20] = NaN;
  const y2 = await runGemv(rtFor(2), W, x2, dOut, dIn);
  for (let i = 0; i < dOut; i++) assert.ok(Number.isNaN(y2[i]), `row ${i} should be NaN`);
});

// [dOut, dIn, T]: tails in every dimension; 64 x 2100, 67 x 2051 and 49 x 1500 floats of X exceed
// the 256 KiB L2 budget, so those shapes run the k-outer loop order on packed operands.
const GEMM_SHAPES: Array<[number, number, number]> = [
  [1, 1, 2], [3, 17, 2], [17, 3, 5], [5, 9, 3], [172, 1030, 9], [13, 2100, 64], [6, 2051, 67], [9, 1500, 49], [8, 4, 7],
];

dense("gemm matches the reference, equals gemv per token, same bits on 1 and 2 threads", async () => {
  const rng = mulberry32(13);
  for (const [dOut, dIn, T] of GEMM_SHAPES) {
    const W = randomF32(dOut * dIn, rng), X = randomF32(T * dIn, rng, 2);
    const Y = await runGemm(rtFor(1), W, X, dOut, dIn, T);
    const want = R.gemm(W, X, dOut, dIn, T);
    closeDots(Y, want, (j) => {
      const t = Math.floor(j / dOut), i = j % dOut;
      let s = 0; for (let k = 0; k < dIn; k++) s += Math.abs(W[i * dIn + k] * X[t * dIn + k]);
      return s;
    }, dIn, `gemm ${dOut}x${dIn} T=${T}`);
    sameBits(await runGemm(rtFor(2), W, X, dOut, dIn, T), Y, `gemm ${dOut}x${dIn} T=${T} threads`);
    for (const t of [0, T - 1]) {
      const y = await runGemv(rtFor(2), W, X.subarray(t * dIn, (t + 1) * dIn), dOut, dIn);
      sameBits(Y.subarray(t * dOut, (t + 1) * dOut), y, `gemm token ${t} vs gemv ${dOut}x${dIn} T=${T}`);
    }
    // T = 1 and a prefix of the batch give the same bits for the same tokens.
    const Y1 = await runGemm(rtFor(1), W, X.subarray(0, dIn), dOut, dIn, 1);
    sameBits(Y1, Y.subarray(0, dOut), `gemm T=1 vs T=${T}`);
  }
});

dense("gemm propagates NaN and Inf per token", async () => {
  const rng = mulberry32(14);
  const dOut = 10, dIn = 23, T = 5;
  const W = randomF32(dOut * dIn, rng), X = randomF32(T * dIn, rng);
  X[3 * dIn + 4] = NaN;         // token 3: all NaN
  W[6 * dIn + 22] = -Infinity;  // row 6: -+Inf for tokens with x != 0
  const Y = await runGemm(rtFor(2), W, X, dOut, dIn, T);
  for (let i = 0; i < dOut; i++) assert.ok(Number.isNaN(Y[3 * dOut + i]));
  for (const t of [0, 1, 2, 4]) {
    assert.is(Y[t * dOut + 6], X[t * dIn + 22] > 0 ? -Infinity : Infinity);
    assert.ok(Number.isFinite(Y[t * dOut + 5]));
  }
});

dense("readSum reads everything", async () => {
  for (const threads of [1, 2]) {
    const rt = rtFor(threads);
    for (const n of [1, 3, 17, 16384, 16384 * 3 + 1001]) {
      const src = randomF32(n, mulberry32(n));
      const s = rt.heap.scope();
      try {
        const out = s.alloc("f32", rt.threads);
        await K.readSum(rt, s.from("f32", src), out);
        let got = 0; for (const v of out.read()) got += v;
        const want = R.readSum(src);
        let abs = 0; for (const v of src) abs += Math.abs(v);
        assert.ok(Math.abs(got - want) <= 1e-5 * abs + 1e-6, `readSum n=${n}: ${got} vs ${want}`);
      } finally { s.release(); }
    }
  }
});

dense("fmaPeak runs every unit and keeps its chains exact", async () => {
  for (const threads of [1, 2]) {
    const rt = rtFor(threads);
    const s = rt.heap.scope();
    try {
      const out = s.alloc("f32", rt.threads);
      const flops = await K.fmaPeak(rt, out, 3);
      assert.is(flops, 3 * K.FMA_PEAK_STEPS * 64);
      const sums = out.read();
      assert.is(sums[0], R.fmaPeakSum(K.FMA_PEAK_STEPS));
      for (const v of sums) assert.ok(v === 0 || v === 32, `thread sum ${v}`);
    } finally { s.release(); }
  }
});

dense("bad arguments throw ArgumentError naming the argument", async () => {
  const rt = rtFor(2);
  const s = rt.heap.scope();
  try {
    const W = s.alloc("f32", 12), x = s.alloc("f32", 4), y = s.alloc("f32", 3);
    const u = s.alloc("u16", 12) as unknown as WasmRef<"f32">;
    await throwsArg(() => K.gemv(rt, W, x, y, 0, 4), "dOut");
    await throwsArg(() => K.gemv(rt, W, x, y, 3, 1.5), "dIn");
    await throwsArg(() => K.gemv(rt, W, x, y, 3, NaN), "dIn");
    await throwsArg(() => K.gemv(rt, W, x, y, 4, 4), "W");
    await throwsArg(() => K.gemv(rt, u, x, y, 3, 4), "W");
    await throwsArg(() => K.gemv(rt, W, y, y, 3, 4), "x");
    await throwsArg(() => K.gemv(rt, W, x, x.sub(0, 2), 3, 4), "y");
    await throwsArg(() => K.gemv(rt, W, x, W.sub(2, 5), 3, 4), "y");
    await throwsArg(() => K.gemv(rt, W, x, null as unknown as WasmRef<"f32">, 3, 4), "y");
    const X = s.alloc("f32", 8), Y = s.alloc("f32", 6);
    await throwsArg(() => K.gemm(rt, W, X, Y, 3, 4, 0), "T");
    await throwsArg(() => K.gemm(rt, W, X, Y, 3, 4, 3), "X");
    await throwsArg(() => K.gemm(rt, W, X, Y.sub(0, 5), 3, 4, 2), "Y");
    await throwsArg(() => K.gemm(rt, W, X, X, 2, 4, 2), "Y");
    await throwsArg(() => K.readSum(rt, W, s.alloc("f32", 0)), "out");
    await throwsArg(() => K.readSum(rt, u, x), "src");
    await throwsArg(() => K.fmaPeak(rt, x, 0), "units");
    await throwsArg(() => K.fmaPeak(rt, s.alloc("f32", 0), 1), "out");
  } finally { s.release(); }
});

dense.run();
