/**
 * Runtime layouts of the fast N:M kernels, each a pure function of the canonical format
 * (format.ts) with an exact inverse for tests.
 *
 * ## "tab8": input axis, 2:4 and 4:8
 * An octet is 8 consecutive inputs of a row; under 2:4 (two groups) or 4:8 (one group) it keeps
 * exactly 4 weights. The row's last octet may extend past `cols` (and hold a partial group): it is
 * padded with kept zeros at padded positions until it has 4 (2 per 2:4 group), which is always
 * possible, and the kernel reads zeros for padded inputs.
 * - `O = ceil(cols / 8)` octets per row, grouped in panels of `po` octets (the last may be
 *   narrower, width `w`).
 * - `vals` (f32): panel by panel; inside a panel, row by row; inside a row, the panel's octets,
 *   4 values each in increasing position. Panel starting at octet `o0` begins at float
 *   `4 * o0 * rows`; row r of it at `+ 4 * r * w`.
 * - `codes` (u8): same order, one byte per octet: for 2:4 `6 * a + b` (a, b = index of the kept
 *   pair of each group in the order (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)); for 4:8 the rank of the
 *   kept 4-subset of 0..7 in lexicographic order.
 * Bytes: 16 + 1 per 8 dense weights (2.125 B per weight, vs 4 dense).
 *
 * ## "swz": output axis, 2:4 and 4:8
 * Row-groups of M rows (`RG = ceil(rows / M)`; a partial last row-group is padded with kept zeros
 * in padded rows, as above).
 * - 2:4: per row-group g, per column pair q (`Q = ceil(cols / 2)`, an odd last column is paired
 *   with a padded all-zero column): 4 values at float `4 * (g * Q + q)` (column 2q's two kept
 *   values by row, then column 2q+1's) and code byte `6 * a + b` at `g * Q + q` (a, b = kept row
 *   pair of each column, as for tab8).
 * - 4:8: per row-group g, per column j: 4 values at float `4 * (g * cols + j)`, code byte (rank of
 *   the kept 4-subset of the 8 rows) at `g * cols + j`.
 * - `lut` (u8, 32 bytes per code): two byte-swizzle masks that move the 4 products of a code to
 *   the lanes of their rows (2:4: rows 0-3 from lanes 0-1, then from lanes 2-3; 4:8: rows 0-3,
 *   then rows 4-7). Lanes that receive nothing get index 0x80 (zero in plain and relaxed swizzle).
 * Bytes: 16 + 1 per 8 dense weights, as tab8.
 *
 * ## "cls": output axis, 2:4 and 4:8, class-sorted
 * Rows are taken in groups of 8 (`RG = ceil(rows / 8)`): one 4:8 row-group, or two 2:4 row-groups
 * stacked. Every column of an 8-row group then keeps exactly 4 rows (after padding a partial
 * group as above); the set of kept rows is the column's class, numbered as tab8's octet codes (36
 * classes for 2:4, 70 for 4:8). Sorting a group's columns by class turns each class into a dense
 * 4-row block over a list of columns: a column's 4 kept weights are one vector, multiplied by
 * x[j] splatted (GEMV) or splatted against x[j] of 8 tokens (GEMM), with no per-weight routing.
 * - Columns go in panels of CLS_PANEL (the last may be narrower), so that a panel's x (GEMV: 16
 *   KiB) stays in L1 while a group runs through it. A "unit" is a (panel, class) pair, panel
 *   major: unit u = panel * E + class, U = panels * E units (E = classes). (Measured on the 7B
 *   shapes: 4096-column panels ran the GEMV 1.15-1.3x and the 8-token GEMM 1.1-1.2x faster than
 *   2048-column ones, whose units are half as long, and the 64-token GEMM about as fast.)
 * - Inside a panel, column c sits at position `c + floor(c / CLS_RUN)`: after every CLS_RUN
 *   columns comes a zero slot (positions = CLS_RUN mod CLS_RUN + 1), where the kernels' copy of
 *   x holds 0. A panel spans CLS_PANEL_POS positions.
 * - Per 8-row group g and unit u (in order) a list of entries: the unit's columns ascending, one
 *   entry each, no padding. An entry is the column's 4 kept values (rows increasing, padded rows
 *   0) and a one-byte delta: the kernels start at position 0 of the panel and add each entry's
 *   delta (the first may be 0, later ones are >= 1). A gap over 255 positions is crossed by
 *   bridging entries that land on zero slots with zero values (zero slots are CLS_RUN + 1 <= 255
 *   apart, so one is always in reach); a bridge's product is 0 * 0, so no non-finite x meets it.
 * - The entries of a (group, panel) region, units in order, are numbered from `starts[4 r]`
 *   (r = g * panels + panel). `deltas` (u8) holds their deltas in that order. `vals` (f32, 4 per
 *   entry) holds their values in four sub-streams: entry t of a unit goes to sub-stream t % 4,
 *   which holds, unit after unit, entries t % 4 == s of each; sub-stream s of region r starts at
 *   entry `starts[4 r + s]`. (The GEMV runs entry t on chain t % 4, and four sequential streams
 *   keep enough DRAM reads in flight where one would not.)
 * - `counts` (u16, RG x U): entries of each unit in each group (<= CLS_PANEL_POS).
 * - `starts` (u32, RG x panels x 4 + 1): sub-stream starts as above, then the entry count.
 * - `lut` (u8, E x 36): per class, two byte-swizzle masks (32 bytes) that move a class's 4 row
 *   sums to the lanes of rows 0-3, then rows 4-7 (index 0x80 = zero lane); then, from byte
 *   E * 32, the class's 4 kept rows (0..7), one per byte, increasing.
 * Bytes: 17 per 8 dense weights (2.125 per weight), plus bridging entries (rare: a class has to
 * skip over 253 columns), 2 bytes per (group, unit), 16 per (group, panel), and the lut.
 */
import { ArgumentError } from "../errors.js";
import { readMask, keptInGroup, type CompressedNM } from "./format.js";

/** Octets per panel of the tab8 kernels (fixed in the kernels: the GEMV's tables must fit L1). */
export const TAB8_PANEL: Readonly<Record<"2:4" | "4:8", number>> = { "2:4": 32, "4:8": 16 };
/** Table entries per octet. */
export const TAB8_ENTRIES: Readonly<Record<"2:4" | "4:8", number>> = { "2:4": 36, "4:8": 70 };

/** The tab8 arrays of a matrix. */
export interface Tab8Layout {
  /** "2:4" or "4:8". */
  pattern: "2:4" | "4:8";
  rows: number;
  cols: number;
  /** Octets per panel. */
  po: number;
  vals: Float32Array;
  codes: Uint8Array;
}

// 4-bit group mask -> index of its kept pair (-1 if not exactly 2 bits).
const PAIR_INDEX = new Int8Array(16).fill(-1);
const PAIR_MASK: number[] = [];
// 8-bit mask -> rank among 4-subsets of 0..7 (-1 otherwise).
const QUAD_INDEX = new Int16Array(256).fill(-1);
const QUAD_MASK: number[] = [];
{
  for (let a = 0; a < 4; a++) for (let b = a + 1; b < 4; b++) { PAIR_INDEX[(1 << a) | (1 << b)] = PAIR_MASK.length; PAIR_MASK.push((1 << a) | (1 << b)); }
  for (let a = 0; a < 8; a++) for (let b = a + 1; b < 8; b++) for (let c = b + 1; c < 8; c++) for (let d = c + 1; d < 8; d++) {
    const mk = (1 << a) | (1 << b) | (1 << c) | (1 << d);
    QUAD_INDEX[mk] = QUAD_MASK.length; QUAD_MASK.push(mk);
  }
}

/** Octet code of an 8-bit keep mask under the pattern (-1 if it does not keep exactly 4 the right way). */
export function octetCode(pattern: "2:4" | "4:8", mask8: number): number {
  if (pattern === "4:8") return QUAD_INDEX[mask8 & 0xff];
  const a = PAIR_INDEX[mask8 & 15], b = PAIR_INDEX[(mask8 >> 4) & 15];
  return a < 0 || b < 0 ? -1 : a * 6 + b;
}

/** Inverse of octetCode(). */
export function octetMask(pattern: "2:4" | "4:8", code: number): number {
  if (pattern === "4:8") return QUAD_MASK[code];
  return PAIR_MASK[Math.floor(code / 6)] | (PAIR_MASK[code % 6] << 4);
}

function patternOf(c: CompressedNM): "2:4" | "4:8" | undefined {
  if (c.n === 2 && c.m === 4) return "2:4";
  if (c.n === 4 && c.m === 8) return "4:8";
  return undefined;
}

/** Whether packTab8 applies (input-axis 2:4 or 4:8). */
export function tab8Applies(c: CompressedNM): boolean {
  return c.axis === "input" && patternOf(c) !== undefined;
}

/** Adds kept padded positions (value 0) until each 2:4 group holds 2, or the 4:8 group holds 4. */
function padOctet(pattern: "2:4" | "4:8", mk: number, real: number): number {
  const parts = pattern === "2:4" ? [[0, 4, 2], [4, 8, 2]] : [[0, 8, 4]];
  for (const [lo, hi, want] of parts) {
    let have = 0;
    for (let i = lo; i < hi; i++) if (mk & (1 << i)) have++;
    for (let i = Math.max(lo, real); i < hi && have < want; i++) {
      if (!(mk & (1 << i))) { mk |= 1 << i; have++; }
    }
  }
  return mk;
}

/** Canonical (validated) input-axis 2:4 / 4:8 -> tab8. */
export function packTab8(c: CompressedNM): Tab8Layout {
  const pattern = patternOf(c);
  if (c.axis !== "input" || !pattern) throw new ArgumentError("compressed", `tab8 needs an input-axis 2:4 or 4:8 matrix, got ${c.n}:${c.m} ${c.axis}`);
  const { rows, cols, m, values, masks } = c;
  const po = TAB8_PANEL[pattern];
  const O = Math.ceil(cols / 8);
  const vals = new Float32Array(rows * O * 4);
  const codes = new Uint8Array(rows * O);
  const gpr = Math.ceil(cols / m);
  const full = Math.floor(cols / m);
  const krow = full * (m - c.n) + keptInGroup(cols - full * m, c.n, m);
  const perOctet = 8 / m;
  const fullO = Math.floor(cols / 8); // octets with 8 real columns
  for (let r = 0; r < rows; r++) {
    const rowBit = r * gpr * m;
    // Fast path: the row's mask stream starts on a byte, so a full octet's mask is one byte, and
    // its 4 values are the next 4 canonical values.
    const aligned = (rowBit & 7) === 0;
    const mb = rowBit / 8;
    for (let o0 = 0; o0 < O; o0 += po) {
      const w = Math.min(po, O - o0);
      const fast = aligned ? Math.max(0, Math.min(w, fullO - o0)) : 0;
      const at0 = o0 * rows + r * w;
      if (fast > 0) {
        vals.set(values.subarray(r * krow + o0 * 4, r * krow + (o0 + fast) * 4), at0 * 4);
        for (let k = 0; k < fast; k++) {
          const code = octetCode(pattern, masks[mb + o0 + k]);
          if (code < 0) throw new ArgumentError("compressed.masks", `row ${r}, octet ${o0 + k}: not a ${pattern} pattern`);
          codes[at0 + k] = code;
        }
      }
      for (let k = fast; k < w; k++) {
        const o = o0 + k, at = at0 + k;
        let v = r * krow + o * 4; // every earlier octet of the row keeps 4
        let mk = 0;
        for (let h = 0; h < perOctet; h++) {
          const g = o * perOctet + h;
          if (g < gpr) mk |= readMask(masks, rowBit + g * m, m) << (h * m);
        }
        const real = Math.min(8, cols - o * 8);
        const padded = real < 8 ? padOctet(pattern, mk, real) : mk;
        const code = octetCode(pattern, padded);
        if (code < 0) throw new ArgumentError("compressed.masks", `row ${r}, octet ${o}: not a ${pattern} pattern`);
        codes[at] = code;
        let q = at * 4;
        for (let i = 0; i < 8; i++) {
          if (!(padded & (1 << i))) continue;
          vals[q++] = mk & (1 << i) ? values[v++] : 0;
        }
      }
    }
  }
  return { pattern, rows, cols, po, vals, codes };
}

/** tab8 -> canonical values and masks (the exact inverse of packTab8 for its n, m). */
export function unpackTab8(t: Tab8Layout): CompressedNM {
  const { pattern, rows, cols, po } = t;
  const [n, m] = pattern === "2:4" ? [2, 4] : [4, 8];
  const O = Math.ceil(cols / 8);
  const gpr = Math.ceil(cols / m);
  const full = Math.floor(cols / m);
  const krow = full * (m - n) + keptInGroup(cols - full * m, n, m);
  const values = new Float32Array(rows * krow);
  const masks = new Uint8Array(Math.ceil((rows * gpr * m) / 8));
  const perOctet = 8 / m;
  for (let r = 0; r < rows; r++) {
    let v = r * krow;
    for (let o = 0; o < O; o++) {
      const o0 = o - (o % po), w = Math.min(po, O - o0), k = o - o0;
      const at = o0 * rows + r * w + k;
      const real = Math.min(8, cols - o * 8);
      const mk = octetMask(pattern, t.codes[at]) & ((1 << real) - 1);
      let q = at * 4;
      for (let i = 0; i < 8; i++) {
        if (!(octetMask(pattern, t.codes[at]) & (1 << i))) continue;
        if (mk & (1 << i)) values[v++] = t.vals[q];
        q++;
      }
      for (let h = 0; h < perOctet; h++) {
        const g = o * perOctet + h;
        if (g >= gpr) continue;
        const bits = (mk >> (h * m)) & ((1 << m) - 1);
        for (let i = 0; i < m; i++) {
          if (bits & (1 << i)) { const b = (r * gpr + g) * m + i; masks[b >> 3] |= 1 << (b & 7); }
        }
      }
    }
  }
  return { rows, cols, n, m, axis: "input", values, masks, dtype: "f32" };
}

/** The swz arrays of an output-axis 2:4 or 4:8 matrix. */
export interface SwzLayout {
  pattern: "2:4" | "4:8";
  rows: number;
  cols: number;
  vals: Float32Array;
  codes: Uint8Array;
  /** Swizzle masks, 32 bytes per code (identical for every matrix of the pattern). */
  lut: Uint8Array;
}

/** Whether packSwz applies (output-axis 2:4 or 4:8). */
export function swzApplies(c: CompressedNM): boolean {
  return c.axis === "output" && patternOf(c) !== undefined;
}

/** The swizzle LUT of the swz kernels for a pattern. */
export function swzLut(pattern: "2:4" | "4:8"): Uint8Array {
  const codes = pattern === "2:4" ? 36 : 70;
  const lut = new Uint8Array(codes * 32).fill(0x80);
  for (let cc = 0; cc < codes; cc++) {
    // src[row] = source lane (0..3) of the product destined to row (0..7), per mask half.
    const route = (mask: number, firstLane: number, rowBase: number, half: number): void => {
      let lane = firstLane;
      for (let row = 0; row < 8; row++) {
        if (!(mask & (1 << row))) continue;
        const rr = row - rowBase;
        if (rr >= 0 && rr < 4) for (let k = 0; k < 4; k++) lut[cc * 32 + half * 16 + rr * 4 + k] = lane * 4 + k;
        lane++;
      }
    };
    if (pattern === "2:4") {
      route(PAIR_MASK[Math.floor(cc / 6)], 0, 0, 0);
      route(PAIR_MASK[cc % 6], 2, 0, 1);
    } else {
      route(QUAD_MASK[cc], 0, 0, 0);
      route(QUAD_MASK[cc], 0, 4, 1);
    }
  }
  return lut;
}

/** Canonical (validated) output-axis 2:4 / 4:8 -> swz. */
export function packSwz(c: CompressedNM): SwzLayout {
  const pattern = patternOf(c);
  if (c.axis !== "output" || !pattern) throw new ArgumentError("compressed", `swz needs an output-axis 2:4 or 4:8 matrix, got ${c.n}:${c.m} ${c.axis}`);
  const { rows, cols, n, m, values, masks } = c;
  const RG = Math.ceil(rows / m);
  const perCol = m - n; // 2 or 4 values per column and row-group
  const Q = pattern === "2:4" ? Math.ceil(cols / 2) : cols;
  const vals = new Float32Array(RG * Q * 4);
  const codes = new Uint8Array(RG * Q);
  let v = 0;
  for (let g = 0; g < RG; g++) {
    const real = Math.min(m, rows - g * m);
    for (let j = 0; j < cols; j++) {
      const mk = readMask(masks, (g * cols + j) * m, m);
      const padded = real < m ? padGroup(mk, real, m, perCol) : mk;
      const slot = pattern === "2:4" ? g * Q + (j >> 1) : g * Q + j;
      let q = slot * 4 + (pattern === "2:4" ? (j & 1) * 2 : 0);
      for (let i = 0; i < m; i++) {
        if (!(padded & (1 << i))) continue;
        vals[q++] = mk & (1 << i) ? values[v++] : 0;
      }
      if (pattern === "4:8") codes[slot] = QUAD_INDEX[padded];
      else codes[slot] += (j & 1) ? PAIR_INDEX[padded] : 6 * PAIR_INDEX[padded];
    }
    // An odd column count leaves a padded column: rows (0, 1), zero values, pair index 0.
  }
  return { pattern, rows, cols, vals, codes, lut: swzLut(pattern) };
}

/** Adds kept positions >= real (lowest first) until the group keeps `want`. */
function padGroup(mk: number, real: number, m: number, want: number): number {
  let have = 0;
  for (let i = 0; i < m; i++) if (mk & (1 << i)) have++;
  for (let i = real; i < m && have < want; i++) if (!(mk & (1 << i))) { mk |= 1 << i; have++; }
  return mk;
}

/** swz -> canonical (exact inverse of packSwz). */
export function unpackSwz(t: SwzLayout): CompressedNM {
  const { pattern, rows, cols } = t;
  const [n, m] = pattern === "2:4" ? [2, 4] : [4, 8];
  const RG = Math.ceil(rows / m);
  const Q = pattern === "2:4" ? Math.ceil(cols / 2) : cols;
  const values = new Float32Array(nmValueCountOf(rows, cols, n, m));
  const masks = new Uint8Array(Math.ceil((RG * cols * m) / 8));
  let v = 0;
  for (let g = 0; g < RG; g++) {
    const real = Math.min(m, rows - g * m);
    for (let j = 0; j < cols; j++) {
      const slot = pattern === "2:4" ? g * Q + (j >> 1) : g * Q + j;
      const code = t.codes[slot];
      const padded = pattern === "4:8" ? QUAD_MASK[code] : PAIR_MASK[(j & 1) ? code % 6 : Math.floor(code / 6)];
      let q = slot * 4 + (pattern === "2:4" ? (j & 1) * 2 : 0);
      for (let i = 0; i < m; i++) {
        if (!(padded & (1 << i))) continue;
        if (i < real) {
          values[v++] = t.vals[q];
          const b = (g * cols + j) * m + i;
          masks[b >> 3] |= 1 << (b & 7);
        }
        q++;
      }
    }
  }
  return { rows, cols, n, m, axis: "output", values, masks, dtype: "f32" };
}

function nmValueCountOf(rows: number, cols: number, n: number, m: number): number {
  const full = Math.floor(rows / m);
  return cols * (full * (m - n) + keptInGroup(rows - full * m, n, m));
}

/** The cls arrays of an output-axis 2:4 or 4:8 matrix. */
export interface ClsLayout {
  pattern: "2:4" | "4:8";
  rows: number;
  cols: number;
  vals: Float32Array;
  deltas: Uint8Array;
  counts: Uint16Array;
  starts: Uint32Array;
  lut: Uint8Array;
}

/** Rows per cls group. */
export const CLS_ROWS = 8;
/** Classes (codes) per cls group. */
export const CLS_CLASSES: Readonly<Record<"2:4" | "4:8", number>> = { "2:4": 36, "4:8": 70 };
/** Columns per cls panel (fixed in the kernels; x of a panel: 16 KiB). */
export const CLS_PANEL = 4096;
/**
 * Columns between two zero slots of a panel (fixed in the kernels). A multiple of 4, so a quad of
 * columns never straddles a slot; + 1 <= 255 so a one-byte delta always reaches the next slot.
 */
export const CLS_RUN = 252;
/** Positions per panel: CLS_PANEL columns and their zero slots (fixed in the kernels). */
export const CLS_PANEL_POS = 4112;

/** Position of panel column c (0 <= c < CLS_PANEL) in its panel. */
const clsPos = (c: number): number => c + Math.floor(c / CLS_RUN);
/** Whether a panel position is a zero slot. */
const clsIsSlot = (q: number): boolean => q % (CLS_RUN + 1) === CLS_RUN;
/** The first zero slot after position q. */
function clsNextSlot(q: number): number {
  const z = q - (q % (CLS_RUN + 1)) + CLS_RUN;
  return z > q ? z : z + CLS_RUN + 1;
}

/** Entries t < n of a unit with t % 4 == s (the unit's share of values sub-stream s). */
const clsQuarter = (n: number, s: number): number => (n - s + 3) >> 2;

/** Whether packCls applies (output-axis 2:4 or 4:8). */
export function clsApplies(c: CompressedNM): boolean {
  return c.axis === "output" && patternOf(c) !== undefined;
}

/** Keep mask of the 8 rows of group g in column j, padded to 4 kept (2 per 2:4 half). */
function clsMask(c: CompressedNM, pattern: "2:4" | "4:8", g: number, j: number): { mk: number; padded: number } {
  const { rows, cols, m, masks } = c;
  let mk = 0;
  for (let h = 0; h < 8 / m; h++) {
    const rg = g * (8 / m) + h;
    if (rg * m < rows) mk |= readMask(masks, (rg * cols + j) * m, m) << (h * m);
  }
  const real = Math.min(8, rows - g * 8);
  return { mk, padded: real < 8 ? padOctet(pattern, mk, real) : mk };
}

/** The cls lut of a pattern (identical for every matrix of the pattern). */
function clsLut(pattern: "2:4" | "4:8"): Uint8Array {
  const E = CLS_CLASSES[pattern];
  const lut = new Uint8Array(E * 36).fill(0x80, 0, E * 32);
  for (let k = 0; k < E; k++) {
    let lane = 0;
    const mk = octetMask(pattern, k);
    for (let row = 0; row < 8; row++) {
      if (!(mk & (1 << row))) continue;
      for (let b = 0; b < 4; b++) lut[k * 32 + row * 4 + b] = lane * 4 + b; // row 4 lands at byte 16 = mask 2, lane 0
      lut[E * 32 + k * 4 + lane] = row;
      lane++;
    }
  }
  return lut;
}

/** Canonical (validated) output-axis 2:4 / 4:8 -> cls. */
export function packCls(c: CompressedNM): ClsLayout {
  const pattern = patternOf(c);
  if (!clsApplies(c) || !pattern) throw new ArgumentError("compressed", `cls needs an output-axis 2:4 or 4:8 matrix, got ${c.n}:${c.m} ${c.axis}`);
  const { rows, cols, n, m, values, masks } = c;
  const E = CLS_CLASSES[pattern];
  const P = Math.ceil(cols / CLS_PANEL);
  const U = P * E;
  const RG = Math.ceil(rows / 8);
  const counts = new Uint16Array(RG * U);
  const starts = new Uint32Array(RG * P * 4 + 1);
  const cls = new Uint8Array(RG * cols);
  const maskOf = new Uint8Array(RG * cols);
  const cur = new Int32Array(E); // last position per class (-1: none yet; a list starts from 0)
  // Pass 1: classes and entry counts (bridges included: they follow from the positions alone).
  let entries = 0;
  for (let g = 0; g < RG; g++) {
    const fullGroup = g * 8 + 8 <= rows;
    for (let j = 0; j < cols; j++) {
      let mk: number, padded: number;
      if (fullGroup && m === 8) {
        mk = padded = masks[g * cols + j]; // one byte per 4:8 group
      } else if (fullGroup) {
        const i0 = 2 * g * cols + j, i1 = i0 + cols; // 4-bit groups of row-groups 2g and 2g+1
        mk = padded = ((masks[i0 >> 1] >> ((i0 & 1) << 2)) & 15) | (((masks[i1 >> 1] >> ((i1 & 1) << 2)) & 15) << 4);
      } else {
        ({ mk, padded } = clsMask(c, pattern, g, j));
      }
      const k = octetCode(pattern, padded);
      if (k < 0) throw new ArgumentError("compressed.masks", `rows ${g * 8}.., column ${j}: not a ${pattern} pattern`);
      cls[g * cols + j] = k;
      maskOf[g * cols + j] = mk;
    }
    for (let p = 0; p < P; p++) {
      const cn = counts.subarray((g * P + p) * E, (g * P + p + 1) * E);
      cur.fill(-1);
      const j0 = p * CLS_PANEL, w = Math.min(CLS_PANEL, cols - j0);
      for (let c0 = 0; c0 < w; c0++) {
        const k = cls[g * cols + j0 + c0], q = clsPos(c0);
        for (let at = Math.max(cur[k], 0); q - at > 255; at = clsNextSlot(at)) cn[k]++; // bridges
        cn[k]++;
        cur[k] = q;
      }
      for (let s4 = 0; s4 < 4; s4++) {
        starts[(g * P + p) * 4 + s4] = entries;
        for (let k = 0; k < E; k++) entries += clsQuarter(cn[k], s4);
      }
    }
  }
  starts[RG * P * 4] = entries;
  // Pass 2: the same walk, writing entries at each class's cursor.
  const vals = new Float32Array(entries * 4);
  const deltas = new Uint8Array(entries);
  const K = m - n;
  const rgCount = Math.ceil(rows / m);
  const runStart = (rg: number, j: number): number => rg * cols * K + j * keptInGroup(Math.min(m, rows - rg * m), n, m);
  const next = new Int32Array(E), first = new Int32Array(E), sub = new Int32Array(E * 4);
  for (let g = 0; g < RG; g++) {
    const fullGroup = g * 8 + 8 <= rows;
    for (let p = 0; p < P; p++) {
      const at4 = (g * P + p) * 4;
      let e = starts[at4];
      for (let s4 = 0; s4 < 4; s4++) {
        let v = starts[at4 + s4];
        for (let k = 0; k < E; k++) { sub[k * 4 + s4] = v; v += clsQuarter(counts[(g * P + p) * E + k], s4); }
      }
      for (let k = 0; k < E; k++) { next[k] = first[k] = e; e += counts[(g * P + p) * E + k]; }
      // Entry t of a unit: its delta at first + t, its values in sub-stream t % 4 at index t / 4.
      const valSlot = (k: number, t: number): number => sub[k * 4 + (t & 3)] + (t >> 2);
      cur.fill(-1);
      const j0 = p * CLS_PANEL, w = Math.min(CLS_PANEL, cols - j0);
      for (let c0 = 0; c0 < w; c0++) {
        const j = j0 + c0, k = cls[g * cols + j], q = clsPos(c0);
        let at = Math.max(cur[k], 0);
        for (; q - at > 255; at = clsNextSlot(at)) deltas[next[k]++] = clsNextSlot(at) - at; // bridges: values stay 0
        const slot = next[k]++;
        deltas[slot] = q - at;
        cur[k] = q;
        const v4 = valSlot(k, slot - first[k]) * 4;
        if (fullGroup) {
          // Every kept row is real: the 4 values are the column's canonical runs, in row order.
          if (m === 8) {
            const v = (g * cols + j) * 4;
            vals[v4] = values[v]; vals[v4 + 1] = values[v + 1]; vals[v4 + 2] = values[v + 2]; vals[v4 + 3] = values[v + 3];
          } else {
            const v0 = (2 * g * cols + j) * 2, v1 = v0 + cols * 2;
            vals[v4] = values[v0]; vals[v4 + 1] = values[v0 + 1]; vals[v4 + 2] = values[v1]; vals[v4 + 3] = values[v1 + 1];
          }
          continue;
        }
        const mk = maskOf[g * cols + j];
        const full = octetMask(pattern, k);
        let s = 0;
        for (let h = 0; h < 8 / m; h++) {
          const rg = g * (8 / m) + h;
          let v = rg < rgCount ? runStart(rg, j) : 0;
          for (let i = h * m; i < (h + 1) * m; i++) {
            if (!(full & (1 << i))) continue;
            if (mk & (1 << i)) vals[v4 + s] = values[v++];
            s++;
          }
        }
      }
    }
  }
  return { pattern, rows, cols, vals, deltas, counts, starts, lut: clsLut(pattern) };
}

/** cls -> canonical (exact inverse of packCls). */
export function unpackCls(t: ClsLayout): CompressedNM {
  const { pattern, rows, cols } = t;
  const [n, m] = pattern === "2:4" ? [2, 4] : [4, 8];
  const E = CLS_CLASSES[pattern];
  const P = Math.ceil(cols / CLS_PANEL);
  const RG = Math.ceil(rows / 8);
  const rgCount = Math.ceil(rows / m);
  const colVals = new Float32Array(cols * 4);
  const colCls = new Int32Array(cols);
  const values = new Float32Array(nmValueCountOf(rows, cols, n, m));
  const masks = new Uint8Array(Math.ceil((rgCount * cols * m) / 8));
  const K = m - n;
  for (let g = 0; g < RG; g++) {
    colCls.fill(-1);
    for (let p = 0; p < P; p++) {
      const at4 = (g * P + p) * 4;
      let e = t.starts[at4];
      const sub = [0, 1, 2, 3].map((s4) => t.starts[at4 + s4]);
      for (let k = 0; k < E; k++) {
        let q = 0;
        const n = t.counts[(g * P + p) * E + k];
        for (let i = 0; i < n; i++) {
          q += t.deltas[e + i];
          if (clsIsSlot(q)) continue; // bridge
          const j = p * CLS_PANEL + q - Math.floor(q / (CLS_RUN + 1));
          colCls[j] = k;
          const v = sub[i & 3] + (i >> 2);
          for (let s = 0; s < 4; s++) colVals[j * 4 + s] = t.vals[v * 4 + s];
        }
        e += n;
        for (let s4 = 0; s4 < 4; s4++) sub[s4] += clsQuarter(n, s4);
      }
    }
    for (let h = 0; h < 8 / m; h++) {
      const rg = g * (8 / m) + h;
      if (rg >= rgCount) continue;
      const real = Math.min(m, rows - rg * m);
      let v = rg * cols * K; // canonical start of row-group rg (earlier ones are full)
      for (let j = 0; j < cols; j++) {
        const full = octetMask(pattern, colCls[j]);
        let s = 0;
        for (let i = 0; i < 8; i++) {
          if (!(full & (1 << i))) continue;
          if (i >= h * m && i < h * m + real) {
            values[v++] = colVals[j * 4 + s];
            const bit = (rg * cols + j) * m + (i - h * m);
            masks[bit >> 3] |= 1 << (bit & 7);
          }
          s++;
        }
      }
    }
  }
  return { rows, cols, n, m, axis: "output", values, masks, dtype: "f32" };
}
