// N:M sparse matrices: canonical format round trips (both axes, many patterns, odd sizes with
// tails), runtime layouts, GEMV/GEMM kernels (fast 2:4 / 4:8 and general) against the f64
// reference at one and two threads (bit-identical), malformed data and bad arguments.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArgumentError, createRuntime, type Runtime } from "../src/index.js";
import {
  SparseMatrix, compressNM, decompressNM, validateCompressed, encodeValues, decodeValues, nmValueCount, nmMaskBytes,
  packTab8, unpackTab8, packSwz, unpackSwz, packCls, unpackCls, type CompressedNM, type NMAxis, type SparseLayoutKind,
} from "../src/sparse/index.js";
import { sparseGemmRef } from "../src/reference/index.js";
import { mulberry32, type Rng } from "./util/random.js";

const rts: Runtime[] = [];
const rtFor = (threads: number): Runtime => rts[threads - 1];

/** A dense matrix following N:M along `axis` (random pruned positions), with a few extra zeros among kept weights. */
function nmDense(rng: Rng, rows: number, cols: number, n: number, m: number, axis: NMAxis, extraZeros = 0.05): Float32Array {
  const W = new Float32Array(rows * cols);
  for (let i = 0; i < W.length; i++) W[i] = rng() < extraZeros ? 0 : (rng() * 2 - 1);
  const idx: number[] = [];
  const pruneGroup = (at: (i: number) => number, len: number) => {
    const k = Math.floor((n * len) / m);
    idx.length = 0;
    for (let i = 0; i < len; i++) idx.push(i);
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(rng() * (len - i));
      [idx[i], idx[j]] = [idx[j], idx[i]];
      W[at(idx[i])] = 0;
    }
  };
  if (axis === "input") {
    for (let r = 0; r < rows; r++) for (let c0 = 0; c0 < cols; c0 += m) pruneGroup((i) => r * cols + c0 + i, Math.min(m, cols - c0));
  } else {
    for (let r0 = 0; r0 < rows; r0 += m) for (let c = 0; c < cols; c++) pruneGroup((i) => (r0 + i) * cols + c, Math.min(m, rows - r0));
  }
  return W;
}

function randomX(rng: Rng, n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng() * 2 - 1;
  return x;
}

/** |got - want| <= tol * sum |w x| (+ a tiny absolute term), NaN matching NaN. */
function assertNear(got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>, what: string, tol = 2e-6): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const a = got[i], b = want[i];
    if (Number.isNaN(b)) { assert.ok(Number.isNaN(a), `${what}[${i}]: got ${a}, want NaN`); continue; }
    assert.ok(Math.abs(a - b) <= tol * scale[i] + 1e-30, `${what}[${i}]: got ${a}, want ${b}`);
  }
}

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.is(a.length, b.length, `${what}: length`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) assert.unreachable(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

/** sum over kept of |w x| per output (the error scale of an f32 dot product). */
function absScale(c: CompressedNM, X: Float32Array, T: number): Float64Array {
  const abs: CompressedNM = { ...c, values: c.values.map(Math.abs) };
  return sparseGemmRef(abs, X.map(Math.abs), T);
}

const PATTERNS: Array<[number, number]> = [[2, 4], [4, 8], [1, 4], [3, 8], [2, 8], [16, 32], [31, 32]];
const SHAPES: Array<[number, number]> = [[1, 1], [1, 3], [3, 17], [17, 3], [172, 37], [37, 172], [9, 64]];
const AXES: NMAxis[] = ["input", "output"];

// ---------------------------------------------------------------------------------------------
const fmt = suite("sparse: canonical format");

fmt("compress / decompress round trip: both axes, all patterns, odd sizes with tails", () => {
  const rng = mulberry32(11);
  for (const [n, m] of PATTERNS) for (const axis of AXES) for (const [rows, cols] of SHAPES) {
    const W = nmDense(rng, rows, cols, n, m, axis);
    const c = compressNM(W, rows, cols, n, m, axis);
    assert.is(c.values.length, nmValueCount(rows, cols, n, m, axis));
    assert.is(c.masks.length, nmMaskBytes(rows, cols, m, axis));
    validateCompressed(c);
    const keep = new Uint8Array(rows * cols);
    const D = decompressNM(c, keep);
    for (let i = 0; i < W.length; i++) {
      if (D[i] !== W[i]) assert.unreachable(`${n}:${m} ${axis} ${rows}x${cols} [${i}]: ${D[i]} vs ${W[i]}`);
      if (W[i] !== 0 && !keep[i]) assert.unreachable(`${n}:${m} ${axis}: nonzero ${i} not kept`);
    }
  }
});

fmt("byte layout: 2:4 masks are 4 bits per group, LSB first; explicit zeros fill a group", () => {
  // Row 0: [0 5 0 6 | 7 0 0 8]; row 1 all zero: keeps the last two positions of each group.
  const W = new Float32Array([0, 5, 0, 6, 7, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
  const c = compressNM(W, 2, 8, 2, 4, "input");
  assert.equal(Array.from(c.values), [5, 6, 7, 8, 0, 0, 0, 0]);
  assert.equal(Array.from(c.masks), [0b1001_1010, 0b1100_1100]);
  // Output axis: groups of 4 rows per column, column order within a row-group.
  const Wt = new Float32Array(16);
  for (let r = 0; r < 2; r++) for (let j = 0; j < 8; j++) Wt[j * 2 + r] = W[r * 8 + j];
  const ct = compressNM(Wt, 8, 2, 2, 4, "output");
  assert.equal(Array.from(ct.values), [5, 6, 0, 0, 7, 8, 0, 0]);
  assert.equal(Array.from(ct.masks), [0b1100_1010, 0b1100_1001]);
  // 3:8 on 11 columns: a tail of 3 prunes floor(9/8) = 1 and keeps 2.
  const V = new Float32Array([1, 0, 2, 0, 3, 0, 4, 5, 0, 6, 7]);
  const c38 = compressNM(V, 1, 11, 3, 8, "input");
  assert.equal(Array.from(c38.values), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(Array.from(c38.masks), [0b1101_0101, 0b0000_0110]);
  // 1:3 on 11 columns: 3-bit masks straddle bytes (group 2 = bits 6..8); the tail of 2 prunes 0.
  const c13 = compressNM(new Float32Array([1, 0, 2, 0, 3, 4, 5, 6, 0, 7, 8]), 1, 11, 1, 3, "input");
  assert.equal(Array.from(c13.values), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(Array.from(c13.masks), [0b11_110_101, 0b0000_0110]);
});

fmt("f16 values: rounded, declared, validated, encoded in 2 bytes", () => {
  const rng = mulberry32(5);
  const W = nmDense(rng, 17, 40, 2, 4, "input");
  const c = compressNM(W, 17, 40, 2, 4, "input", { dtype: "f16" });
  assert.is(c.dtype, "f16");
  validateCompressed(c);
  const bytes = encodeValues(c);
  assert.is(bytes.length, c.values.length * 2);
  assert.equal(decodeValues(bytes, "f16", c.values.length), c.values);
  const c32 = compressNM(W, 17, 40, 2, 4, "input");
  assert.equal(decodeValues(encodeValues(c32), "f32", c32.values.length), c32.values);
  assert.throws(() => validateCompressed({ ...c32, dtype: "f16" }), (e: unknown) => e instanceof ArgumentError && /f16/.test((e as Error).message));
  assert.throws(() => compressNM(new Float32Array([1e6, 0, 0, 1]), 1, 4, 2, 4, "input", { dtype: "f16" }), /overflows f16/);
});

fmt("too few zeros for the pattern is rejected with the group's position", () => {
  const W = new Float32Array(2 * 8).fill(1);
  W[0] = 0; W[1] = 0; W[6] = 0; // row 0: group (0, 0) ok, group (0, 4) has 1 zero
  try {
    compressNM(W, 2, 8, 2, 4, "input");
    assert.unreachable("should throw");
  } catch (e) {
    assert.instance(e, ArgumentError);
    assert.is((e as ArgumentError).arg, "W");
    assert.match((e as Error).message, "group (0, 4) has only 1 zeros, pattern needs 2");
  }
  const Wo = new Float32Array(8 * 3).fill(1); // output axis: column groups of 4 rows
  for (let r = 0; r < 4; r++) for (let j = 0; j < 3; j++) if (r < 2) Wo[r * 3 + j] = 0;
  Wo[4 * 3 + 1] = 0;
  assert.throws(() => compressNM(Wo, 8, 3, 2, 4, "output"), /group \(4, 0\) has only 0 zeros, pattern needs 2/);
  // Tails: 5 columns under 2:4 = one full group + a tail of 1 that prunes floor(2/4) = 0.
  compressNM(new Float32Array([0, 0, 1, 1, 1]), 1, 5, 2, 4, "input");
  // ...and a tail of 3 prunes 1.
  assert.throws(() => compressNM(new Float32Array([0, 0, 1, 1, 1, 1, 1]), 1, 7, 2, 4, "input"), /group \(0, 4\) has only 0 zeros, pattern needs 1/);
});

fmt("malformed compressed data is rejected before any kernel runs", () => {
  const rng = mulberry32(3);
  const good = compressNM(nmDense(rng, 5, 14, 2, 4, "input"), 5, 14, 2, 4, "input");
  const bad = (patch: Partial<CompressedNM>, re: RegExp, argRe = /compressed/) => {
    const c = { ...good, ...patch };
    try {
      validateCompressed(c);
      assert.unreachable(`accepted ${re}`);
    } catch (e) {
      assert.instance(e, ArgumentError);
      assert.match((e as Error).message, re);
      assert.match((e as ArgumentError).arg, argRe);
    }
  };
  const masks = () => good.masks.slice();
  bad({ values: good.values.subarray(1) }, /values.*length/);
  bad({ values: new Float32Array(good.values.length + 1) }, /expected/);
  bad({ masks: good.masks.subarray(1) }, /masks.*length/);
  // Wrong popcount: add a kept bit to a full group, then remove one.
  let mk = masks(); mk[0] |= 0b1111; bad({ masks: mk }, /keeps 4 values, 2:4 needs 2/);
  mk = masks(); mk[0] &= ~(mk[0] & -mk[0]); bad({ masks: mk }, /keeps 1 values/);
  // Bit beyond a tail group: cols = 14 -> tail of 2 at positions 12, 13 (bits 2, 3 of its nibble are out of range).
  mk = masks(); mk[1] = (mk[1] & 0x0f) | (0b0110 << 4); // group 3 of row 0 = bits 12..15 -> byte 1 high nibble
  bad({ masks: mk }, /beyond its 2 elements/);
  // Padding bits after the last group (5 rows x 4 groups x 4 bits = 80 bits = 10 bytes: none); use 3 rows x 1 group of 4.
  const small = compressNM(new Float32Array([1, 0, 0, 2, 0, 3, 4, 0, 5, 6, 0, 0]), 3, 4, 2, 4, "input");
  const pm = small.masks.slice(); pm[1] |= 0x80;
  assert.throws(() => validateCompressed({ ...small, masks: pm }), /padding bits/);
  bad({ n: 4 }, /N must be < M/);
  bad({ m: 33 }, /M must be an integer in 1\.\.32/);
  bad({ axis: "rows" as NMAxis }, /axis/);
  bad({ rows: 0 }, /rows/);
  bad({ cols: 2.5 }, /cols/);
  bad({ dtype: "f64" as "f32" }, /dtype/);
  bad({ values: [1, 2] as unknown as Float32Array }, /Float32Array/);
});

fmt("layouts: tab8, swz and cls are exact round trips of the canonical format", () => {
  const rng = mulberry32(21);
  for (const [n, m] of [[2, 4], [4, 8]] as const) for (const [rows, cols] of [...SHAPES, [40, 300], [5, 600], [11, 8200], [16, 4096], [9, 4097]] as Array<[number, number]>) {
    const ci = compressNM(nmDense(rng, rows, cols, n, m, "input"), rows, cols, n, m, "input");
    const ti = unpackTab8(packTab8(ci));
    assert.equal(ti.values, ci.values, `tab8 ${n}:${m} ${rows}x${cols} values`);
    assert.equal(ti.masks, ci.masks, `tab8 ${n}:${m} ${rows}x${cols} masks`);
    const co = compressNM(nmDense(rng, rows, cols, n, m, "output"), rows, cols, n, m, "output");
    const to = unpackSwz(packSwz(co));
    assert.equal(to.values, co.values, `swz ${n}:${m} ${rows}x${cols} values`);
    assert.equal(to.masks, co.masks, `swz ${n}:${m} ${rows}x${cols} masks`);
    const tc = unpackCls(packCls(co));
    assert.equal(tc.values, co.values, `cls ${n}:${m} ${rows}x${cols} values`);
    assert.equal(tc.masks, co.masks, `cls ${n}:${m} ${rows}x${cols} masks`);
  }
});

fmt.run();

// ---------------------------------------------------------------------------------------------
const kern = suite("sparse: GEMV / GEMM kernels");
kern.before(async () => { rts.push(await createRuntime({ threads: 1 }), await createRuntime({ threads: 2, minParallelWork: 0 })); });
kern.after(() => { for (const rt of rts.splice(0)) rt.close(); });

async function product(rt: Runtime, c: CompressedNM, X: Float32Array, T: number, useGemv = false, layout?: SparseLayoutKind): Promise<Float32Array> {
  const mat = SparseMatrix.fromCompressed(rt, c, { layout });
  const x = rt.heap.from("f32", X), y = rt.heap.alloc("f32", T * c.rows);
  try {
    if (useGemv) await mat.gemv(x, y); else await mat.gemm(x, y, T);
    return y.read();
  } finally { x.free(); y.free(); mat.free(); }
}

const KSHAPES: Array<[number, number]> = [[1, 1], [3, 17], [17, 3], [172, 37], [37, 172], [64, 520], [13, 1000], [9, 4101]];

/** The layouts each pattern can run on (the first is the default). */
function layoutsFor(n: number, m: number, axis: NMAxis): SparseLayoutKind[] {
  const fast = (n === 2 && m === 4) || (n === 4 && m === 8);
  if (!fast) return ["canonical"];
  return axis === "input" ? ["tab8", "canonical"] : ["cls", "swz", "canonical"];
}

kern("GEMV and GEMM (T = 1, 2, 3, 8, 17) match the reference on every layout; 1 and 2 threads bit-identical", async () => {
  const rng = mulberry32(7);
  for (const [n, m] of [[2, 4], [4, 8], [1, 4], [3, 8], [16, 32]] as Array<[number, number]>) {
    for (const axis of AXES) for (const [rows, cols] of KSHAPES) {
      const c = compressNM(nmDense(rng, rows, cols, n, m, axis), rows, cols, n, m, axis);
      for (const layout of layoutsFor(n, m, axis)) for (const T of [1, 2, 3, 8, 17, 24]) {
        // The general kernels repeat the same per-token code: fewer token counts suffice.
        if (layout === "canonical" && (T === 2 || T === 8 || T === 24)) continue;
        const X = randomX(rng, T * cols);
        const want = sparseGemmRef(c, X, T);
        const scale = absScale(c, X, T);
        const what = `${n}:${m} ${axis} ${layout} ${rows}x${cols} T=${T}`;
        const y1 = await product(rtFor(1), c, X, T, false, layout);
        assertNear(y1, want, scale, what);
        const y2 = await product(rtFor(2), c, X, T, false, layout);
        sameBits(y1, y2, `${what} threads 1 vs 2`);
        if (T === 1) sameBits(await product(rtFor(2), c, X, 1, true, layout), y1, `${what} gemv vs gemm`);
      }
    }
  }
});

/**
 * An output-axis 2:4 matrix whose 8-row groups keep rows {0,1,4,5} in every column except the
 * `rare` ones, which keep {2,3,6,7}: the rare class's lists then have gaps far over 255 columns
 * (bridging entries), and its rows see only the rare columns.
 */
function rareClassMatrix(rng: Rng, rows: number, cols: number, rare: number[]): Float32Array {
  const W = new Float32Array(rows * cols);
  const isRare = new Uint8Array(cols);
  for (const j of rare) isRare[j] = 1;
  for (let r = 0; r < rows; r++) {
    const keep = isRare.map((v) => ((r & 3) < 2) !== (v === 1) ? 1 : 0); // rows 0,1 (mod 4) unless rare
    for (let j = 0; j < cols; j++) if (keep[j]) W[r * cols + j] = rng() * 2 - 1;
  }
  return W;
}

kern("cls: bridging entries over long gaps, zero slots keep NaN/Inf out of other classes' rows, T > 64", async () => {
  const rng = mulberry32(31);
  const rows = 21, cols = 5000; // a partial last row group, three panels, the last one narrow
  const rare = [0, 7, 300, 901, 2047, 2600, 4095, 4096, 4097, 4999]; // panels of 4096 columns
  const W = rareClassMatrix(rng, rows, cols, rare);
  const c = compressNM(W, rows, cols, 2, 4, "output");
  const t = packCls(c);
  const u = unpackCls(t);
  assert.equal(u.values, c.values, "round trip values");
  assert.equal(u.masks, c.masks, "round trip masks");
  // More entries than columns per group: the rare class needed bridges.
  const groups = Math.ceil(rows / 8);
  assert.ok(t.deltas.length > groups * cols, `entries ${t.deltas.length} should exceed ${groups * cols}`);
  const mat = SparseMatrix.fromCompressed(rtFor(1), c);
  assert.is(mat.layout, "cls");
  assert.ok(mat.bytes < 2.2 * groups * 8 * cols + 4096, `bytes ${mat.bytes}`); // 2.125 per weight of the padded groups + tables
  mat.free();
  // x is NaN or Inf on every common column: rows of the rare class stay finite and exact.
  for (const T of [1, 3, 9]) {
    const X = randomX(rng, T * cols);
    const common = new Set(rare);
    for (let tk = 0; tk < T; tk++) for (let j = 0; j < cols; j++) if (!common.has(j)) X[tk * cols + j] = j % 2 ? NaN : Infinity;
    const want = sparseGemmRef(c, X, T);
    for (const threads of [1, 2]) for (const useGemv of T === 1 ? [false, true] : [false]) {
      const got = await product(rtFor(threads), c, X, T, useGemv);
      for (let tk = 0; tk < T; tk++) for (let r = 0; r < rows; r++) {
        const i = tk * rows + r, what = `T=${T} threads=${threads} row ${r} token ${tk}`;
        if ((r & 3) >= 2) assert.ok(Number.isFinite(got[i]) && Math.abs(got[i] - want[i]) <= 1e-5 * (1 + Math.abs(want[i])), `${what}: ${got[i]} vs ${want[i]}`);
        else assert.ok(!Number.isFinite(got[i]), `${what}: ${got[i]} should be non-finite`);
      }
    }
  }
  // T above one kernel call (64 tokens), not a multiple of 8, on random patterns of both kinds.
  for (const [n, m, r2, c2] of [[2, 4, 37, 2100], [4, 8, 20, 300]] as Array<[number, number, number, number]>) {
    const c2m = compressNM(nmDense(rng, r2, c2, n, m, "output"), r2, c2, n, m, "output");
    for (const T of [64, 66, 131]) { // 66: 64 in the kernel, then 2 GEMVs; 131: 64, 64, then 3 padded to 8
      const X = randomX(rng, T * c2);
      const y1 = await product(rtFor(1), c2m, X, T);
      assertNear(y1, sparseGemmRef(c2m, X, T), absScale(c2m, X, T), `${n}:${m} ${r2}x${c2} T=${T}`);
      sameBits(y1, await product(rtFor(2), c2m, X, T), `${n}:${m} ${r2}x${c2} T=${T} threads 1 vs 2`);
      // A token's result does not depend on which kernel call or block it ran in.
      const y16 = await product(rtFor(2), c2m, X.subarray(0, 16 * c2), 16);
      sameBits(y16, y1.subarray(0, 16 * r2), `${n}:${m} T=${T}: first 16 tokens alone`);
      const yLast = await product(rtFor(1), c2m, X.subarray((T - 3) * c2), 3);
      if (T % 8 >= 3) sameBits(yLast, y1.subarray((T - 3) * r2), `${n}:${m} T=${T}: last 3 tokens alone`);
    }
  }
});

kern("tab8 GEMM: T not a multiple of 8 and above 64 tokens matches the reference; 1 and 2 threads bit-identical", async () => {
  const rng = mulberry32(41);
  // Narrow last panels, a partial last octet, row counts off the 4-row grain; T = 5 and 11 leave a
  // short last block, 67 and 130 go past 64 tokens (and leave 3 and 2 tokens: block vs GEMVs).
  // 602 rows: several 256-row chunks, which start elsewhere when two threads split the rows.
  for (const [n, m] of [[2, 4], [4, 8]] as Array<[number, number]>) for (const [rows, cols] of [[13, 300], [37, 1001], [602, 72]] as Array<[number, number]>) {
    const c = compressNM(nmDense(rng, rows, cols, n, m, "input"), rows, cols, n, m, "input");
    for (const T of [5, 11, 64, 67, 130]) {
      const X = randomX(rng, T * cols);
      const what = `${n}:${m} ${rows}x${cols} T=${T}`;
      const y1 = await product(rtFor(1), c, X, T, false, "tab8");
      assertNear(y1, sparseGemmRef(c, X, T), absScale(c, X, T), what);
      sameBits(y1, await product(rtFor(2), c, X, T, false, "tab8"), `${what} threads 1 vs 2`);
    }
  }
});

kern("input-axis GEMV on tall matrices (fixed-distance row streams) matches the reference and the split path", async () => {
  const rng = mulberry32(17);
  for (const [n, m] of [[2, 4], [4, 8]] as Array<[number, number]>) {
    const rows = 1100, cols = 264; // > 1024 rows: one thread takes the 4 x 256-row band path, two threads do not
    const c = compressNM(nmDense(rng, rows, cols, n, m, "input"), rows, cols, n, m, "input");
    for (const T of [1, 8]) {
      const X = randomX(rng, T * cols);
      const y1 = await product(rtFor(1), c, X, T);
      assertNear(y1, sparseGemmRef(c, X, T), absScale(c, X, T), `${n}:${m} tall T=${T}`);
      sameBits(y1, await product(rtFor(2), c, X, T), `${n}:${m} tall T=${T} threads 1 vs 2`);
    }
  }
});

kern("NaN and Inf in x reach exactly the rows that keep that column", async () => {
  const rng = mulberry32(9);
  for (const [n, m] of [[2, 4], [4, 8], [3, 8]] as Array<[number, number]>) for (const axis of AXES) {
    const rows = 37, cols = 50;
    const W = nmDense(rng, rows, cols, n, m, axis, 0.2);
    const c = compressNM(W, rows, cols, n, m, axis);
    let nans = 0, finite = 0;
    for (const T of [1, 8]) {
      const X = randomX(rng, T * cols);
      X[5] = NaN; X[cols - 3] = Infinity; if (T > 1) X[cols + 11] = -Infinity;
      const want = sparseGemmRef(c, X, T);
      for (const threads of [1, 2]) {
        const got = await product(rtFor(threads), c, X, T);
        const what = `${n}:${m} ${axis} T=${T} t=${threads}`;
        for (let i = 0; i < want.length; i++) {
          if (Number.isNaN(want[i])) { nans++; assert.ok(Number.isNaN(got[i]), `${what}[${i}] should be NaN, got ${got[i]}`); }
          else if (Number.isFinite(want[i])) { finite++; assert.ok(Math.abs(got[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])), `${what}[${i}]: ${got[i]} vs ${want[i]}`); }
          else assert.is(got[i], want[i], `${what}[${i}]`);
        }
      }
    }
    assert.ok(nans > 0 && finite > 0, `${n}:${m} ${axis}: the case should mix NaN and finite outputs`);
  }
});

kern("SparseMatrix: layouts, resident bytes, read-back, argument errors", async () => {
  const rt = rtFor(2);
  const rng = mulberry32(13);
  const rows = 64, cols = 256;
  const W = nmDense(rng, rows, cols, 2, 4, "input", 0);
  const mat = SparseMatrix.fromDense(rt, W, rows, cols, { n: 2, m: 4, axis: "input" });
  assert.is(mat.layout, "tab8");
  assert.is(mat.bytes, rows * cols * 2 + (rows * cols) / 8); // f32 values + one code byte per 8 weights
  assert.equal(decompressNM(mat.toCompressed()), W);
  const x = rt.heap.alloc("f32", cols), y = rt.heap.alloc("f32", rows), yShort = rt.heap.alloc("f32", rows - 1);
  await mat.gemv(x, y);
  assert.throws(() => mat.gemv(x, yShort), (e: unknown) => e instanceof ArgumentError && e.arg === "y");
  assert.throws(() => mat.gemv(y, y), (e: unknown) => e instanceof ArgumentError && e.arg === "x");
  const xu = rt.heap.alloc("u32", cols);
  assert.throws(() => mat.gemv(xu as never, y), (e: unknown) => e instanceof ArgumentError && /f32/.test((e as Error).message));
  try { await mat.gemm(x, y, 0); assert.unreachable(); } catch (e) { assert.instance(e, ArgumentError); }
  try { await mat.gemm(x, y, 2); assert.unreachable(); } catch (e) { assert.instance(e, ArgumentError); }
  const big = rt.heap.alloc("f32", 2 * rows);
  try { await mat.gemm(x, big, 2); assert.unreachable(); } catch (e) { assert.is((e as ArgumentError).arg, "X"); }
  mat.free();
  assert.throws(() => mat.gemv(x, y), /after free/);
  mat.free();
  const sw = SparseMatrix.fromDense(rt, nmDense(rng, rows, cols, 4, 8, "output"), rows, cols, { n: 4, m: 8, axis: "output" });
  assert.is(sw.layout, "cls");
  assert.ok(sw.bytes < rows * cols * 4, `cls bytes ${sw.bytes}`);
  sw.free();
  assert.throws(() => SparseMatrix.fromDense(rt, W, rows, cols, { n: 2, m: 4, axis: "input", layout: "cls" }), /cls does not apply/);
  assert.throws(() => SparseMatrix.fromDense(rt, W, rows, cols, { n: 2, m: 4, axis: "input", layout: "csr" as SparseLayoutKind }), /unknown layout "csr"/);
  const gen = SparseMatrix.fromDense(rt, nmDense(rng, rows, cols, 3, 8, "output"), rows, cols, { n: 3, m: 8, axis: "output" });
  assert.is(gen.layout, "canonical");
  gen.free();
  for (const [opts, re] of [
    [{ n: 4, m: 4, axis: "input" }, /N must be < M/],
    [{ n: 2, m: 64, axis: "input" }, /M must be an integer in 1\.\.32/],
    [{ n: 2, m: 4, axis: "diagonal" }, /axis/],
  ] as Array<[{ n: number; m: number; axis: NMAxis }, RegExp]>) {
    assert.throws(() => SparseMatrix.fromDense(rt, W, rows, cols, opts), (e: unknown) => e instanceof ArgumentError && re.test((e as Error).message));
  }
  assert.throws(() => SparseMatrix.fromDense(rt, W, rows, cols + 1, { n: 2, m: 4, axis: "input" }), /W: length/);
  assert.throws(() => SparseMatrix.fromDense(rt, new Float32Array(rows * cols).fill(1), rows, cols, { n: 2, m: 4, axis: "input" }), /has only 0 zeros/);
  const good = compressNM(W, rows, cols, 2, 4, "input");
  const m2 = good.masks.slice(); m2[3] = 0xff;
  assert.throws(() => SparseMatrix.fromCompressed(rt, { ...good, masks: m2 }), /keeps 4 values/);
  x.free(); y.free(); yShort.free(); xu.free(); big.free();
});

kern.run();
