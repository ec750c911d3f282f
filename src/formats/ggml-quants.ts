/**
 * ggml's block-quantised tensor types, dequantised to f32 when a GGUF tensor is read: the legacy
 * 32-element blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), the 256-element k-quants (Q2_K to Q6_K), which
 * together make up the common llama.cpp files (Q4_K_M, Q5_K_M, Q8_0, ...), and the two non-linear 4-bit
 * i-quants (IQ4_NL, IQ4_XS). The other i-quants (lattice codebooks) are not read. Each block's layout is ggml's `block_*` struct (little-endian, no padding); every product is
 * rounded to f32 in ggml's order of operations.
 */
import { f16ToF32 } from "./half.js";

/** One quantised type: its ggml id, name, and block geometry. */
export interface GgmlQuantType {
  id: number;
  name: string;
  /** Elements per block (32, or 256 for the k-quants). */
  blockElems: number;
  /** Bytes per block. */
  blockBytes: number;
}

type Dequant = (b: Uint8Array, o: number, y: Float32Array, at: number) => void;

const f = Math.fround;
const half = (b: Uint8Array, o: number) => f16ToF32(b[o] | (b[o + 1] << 8));
const u32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;

// Q4_0 { f16 d; u8 qs[16] }: element j < 16 is the low nibble of qs[j], j + 16 the high one; (q - 8) d.
const q4_0: Dequant = (b, o, y, at) => {
  const d = half(b, o);
  for (let j = 0; j < 16; j++) {
    const q = b[o + 2 + j];
    y[at + j] = f(((q & 15) - 8) * d);
    y[at + j + 16] = f(((q >> 4) - 8) * d);
  }
};

// Q4_1 { f16 d, m; u8 qs[16] }: q d + m.
const q4_1: Dequant = (b, o, y, at) => {
  const d = half(b, o), m = half(b, o + 2);
  for (let j = 0; j < 16; j++) {
    const q = b[o + 4 + j];
    y[at + j] = f(f((q & 15) * d) + m);
    y[at + j + 16] = f(f((q >> 4) * d) + m);
  }
};

// Q5_0 { f16 d; u8 qh[4]; u8 qs[16] }: bit j of qh is the fifth bit of element j; (q - 16) d.
const q5_0: Dequant = (b, o, y, at) => {
  const d = half(b, o), qh = u32(b, o + 2);
  for (let j = 0; j < 16; j++) {
    const q = b[o + 6 + j];
    y[at + j] = f((((q & 15) | (((qh >>> j) & 1) << 4)) - 16) * d);
    y[at + j + 16] = f((((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16) * d);
  }
};

// Q5_1 { f16 d, m; u8 qh[4]; u8 qs[16] }: q d + m.
const q5_1: Dequant = (b, o, y, at) => {
  const d = half(b, o), m = half(b, o + 2), qh = u32(b, o + 4);
  for (let j = 0; j < 16; j++) {
    const q = b[o + 8 + j];
    y[at + j] = f(f(((q & 15) | (((qh >>> j) & 1) << 4)) * d) + m);
    y[at + j + 16] = f(f(((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) * d) + m);
  }
};

// Q8_0 { f16 d; i8 qs[32] }: q d.
const q8_0: Dequant = (b, o, y, at) => {
  const d = half(b, o);
  for (let j = 0; j < 32; j++) y[at + j] = f(((b[o + 2 + j] << 24) >> 24) * d);
};

// Q2_K { u8 scales[16]; u8 qs[64]; f16 d, dmin }: sixteen 16-element groups, each with a 4-bit scale
// (low nibble) and min (high nibble); 2-bit quants, four to a byte across the 32 bytes of each half.
const q2_K: Dequant = (b, o, y, at) => {
  const d = half(b, o + 80), dmin = half(b, o + 82);
  let is = 0, out = at;
  for (let n = 0; n < 2; n++) {
    const q = o + 16 + 32 * n;
    for (let shift = 0; shift < 8; shift += 2) {
      for (let h = 0; h < 2; h++) {
        const sc = b[o + is++];
        const dl = f(d * (sc & 15)), ml = f(dmin * (sc >> 4));
        for (let l = 0; l < 16; l++) y[out++] = f(f(dl * ((b[q + 16 * h + l] >> shift) & 3)) - ml);
      }
    }
  }
};

// The 6-bit scales of Q3_K: the low 4 bits of scale i in nibble i of bytes 0..7, the high 2 bits in
// bits 2(i / 4) of byte 8 + i % 4; stored with an offset of 32.
function q3Scale(b: Uint8Array, s: number, i: number): number {
  const lo = i < 8 ? b[s + i] & 15 : b[s + i - 8] >> 4;
  const hi = (b[s + 8 + (i & 3)] >> (2 * (i >> 2))) & 3;
  return (lo | (hi << 4)) - 32;
}

// Q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d }: 2-bit quants as in Q2_K, a third bit from
// hmask (bit k of hmask[l] for the k-th 32-element run); value (q - (bit ? 0 : 4)) d scale.
const q3_K: Dequant = (b, o, y, at) => {
  const d = half(b, o + 108);
  let is = 0, out = at, bit = 0;
  for (let n = 0; n < 2; n++) {
    const q = o + 32 + 32 * n;
    for (let shift = 0; shift < 8; shift += 2, bit++) {
      for (let h = 0; h < 2; h++) {
        const dl = f(d * q3Scale(b, o + 96, is++));
        for (let l = 0; l < 16; l++) {
          const k = 16 * h + l;
          const hb = (b[o + k] >> bit) & 1 ? 0 : 4;
          y[out++] = f(dl * (((b[q + k] >> shift) & 3) - hb));
        }
      }
    }
  }
};

// Scale and min j (0..7) of Q4_K/Q5_K: 6 bits each, packed into 12 bytes.
function kScaleMin(b: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [b[s + j] & 63, b[s + j + 4] & 63];
  return [(b[s + j + 4] & 15) | ((b[s + j - 4] >> 6) << 4), (b[s + j + 4] >> 4) | ((b[s + j] >> 6) << 4)];
}

// Q4_K { f16 d, dmin; u8 scales[12]; u8 qs[128] } and Q5_K { f16 d, dmin; u8 scales[12]; u8 qh[32];
// u8 qs[128] }: eight 32-element groups, 64 elements per 32 bytes of qs (low nibbles, then high); Q5_K's
// fifth bit of element l of group g is bit g of qh[l]. Value q d sc - dmin m.
function kQuant(fifthBit: boolean): Dequant {
  return (b, o, y, at) => {
    const d = half(b, o), dmin = half(b, o + 2), qs = o + (fifthBit ? 48 : 16);
    let out = at;
    for (let g = 0; g < 8; g++) {
      const [sc, m] = kScaleMin(b, o + 4, g);
      const d1 = f(d * sc), m1 = f(dmin * m);
      const q = qs + 32 * (g >> 1), sh = (g & 1) * 4;
      for (let l = 0; l < 32; l++) {
        const v = ((b[q + l] >> sh) & 15) + (fifthBit ? ((b[o + 16 + l] >> g) & 1) << 4 : 0);
        y[out++] = f(f(d1 * v) - m1);
      }
    }
  };
}
const q4_K = kQuant(false), q5_K = kQuant(true);

// Q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }: per 128-element half, four 32-element runs
// whose low 4 bits come from ql (runs 0, 1 low nibbles, runs 2, 3 high) and high 2 bits from qh;
// value d scale (q - 32), one signed scale per 16 elements.
const q6_K: Dequant = (b, o, y, at) => {
  const d = half(b, o + 208);
  for (let n = 0; n < 2; n++) {
    const ql = o + 64 * n, qh = o + 128 + 32 * n, sc = o + 192 + 8 * n, out = at + 128 * n;
    for (let l = 0; l < 32; l++) {
      const is = l >> 4, h = b[qh + l];
      const q1 = ((b[ql + l] & 15) | ((h & 3) << 4)) - 32;
      const q2 = ((b[ql + l + 32] & 15) | (((h >> 2) & 3) << 4)) - 32;
      const q3 = ((b[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
      const q4 = ((b[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
      const s = (k: number) => f(d * ((b[sc + is + k] << 24) >> 24));
      y[out + l] = f(s(0) * q1);
      y[out + l + 32] = f(s(2) * q2);
      y[out + l + 64] = f(s(4) * q3);
      y[out + l + 96] = f(s(6) * q4);
    }
  }
};

// The 4-bit non-linear codebook of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl): a format constant.
const IQ4NL = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

// IQ4_NL { f16 d; u8 qs[16] }: nibbles as in Q4_0, each a codebook index; value d code.
const iq4_nl: Dequant = (b, o, y, at) => {
  const d = half(b, o);
  for (let j = 0; j < 16; j++) {
    const q = b[o + 2 + j];
    y[at + j] = f(d * IQ4NL[q & 15]);
    y[at + j + 16] = f(d * IQ4NL[q >> 4]);
  }
};

// IQ4_XS { f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128] }: eight 32-element groups, each with a
// 6-bit scale (low 4 bits: nibble g of scales_l, high 2: bits 2g of scales_h; offset 32) and 16 bytes
// of codebook nibbles as in IQ4_NL; value d (scale - 32) code.
const iq4_xs: Dequant = (b, o, y, at) => {
  const d = half(b, o), sh = b[o + 2] | (b[o + 3] << 8);
  for (let g = 0; g < 8; g++) {
    const ls = ((b[o + 4 + (g >> 1)] >> (4 * (g & 1))) & 15) | (((sh >> (2 * g)) & 3) << 4);
    const dl = f(d * (ls - 32)), q = o + 8 + 16 * g, out = at + 32 * g;
    for (let j = 0; j < 16; j++) {
      y[out + j] = f(dl * IQ4NL[b[q + j] & 15]);
      y[out + j + 16] = f(dl * IQ4NL[b[q + j] >> 4]);
    }
  }
};

const TYPES: [GgmlQuantType, Dequant][] = [
  [{ id: 2, name: "Q4_0", blockElems: 32, blockBytes: 18 }, q4_0],
  [{ id: 3, name: "Q4_1", blockElems: 32, blockBytes: 20 }, q4_1],
  [{ id: 6, name: "Q5_0", blockElems: 32, blockBytes: 22 }, q5_0],
  [{ id: 7, name: "Q5_1", blockElems: 32, blockBytes: 24 }, q5_1],
  [{ id: 8, name: "Q8_0", blockElems: 32, blockBytes: 34 }, q8_0],
  [{ id: 10, name: "Q2_K", blockElems: 256, blockBytes: 84 }, q2_K],
  [{ id: 11, name: "Q3_K", blockElems: 256, blockBytes: 110 }, q3_K],
  [{ id: 12, name: "Q4_K", blockElems: 256, blockBytes: 144 }, q4_K],
  [{ id: 13, name: "Q5_K", blockElems: 256, blockBytes: 176 }, q5_K],
  [{ id: 14, name: "Q6_K", blockElems: 256, blockBytes: 210 }, q6_K],
  [{ id: 20, name: "IQ4_NL", blockElems: 32, blockBytes: 18 }, iq4_nl],
  [{ id: 23, name: "IQ4_XS", blockElems: 256, blockBytes: 136 }, iq4_xs],
];
const BY_ID = new Map(TYPES.map(([t]) => [t.id, t]));
const BY_NAME = new Map(TYPES.map(([t, fn]) => [t.name, { t, fn }]));

/** The quantised type with ggml id `id`, or undefined when dass does not read it. */
export function ggmlQuantType(id: number): GgmlQuantType | undefined {
  return BY_ID.get(id);
}

/** The quantised type named `name` (ggml's spelling, e.g. "Q4_K"), or undefined when dass does not read it. */
export function ggmlQuantTypeNamed(name: string): GgmlQuantType | undefined {
  return BY_NAME.get(name)?.t;
}

/** The quantised types dass reads, by ggml id. */
export const GGML_QUANT_TYPES: readonly GgmlQuantType[] = TYPES.map(([t]) => t);

/**
 * Dequantises `n` elements (a whole number of blocks) of type `name` from `bytes`. The caller has
 * checked the sizes; a type dass does not read throws.
 */
export function dequantize(name: string, bytes: Uint8Array, n: number): Float32Array {
  const q = BY_NAME.get(name);
  if (!q) throw new Error(`no dequantiser for ${name}`);
  const y = new Float32Array(n);
  for (let i = 0, o = 0; i < n; i += q.t.blockElems, o += q.t.blockBytes) q.fn(bytes, o, y, i);
  return y;
}
