/**
 * The canonical compressed N:M format: what a pruned matrix looks like on disk and what every
 * runtime layout is derived from.
 *
 * ## Definitions
 * A dense matrix `W` is `[rows, cols]` row-major (`rows = d_out`, `cols = d_in`). An N:M pattern
 * prunes N of every M consecutive weights along one axis, so a full group keeps `K = M - N`.
 * A trailing partial group of `r < M` elements prunes `floor(N * r / M)` and keeps
 * `r - floor(N * r / M)` (docs/methods.md).
 *
 * - `axis: "input"`: groups are M consecutive **columns** within a row. Groups are enumerated
 *   row-major: row 0's `ceil(cols / M)` groups left to right, then row 1's, and so on.
 * - `axis: "output"`: groups are M consecutive **rows** within a column (DaSS's gate/up layout).
 *   For each row-group `g` in `0 .. ceil(rows / M) - 1` (rows `g*M .. g*M + M - 1`), for each column
 *   `j` in `0 .. cols - 1`: group `(g, j)`. Group index = `g * cols + j`.
 *
 * ## Byte layout
 * - `values`: the kept values of every group, groups in the order above, and within a group in
 *   increasing position. f32 in memory; `dtype: "f16"` declares that every value is exactly
 *   representable as IEEE half, so `encodeValues()` writes 2 bytes per value (little-endian) and
 *   nothing is lost. Count: `nmValueCount()`.
 * - `masks`: one M-bit KEEP mask per group (bit i set = position i of the group is kept), packed
 *   into a little-endian bit stream: group `g`'s bit `i` is bit `(g*M + i) & 7` (LSB first) of byte
 *   `(g*M + i) >> 3`. Every group takes M bits, including a partial group (whose bits `>= r` are
 *   0). The unused high bits of the last byte are 0. Length: `ceil(groups * M / 8)` bytes.
 *   For 2:4 that is two groups per byte; with f32 values, 2:4 is 2 * 4 + 0.5 = 8.5 bytes per 16
 *   dense bytes (0.531x).
 * - Every group holds exactly its K (or tail K) values. A group whose weights are zero in more
 *   than N positions keeps explicit zeros: compressNM prunes the **first N zeros** (lowest
 *   positions) and keeps the rest, so fixed-stride kernels never need a variable count.
 *
 * ## Product semantics
 * Kernels and the reference compute `y[r] = sum over KEPT (r, j) of W[r, j] * x[j]`: a pruned
 * position contributes nothing even when `x[j]` is NaN or infinite (structural zeros, as in any
 * sparse BLAS), while a kept explicit zero times an infinite `x[j]` gives NaN as IEEE says.
 */
import { ArgumentError } from "../errors.js";
import { f16ToF32, f32ToF16 } from "../formats/half.js";

/** Which axis the groups of M consecutive weights run along. */
export type NMAxis = "input" | "output";

/** Precision of stored values: f32, or f16 (values are exactly representable in half). */
export type NMValueDType = "f32" | "f16";

/** An N:M pattern along an axis. */
export interface NMPattern {
  /** Pruned weights per group of M (0 <= n < m). */
  n: number;
  /** Group size (1 <= m <= 32). */
  m: number;
  /** Axis the groups run along. */
  axis: NMAxis;
}

/** A matrix in the canonical compressed N:M format (see the module comment for the byte layout). */
export interface CompressedNM {
  /** Rows of the dense matrix (d_out). */
  rows: number;
  /** Columns of the dense matrix (d_in). */
  cols: number;
  /** Pruned per group. */
  n: number;
  /** Group size. */
  m: number;
  /** Axis the groups run along. */
  axis: NMAxis;
  /** Kept values, groups in canonical order, positions increasing within a group. */
  values: Float32Array;
  /** One M-bit keep mask per group, little-endian bit stream. */
  masks: Uint8Array;
  /** On-disk precision of `values`. */
  dtype: NMValueDType;
}

/** Options of compressNM(). */
export interface CompressOptions {
  /** Round values to f16 (and declare them so). Default "f32". */
  dtype?: NMValueDType;
}

/** Values kept by a group of `r` elements under N:M: `r - floor(N * r / M)`. */
export function keptInGroup(r: number, n: number, m: number): number {
  return r - Math.floor((n * r) / m);
}

/** Number of groups of the matrix under the pattern. */
export function nmGroupCount(rows: number, cols: number, m: number, axis: NMAxis): number {
  return axis === "input" ? rows * Math.ceil(cols / m) : Math.ceil(rows / m) * cols;
}

/** Number of kept values of a `[rows, cols]` matrix under N:M along `axis`. */
export function nmValueCount(rows: number, cols: number, n: number, m: number, axis: NMAxis): number {
  const [len, other] = axis === "input" ? [cols, rows] : [rows, cols];
  const full = Math.floor(len / m);
  return other * (full * (m - n) + keptInGroup(len - full * m, n, m));
}

/** Bytes of the mask stream. */
export function nmMaskBytes(rows: number, cols: number, m: number, axis: NMAxis): number {
  return Math.ceil((nmGroupCount(rows, cols, m, axis) * m) / 8);
}

/** Validates an N:M pattern (integers, 0 <= n < m <= 32, axis "input" or "output"). */
export function checkPattern(n: number, m: number, axis: string, arg = "pattern"): void {
  if (!Number.isInteger(m) || m < 1 || m > 32) throw new ArgumentError(`${arg}.m`, `M must be an integer in 1..32, got ${m}`);
  if (!Number.isInteger(n) || n < 0) throw new ArgumentError(`${arg}.n`, `N must be a non-negative integer, got ${n}`);
  if (n >= m) throw new ArgumentError(`${arg}.n`, `N must be < M (N of every M are pruned), got ${n}:${m}`);
  if (axis !== "input" && axis !== "output") {
    throw new ArgumentError(`${arg}.axis`, `must be "input" or "output", got ${JSON.stringify(axis)}`);
  }
}

function checkShape(rows: number, cols: number, arg: string): void {
  if (!Number.isInteger(rows) || rows < 1) throw new ArgumentError(`${arg}rows`, `must be a positive integer, got ${rows}`);
  if (!Number.isInteger(cols) || cols < 1) throw new ArgumentError(`${arg}cols`, `must be a positive integer, got ${cols}`);
  if (rows * cols > 2 ** 32) throw new ArgumentError(`${arg}rows`, `${rows} x ${cols} is too large for wasm32`);
}

/** The M-bit mask starting at bit `bit` of the stream (M <= 32; missing bytes read as 0). */
export function readMask(masks: Uint8Array, bit: number, m: number): number {
  const b = Math.floor(bit / 8), sh = bit & 7;
  const lo = (masks[b] | (masks[b + 1] << 8) | (masks[b + 2] << 16) | (masks[b + 3] << 24)) >>> 0;
  let v = sh === 0 ? lo : ((lo >>> sh) | ((masks[b + 4] | 0) << (32 - sh))) >>> 0;
  if (m < 32) v &= (1 << m) - 1;
  return v >>> 0;
}

/** ORs the (up to 32-bit) mask `keep` into the stream at bit `bit`. */
function writeMask(masks: Uint8Array, bit: number, keep: number): void {
  let b = Math.floor(bit / 8);
  const sh = bit & 7;
  let lo = (keep << sh) >>> 0;
  let hi = sh === 0 ? 0 : keep >>> (32 - sh);
  for (let k = 0; k < 4 && (lo !== 0 || hi !== 0); k++, b++) {
    masks[b] |= lo & 255;
    lo >>>= 8;
    if (k === 3) masks[b + 1] |= hi;
  }
}

function popcount(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

function roundF16(v: number): number {
  return f16ToF32(f32ToF16(v));
}

/**
 * Compresses a dense `[rows, cols]` matrix that already follows N:M along `axis` (at least N
 * zeros in every group; a tail of r needs floor(N r / M)). Throws ArgumentError("W", "group (r, c)
 * has only z zeros, pattern needs N") naming the group's first element otherwise.
 */
export function compressNM(
  W: ArrayLike<number>, rows: number, cols: number, n: number, m: number, axis: NMAxis,
  options: CompressOptions = {},
): CompressedNM {
  checkShape(rows, cols, "");
  checkPattern(n, m, axis);
  const dtype = options.dtype ?? "f32";
  if (dtype !== "f32" && dtype !== "f16") throw new ArgumentError("dtype", `must be "f32" or "f16", got ${JSON.stringify(dtype)}`);
  if (W.length !== rows * cols) throw new ArgumentError("W", `length ${W.length} does not match ${rows} x ${cols}`);
  const values = new Float32Array(nmValueCount(rows, cols, n, m, axis));
  const masks = new Uint8Array(nmMaskBytes(rows, cols, m, axis));
  // Input axis: a group is up to M elements at stride 1 inside a row; output axis: stride `cols`.
  const outer = axis === "input" ? rows : Math.ceil(rows / m);
  const ngroupsAlong = axis === "input" ? Math.ceil(cols / m) : cols;
  const step = axis === "input" ? 1 : cols;
  const fullNeed = n;
  let v = 0, bit = 0;
  for (let a = 0; a < outer; a++) {
    const r = axis === "input" ? m : Math.min(m, rows - a * m);
    for (let g = 0; g < ngroupsAlong; g++, bit += m) {
      let base: number, len = r;
      if (axis === "input") { base = a * cols + g * m; if (g * m + m > cols) len = cols - g * m; }
      else base = a * m * cols + g;
      const need = len === m ? fullNeed : Math.floor((n * len) / m);
      // Keep mask in an integer: bit i = position i kept. Prune the first `need` zeros.
      let keep = 0, zeros = 0;
      for (let i = 0, p = base; i < len; i++, p += step) {
        const w = W[p];
        if (w === 0 && zeros < need) { zeros++; continue; }
        if (w === 0) zeros++;
        keep |= 1 << i;
        values[v++] = w;
      }
      if (zeros < need) {
        const [gr, gc] = axis === "input" ? [a, g * m] : [a * m, g];
        throw new ArgumentError("W", `group (${gr}, ${gc}) has only ${zeros} zeros, pattern needs ${need}`);
      }
      if (keep !== 0) writeMask(masks, bit, keep);
    }
  }
  if (dtype === "f16") {
    for (let i = 0; i < values.length; i++) {
      const h = roundF16(values[i]);
      if (!Number.isFinite(h) && Number.isFinite(values[i])) {
        throw new ArgumentError("W", `value ${values[i]} overflows f16`);
      }
      values[i] = h;
    }
  }
  return { rows, cols, n, m, axis, values, masks, dtype };
}

/**
 * Checks a CompressedNM before anything uses it: shape and pattern, array types and lengths, every
 * group's mask (no bit at or beyond the group's length, popcount equal to the pattern's kept
 * count), zero padding bits, and f16 representability when dtype is "f16". Throws ArgumentError
 * naming the offending field (prefixed by `arg`).
 */
export function validateCompressed(c: CompressedNM, arg = "compressed"): void {
  if (c === null || typeof c !== "object") throw new ArgumentError(arg, "must be a CompressedNM object");
  checkShape(c.rows, c.cols, `${arg}.`);
  checkPattern(c.n, c.m, c.axis, arg);
  if (c.dtype !== "f32" && c.dtype !== "f16") {
    throw new ArgumentError(`${arg}.dtype`, `must be "f32" or "f16", got ${JSON.stringify(c.dtype)}`);
  }
  const { rows, cols, n, m, axis } = c;
  if (!(c.values instanceof Float32Array)) throw new ArgumentError(`${arg}.values`, "must be a Float32Array");
  if (!(c.masks instanceof Uint8Array)) throw new ArgumentError(`${arg}.masks`, "must be a Uint8Array");
  const nv = nmValueCount(rows, cols, n, m, axis);
  if (c.values.length !== nv) {
    throw new ArgumentError(`${arg}.values`, `length ${c.values.length} does not match ${rows} x ${cols} at ${n}:${m} (${axis} axis): expected ${nv}`);
  }
  const nb = nmMaskBytes(rows, cols, m, axis);
  if (c.masks.length !== nb) {
    throw new ArgumentError(`${arg}.masks`, `length ${c.masks.length} does not match ${rows} x ${cols} at ${n}:${m} (${axis} axis): expected ${nb} bytes`);
  }
  const masks = c.masks;
  const len = axis === "input" ? cols : rows;
  const full = Math.floor(len / m), tail = len - full * m;
  const perLine = Math.ceil(len / m); // groups along the axis
  const groups = nmGroupCount(rows, cols, m, axis);
  const kFull = m - n, kTail = keptInGroup(tail, n, m), tailMask = (2 ** tail - 1) >>> 0;
  // Input axis: the tail group is the last of each row; output axis: the last row-group's `cols` groups.
  const fullGroups = axis === "input" ? groups : full * cols;
  let bit = 0;
  for (let g = 0; g < groups; g++, bit += m) {
    const mk = readMask(masks, bit, m);
    const isTail = tail > 0 && (axis === "input" ? g % perLine === perLine - 1 : g >= fullGroups);
    const want = isTail ? kTail : kFull;
    if (isTail && (mk & ~tailMask) !== 0) {
      throw new ArgumentError(`${arg}.masks`, `group ${g} ${where(g, axis, perLine, cols, m)} has a bit set beyond its ${tail} elements`);
    }
    const pc = popcount(mk);
    if (pc !== want) {
      throw new ArgumentError(`${arg}.masks`, `group ${g} ${where(g, axis, perLine, cols, m)} keeps ${pc} values, ${n}:${m} needs ${want}`);
    }
  }
  const used = groups * m;
  if (used & 7 && (masks[nb - 1] >>> (used & 7)) !== 0) {
    throw new ArgumentError(`${arg}.masks`, "padding bits after the last group must be 0");
  }
  if (c.dtype === "f16") {
    const vals = c.values;
    for (let i = 0; i < vals.length; i++) {
      const x = vals[i];
      if (x === x && roundF16(x) !== x) {
        throw new ArgumentError(`${arg}.values`, `value ${i} (${x}) is not representable in f16 but dtype is "f16"`);
      }
    }
  }
}

function where(g: number, axis: NMAxis, perLine: number, cols: number, m: number): string {
  if (axis === "input") return `(row ${Math.floor(g / perLine)}, col ${(g % perLine) * m})`;
  return `(row ${Math.floor(g / cols) * m}, col ${g % cols})`;
}

/**
 * Expands a CompressedNM back to a dense `[rows, cols]` Float32Array (pruned positions are +0).
 * With `keep`, also fills it (length rows*cols) with 1 at kept positions and 0 elsewhere.
 * Validates `c` first.
 */
export function decompressNM(c: CompressedNM, keep?: Uint8Array): Float32Array {
  validateCompressed(c);
  const { rows, cols, m, axis, values, masks } = c;
  if (keep && keep.length !== rows * cols) throw new ArgumentError("keep", `length ${keep.length} != ${rows * cols}`);
  const W = new Float32Array(rows * cols);
  let v = 0, bit = 0;
  if (axis === "input") {
    const per = Math.ceil(cols / m);
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < per; g++, bit += m) {
        let mk = readMask(masks, bit, m);
        const base = r * cols + g * m;
        while (mk !== 0) {
          const i = 31 - Math.clz32(mk & -mk);
          W[base + i] = values[v++];
          if (keep) keep[base + i] = 1;
          mk = (mk & (mk - 1)) >>> 0;
        }
      }
    }
  } else {
    const rgs = Math.ceil(rows / m);
    for (let g = 0; g < rgs; g++) {
      for (let j = 0; j < cols; j++, bit += m) {
        let mk = readMask(masks, bit, m);
        while (mk !== 0) {
          const i = 31 - Math.clz32(mk & -mk);
          const p = (g * m + i) * cols + j;
          W[p] = values[v++];
          if (keep) keep[p] = 1;
          mk = (mk & (mk - 1)) >>> 0;
        }
      }
    }
  }
  return W;
}

/** The values as stored on disk: little-endian f32, or f16 when `c.dtype` is "f16". */
export function encodeValues(c: CompressedNM): Uint8Array {
  const vals = c.values;
  if (c.dtype === "f32") {
    const out = new Uint8Array(vals.length * 4);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < vals.length; i++) dv.setFloat32(i * 4, vals[i], true);
    return out;
  }
  const out = new Uint8Array(vals.length * 2);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < vals.length; i++) dv.setUint16(i * 2, f32ToF16(vals[i]), true);
  return out;
}

/** Inverse of encodeValues(): `count` values of `dtype` from little-endian bytes. */
export function decodeValues(bytes: Uint8Array, dtype: NMValueDType, count: number): Float32Array {
  const size = dtype === "f16" ? 2 : 4;
  if (dtype !== "f32" && dtype !== "f16") throw new ArgumentError("dtype", `must be "f32" or "f16", got ${JSON.stringify(dtype)}`);
  if (bytes.length !== count * size) throw new ArgumentError("bytes", `length ${bytes.length} != ${count} x ${size}`);
  const out = new Float32Array(count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === "f32") for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
  else for (let i = 0; i < count; i++) out[i] = f16ToF32(dv.getUint16(i * 2, true));
  return out;
}
