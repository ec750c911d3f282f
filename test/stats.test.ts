// Calibration statistics: column sums of squares (bit-identical to the f64 reference) and the
// Hessian accumulation H += scale * XᵀX (close to the f64 reference, exactly symmetric), odd
// shapes across the kernels' token and column blocks, NaN/Inf, one and two threads giving the
// same bits, and argument errors.
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

async function throwsArg(fn: () => Promise<unknown>, arg: string): Promise<void> {
  let err: unknown;
  try { await fn(); } catch (e) { err = e; }
  assert.instance(err, ArgumentError, `expected ArgumentError(${arg}), got ${String(err)}`);
  assert.is((err as ArgumentError).arg, arg);
}

async function runColSumSq(rt: Runtime, batches: Float32Array[], T: number, d: number): Promise<Float64Array> {
  const s = rt.heap.scope();
  try {
    const acc = s.alloc("f64", d);
    for (const X of batches) await K.colSumSq(rt, s.from("f32", X), T, d, acc);
    return acc.read();
  } finally { s.release(); }
}

async function runHessian(rt: Runtime, X: Float32Array, T: number, d: number, H0: Float32Array, scale: number): Promise<Float32Array> {
  const s = rt.heap.scope();
  try {
    const H = s.from("f32", H0);
    await K.hessianAccumulate(rt, s.from("f32", X), T, d, H, scale);
    return H.read();
  } finally { s.release(); }
}

function symmetricRandom(d: number, seed: number): Float32Array {
  const rng = mulberry32(seed);
  const H = new Float32Array(d * d);
  for (let i = 0; i < d; i++) for (let j = i; j < d; j++) H[i * d + j] = H[j * d + i] = rng() * 4 - 2;
  return H;
}

const stats = suite("stats: column sums of squares, Hessian");
stats.before(async () => { rts.push(await createRuntime({ threads: 1 }), await createRuntime({ threads: 2, minParallelWork: 0 })); });
stats.after(() => { for (const rt of rts.splice(0)) rt.close(); });

// [T, d]: tiny, odd, across the 64-token block, and large enough to be split across threads.
const CS_SHAPES: Array<[number, number]> = [[1, 1], [3, 17], [17, 3], [70, 172], [130, 1000], [5, 9]];

stats("colSumSq is bit-identical to the f64 reference over repeated batches, any thread count", async () => {
  const rng = mulberry32(31);
  for (const [T, d] of CS_SHAPES) {
    const batches = [randomF32(T * d, rng, 3), randomF32(T * d, rng, 1e-20), randomF32(T * d, rng, 1e18)];
    let want: Float64Array | undefined;
    for (const X of batches) want = R.colSumSq(X, T, d, want);
    for (const threads of [1, 2]) {
      sameBits(await runColSumSq(rtFor(threads), batches, T, d), want!, `colSumSq T=${T} d=${d} t=${threads}`);
    }
  }
});

stats("colSumSq propagates NaN and Inf per column", async () => {
  const T = 9, d = 21;
  const X = randomF32(T * d, mulberry32(32));
  X[4 * d + 2] = NaN; X[8 * d + 13] = -Infinity; X[0 * d + 20] = NaN;
  const acc = await runColSumSq(rtFor(2), [X], T, d);
  for (let c = 0; c < d; c++) {
    if (c === 2 || c === 20) assert.ok(Number.isNaN(acc[c]), `column ${c}`);
    else if (c === 13) assert.is(acc[c], Infinity);
    else assert.ok(Number.isFinite(acc[c]) && acc[c] > 0, `column ${c}`);
  }
});

// [T, d]: across the 256-token arithmetic block, the 256-column cache block, 4-row tiles and their tails.
const H_SHAPES: Array<[number, number]> = [[1, 1], [3, 17], [17, 3], [300, 23], [20, 172], [5, 300], [2, 8], [7, 13]];

stats("hessianAccumulate matches the reference, is symmetric, same bits on 1 and 2 threads", async () => {
  const rng = mulberry32(33);
  for (const [T, d] of H_SHAPES) {
    const X = randomF32(T * d, rng, 2);
    const H0 = symmetricRandom(d, T * 1000 + d);
    const scale = 0.375;
    const H = await runHessian(rtFor(1), X, T, d, H0, scale);
    const want = R.hessian(X, T, d, H0, scale);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let abs = 0;
        for (let t = 0; t < T; t++) abs += Math.abs(X[t * d + i] * X[t * d + j]);
        const tol = 1e-6 * Math.sqrt(T) * scale * abs + 2e-7 * Math.abs(H0[i * d + j]) + 1e-30;
        const got = H[i * d + j], w = want[i * d + j];
        if (!(Math.abs(got - w) <= tol)) assert.unreachable(`H T=${T} d=${d} [${i},${j}]: got ${got}, want ${w}`);
        if (!Object.is(got, H[j * d + i])) assert.unreachable(`H T=${T} d=${d} not symmetric at [${i},${j}]`);
      }
    }
    sameBits(await runHessian(rtFor(2), X, T, d, H0, scale), H, `H T=${T} d=${d} threads`);
  }
});

stats("hessianAccumulate over batches adds up; NaN and Inf propagate to their rows and columns", async () => {
  const rt = rtFor(2);
  const T = 6, d = 11;
  const X1 = randomF32(T * d, mulberry32(34)), X2 = randomF32(T * d, mulberry32(35));
  const s = rt.heap.scope();
  try {
    const H = s.alloc("f32", d * d);
    await K.hessianAccumulate(rt, s.from("f32", X1), T, d, H);
    await K.hessianAccumulate(rt, s.from("f32", X2), T, d, H);
    const want = R.hessian(X2, T, d, R.hessian(X1, T, d));
    const got = H.read();
    for (let i = 0; i < d * d; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-5 * (1 + Math.abs(want[i])), `H[${i}]`);
  } finally { s.release(); }
  const X = randomF32(T * d, mulberry32(36));
  X[2 * d + 3] = NaN;
  X[4 * d + 7] = Infinity;
  const H = await runHessian(rt, X, T, d, new Float32Array(d * d), 1);
  const want = R.hessian(X, T, d);
  for (let i = 0; i < d * d; i++) {
    const r = Math.floor(i / d), c = i % d;
    if (r === 3 || c === 3) assert.ok(Number.isNaN(H[i]), `H[${r},${c}] should be NaN`);
    else if (r === 7 || c === 7) assert.is(Number.isNaN(H[i]) ? "NaN" : H[i], want[i], `H[${r},${c}]`);
  }
});

stats("bad arguments throw ArgumentError naming the argument", async () => {
  const rt = rtFor(2);
  const s = rt.heap.scope();
  try {
    const X = s.alloc("f32", 12), acc = s.alloc("f64", 4), H = s.alloc("f32", 16);
    await throwsArg(() => K.colSumSq(rt, X, 0, 4, acc), "T");
    await throwsArg(() => K.colSumSq(rt, X, 3, -4, acc), "d");
    await throwsArg(() => K.colSumSq(rt, X, 4, 4, acc), "X");
    await throwsArg(() => K.colSumSq(rt, X, 3, 4, X as unknown as WasmRef<"f64">), "acc");
    await throwsArg(() => K.colSumSq(rt, X, 3, 4, acc.sub(0, 3)), "acc");
    await throwsArg(() => K.hessianAccumulate(rt, X, 3, 4, H.sub(0, 15)), "H");
    await throwsArg(() => K.hessianAccumulate(rt, X, 3, 4, H, NaN), "scale");
    await throwsArg(() => K.hessianAccumulate(rt, X, 3, 4.5, H), "d");
    await throwsArg(() => K.hessianAccumulate(rt, X, 3, 3, X.sub(0, 9)), "H");
  } finally { s.release(); }
});

stats.run();
