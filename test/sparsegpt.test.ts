// SparseGPT on the Wasm kernels against the float64 reference that follows docs/methods.md
// literally (Cholesky, inverse, Cholesky of the inverse; the column-block loop).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createRuntime, type Runtime } from "../src/index.js";
import { sparsegpt, sparsegptFactor } from "../src/kernels/sparsegpt.js";
import { NumericalError } from "../src/pruning/errors.js";
import { parsePattern, type Pattern } from "../src/pruning/pattern.js";
import { sparsegptFactorRef, sparsegptRef } from "../src/reference/sparsegpt.js";
import { ArgumentError } from "../src/errors.js";
import { mulberry32, randn, randnF32, type Rng } from "./util/random.js";

const rts: Runtime[] = [];
async function runtimes(): Promise<Runtime[]> {
  if (rts.length === 0) for (const threads of [1, 2]) rts.push(await createRuntime({ threads, minParallelWork: 0 }));
  return rts;
}

/** H = (2/T) XᵀX for T random tokens (with a few heavy columns, like real activations). */
function hessian(n: number, T: number, rng: Rng): Float32Array {
  const X = randnF32(T * n, rng);
  for (let j = 0; j < n; j += 7) for (let t = 0; t < T; t++) X[t * n + j] *= 4;
  const H = new Float64Array(n * n);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < n; i++) {
      const xi = X[t * n + i];
      if (xi === 0) continue;
      for (let j = 0; j < n; j++) H[i * n + j] += xi * X[t * n + j];
    }
  }
  return Float32Array.from(H, (v) => (2 / T) * v);
}

/** H = Q diag(e) Qᵀ with a random orthogonal Q (f64). */
function spectrumHessian(e: number[], rng: Rng): Float64Array {
  const n = e.length;
  const Q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) Q[i * n + j] = randn(rng);
    for (let p = 0; p < i; p++) {
      let d = 0;
      for (let j = 0; j < n; j++) d += Q[i * n + j] * Q[p * n + j];
      for (let j = 0; j < n; j++) Q[i * n + j] -= d * Q[p * n + j];
    }
    let s = 0;
    for (let j = 0; j < n; j++) s += Q[i * n + j] ** 2;
    s = Math.sqrt(s);
    for (let j = 0; j < n; j++) Q[i * n + j] /= s;
  }
  const H = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let v = 0;
      for (let p = 0; p < n; p++) v += Q[p * n + i] * e[p] * Q[p * n + j];
      H[i * n + j] = v;
    }
  }
  return H;
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0, d = 0;
  for (let i = 0; i < a.length; i++) { scale = Math.max(scale, Math.abs(b[i])); d = Math.max(d, Math.abs(a[i] - b[i])); }
  return d / (scale || 1);
}

const factor = suite("sparsegpt factor");

factor("U matches the reference (Cholesky, inverse, Cholesky) for odd sizes, threads 1 and 2", async () => {
  for (const n of [1, 3, 17, 64, 65, 130, 201]) {
    const rng = mulberry32(1000 + n);
    const H = hessian(n, 2 * n + 9, rng);
    const ref = sparsegptFactorRef(H, n);
    let first: Float32Array | undefined;
    for (const rt of await runtimes()) {
      const h = rt.heap.from("f32", H);
      const f = await sparsegptFactor(rt, h, n);
      const U = f.U.read().subarray(0, n * n);
      f.U.free(); h.free();
      assert.is(f.attempts, 1);
      assert.ok(Math.abs(f.lambda - ref.lambda) <= 1e-12 * ref.lambda, `lambda ${f.lambda} vs ${ref.lambda}`);
      const d = maxRelDiff(U, ref.U);
      assert.ok(d < 2e-6, `n=${n} threads=${rt.threads}: max rel diff ${d}`);
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) assert.is(U[i * n + j], 0);
      if (first) assert.equal(Array.from(U), Array.from(first), `n=${n}: threads differ`);
      else first = U.slice();
    }
  }
});

factor("f64 Hessians are accepted and H is left unchanged", async () => {
  const n = 40;
  const H = Float64Array.from(hessian(n, 100, mulberry32(5)));
  const [rt] = await runtimes();
  const h = rt.heap.from("f64", H);
  const f = await sparsegptFactor(rt, h, n);
  const ref = sparsegptFactorRef(H, n);
  assert.ok(maxRelDiff(f.U.read().subarray(0, n * n), ref.U) < 2e-6);
  assert.equal(Array.from(h.read()), Array.from(H));
  f.U.free(); h.free();
});

factor("an indefinite H is retried with λ×10 like the reference", async () => {
  const n = 24;
  const e = Array.from({ length: n }, (_, i) => 1 + i / n);
  e[5] = -0.05;
  const mean = e.reduce((a, b) => a + b) / n;
  const H = spectrumHessian(e, mulberry32(77));
  const ref = sparsegptFactorRef(H, n);
  assert.is(ref.attempts, 2);
  for (const rt of await runtimes()) {
    const h = rt.heap.from("f64", H);
    const f = await sparsegptFactor(rt, h, n);
    assert.is(f.attempts, 2);
    assert.ok(Math.abs(f.lambda - 0.1 * mean) < 1e-12);
    assert.ok(maxRelDiff(f.U.read().subarray(0, n * n), ref.U) < 1e-5);
    f.U.free(); h.free();
  }
});

factor("an H that fails every retry gives a clear error naming the matrix", async () => {
  const n = 12;
  const e = Array.from({ length: n }, () => 3);
  e[2] = -30;
  const H = spectrumHessian(e, mulberry32(78));
  try {
    sparsegptFactorRef(H, n, 0.01, "block 2 mlp.up");
    assert.unreachable();
  } catch (err) {
    assert.instance(err, NumericalError);
  }
  const [rt] = await runtimes();
  const h = rt.heap.from("f64", H);
  const w = rt.heap.from("f32", randnF32(3 * n, mulberry32(1)));
  try {
    await sparsegpt(rt, w, h, 3, n, { pattern: parsePattern("0.5"), label: "block 2 mlp.up" });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, NumericalError);
    assert.match((err as Error).message, /block 2 mlp\.up/);
    assert.match((err as Error).message, /not positive definite/);
  }
  h.free(); w.free();
});

const prune = suite("sparsegpt prune");

interface Case { dOut: number; dIn: number; pattern: string; seed: number }
const CASES: Case[] = [
  { dOut: 1, dIn: 1, pattern: "0.5", seed: 1 },
  { dOut: 5, dIn: 17, pattern: "0.5", seed: 2 },
  { dOut: 7, dIn: 130, pattern: "0.3", seed: 3 },
  { dOut: 33, dIn: 200, pattern: "0.6", seed: 4 },
  { dOut: 9, dIn: 130, pattern: "2:4", seed: 5 },
  { dOut: 6, dIn: 203, pattern: "2:4", seed: 6 },
  { dOut: 11, dIn: 260, pattern: "4:8", seed: 7 },
  { dOut: 3, dIn: 172, pattern: "4:8", seed: 8 },
  { dOut: 4, dIn: 131, pattern: "1:4", seed: 9 },
  { dOut: 5, dIn: 45, pattern: "3:32", seed: 10 },
];

async function runWasm(rt: Runtime, W: Float32Array, H: Float32Array | Float64Array, dOut: number, dIn: number, pattern: Pattern) {
  const w = rt.heap.from("f32", W);
  const h = H instanceof Float64Array ? rt.heap.from("f64", H) : rt.heap.from("f32", H);
  const mask = rt.heap.alloc("u8", dOut * dIn);
  try {
    const r = await sparsegpt(rt, w, h, dOut, dIn, { pattern, mask });
    return { W: w.read(), mask: mask.read(), ...r };
  } finally {
    w.free(); h.free(); mask.free();
  }
}

prune("weights and masks match the float64 reference (unstructured, 2:4, 4:8, tails), threads 1 and 2", async () => {
  for (const c of CASES) {
    const rng = mulberry32(c.seed);
    const W = randnF32(c.dOut * c.dIn, rng, 0.1);
    const H = hessian(c.dIn, 2 * c.dIn + 3, rng);
    const pattern = parsePattern(c.pattern);
    const ref = sparsegptRef(W, H, c.dOut, c.dIn, { pattern });
    let first: Float32Array | undefined;
    for (const rt of await runtimes()) {
      const got = await runWasm(rt, W, H, c.dOut, c.dIn, pattern);
      const tag = `${c.dOut}x${c.dIn} ${c.pattern} threads=${rt.threads}`;
      let diff = 0;
      for (let i = 0; i < got.mask.length; i++) if (got.mask[i] !== ref.mask[i]) diff++;
      assert.is(diff, 0, `${tag}: ${diff} mask entries differ`);
      for (let i = 0; i < got.W.length; i++) if (got.mask[i]) assert.is(got.W[i], 0, `${tag}: pruned weight not zero`);
      const d = maxRelDiff(got.W, ref.W);
      assert.ok(d < 1e-4, `${tag}: max rel diff ${d}`);
      assert.ok(Math.abs(got.loss - ref.loss) <= 1e-4 * ref.loss + 1e-12, `${tag}: loss ${got.loss} vs ${ref.loss}`);
      if (first) assert.equal(Array.from(got.W), Array.from(first), `${tag}: differs from 1 thread`);
      else first = got.W;
    }
  }
});

prune("pruned counts follow the spec: floor(s·numel) per block, N per group, floor(N·r/M) in the tail", async () => {
  const [rt] = await runtimes();
  const rng = mulberry32(42);
  const dOut = 5, dIn = 203;
  const W = randnF32(dOut * dIn, rng);
  const H = hessian(dIn, 500, rng);
  const un = await runWasm(rt, W, H, dOut, dIn, parsePattern("0.37"));
  for (let i1 = 0; i1 < dIn; i1 += 128) {
    const bw = Math.min(128, dIn - i1);
    let cnt = 0;
    for (let r = 0; r < dOut; r++) for (let c = 0; c < bw; c++) cnt += un.mask[r * dIn + i1 + c];
    assert.is(cnt, Math.floor(0.37 * dOut * bw));
  }
  const nm = await runWasm(rt, W, H, dOut, dIn, parsePattern("4:8"));
  for (let r = 0; r < dOut; r++) {
    for (let g = 0; g < dIn; g += 8) {
      const len = Math.min(8, dIn - g);
      let cnt = 0;
      for (let t = 0; t < len; t++) cnt += nm.mask[r * dIn + g + t];
      assert.is(cnt, len === 8 ? 4 : Math.floor((4 * len) / 8), `row ${r} group ${g}`);
    }
  }
});

prune("dead inputs: H_jj = 0 zeroes the column like the reference", async () => {
  const [rt] = await runtimes();
  const rng = mulberry32(9);
  const dOut = 6, dIn = 40;
  const W = randnF32(dOut * dIn, rng);
  const H = hessian(dIn, 100, rng);
  for (const j of [0, 13, 39]) for (let i = 0; i < dIn; i++) { H[j * dIn + i] = 0; H[i * dIn + j] = 0; }
  const pattern = parsePattern("2:4");
  const got = await runWasm(rt, W, H, dOut, dIn, pattern);
  const ref = sparsegptRef(W, H, dOut, dIn, { pattern });
  assert.equal(got.dead, [0, 13, 39]);
  for (let r = 0; r < dOut; r++) for (const j of [0, 13, 39]) assert.is(got.W[r * dIn + j], 0);
  assert.equal(Array.from(got.mask), Array.from(ref.mask));
  assert.ok(maxRelDiff(got.W, ref.W) < 1e-4);
});

prune("bad input: NaN in W or H, M not dividing the block, bad sparsity, short arrays", async () => {
  const [rt] = await runtimes();
  const n = 8;
  const H = hessian(n, 30, mulberry32(3));
  const W = randnF32(2 * n, mulberry32(4));
  const w = rt.heap.from("f32", W), h = rt.heap.from("f32", H);
  const throwsArg = async (arg: string, f: () => Promise<unknown>) => {
    try { await f(); assert.unreachable(`expected ArgumentError(${arg})`); } catch (e) {
      assert.instance(e, ArgumentError);
      assert.is((e as ArgumentError).arg, arg);
    }
  };
  await throwsArg("pattern", () => sparsegpt(rt, w, h, 2, n, { pattern: parsePattern("3:6") }));
  await throwsArg("pattern", () => sparsegpt(rt, w, h, 2, n, { pattern: { kind: "unstructured", sparsity: 1 } }));
  await throwsArg("pattern", () => sparsegpt(rt, w, h, 2, n, { pattern: { kind: "nm", n: 4, m: 4 } }));
  await throwsArg("W", () => sparsegpt(rt, w, h, 3, n, { pattern: parsePattern("0.5") }));
  await throwsArg("dIn", () => sparsegpt(rt, w, h, 2, 0, { pattern: parsePattern("0.5") }));
  w.view()[3] = NaN;
  await throwsArg("W", () => sparsegpt(rt, w, h, 2, n, { pattern: parsePattern("0.5") }));
  w.set(W);
  h.view()[9] = Infinity;
  await throwsArg("H", () => sparsegpt(rt, w, h, 2, n, { pattern: parsePattern("0.5") }));
  w.free(); h.free();
});

prune.after(() => {
  for (const rt of rts) rt.close();
  rts.length = 0;
});

factor.run();
prune.run();
