// f16/bf16 <-> f32 conversion kernels against the bit-level references: every f16/bf16 pattern,
// ties and neighbours of every f16 value, random f32 bit patterns (NaN payloads, subnormals, Inf),
// odd lengths, one and two threads, and argument errors.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArgumentError, createRuntime, type Runtime, type WasmRef } from "../src/index.js";
import * as K from "../src/kernels/index.js";
import * as R from "../src/reference/index.js";
import { mulberry32 } from "./util/random.js";

const rts: Runtime[] = [];
const rtFor = (threads: number): Runtime => rts[threads - 1];

function sameU(got: ArrayLike<number>, want: ArrayLike<number>, what: string, input?: ArrayLike<number>): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      const inp = input ? ` (input 0x${(input[i] >>> 0).toString(16)})` : "";
      assert.unreachable(`${what}[${i}]: got 0x${(got[i] >>> 0).toString(16)}, want 0x${(want[i] >>> 0).toString(16)}${inp}`);
    }
  }
}

const f32Bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

async function widen(rt: Runtime, fn: typeof K.f16ToF32, h: Uint16Array): Promise<Uint32Array> {
  const s = rt.heap.scope();
  try {
    const dst = s.alloc("f32", h.length);
    await fn(rt, s.from("u16", h), dst);
    return f32Bits(dst.read());
  } finally { s.release(); }
}

async function narrow(rt: Runtime, fn: typeof K.f32ToF16, bits: Uint32Array): Promise<Uint16Array> {
  const s = rt.heap.scope();
  try {
    // Write the bit patterns through a u32 view so that no NaN passes through a JS number.
    const src = s.alloc("f32", bits.length);
    new Uint32Array(src.view().buffer, src.ptr, bits.length).set(bits);
    const dst = s.alloc("u16", bits.length);
    await fn(rt, src, dst);
    return dst.read();
  } finally { s.release(); }
}

/** Every 16-bit pattern, in a scrambled order so that vector lanes and scalar tails see all kinds. */
function allHalves(): Uint16Array {
  const h = new Uint16Array(65536 + 5);
  for (let i = 0; i < h.length; i++) h[i] = (i * 40503) & 0xffff;
  return h;
}

/** For every f16 value v (and its negation): v exactly, just below/at/above the midpoint to the next. */
function f16Neighbourhoods(): Uint32Array {
  const out: number[] = [];
  for (let h = 0; h < 0x7c00; h++) {
    const [a, b] = R.f16ToF32(new Uint16Array([h, h + 1]));
    const mid = new Float32Array([(a + b) / 2]); // exact in f32: f16 values have 11 significant bits
    const m = f32Bits(mid)[0];
    for (const v of [f32Bits(new Float32Array([a]))[0], m - 1, m, m + 1]) out.push(v, (v | 0x80000000) >>> 0);
  }
  return new Uint32Array(out);
}

function randomBits(n: number, seed: number): Uint32Array {
  const rng = mulberry32(seed);
  const b = new Uint32Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 4294967296) >>> 0;
  // Sprinkle the special values.
  const specials = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffffffff, 0x00000001, 0x007fffff,
    0x477fefff, 0x477ff000, 0x477ff001, 0x47800000, 0x33000000, 0x33000001, 0x387fe000, 0x387ff000, 0x38800000];
  for (let i = 0; i < specials.length && i < n; i++) b[(i * 13) % n] = specials[i];
  return b;
}

const convert = suite("convert: f16/bf16 <-> f32");
convert.before(async () => { rts.push(await createRuntime({ threads: 1 }), await createRuntime({ threads: 2, minParallelWork: 0 })); });
convert.after(() => { for (const rt of rts.splice(0)) rt.close(); });

convert("f16 -> f32 and bf16 -> f32 are exact for every pattern", async () => {
  const h = allHalves();
  for (const threads of [1, 2]) {
    sameU(await widen(rtFor(threads), K.f16ToF32, h), f32Bits(R.f16ToF32(h)), `f16ToF32 t=${threads}`, h);
    sameU(await widen(rtFor(threads), K.bf16ToF32, h), f32Bits(R.bf16ToF32(h)), `bf16ToF32 t=${threads}`, h);
  }
  // Spot values, independent of the reference.
  const v = new Float32Array((await widen(rtFor(1), K.f16ToF32, new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7bff, 0x03ff, 0x7c00, 0x8000]))).buffer);
  assert.equal(Array.from(v), [1, -2, 2 ** -24, 65504, 1023 * 2 ** -24, Infinity, -0]);
});

convert("f32 -> f16 rounds to nearest even with subnormals, overflow, NaN", async () => {
  const hood = f16Neighbourhoods();
  const rnd = randomBits(100003, 21);
  for (const threads of [1, 2]) {
    for (const [name, bits] of [["neighbourhoods", hood], ["random", rnd]] as const) {
      const want = R.f32ToF16(new Float32Array(bits.buffer, bits.byteOffset, bits.length));
      sameU(await narrow(rtFor(threads), K.f32ToF16, bits), want, `f32ToF16 ${name} t=${threads}`, bits);
    }
  }
  // Round trip of every non-NaN f16 pattern; NaNs come back quiet with their payload.
  const h = allHalves();
  const back = await narrow(rtFor(2), K.f32ToF16, await widen(rtFor(2), K.f16ToF32, h));
  for (let i = 0; i < h.length; i++) {
    const isNaN = (h[i] & 0x7c00) === 0x7c00 && (h[i] & 0x3ff) !== 0;
    assert.is(back[i], isNaN ? h[i] | 0x200 : h[i], `round trip 0x${h[i].toString(16)}`);
  }
  // Known roundings.
  const cases: Array<[number, number]> = [[65519, 0x7bff], [65520, 0x7c00], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02],
    [2 ** -25, 0x0000], [2 ** -25 * 1.5, 0x0001], [3 * 2 ** -25, 0x0002], [-1e-10, 0x8000], [1e10, 0x7c00]];
  const got = await narrow(rtFor(1), K.f32ToF16, f32Bits(new Float32Array(cases.map((c) => c[0]))));
  assert.equal(Array.from(got), cases.map((c) => c[1]));
});

convert("f32 -> bf16 rounds to nearest even, keeps NaN", async () => {
  const rnd = randomBits(100003, 22);
  const hood = f16Neighbourhoods();
  for (const threads of [1, 2]) {
    for (const [name, bits] of [["neighbourhoods", hood], ["random", rnd]] as const) {
      const want = R.f32ToBf16(new Float32Array(bits.buffer, bits.byteOffset, bits.length));
      sameU(await narrow(rtFor(threads), K.f32ToBf16, bits), want, `f32ToBf16 ${name} t=${threads}`, bits);
    }
  }
  const cases: Array<[number, number]> = [[0x3f808000, 0x3f80], [0x3f818000, 0x3f82], [0x3f808001, 0x3f81], [0x7f7fffff, 0x7f80],
    [0x7f800001, 0x7fc0], [0xff800000, 0xff80], [0x80000001, 0x8000]];
  const got = await narrow(rtFor(1), K.f32ToBf16, new Uint32Array(cases.map((c) => c[0])));
  assert.equal(Array.from(got), cases.map((c) => c[1]));
});

convert("odd lengths and slices", async () => {
  for (const n of [0, 1, 3, 17, 172, 1000]) {
    const bits = randomBits(n, n + 5);
    const h = new Uint16Array(bits.map((b) => b & 0xffff));
    for (const threads of [1, 2]) {
      const rt = rtFor(threads);
      sameU(await narrow(rt, K.f32ToF16, bits), R.f32ToF16(new Float32Array(bits.buffer)), `f32ToF16 n=${n}`);
      sameU(await narrow(rt, K.f32ToBf16, bits), R.f32ToBf16(new Float32Array(bits.buffer)), `f32ToBf16 n=${n}`);
      sameU(await widen(rt, K.f16ToF32, h), f32Bits(R.f16ToF32(h)), `f16ToF32 n=${n}`);
      sameU(await widen(rt, K.bf16ToF32, h), f32Bits(R.bf16ToF32(h)), `bf16ToF32 n=${n}`);
    }
  }
  // A slice starting at an odd element writes only its own range.
  const rt = rtFor(1);
  const s = rt.heap.scope();
  try {
    const src = s.from("u16", [0x3c00, 0x4000, 0x4200, 0x4400, 0x4500]);
    const dst = s.from("f32", [9, 9, 9, 9, 9, 9]);
    await K.f16ToF32(rt, src.sub(1, 4), dst.sub(2, 5));
    assert.equal(Array.from(dst.read()), [9, 9, 2, 3, 4, 9]);
  } finally { s.release(); }
});

convert("reference agrees with an independent arithmetic check", () => {
  // numberToF16Bits via the value: nearest representable, ties to even mantissa.
  const rng = mulberry32(23);
  for (let i = 0; i < 2000; i++) {
    const x = Math.fround((rng() * 2 - 1) * 2 ** Math.floor(rng() * 40 - 28));
    const h = R.numberToF16Bits(x);
    assert.is(h >> 15, x < 0 ? 1 : 0, `sign of ${x}`);
    const a = Math.abs(x), m = h & 0x7fff;
    const v = R.f16BitsToNumber(m);
    if (a >= 65520) { assert.is(m, 0x7c00, `overflow ${x}`); continue; }
    const err = Math.abs(v - a);
    const up = R.f16BitsToNumber(m + 1), down = m > 0 ? R.f16BitsToNumber(m - 1) : -Infinity;
    assert.ok(err <= Math.abs(up - a) && err <= Math.abs(a - down), `f16 nearest for ${x}`);
    if (err === Math.abs(up - a) || err === Math.abs(a - down)) assert.is(m & 1, 0, `tie to even for ${x}`);
  }
});

convert("bad arguments throw ArgumentError naming the argument", async () => {
  const rt = rtFor(2);
  const s = rt.heap.scope();
  try {
    const h = s.alloc("u16", 8), f = s.alloc("f32", 8);
    await throwsArg(() => K.f16ToF32(rt, f as unknown as WasmRef<"u16">, f), "src");
    await throwsArg(() => K.f16ToF32(rt, h, h as unknown as WasmRef<"f32">), "dst");
    await throwsArg(() => K.bf16ToF32(rt, h, f.sub(0, 7)), "dst");
    await throwsArg(() => K.f32ToF16(rt, f, h.sub(0, 3)), "dst");
    await throwsArg(() => K.f32ToBf16(rt, h as unknown as WasmRef<"f32">, h), "src");
    const big = s.alloc("f32", 16);
    const alias = { ptr: big.ptr + 8, length: 8, kind: "u16" as const, view: () => new Uint16Array(0) };
    await throwsArg(() => K.f32ToF16(rt, big.sub(0, 8), alias), "dst");
  } finally { s.release(); }
});

async function throwsArg(fn: () => Promise<unknown>, arg: string): Promise<void> {
  let err: unknown;
  try { await fn(); } catch (e) { err = e; }
  assert.instance(err, ArgumentError, `expected ArgumentError(${arg}), got ${String(err)}`);
  assert.is((err as ArgumentError).arg, arg);
}

convert.run();
