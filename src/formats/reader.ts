/**
 * The format-independent view of a model file: a config plus canonically named tensors whose bytes are read
 * on demand. Each format module builds a `ModelReader` after validating its whole header (tensor ranges,
 * shapes, dtypes) so that reading data later cannot run off the end of a file.
 */
import { FormatError } from "../errors.js";
import { configProblem, dtypeSize, expectedTensors, numel, parameterCount, type ModelConfig, type TensorDType } from "../model/config.js";
import { decompressNM, type CompressedNM } from "../sparse/format.js";
import { decodeStored, type NMStorageInfo } from "../sparse/storage.js";
import type { RandomAccessFile } from "./file.js";
import { dequantize } from "./ggml-quants.js";
import { decodeToF32, encodeFromF32, LITTLE_ENDIAN } from "./half.js";

/** Supported container formats. */
export type ModelFormat = "llama2c" | "gguf" | "safetensors";

/** Shape and storage of one canonical tensor. */
export interface TensorInfo {
  /** Canonical name, e.g. `layers.0.attn.q`. */
  name: string;
  dtype: TensorDType;
  /** Row-major shape, slowest dimension first (`[out, in]` for matrices). */
  shape: number[];
  /** Bytes of the dense tensor in `dtype` (what readRaw returns; for a compressed matrix, after decompression). */
  byteLength: number;
  /**
   * Set when the file stores this matrix compressed (N:M values + masks, src/sparse/storage.ts); `dtype`
   * is then the values' dtype and `compressed.storedBytes` what the file really holds.
   */
  compressed?: NMStorageInfo;
  /**
   * Set when the file stores this tensor block-quantised (a GGUF Q4_K, Q8_0, ...): reads dequantise it,
   * so `dtype` is "f32", and `quantized.storedBytes` is what the file really holds.
   */
  quantized?: { type: string; storedBytes: number };
}

/** Raw stored bytes of a tensor. */
export interface RawTensor {
  dtype: TensorDType;
  bytes: Uint8Array;
}

/** A model opened for streaming reads. */
export interface ModelReader {
  readonly format: ModelFormat;
  /** The path (file or folder) or display name it was opened from. */
  readonly path: string;
  readonly config: ModelConfig;
  /** Canonical tensors in canonical order. */
  readonly tensors: Map<string, TensorInfo>;
  /** Format-specific extras: GGUF key/values, the HF config.json object, llama2.c header fields. */
  readonly metadata: Record<string, unknown>;
  /** Reads one tensor and converts it to f32 (a compressed matrix is validated and decompressed). */
  readTensor(name: string): Promise<Float32Array>;
  /**
   * Reads one tensor's stored bytes unchanged (little-endian). A compressed matrix comes back as its
   * dense bytes in the values' dtype (exact: the values are representable in it).
   */
  readRaw(name: string): Promise<RawTensor>;
  /**
   * Reads a compressed matrix in the canonical format, validated (FormatError naming the file and
   * the tensor when it is corrupt). FormatError when `tensors.get(name).compressed` is not set.
   * Optional: readers that never hold compressed matrices may leave it out.
   */
  readCompressed?(name: string): Promise<CompressedNM>;
  /**
   * Reads a block-quantised tensor's stored ggml blocks unchanged, so that a runtime can dequantise them
   * itself (readTensor dequantises in JavaScript). FormatError when `tensors.get(name).quantized` is not
   * set. Optional: readers that never hold quantised tensors may leave it out.
   */
  readBlocks?(name: string): Promise<{ type: string; bytes: Uint8Array }>;
  /**
   * Reads a file that sits beside the model (e.g. `tokenizer.json` in an HF folder); null when absent or when
   * the format has no such notion.
   */
  readAuxFile(fileName: string): Promise<Uint8Array | null>;
  close(): Promise<void>;
}

/** Where a tensor's bytes live. */
export interface TensorLocation {
  info: TensorInfo;
  /** The file and offset of the data (of the values, for a compressed matrix). */
  file: RandomAccessFile;
  offset: number;
  /** A compressed matrix (`info.compressed` set): where its masks are. */
  masks?: { file: RandomAccessFile; offset: number };
}

/** Every file a reader reads from: its path, and the other parts of a split GGUF (none may be overwritten). */
export function readerInputPaths(reader: Pick<ModelReader, "path"> & { metadata?: Record<string, unknown> }): string[] {
  const parts = reader.metadata?.parts;
  return [reader.path, ...(Array.isArray(parts) ? parts.filter((p): p is string => typeof p === "string") : [])];
}

/**
 * Checks a located tensor table against a config and the files' sizes, then builds the reader. Everything
 * that could make a later read fail is checked here.
 */
export function makeReader(args: {
  format: ModelFormat;
  path: string;
  config: ModelConfig;
  locations: Map<string, TensorLocation>;
  metadata: Record<string, unknown>;
  files: RandomAccessFile[];
  aux?: (fileName: string) => Promise<Uint8Array | null>;
}): ModelReader {
  const { config, locations, path } = args;
  const problem = configProblem(config);
  if (problem) throw new FormatError(path, `invalid model config: ${problem}`);
  // Before listing tensors: a corrupt header can claim millions of layers, which must fail fast.
  const params = parameterCount(config);
  const available = args.files.reduce((s, f) => s + f.size, 0);
  // Compressed N:M matrices take as little as 3/16 byte per weight (31:32 with f16 values), Q2_K 0.33.
  const compressed = [...locations.values()].some((l) => l.info.compressed || l.info.quantized);
  if (params * (compressed ? 0.125 : 2) > available) {
    throw new FormatError(path, `the config implies ${params} parameters, more than the ${available} bytes of weights can hold: truncated or corrupt header`);
  }
  const ordered = new Map<string, TensorInfo>();
  for (const spec of expectedTensors(config)) {
    const loc = locations.get(spec.name);
    if (!loc) throw new FormatError(path, `missing tensor ${spec.name} (shape [${spec.shape}])`);
    const { info } = loc;
    if (info.shape.length !== spec.shape.length || info.shape.some((d, i) => d !== spec.shape[i])) {
      throw new FormatError(loc.file.name, `${info.compressed ? "compressed " : ""}tensor ${spec.name} has shape [${info.shape}], the config implies [${spec.shape}]`);
    }
    checkLocation(loc);
    ordered.set(spec.name, info);
  }
  for (const name of locations.keys()) {
    if (!ordered.has(name)) throw new FormatError(path, `unexpected tensor ${name} for this config`);
  }
  if (!LITTLE_ENDIAN) throw new FormatError(path, "big-endian hosts are not supported");
  let closed = false;
  const locate = (name: string): TensorLocation => {
    if (closed) throw new FormatError(path, "reader is closed");
    const loc = locations.get(name);
    if (!loc) throw new FormatError(path, `no tensor named ${JSON.stringify(name)}`);
    return loc;
  };
  return {
    format: args.format,
    path,
    config,
    tensors: ordered,
    metadata: args.metadata,
    async readRaw(name: string): Promise<RawTensor> {
      const loc = locate(name);
      if (loc.info.compressed) return { dtype: loc.info.dtype, bytes: encodeFromF32(loc.info.dtype, decompressNM(await readNM(loc))) };
      if (loc.info.quantized) return { dtype: "f32", bytes: new Uint8Array((await readQuantized(loc)).buffer) };
      const bytes = await loc.file.read(loc.offset, loc.info.byteLength);
      return { dtype: loc.info.dtype, bytes };
    },
    async readTensor(name: string): Promise<Float32Array> {
      const loc = locate(name);
      if (loc.info.compressed) return decompressNM(await readNM(loc));
      if (loc.info.quantized) return readQuantized(loc);
      const bytes = await loc.file.read(loc.offset, loc.info.byteLength);
      return decodeToF32(loc.info.dtype, bytes);
    },
    async readCompressed(name: string): Promise<CompressedNM> {
      const loc = locate(name);
      if (!loc.info.compressed) throw new FormatError(loc.file.name, `tensor ${name} is not stored compressed`);
      return readNM(loc);
    },
    async readBlocks(name: string): Promise<{ type: string; bytes: Uint8Array }> {
      const loc = locate(name);
      const q = loc.info.quantized;
      if (!q) throw new FormatError(loc.file.name, `tensor ${name} is not block-quantised`);
      return { type: q.type, bytes: await loc.file.read(loc.offset, q.storedBytes) };
    },
    async readAuxFile(fileName: string) {
      if (closed) throw new FormatError(path, "reader is closed");
      return args.aux ? args.aux(fileName) : null;
    },
    async close() {
      if (closed) return;
      closed = true;
      const unique = [...new Set(args.files)];
      await Promise.all(unique.map((f) => f.close()));
    },
  };
}

/** Reads, decodes and validates a compressed matrix. */
async function readNM(loc: TensorLocation): Promise<CompressedNM> {
  const nm = loc.info.compressed!;
  const values = await loc.file.read(loc.offset, nm.valueBytes);
  const masks = await loc.masks!.file.read(loc.masks!.offset, nm.maskBytes);
  return decodeStored(loc.file.name, loc.info.name, nm, values, masks);
}

/** Reads and dequantises a block-quantised tensor. */
async function readQuantized(loc: TensorLocation): Promise<Float32Array> {
  const q = loc.info.quantized!;
  return dequantize(q.type, await loc.file.read(loc.offset, q.storedBytes), numel(loc.info.shape));
}

/** The byte ranges a tensor occupies: [file, start, end) per stored piece. */
export function storedRanges(loc: TensorLocation): { file: RandomAccessFile; start: number; end: number; what: string }[] {
  const nm = loc.info.compressed;
  if (!nm) return [{ file: loc.file, start: loc.offset, end: loc.offset + (loc.info.quantized?.storedBytes ?? loc.info.byteLength), what: loc.info.name }];
  return [
    { file: loc.file, start: loc.offset, end: loc.offset + nm.valueBytes, what: `${loc.info.name} (values)` },
    { file: loc.masks!.file, start: loc.masks!.offset, end: loc.masks!.offset + nm.maskBytes, what: `${loc.info.name} (masks)` },
  ];
}

/** Validates one tensor's declared size and byte range. */
export function checkLocation(loc: TensorLocation): void {
  const { info, file } = loc;
  const elems = numel(info.shape);
  if (info.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new FormatError(file.name, `tensor ${info.name} has invalid shape [${info.shape}]`);
  }
  const nm = info.compressed;
  if (nm) {
    if (!loc.masks) throw new FormatError(file.name, `compressed tensor ${info.name} has no masks location`);
    if (info.shape.length !== 2 || info.shape[0] !== nm.rows || info.shape[1] !== nm.cols) {
      throw new FormatError(file.name, `compressed tensor ${info.name}: recorded dense shape [${nm.rows}, ${nm.cols}] does not match [${info.shape}]`);
    }
  }
  if (elems * dtypeSize(info.dtype) !== info.byteLength) {
    throw new FormatError(
      file.name,
      `tensor ${info.name}: shape [${info.shape}] x ${info.dtype} is ${elems * dtypeSize(info.dtype)} bytes but ${info.byteLength} are stored`,
    );
  }
  for (const r of storedRanges(loc)) {
    if (!Number.isSafeInteger(r.start) || r.start < 0 || r.end > r.file.size) {
      throw new FormatError(
        r.file.name,
        `tensor ${r.what} at bytes [${r.start}, ${r.end}) runs past the end of the file (${r.file.size} bytes): truncated?`,
      );
    }
  }
}

/** Map from canonical names to f32 data: a convenient tensor source for writers and tests. */
export async function readAllTensors(reader: ModelReader): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const name of reader.tensors.keys()) out.set(name, await reader.readTensor(name));
  return out;
}
