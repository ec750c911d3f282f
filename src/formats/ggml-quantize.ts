/**
 * Quantising matrices for a GGUF output, as ggml's reference quantisers do (`quantize_row_q8_0_ref`,
 * `quantize_row_q4_0_ref`, `quantize_row_q6_K_ref`), bit for bit, in f32 arithmetic. Only symmetric
 * types are written: their zero is exact (Q8_0 stores q = 0, Q4_0 stores 8 for (8 - 8) d, Q6_K stores
 * 32 for d scale (32 - 32), or a sub-block scale of 0), so a pruned weight stays 0 and the sparsity
 * survives, which the block minimums of Q4_K / Q5_K would not guarantee. Q6_K is the type llama.cpp's
 * Q4_K_M, Q5_K_M and Q6_K files keep their most sensitive matrices in (output.weight, half of ffn_down).
 */
import { f16ToF32, f32ToF16 } from "./half.js";
import { ggmlQuantTypeNamed, type GgmlQuantType } from "./ggml-quants.js";
import type { ModelReader } from "./reader.js";

/** The quantised types dass writes. */
export type GgmlWriteType = "Q8_0" | "Q6_K" | "Q4_0";

/** Every type of {@link GgmlWriteType}, for validation and help texts. */
export const GGML_WRITE_TYPES: readonly GgmlWriteType[] = ["Q8_0", "Q6_K", "Q4_0"];

const f = Math.fround;

/** The ggml geometry (id, block elements and bytes) of a written type. */
export function ggmlWriteType(type: GgmlWriteType): GgmlQuantType {
  return ggmlQuantTypeNamed(type)!;
}

/**
 * Elements per block of a written type (32 for Q8_0 and Q4_0, 256 for Q6_K): a matrix is quantised
 * when its rows are a multiple of it, since ggml's blocks never straddle rows.
 */
export function ggmlWriteBlock(type: GgmlWriteType): number {
  return ggmlWriteType(type).blockElems;
}

/** The input's quantised type of a tensor, when dass writes that type back (Q8_0, Q4_0, Q6_K). */
export function keptQuantType(reader: ModelReader, name: string): GgmlWriteType | undefined {
  const t = reader.tensors.get(name)?.quantized?.type;
  return GGML_WRITE_TYPES.find((w) => w === t);
}

/**
 * The quantised types of a reader's tensors that dass cannot write back (they are written dequantised),
 * among those `rewritten` names (default all; matrices copied as stored keep any type).
 */
export function unwrittenQuantTypes(reader: ModelReader, rewritten: (name: string) => boolean = () => true): string[] {
  return [...new Set([...reader.tensors.values()].flatMap((t) => (t.quantized && rewritten(t.name) && !keptQuantType(reader, t.name) ? [t.quantized.type] : [])))];
}

/** The note the CLI prints when some of the `rewritten` quantised matrices are written as f32 (null when none are). */
export function dequantisedNote(reader: ModelReader, rewritten?: (name: string) => boolean): string | null {
  const lost = unwrittenQuantTypes(reader, rewritten);
  return lost.length
    ? `note: the input's ${lost.join(", ")} matrices are written as f32 where they change (exact, larger; the others keep their blocks); --dtype q8_0, q6_k or q4_0 stores every matrix in that type`
    : null;
}

/** C's roundf: halves away from zero. */
const roundf = (v: number) => (v < 0 ? -Math.round(-v) : Math.round(v));

const nf = new Float32Array(1);
const ni = new Int32Array(nf.buffer);

/**
 * ggml's `nearest_int`: adding 1.5 * 2^23 in f32 leaves round(v) (half to even) in the low mantissa
 * bits. It is reproduced bit by bit rather than as a rounding so that values beyond 2^22 (which ggml
 * asserts away in debug builds only) give ggml's same wrapped integers, before the caller's clamp.
 * The double sum rounded once to f32 is the f32 sum (53 >= 2 * 24 + 2 bits).
 */
function nearestInt(v: number): number {
  nf[0] = v + 12582912;
  return (ni[0] & 0x7fffff) - 0x400000;
}

/** The x[at..at+32) block of Q8_0 (f16 d, 32 i8) at out[o]. */
function blockQ8_0(x: Float32Array, at: number, out: Uint8Array, o: number): void {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[at + j]));
  const d = f(amax / 127), id = d !== 0 ? f(1 / d) : 0;
  putHalf(out, o, d);
  for (let j = 0; j < 32; j++) out[o + 2 + j] = roundf(f(x[at + j] * id)) & 255;
}

/** The x[at..at+32) block of Q4_0 (f16 d, 16 bytes of nibbles) at out[o]. */
function blockQ4_0(x: Float32Array, at: number, out: Uint8Array, o: number): void {
  // Scaled by the signed value of largest magnitude (the first one), so that it maps to q = 0 and
  // the other side gets the extra level.
  let amax = 0, max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[at + j];
    if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
  }
  const d = f(max / -8), id = d !== 0 ? f(1 / d) : 0;
  putHalf(out, o, d);
  for (let j = 0; j < 16; j++) {
    const lo = Math.min(15, Math.trunc(f(f(x[at + j] * id) + 8.5)));
    const hi = Math.min(15, Math.trunc(f(f(x[at + 16 + j] * id) + 8.5)));
    out[o + 2 + j] = lo | (hi << 4);
  }
}

// ggml's GROUP_MAX_EPS (1e-15f): a group whose largest magnitude is below it counts as all zero.
const GROUP_MAX_EPS = f(1e-15);
const TENTH = f(0.1);

// Scratch of blockQ6_K: the 6-bit levels 0..63 of the 256 elements, and the 16 sub-block scales.
const levels = new Uint8Array(256);
const subScales = new Float32Array(16);

/**
 * ggml's `make_qx_quants(16, 32, x + at, L + lat, 1, NULL)`, the only case Q6_K uses: the scale s of
 * one 16-element sub-block minimising sum x^2 (x - s l)^2 over l = nearest(x / s) in -32..31, searched
 * over s = -max / (32 + 0.1 k), k = -9..9 (the best of each fitted by least squares), with levels
 * l + 32 written to L. Every sum is rounded to f32 in ggml's order, since a tie in the comparisons
 * decides which levels are kept.
 */
function makeQxQuants16(x: Float32Array, at: number, L: Uint8Array, lat: number): number {
  const nmax = 32;
  let max = 0, amax = 0;
  for (let i = 0; i < 16; i++) {
    const ax = Math.abs(x[at + i]);
    if (ax > amax) { amax = ax; max = x[at + i]; }
  }
  if (amax < GROUP_MAX_EPS) {
    // Levels 0, not 32: with the scale 0 the sub-block still reads back as zeros.
    L.fill(0, lat, lat + 16);
    return 0;
  }
  const level = (iscale: number, v: number) => Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * v))));
  let iscale = f(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < 16; i++) {
    const v = x[at + i], l = level(iscale, v), w = f(v * v);
    L[lat + i] = l + nmax;
    sumlx = f(sumlx + f(f(w * v) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  // `suml2 ? ... : 0` in C: a NaN is true there and falsy in JavaScript, hence !== 0.
  let scale = suml2 !== 0 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(TENTH * is)) / max);
    sumlx = suml2 = 0;
    for (let i = 0; i < 16; i++) {
      const v = x[at + i], l = level(iscale, v), w = f(v * v);
      sumlx = f(sumlx + f(f(w * v) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    // sumlx^2 / suml2 is the weighted energy the fit explains: larger is a smaller error.
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < 16; i++) L[lat + i] = level(iscale, x[at + i]) + nmax;
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/**
 * The x[at..at+256) block of Q6_K at out[o]: { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }, value
 * d scales[i / 16] (q - 32). Each 16-element sub-block gets its own best scale; those are then
 * quantised to i8 against the largest one (-128 for it, so d = its scale / -128), and every element
 * is requantised with the scale actually stored, so the levels fit what the reader multiplies.
 */
function blockQ6_K(x: Float32Array, at: number, out: Uint8Array, o: number): void {
  let maxScale = 0, maxAbsScale = 0;
  for (let ib = 0; ib < 16; ib++) {
    const scale = makeQxQuants16(x, at + 16 * ib, levels, 16 * ib);
    subScales[ib] = scale;
    if (Math.abs(scale) > maxAbsScale) { maxAbsScale = Math.abs(scale); maxScale = scale; }
  }
  if (maxAbsScale < GROUP_MAX_EPS) {
    out.fill(0, o, o + 210); // d = +0, every scale 0
    return;
  }
  const iscale = f(-128 / maxScale);
  putHalf(out, o + 208, f(1 / iscale));
  const d = f16ToF32(out[o + 208] | (out[o + 209] << 8));
  for (let ib = 0; ib < 16; ib++) {
    // MIN(127, ...) into an int8, as ggml stores it: the largest scale maps to -128 and one as large of
    // the other sign to 128, kept as 127 (the i8 wrap is C's conversion, for completeness).
    const sc = (Math.min(127, nearestInt(f(iscale * subScales[ib]))) << 24) >> 24;
    out[o + 192 + ib] = sc & 255;
    const dl = f(d * sc);
    // A sub-block whose stored scale is 0 keeps make_qx_quants' levels: they read back as 0 anyway.
    if (dl === 0) continue;
    for (let i = 16 * ib; i < 16 * ib + 16; i++) levels[i] = Math.max(-32, Math.min(31, nearestInt(f(x[at + i] / dl)))) + 32;
  }
  // Per 128-element half, four 32-element runs: low nibbles in ql (runs 0 and 1 low, 2 and 3 high),
  // the two high bits of each run at bits 2r of qh.
  for (let n = 0; n < 2; n++) {
    const ql = o + 64 * n, qh = o + 128 + 32 * n, L = 128 * n;
    for (let l = 0; l < 32; l++) {
      const q1 = levels[L + l], q2 = levels[L + l + 32], q3 = levels[L + l + 64], q4 = levels[L + l + 96];
      out[ql + l] = (q1 & 15) | ((q3 & 15) << 4);
      out[ql + l + 32] = (q2 & 15) | ((q4 & 15) << 4);
      out[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
    }
  }
}

function putHalf(out: Uint8Array, o: number, d: number): void {
  if (!(Math.abs(d) <= 65504)) throw new RangeError(`block scale ${d} does not fit in f16`);
  const h = f32ToF16(d);
  out[o] = h & 255;
  out[o + 1] = h >> 8;
}

const BLOCK: Record<GgmlWriteType, (x: Float32Array, at: number, out: Uint8Array, o: number) => void> = {
  Q8_0: blockQ8_0,
  Q4_0: blockQ4_0,
  Q6_K: blockQ6_K,
};

/**
 * Quantises `x` (finite values, a whole number of the type's blocks: 32 values for Q8_0 and Q4_0, 256
 * for Q6_K, e.g. whole rows of a matrix whose width is a multiple of that) to ggml blocks of `type`.
 */
export function quantizeGgml(type: GgmlWriteType, x: Float32Array): Uint8Array {
  const { blockElems, blockBytes } = ggmlWriteType(type);
  const blocks = x.length / blockElems;
  if (!Number.isInteger(blocks)) throw new RangeError(`${x.length} values are not whole ${blockElems}-element blocks`);
  const out = new Uint8Array(blocks * blockBytes);
  const block = BLOCK[type];
  for (let b = 0; b < blocks; b++) block(x, b * blockElems, out, b * blockBytes);
  return out;
}
