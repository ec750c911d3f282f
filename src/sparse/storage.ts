/**
 * Compressed N:M matrices on disk: how a pruned matrix is stored in safetensors and GGUF files, and
 * the helpers the readers and writers share.
 *
 * ## On-disk format (version 1)
 * A compressed matrix is the canonical compressed format of `src/sparse/format.ts` split into two
 * 1-D tensors that replace the dense tensor `X` (the dense `X` itself is absent from the file):
 *
 * | tensor          | dtype                          | shape          | contents                                   |
 * |-----------------|--------------------------------|----------------|--------------------------------------------|
 * | `X.nm_values`   | F32, F16 or BF16               | `[values]`     | kept values, canonical group order         |
 * | `X.nm_masks`    | U8 (safetensors), I8 (GGUF)    | `[maskBytes]`  | one M-bit keep mask per group, LSB first   |
 *
 * with `values = nmValueCount(rows, cols, n, m, axis)` and
 * `maskBytes = ceil(groups * m / 8)` (format.ts). The pattern is written `"N:M"` with N the number of
 * weights **pruned** in every group of M (so `"2:4"` keeps 2 of 4, as everywhere in dass-wasm). `axis`
 * is `"input"` (groups of M consecutive columns of a row: Wanda/SparseGPT/magnitude N:M) or
 * `"output"` (groups of M consecutive rows of a column: DaSS's gate/up). `shape` is the dense
 * `[rows, cols]` = `[d_out, d_in]`. GGUF has no unsigned 8-bit tensor type; its I8 holds the same
 * bytes (readers reinterpret them as unsigned).
 *
 * **safetensors** (`X` is the Hugging Face name, e.g. `model.layers.0.mlp.gate_proj.weight`): one
 * `__metadata__` entry per compressed matrix, whose value is a JSON object in a string:
 * ```json
 * "__metadata__": {
 *   "dass.nm.model.layers.0.mlp.gate_proj.weight":
 *     "{\"version\":1,\"pattern\":\"2:4\",\"axis\":\"output\",\"shape\":[5632,2048],\"dtype\":\"F16\"}"
 * }
 * ```
 * **GGUF** (`X` is the GGUF name, e.g. `blk.0.ffn_gate.weight`): five metadata keys per matrix,
 * `dass.nm.X.version` (UINT32, 1), `dass.nm.X.pattern` (STRING, "2:4"), `dass.nm.X.axis` (STRING),
 * `dass.nm.X.rows` and `dass.nm.X.cols` (UINT32, the dense shape), `dass.nm.X.dtype` (STRING, the
 * values' type: "F32", "F16" or "BF16").
 *
 * **llama2.c** checkpoints cannot hold compressed matrices: the format is a fixed sequence of float32
 * arrays with no names or metadata, so writing one with a compression request fails with an
 * ArgumentError("compress") that suggests GGUF or safetensors.
 *
 * Readers check everything before any kernel sees the data and throw FormatError naming the file and
 * the tensor: unknown version, malformed pattern or axis, a dense shape that contradicts the model
 * config, a values or masks tensor whose length does not match the pattern and shape, a values dtype
 * different from the one recorded, a half of the pair or its metadata missing, and (when the data is
 * read) any group whose mask has a bit beyond the group (a partial tail group, or padding bits after
 * the last group) or keeps a different number of values than the pattern prescribes.
 *
 * Writers take a `compress` option (a `CompressSpec`: canonical tensor name -> `{ n, m, axis }`);
 * `compressForSave(report)` builds one from a pruning report. The values are stored in the writer's
 * dtype for that tensor (f32, f16 or bf16): a dense model written in f16 and the same model written
 * compressed in f16 decompress to identical weights.
 *
 * ## Using it
 * - CLI: `dass prune --model m.gguf --method dass --pattern 2:4 --calib c.jsonl --out p.gguf --compress`
 *   writes the pruned N:M matrices compressed (GGUF or safetensors input; a llama2.c input must be
 *   converted first); `dass inspect --model p.gguf` lists bytes stored vs dense per matrix and the
 *   total saved; `dass eval` / `dass generate` run the compressed matrices on the sparse kernels;
 *   `dass convert` keeps them compressed (GGUF <-> safetensors) or writes them dense (llama2.c).
 * - API: `writeGGUF(out, config, source, { compress: compressForSave(report) })` (or
 *   `writeSafetensors`); `reader.tensors.get(name).compressed` describes a stored matrix,
 *   `reader.readTensor(name)` returns it dense, `reader.readCompressed(name)` in the canonical
 *   format; `Transformer.load(reader, runtime)` runs every compressed block linear as a
 *   `SparseLinear` (threaded SIMD kernels for both axes, bytes counted in the memory budget) and
 *   every other matrix dense (`compressed: "dense"` decompresses instead).
 * - A compressed model computes what the dense model with zeros computes: logits agree to about
 *   1e-7 relative (the sparse kernels sum the kept products in another order).
 */
import { FormatError, ArgumentError } from "../errors.js";
import { decodeToF32, encodeFromF32 } from "../formats/half.js";
import type { TensorData } from "../formats/writer.js";
import { dtypeSize, numel, type TensorDType } from "../model/config.js";
import {
  checkPattern, nmGroupCount, nmMaskBytes, nmValueCount, validateCompressed, type CompressedNM, type NMAxis,
} from "./format.js";

/** Version of the on-disk layout written by this build (readers accept exactly this). */
export const NM_STORAGE_VERSION = 1;
/** Suffix of the values tensor of a compressed matrix `X`. */
export const NM_VALUES_SUFFIX = ".nm_values";
/** Suffix of the masks tensor of a compressed matrix `X`. */
export const NM_MASKS_SUFFIX = ".nm_masks";
/** Prefix of the metadata key(s) of a compressed matrix (`dass.nm.X` in safetensors, `dass.nm.X.*` in GGUF). */
export const NM_META_PREFIX = "dass.nm.";

/** An N:M pattern to store a matrix with: N pruned of every M along `axis`. */
export interface NMPatternSpec {
  n: number;
  m: number;
  axis: NMAxis;
}

/**
 * Which tensors a writer stores compressed: canonical tensor name (e.g. `layers.0.mlp.gate`) ->
 * pattern; absent or undefined = dense.
 */
export type CompressSpec = ReadonlyMap<string, NMPatternSpec> | ((name: string) => NMPatternSpec | undefined);

/** How a compressed matrix is stored (what a reader learns from a file's header). */
export interface NMStorageInfo {
  /** Pruned per group. */
  n: number;
  /** Group size. */
  m: number;
  axis: NMAxis;
  /** Dense shape. */
  rows: number;
  cols: number;
  /** Stored precision of the values. */
  valueDType: TensorDType;
  valueCount: number;
  valueBytes: number;
  maskBytes: number;
  /** valueBytes + maskBytes: what the matrix takes on disk. */
  storedBytes: number;
  version: number;
}

const DTYPE_NAMES: Record<TensorDType, string> = { f32: "F32", f16: "F16", bf16: "BF16" };
const DTYPE_OF: Record<string, TensorDType> = { F32: "f32", F16: "f16", BF16: "bf16" };

/** The storage-format dtype name ("F32", "F16", "BF16") of a tensor dtype. */
export function nmDTypeName(d: TensorDType): string {
  return DTYPE_NAMES[d];
}

/** The tensor dtype of a storage-format dtype name, or undefined. */
export function nmDTypeOf(name: unknown): TensorDType | undefined {
  return typeof name === "string" ? DTYPE_OF[name] : undefined;
}

/** Sizes of a `[rows, cols]` matrix stored under `spec` with values of `valueDType`. */
export function nmStorageInfo(rows: number, cols: number, spec: NMPatternSpec, valueDType: TensorDType): NMStorageInfo {
  checkPattern(spec.n, spec.m, spec.axis, "compress");
  const valueCount = nmValueCount(rows, cols, spec.n, spec.m, spec.axis);
  const valueBytes = valueCount * dtypeSize(valueDType);
  const maskBytes = nmMaskBytes(rows, cols, spec.m, spec.axis);
  return {
    n: spec.n, m: spec.m, axis: spec.axis, rows, cols, valueDType, valueCount, valueBytes, maskBytes,
    storedBytes: valueBytes + maskBytes, version: NM_STORAGE_VERSION,
  };
}

/** The pattern `spec` asks for tensor `name`, or undefined (dense). */
export function compressionFor(spec: CompressSpec | undefined, name: string): NMPatternSpec | undefined {
  if (!spec) return undefined;
  const p = typeof spec === "function" ? spec(name) : spec.get(name);
  if (p === undefined) return undefined;
  if (!p || typeof p !== "object") throw new ArgumentError("compress", `${name}: expected { n, m, axis }, got ${String(p)}`);
  checkPattern(p.n, p.m, p.axis, `compress(${name})`);
  return { n: p.n, m: p.m, axis: p.axis };
}

/** Canonical names of the matrices that may be stored compressed: the block linears. */
export const COMPRESSIBLE = /^layers\.\d+\.(attn\.(q|k|v|o)|mlp\.(gate|up|down))$/;

/**
 * What a writer does with tensor `name` of `shape`: the pattern to store it with, or undefined
 * (dense). ArgumentError("compress") when `spec` asks to compress something other than a block
 * linear (embeddings, norms, biases and the classifier always stay dense).
 */
export function compressTarget(spec: CompressSpec | undefined, name: string, shape: readonly number[]): NMPatternSpec | undefined {
  const p = compressionFor(spec, name);
  if (p && (!COMPRESSIBLE.test(name) || shape.length !== 2)) {
    throw new ArgumentError("compress", `${name} cannot be stored compressed: only block linears (attn.q/k/v/o, mlp.gate/up/down) can`);
  }
  return p;
}

/** Whether `spec` compresses any of `names`. */
export function compressesAny(spec: CompressSpec | undefined, names: Iterable<string>): boolean {
  if (!spec) return false;
  for (const n of names) if (compressionFor(spec, n)) return true;
  return false;
}

/** The per-matrix fields of a pruning report that compressForSave() reads. */
export interface CompressibleMatrix {
  /** Block index. */
  block: number;
  /** Canonical suffix, e.g. "mlp.gate". */
  name: string;
  /** "2:4" (N:M, N pruned of M) or a sparsity such as "0.5" (not compressible). */
  pattern: string;
  /** "input" or "output" for N:M; anything else is not compressible. */
  axis: string;
  /** False when the N:M check failed (the matrix is then left dense). */
  nmValid?: boolean | null;
}

/**
 * The `compress` option for a writer after pruning: every N:M-pruned matrix of the report
 * (`report.matrices`, as prune() returns it) stored compressed along its axis. Unstructured
 * matrices and matrices whose N:M check failed stay dense.
 */
export function compressForSave(report: { matrices: readonly CompressibleMatrix[] } | readonly CompressibleMatrix[]): Map<string, NMPatternSpec> {
  const list = Array.isArray(report) ? report as readonly CompressibleMatrix[] : (report as { matrices: readonly CompressibleMatrix[] })?.matrices;
  if (!Array.isArray(list)) throw new ArgumentError("report", "expected a pruning report with a matrices array");
  const out = new Map<string, NMPatternSpec>();
  for (const mx of list) {
    const p = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(String(mx.pattern));
    if (!p || (mx.axis !== "input" && mx.axis !== "output") || mx.nmValid === false) continue;
    const spec: NMPatternSpec = { n: Number(p[1]), m: Number(p[2]), axis: mx.axis };
    checkPattern(spec.n, spec.m, spec.axis, `report ${mx.block}.${mx.name}`);
    out.set(`layers.${mx.block}.${mx.name}`, spec);
  }
  return out;
}

/** A matrix compressed for writing: values already in the stored dtype, masks as stored. */
export interface EncodedNM {
  info: NMStorageInfo;
  values: Uint8Array;
  masks: Uint8Array;
}

/**
 * Compresses writer tensor data (f32 values or raw stored bytes) of a `[rows, cols]` matrix under
 * `spec`, values encoded as `valueDType`. ArgumentError("tensors") naming the tensor when the matrix
 * does not follow the pattern (a group with fewer than N zeros).
 */
export function encodeForStorage(name: string, data: TensorData, shape: readonly number[], spec: NMPatternSpec, valueDType: TensorDType): EncodedNM {
  if (shape.length !== 2) throw new ArgumentError("compress", `${name} has shape [${shape}]: only matrices can be stored compressed`);
  const [rows, cols] = shape;
  const info = nmStorageInfo(rows, cols, spec, valueDType);
  // The pattern is checked on the values as they will be stored (a weight that rounds to zero in
  // f16/bf16 counts as pruned, exactly as in a dense file of that dtype), and the selection runs on
  // their bit patterns: no float conversion when the data already is in the stored dtype.
  let stored: Uint8Array;
  if (data instanceof Float32Array) {
    if (data.length !== rows * cols) throw new ArgumentError("tensors", `${name}: got ${data.length} values, shape [${shape}] needs ${rows * cols}`);
    stored = valueDType === "f32" ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : encodeFromF32(valueDType, data);
  } else if (data && data.bytes instanceof Uint8Array) {
    if (data.bytes.byteLength !== numel(shape) * dtypeSize(data.dtype)) {
      throw new ArgumentError("tensors", `${name}: got ${data.bytes.byteLength} bytes of ${data.dtype}, shape [${shape}] needs ${numel(shape) * dtypeSize(data.dtype)}`);
    }
    stored = data.dtype === valueDType ? data.bytes : encodeFromF32(valueDType, decodeToF32(data.dtype, data.bytes));
  } else throw new ArgumentError("tensors", `${name}: source returned no data`);
  if (stored.byteOffset % dtypeSize(valueDType) !== 0) stored = stored.slice();
  const bits = valueDType === "f32"
    ? new Uint32Array(stored.buffer, stored.byteOffset, rows * cols)
    : new Uint16Array(stored.buffer, stored.byteOffset, rows * cols);
  const c = compressBits(name, bits, rows, cols, spec);
  return { info, values: new Uint8Array(c.values.buffer, c.values.byteOffset, c.values.byteLength), masks: c.masks };
}

/**
 * compressNM() on IEEE bit patterns (u16 for f16/bf16, u32 for f32): a position is zero when all
 * bits but the sign are 0; a group prunes its first N zeros and keeps the rest, so the result equals
 * compressNM() on the decoded values.
 */
function compressBits<A extends Uint16Array | Uint32Array>(name: string, W: A, rows: number, cols: number, spec: NMPatternSpec): { values: A; masks: Uint8Array } {
  const { n, m, axis } = spec;
  const mag = W instanceof Uint16Array ? 0x7fff : 0x7fffffff;
  const values = new (W.constructor as new (k: number) => A)(nmValueCount(rows, cols, n, m, axis));
  const masks = new Uint8Array(nmMaskBytes(rows, cols, m, axis));
  const outer = axis === "input" ? rows : Math.ceil(rows / m);
  const along = axis === "input" ? Math.ceil(cols / m) : cols;
  const step = axis === "input" ? 1 : cols;
  let v = 0, bit = 0;
  for (let a = 0; a < outer; a++) {
    const rOut = axis === "input" ? 0 : Math.min(m, rows - a * m);
    for (let g = 0; g < along; g++, bit += m) {
      const base = axis === "input" ? a * cols + g * m : a * m * cols + g;
      const r = axis === "input" ? Math.min(m, cols - g * m) : rOut;
      const need = r === m ? n : Math.floor((n * r) / m);
      let zeros = 0;
      for (let i = 0, p = base; i < r; i++, p += step) if ((W[p] & mag) === 0) zeros++;
      if (zeros < need) {
        const [gr, gc] = axis === "input" ? [a, g * m] : [a * m, g];
        throw new ArgumentError("compress", `${name} does not follow ${n}:${m} along the ${axis} axis: group (${gr}, ${gc}) has only ${zeros} zeros, pattern needs ${need}`);
      }
      let pruned = 0;
      for (let i = 0, p = base; i < r; i++, p += step) {
        const w = W[p];
        if ((w & mag) === 0 && pruned < need) { pruned++; continue; }
        values[v++] = w;
        const b = bit + i;
        masks[b >>> 3] |= 1 << (b & 7);
      }
    }
  }
  return { values, masks };
}

// Popcount of every byte, for the fast mask check.
const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1];

/**
 * The common case of the mask check in one pass over the bytes: M = 4 or 8, no partial groups,
 * whole bytes. True when every group keeps exactly M - N; false when that is not the case or the
 * layout is not covered (the caller then runs the full check, which also says where).
 */
function masksAllFull(masks: Uint8Array, info: NMStorageInfo): boolean {
  const { rows, cols, n, m, axis } = info;
  const len = axis === "input" ? cols : rows;
  if ((m !== 4 && m !== 8) || len % m !== 0 || (nmGroupCount(rows, cols, m, axis) * m) % 8 !== 0) return false;
  const k = m - n;
  if (m === 8) {
    for (let i = 0; i < masks.length; i++) if (POPCOUNT[masks[i]] !== k) return false;
  } else {
    for (let i = 0; i < masks.length; i++) {
      const b = masks[i];
      if (POPCOUNT[b & 15] !== k || POPCOUNT[b >> 4] !== k) return false;
    }
  }
  return true;
}

/**
 * Decodes and validates a stored matrix: FormatError(file, "tensor X: ...") for a byte count that
 * does not match the header, a mask bit beyond its group, a group keeping the wrong number of
 * values, or non-zero padding bits. The result is safe to hand to any kernel.
 */
export function decodeStored(file: string, tensor: string, info: NMStorageInfo, valueBytes: Uint8Array, maskBytes: Uint8Array): CompressedNM {
  const fail = (msg: string): never => { throw new FormatError(file, `compressed tensor ${tensor}: ${msg}`); };
  if (valueBytes.byteLength !== info.valueBytes) fail(`${valueBytes.byteLength} value bytes, the header implies ${info.valueBytes}`);
  if (maskBytes.byteLength !== info.maskBytes) fail(`${maskBytes.byteLength} mask bytes, the header implies ${info.maskBytes}`);
  const c: CompressedNM = {
    rows: info.rows, cols: info.cols, n: info.n, m: info.m, axis: info.axis,
    values: decodeToF32(info.valueDType, valueBytes),
    masks: maskBytes,
    // bf16 values are f32 values as far as the kernels care; only f16 has a declared-exactness meaning.
    dtype: info.valueDType === "f16" ? "f16" : "f32",
  };
  if (!masksAllFull(maskBytes, info)) {
    try {
      // Values decoded from f16 are f16 by construction: check the masks, skip the f16 scan.
      validateCompressed({ ...c, dtype: "f32" }, "data");
    } catch (e) {
      if (e instanceof ArgumentError) fail(e.message.replace(/^data\.?/, "").replace(/^(\w+): /, "$1 "));
      throw e;
    }
  }
  return c;
}

/** The JSON of a safetensors `__metadata__` entry for a stored matrix. */
export function nmMetadataJson(info: NMStorageInfo): string {
  return JSON.stringify({
    version: info.version, pattern: `${info.n}:${info.m}`, axis: info.axis, shape: [info.rows, info.cols], dtype: DTYPE_NAMES[info.valueDType],
  });
}

/** Parsed metadata of one compressed matrix (any format). */
export interface NMRecordedMeta {
  version: number;
  n: number;
  m: number;
  axis: NMAxis;
  rows: number;
  cols: number;
  valueDType: TensorDType;
}

/**
 * Checks recorded metadata fields (from JSON or GGUF keys) and returns them typed; FormatError
 * naming the file and tensor otherwise.
 */
export function checkRecordedMeta(
  file: string, tensor: string,
  raw: { version: unknown; pattern: unknown; axis: unknown; rows: unknown; cols: unknown; dtype: unknown },
): NMRecordedMeta {
  const fail = (msg: string): never => { throw new FormatError(file, `compressed tensor ${tensor}: ${msg}`); };
  if (raw.version !== NM_STORAGE_VERSION) fail(`format version ${JSON.stringify(raw.version)} is not supported (this build reads version ${NM_STORAGE_VERSION})`);
  const p = typeof raw.pattern === "string" ? /^(\d+):(\d+)$/.exec(raw.pattern) : null;
  if (!p) fail(`pattern ${JSON.stringify(raw.pattern)} is not "N:M"`);
  const n = Number(p![1]), m = Number(p![2]);
  if (!(m >= 1 && m <= 32 && n >= 0 && n < m)) fail(`pattern ${n}:${m} is invalid (need 0 <= N < M <= 32)`);
  if (raw.axis !== "input" && raw.axis !== "output") fail(`axis ${JSON.stringify(raw.axis)} is not "input" or "output"`);
  for (const [k, v] of [["rows", raw.rows], ["cols", raw.cols]] as const) {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1 || v > 1 << 30) fail(`dense shape ${k} ${JSON.stringify(v)} is invalid`);
  }
  const valueDType = nmDTypeOf(raw.dtype);
  if (!valueDType) fail(`values dtype ${JSON.stringify(raw.dtype)} is not F32, F16 or BF16`);
  return { version: NM_STORAGE_VERSION, n, m, axis: raw.axis as NMAxis, rows: raw.rows as number, cols: raw.cols as number, valueDType: valueDType! };
}

/** Parses a safetensors `__metadata__` value written by nmMetadataJson(). */
export function parseNMMetadataJson(file: string, tensor: string, text: string): NMRecordedMeta {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new FormatError(file, `compressed tensor ${tensor}: metadata ${JSON.stringify(text.slice(0, 80))} is not JSON`);
  }
  if (!o || typeof o !== "object" || Array.isArray(o)) throw new FormatError(file, `compressed tensor ${tensor}: metadata is not a JSON object`);
  const r = o as Record<string, unknown>;
  const shape = r.shape;
  if (!Array.isArray(shape) || shape.length !== 2) {
    throw new FormatError(file, `compressed tensor ${tensor}: metadata shape ${JSON.stringify(shape)} is not [rows, cols]`);
  }
  return checkRecordedMeta(file, tensor, { version: r.version, pattern: r.pattern, axis: r.axis, rows: shape[0], cols: shape[1], dtype: r.dtype });
}

/**
 * Checks the stored pair against recorded metadata: the values tensor's dtype and length, the masks
 * length, both 1-D. Returns the storage info.
 */
export function checkStoredPair(
  file: string, tensor: string, meta: NMRecordedMeta,
  values: { dtype: TensorDType; shape: readonly number[] }, masks: { shape: readonly number[] },
): NMStorageInfo {
  const fail = (msg: string): never => { throw new FormatError(file, `compressed tensor ${tensor}: ${msg}`); };
  const info = nmStorageInfo(meta.rows, meta.cols, { n: meta.n, m: meta.m, axis: meta.axis }, meta.valueDType);
  if (values.dtype !== meta.valueDType) fail(`values are stored as ${DTYPE_NAMES[values.dtype]} but the metadata says ${DTYPE_NAMES[meta.valueDType]}`);
  if (values.shape.length !== 1 || values.shape[0] !== info.valueCount) {
    fail(`values tensor has shape [${values.shape}], ${meta.rows} x ${meta.cols} at ${meta.n}:${meta.m} along the ${meta.axis} axis keeps ${info.valueCount}`);
  }
  if (masks.shape.length !== 1 || masks.shape[0] !== info.maskBytes) {
    fail(`masks tensor has shape [${masks.shape}], ${meta.rows} x ${meta.cols} at ${meta.n}:${meta.m} along the ${meta.axis} axis needs ${info.maskBytes} bytes`);
  }
  return info;
}
