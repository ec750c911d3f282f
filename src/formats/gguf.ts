/**
 * GGUF (v2/v3) reading and writing for llama, qwen2, qwen3, gemma, gemma2 and gemma3 models: F32/F16/BF16
 * tensors both ways, and ggml's block-quantised types (Q4_0 ... Q8_0, Q2_K ... Q6_K, IQ4_NL, IQ4_XS) read,
 * dequantised to f32.
 *
 * The header (metadata key/values, tensor infos) is parsed through a buffered cursor that pulls the file in
 * chunks, so multi-megabyte tokenizer arrays are fine and tensor data is never touched until asked for. Every
 * count and length is checked against the bytes that remain before anything is allocated.
 */
import { AbortError, ArgumentError, FormatError } from "../errors.js";
import { dtypeSize, expectedTensors, fullAttentionConfig, isGemmaArch, longropeAttentionFactor, MAX_DIM, numel, periodicSlidingLayers, type Arch, type ModelConfig, type TensorDType, type TensorSpec } from "../model/config.js";
import { llama3RopeFactors } from "../kernels/rope.js";
import type { OutputFolder, RandomAccessFile } from "./file.js";
import { GGML_QUANT_TYPES, ggmlQuantType, ggmlQuantTypeNamed, type GgmlQuantType } from "./ggml-quants.js";
import { GGML_WRITE_TYPES, ggmlWriteBlock, ggmlWriteType, quantizeGgml, type GgmlWriteType } from "./ggml-quantize.js";
import {
  checkRecordedMeta, checkStoredPair, compressTarget, encodeForStorage, nmDTypeName, nmStorageInfo, NM_MASKS_SUFFIX, NM_META_PREFIX,
  NM_VALUES_SUFFIX, type CompressSpec,
} from "../sparse/storage.js";
import { makeReader, storedRanges, type ModelReader, type TensorInfo, type TensorLocation } from "./reader.js";
import {
  checkConfigArg, dtypeFor, singleFileTarget, tensorBytes, writeAtomically, zeros, type TensorSource, type WriteOptions,
} from "./writer.js";

/** Metadata value types (GGUF spec ids). */
export enum GGUFType {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
}

/** A decoded metadata value. Numeric arrays decode to typed arrays; 64-bit integers beyond 2^53 stay bigint. */
export type GGUFValue =
  | number
  | bigint
  | boolean
  | string
  | string[]
  | boolean[]
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array
  | BigUint64Array | BigInt64Array
  | GGUFValue[];

/** Parsed GGUF header. */
export interface GGUFHeader {
  version: number;
  kv: Map<string, GGUFValue>;
  /** Value type of each key, as stored. */
  kvTypes: Map<string, GGUFType>;
  tensors: GGUFTensorInfo[];
  alignment: number;
  /** Absolute byte offset of the tensor data section. */
  dataOffset: number;
}

/** A tensor as the file describes it (GGUF name, dims fastest-first). */
export interface GGUFTensorInfo {
  name: string;
  /** Dimensions as stored, fastest-varying first. */
  dims: number[];
  /** ggml type id. */
  type: number;
  /** Offset relative to the data section. */
  offset: number;
}

const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const DEFAULT_ALIGNMENT = 32;
const MAX_COUNT = 1 << 24;

/** ggml tensor type ids for the dtypes we store; quantised types are only read (ggml-quants.ts). */
const GGML_TYPE: Record<TensorDType, number> = { f32: 0, f16: 1, bf16: 30 };
/** ggml's I8: GGUF has no unsigned byte type, so compressed N:M masks are stored as I8 bytes. */
const GGML_I8 = 24;
const GGML_NAMES: Record<number, string> = {
  0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K",
  12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S",
  20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
  29: "IQ1_M", 30: "BF16",
};

function dtypeOfGgml(type: number): TensorDType | null {
  return type === 0 ? "f32" : type === 1 ? "f16" : type === 30 ? "bf16" : null;
}

/** Buffered little-endian reader over a RandomAccessFile. */
class Cursor {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private dv: DataView = new DataView(new ArrayBuffer(0));
  private bufStart = 0;
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });
  constructor(private readonly file: RandomAccessFile) {}

  get remaining(): number {
    return this.file.size - this.pos;
  }

  fail(msg: string): never {
    throw new FormatError(this.file.name, msg);
  }

  async need(n: number, what: string): Promise<void> {
    if (n > this.remaining) this.fail(`truncated: ${what} needs ${n} bytes at offset ${this.pos}, only ${this.remaining} remain`);
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.byteLength) return;
    const len = Math.min(Math.max(n, 1 << 20), this.remaining);
    this.buf = await this.file.read(this.pos, len);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.bufStart = this.pos;
  }

  private at(n: number): number {
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }

  u8(): number { return this.dv.getUint8(this.at(1)); }
  i8(): number { return this.dv.getInt8(this.at(1)); }
  u16(): number { return this.dv.getUint16(this.at(2), true); }
  i16(): number { return this.dv.getInt16(this.at(2), true); }
  u32(): number { return this.dv.getUint32(this.at(4), true); }
  i32(): number { return this.dv.getInt32(this.at(4), true); }
  f32(): number { return this.dv.getFloat32(this.at(4), true); }
  f64(): number { return this.dv.getFloat64(this.at(8), true); }
  u64big(): bigint { return this.dv.getBigUint64(this.at(8), true); }
  i64big(): bigint { return this.dv.getBigInt64(this.at(8), true); }

  /** A u64 that must fit in a JS number (lengths, counts, offsets). */
  async count(what: string): Promise<number> {
    await this.need(8, what);
    const v = this.u64big();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is absurd`);
    return Number(v);
  }

  async string(what: string): Promise<string> {
    const n = await this.count(`${what} length`);
    await this.need(n, what);
    const o = this.at(n);
    return this.decoder.decode(this.buf.subarray(o, o + n));
  }
}

const SCALAR_SIZE: Partial<Record<GGUFType, number>> = {
  [GGUFType.U8]: 1, [GGUFType.I8]: 1, [GGUFType.U16]: 2, [GGUFType.I16]: 2, [GGUFType.U32]: 4, [GGUFType.I32]: 4,
  [GGUFType.F32]: 4, [GGUFType.BOOL]: 1, [GGUFType.U64]: 8, [GGUFType.I64]: 8, [GGUFType.F64]: 8,
};

function smallBig(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}

async function readScalar(c: Cursor, type: GGUFType, key: string): Promise<GGUFValue> {
  if (type === GGUFType.STRING) return c.string(`value of ${key}`);
  const size = SCALAR_SIZE[type];
  if (size === undefined) c.fail(`metadata ${key}: unknown value type ${type}`);
  await c.need(size, `value of ${key}`);
  switch (type) {
    case GGUFType.U8: return c.u8();
    case GGUFType.I8: return c.i8();
    case GGUFType.U16: return c.u16();
    case GGUFType.I16: return c.i16();
    case GGUFType.U32: return c.u32();
    case GGUFType.I32: return c.i32();
    case GGUFType.F32: return c.f32();
    case GGUFType.BOOL: {
      const b = c.u8();
      if (b > 1) c.fail(`metadata ${key}: bool byte ${b}`);
      return b === 1;
    }
    case GGUFType.U64: return smallBig(c.u64big());
    case GGUFType.I64: return smallBig(c.i64big());
    default: return c.f64();
  }
}

async function readValue(c: Cursor, type: GGUFType, key: string, depth: number): Promise<GGUFValue> {
  if (type !== GGUFType.ARRAY) return readScalar(c, type, key);
  if (depth > 4) c.fail(`metadata ${key}: arrays nested too deeply`);
  await c.need(4, `array type of ${key}`);
  const itemType = c.u32() as GGUFType;
  const n = await c.count(`array length of ${key}`);
  const minItem = itemType === GGUFType.STRING ? 8 : itemType === GGUFType.ARRAY ? 12 : SCALAR_SIZE[itemType];
  if (minItem === undefined) c.fail(`metadata ${key}: unknown array item type ${itemType}`);
  if (n > MAX_COUNT * 16 || n * minItem > c.remaining) {
    c.fail(`metadata ${key}: array of ${n} items cannot fit in the ${c.remaining} bytes that remain (truncated or corrupt)`);
  }
  const typed = (make: (n: number) => { [i: number]: number | bigint }, get: () => number | bigint, size: number) => {
    const a = make(n);
    return (async () => {
      let i = 0;
      while (i < n) {
        const batch = Math.min(n - i, 65536);
        await c.need(batch * size, `array ${key}`);
        for (let j = 0; j < batch; j++) a[i++] = get();
      }
      return a as GGUFValue;
    })();
  };
  switch (itemType) {
    case GGUFType.U8: return typed((k) => new Uint8Array(k), () => c.u8(), 1);
    case GGUFType.I8: return typed((k) => new Int8Array(k), () => c.i8(), 1);
    case GGUFType.U16: return typed((k) => new Uint16Array(k), () => c.u16(), 2);
    case GGUFType.I16: return typed((k) => new Int16Array(k), () => c.i16(), 2);
    case GGUFType.U32: return typed((k) => new Uint32Array(k), () => c.u32(), 4);
    case GGUFType.I32: return typed((k) => new Int32Array(k), () => c.i32(), 4);
    case GGUFType.F32: return typed((k) => new Float32Array(k), () => c.f32(), 4);
    case GGUFType.F64: return typed((k) => new Float64Array(k), () => c.f64(), 8);
    case GGUFType.U64: return typed((k) => new BigUint64Array(k), () => c.u64big(), 8);
    case GGUFType.I64: return typed((k) => new BigInt64Array(k), () => c.i64big(), 8);
    default: {
      const out: GGUFValue[] = [];
      for (let i = 0; i < n; i++) out.push(await readValue(c, itemType, key, depth + 1));
      return out as GGUFValue;
    }
  }
}

/** Parses and validates a GGUF header (metadata and tensor infos), reading only the header bytes. */
export async function parseGGUFHeader(file: RandomAccessFile): Promise<GGUFHeader> {
  const c = new Cursor(file);
  await c.need(4, "magic");
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) c.fail(`bad magic 0x${magic.toString(16).padStart(8, "0")}: not a GGUF file`);
  await c.need(4, "version");
  const version = c.u32();
  if (version !== 2 && version !== 3) c.fail(`unsupported GGUF version ${version} (2 and 3 are supported)`);
  const nTensors = await c.count("tensor count");
  const nKv = await c.count("metadata count");
  if (nTensors > MAX_COUNT || nTensors * 24 > c.remaining) c.fail(`tensor count ${nTensors} is absurd for a ${file.size}-byte file`);
  if (nKv > MAX_COUNT || nKv * 12 > c.remaining) c.fail(`metadata count ${nKv} is absurd for a ${file.size}-byte file`);
  const kv = new Map<string, GGUFValue>();
  const kvTypes = new Map<string, GGUFType>();
  for (let i = 0; i < nKv; i++) {
    const key = await c.string("metadata key");
    await c.need(4, `type of ${key}`);
    const type = c.u32() as GGUFType;
    if (kv.has(key)) c.fail(`duplicate metadata key ${key}`);
    kv.set(key, await readValue(c, type, key, 0));
    kvTypes.set(key, type);
  }
  const tensors: GGUFTensorInfo[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = await c.string("tensor name");
    if (seen.has(name)) c.fail(`duplicate tensor ${name}`);
    seen.add(name);
    await c.need(4, `dims of ${name}`);
    const nDims = c.u32();
    if (nDims < 1 || nDims > 4) c.fail(`tensor ${name} has ${nDims} dimensions (1..4 allowed)`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const v = await c.count(`dim ${d} of ${name}`);
      if (v < 1 || v > MAX_DIM * 64) c.fail(`tensor ${name} has absurd dimension ${v}`);
      dims.push(v);
    }
    await c.need(4, `type of ${name}`);
    const type = c.u32();
    const offset = await c.count(`offset of ${name}`);
    tensors.push({ name, dims, type, offset });
  }
  let alignment = DEFAULT_ALIGNMENT;
  const al = kv.get("general.alignment");
  if (al !== undefined) {
    if (typeof al !== "number" || !Number.isInteger(al) || al < 1 || al > 1 << 20 || (al & (al - 1)) !== 0) {
      c.fail(`general.alignment ${String(al)} is not a power of two`);
    }
    alignment = al as number;
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  if (nTensors > 0 && dataOffset > file.size) c.fail(`truncated: tensor data would start at ${dataOffset}, past the end (${file.size})`);
  for (const t of tensors) {
    if (t.offset % alignment !== 0) c.fail(`tensor ${t.name} offset ${t.offset} is not aligned to ${alignment}`);
  }
  return { version, kv, kvTypes, tensors, alignment, dataOffset };
}

/** GGUF architecture names we read, and how each maps onto a ModelConfig. */
const GGUF_ARCHS: Record<string, Arch> = { llama: "llama", phi3: "llama", qwen2: "qwen2", qwen3: "qwen3", gemma: "gemma", gemma2: "gemma2", gemma3: "gemma3" };

/**
 * GGUF phi3 is a Llama as llama.cpp's converter writes Phi-3: RoPE in HF's half-rotation layout (q/k not
 * permuted), q/k/v fused into `attn_qkv` (q rows, then k, then v), gate and up fused into `ffn_up` (gate
 * rows first, as HF's gate_up_proj and ggml's swiglu split it), and an optional window on every layer.
 * Its sub-matrices are row ranges of the fused tensors, so they are read in place.
 */
const PHI3_FUSED: Record<string, (c: ModelConfig) => [string, number][]> = {
  "attn_qkv.weight": (c) => [["attn.q", c.nHeads * c.headDim], ["attn.k", c.nKvHeads * c.headDim], ["attn.v", c.nKvHeads * c.headDim]],
  "ffn_up.weight": (c) => [["mlp.gate", c.hiddenDim], ["mlp.up", c.hiddenDim]],
};
/** LongRoPE's (Phi-3 128k) frequency divisors, as llama.cpp's converter stores them. */
const PHI3_LONGROPE = { long: "rope_factors_long.weight", short: "rope_factors_short.weight" } as const;

/** Whether a config is stored as GGUF phi3: a Llama (or Mistral) that keeps HF's RoPE layout. */
function isGgufPhi3(c: Pick<ModelConfig, "arch" | "ropeLayout">): boolean {
  return (c.arch === "llama" || c.arch === "mistral") && c.ropeLayout === "half";
}

/**
 * Whether GGUF holds a config's sliding window: gemma2 and gemma3 (in llama.cpp's fixed layer patterns) and
 * phi3 do; llama, qwen2 and qwen3 have none, so writeGGUF cuts such a model's context to its window.
 */
export function ggufKeepsWindow(c: ModelConfig): boolean {
  return c.arch === "gemma2" || c.arch === "gemma3" || isGgufPhi3(c);
}

/**
 * llama.cpp's Gemma 2/3 conventions, which GGUF states nowhere: every second layer (Gemma 2) or five in
 * six (Gemma 3) slide, starting with layer 0; Gemma 3's sliding layers take an unscaled RoPE base of
 * 10^4; and the attention scale is 1/sqrt(headDim) except on the 27B models (46 layers for Gemma 2, 62 for
 * Gemma 3), which use 1/sqrt(dim / nHeads) (query_pre_attn_scalar in the HF configs).
 */
function ggufGemmaSlidingLayers(arch: Arch, nLayers: number): boolean[] {
  return periodicSlidingLayers(nLayers, arch === "gemma2" ? 2 : 6);
}
const GEMMA3_LOCAL_THETA = 10000;
function ggufGemmaAttnScale(c: Pick<ModelConfig, "arch" | "nLayers" | "dim" | "nHeads" | "headDim">): number {
  const is27B = c.nLayers === (c.arch === "gemma2" ? 46 : 62);
  return 1 / Math.sqrt(is27B ? Math.floor(c.dim / c.nHeads) : c.headDim);
}

/**
 * The GGUF `general.architecture` name used to store an arch (Mistral is stored as llama, as llama.cpp does).
 * A Llama or Mistral config in HF's RoPE layout is stored as phi3 instead (see PHI3_FUSED).
 */
export function ggufArchName(arch: Arch, ropeLayout?: "adjacent" | "half"): string {
  if (ropeLayout !== undefined && isGgufPhi3({ arch, ropeLayout })) return "phi3";
  return arch === "mistral" ? "llama" : arch;
}

/**
 * RoPE layout llama.cpp uses for each GGUF arch: llama permutes q/k to adjacent pairs; qwen2/qwen3/gemma keep
 * HF's (and so does phi3, which holds Llamas that kept it).
 */
export function ggufRopeLayout(arch: Arch): "adjacent" | "half" {
  return arch === "llama" || arch === "mistral" ? "adjacent" : "half";
}

const LAYER_NAMES: [string, string][] = [
  ["attn_norm.weight", "attn_norm"],
  ["attn_q.weight", "attn.q"],
  ["attn_k.weight", "attn.k"],
  ["attn_v.weight", "attn.v"],
  ["attn_q.bias", "attn.q_bias"],
  ["attn_k.bias", "attn.k_bias"],
  ["attn_v.bias", "attn.v_bias"],
  ["attn_q_norm.weight", "attn.q_norm"],
  ["attn_k_norm.weight", "attn.k_norm"],
  ["attn_output.weight", "attn.o"],
  ["post_attention_norm.weight", "attn_post_norm"],
  ["ffn_norm.weight", "ffn_norm"],
  ["post_ffw_norm.weight", "ffn_post_norm"],
  ["ffn_gate.weight", "mlp.gate"],
  ["ffn_up.weight", "mlp.up"],
  ["ffn_down.weight", "mlp.down"],
];
const GLOBAL_NAMES: [string, string][] = [
  ["token_embd.weight", "tok_embeddings"],
  ["output_norm.weight", "norm"],
  ["output.weight", "output"],
];

/** Maps a GGUF tensor name to its canonical name, or null when it is not part of the supported architectures. */
export function ggufToCanonical(name: string): string | null {
  for (const [g, c] of GLOBAL_NAMES) if (name === g) return c;
  const m = /^blk\.(\d+)\.(.+)$/.exec(name);
  if (!m) return null;
  for (const [g, c] of LAYER_NAMES) if (m[2] === g) return `layers.${Number(m[1])}.${c}`;
  return null;
}

/** Maps a canonical tensor name to its GGUF name. */
export function canonicalToGGUF(name: string): string {
  for (const [g, c] of GLOBAL_NAMES) if (name === c) return g;
  const m = /^layers\.(\d+)\.(.+)$/.exec(name);
  if (m) for (const [g, c] of LAYER_NAMES) if (m[2] === c) return `blk.${m[1]}.${g}`;
  throw new ArgumentError("name", `no GGUF name for tensor ${name}`);
}

/** Shortest decimal that rounds to the same float32: GGUF stores eps/theta as f32, 1e-5 should read as 1e-5. */
export function f32ToShortest(x: number): number {
  if (!Number.isFinite(x)) return x;
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === Math.fround(x)) return y;
  }
  return x;
}

function numberKey(h: GGUFHeader, file: string, key: string, fallback?: number): number {
  const v = h.kv.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new FormatError(file, `missing metadata ${key}`);
  }
  if (typeof v === "number") return h.kvTypes.get(key) === GGUFType.F32 ? f32ToShortest(v) : v;
  // Per-layer arrays (some converters emit them): accept when uniform.
  if (ArrayBuffer.isView(v) && !(v instanceof DataView) && (v as Uint32Array).length > 0) {
    const arr = Array.from(v as Uint32Array, Number);
    if (arr.every((x) => x === arr[0])) return arr[0];
    throw new FormatError(file, `metadata ${key} varies per layer (${arr.slice(0, 4).join(", ")}...): not supported`);
  }
  throw new FormatError(file, `metadata ${key} has type ${typeof v}, expected a number`);
}

function intKey(h: GGUFHeader, file: string, key: string, fallback?: number): number {
  const v = numberKey(h, file, key, fallback);
  if (!Number.isInteger(v) || v < 0 || v > MAX_DIM) throw new FormatError(file, `metadata ${key} = ${v} is out of range`);
  return v;
}

/** Opens a GGUF model. The file is owned by the reader and closed with it. */
export async function readGGUF(file: RandomAccessFile, opts: ReadGGUFOptions = {}): Promise<ModelReader> {
  const files = [file];
  try {
    const h = await parseGGUFHeader(file);
    const name = file.name;
    // Every tensor with the file and data section that hold it (a split model's parts each have their own).
    const entries = h.tensors.map((t) => ({ t, file, dataOffset: h.dataOffset }));
    for (const part of await splitParts(file, h, opts.openPart, files)) {
      for (const t of part.h.tensors) entries.push({ t, file: part.file, dataOffset: part.h.dataOffset });
    }
    const archName = h.kv.get("general.architecture");
    if (typeof archName !== "string") throw new FormatError(name, "missing metadata general.architecture");
    const arch = GGUF_ARCHS[archName];
    if (!arch) throw new FormatError(name, `unsupported GGUF architecture ${JSON.stringify(archName)} (supported: ${Object.keys(GGUF_ARCHS).join(", ")})`);
    const scaling = h.kv.get(`${archName}.rope.scaling.type`);
    if (scaling !== undefined && scaling !== "none" && scaling !== "linear") throw new FormatError(name, `RoPE scaling ${String(scaling)} is not supported (only linear)`);
    const byName = new Map(entries.map(({ t }) => [t.name, t]));
    if (byName.size !== entries.length) {
      const seen = new Set<string>();
      const twice = entries.find(({ t }) => seen.size === seen.add(t.name).size)!;
      throw new FormatError(name, `tensor ${twice.t.name} appears twice${files.length > 1 ? " among the parts" : ""}`);
    }
    const embd = byName.get("token_embd.weight");
    if (!embd) throw new FormatError(name, "missing tensor token_embd.weight");
    if (embd.dims.length !== 2) throw new FormatError(name, `token_embd.weight has ${embd.dims.length} dims, expected 2`);
    const dim = intKey(h, name, `${archName}.embedding_length`);
    const nHeads = intKey(h, name, `${archName}.attention.head_count`);
    if (nHeads < 1) throw new FormatError(name, `${archName}.attention.head_count must be >= 1`);
    const tokens = h.kv.get("tokenizer.ggml.tokens");
    const vocabSize = intKey(h, name, `${archName}.vocab_size`, embd.dims[1]);
    if (Array.isArray(tokens) && tokens.length !== vocabSize) {
      throw new FormatError(name, `tokenizer has ${tokens.length} tokens but the model's vocabulary is ${vocabSize}`);
    }
    const headDim = intKey(h, name, `${archName}.attention.key_length`, Math.floor(dim / nHeads));
    const config: ModelConfig = {
      arch,
      dim,
      hiddenDim: intKey(h, name, `${archName}.feed_forward_length`),
      nLayers: intKey(h, name, `${archName}.block_count`),
      nHeads,
      nKvHeads: intKey(h, name, `${archName}.attention.head_count_kv`, nHeads),
      headDim,
      vocabSize,
      seqLen: intKey(h, name, `${archName}.context_length`),
      normEps: numberKey(h, name, `${archName}.attention.layer_norm_rms_epsilon`, isGemmaArch(arch) ? 1e-6 : 1e-5),
      ropeTheta: numberKey(h, name, `${archName}.rope.freq_base`, 10000),
      ropeLayout: archName === "phi3" ? "half" : ggufRopeLayout(arch),
      tiedEmbeddings: !byName.has("output.weight") && !byName.has("output.weight" + NM_VALUES_SUFFIX),
      qkvBias: byName.has("blk.0.attn_q.bias"),
      ...(byName.has("blk.0.attn_q_norm.weight") ? { qkNorm: true } : {}),
      act: isGemmaArch(arch) ? "gelu_tanh" : "silu",
      embedScale: isGemmaArch(arch) ? Math.sqrt(dim) : 1,
      // llama.cpp's converter bakes Gemma's +1 into the stored norm weights.
      normPlusOne: false,
      bosId: intOr(h, "tokenizer.ggml.bos_token_id", 1, vocabSize),
      eosId: intOr(h, "tokenizer.ggml.eos_token_id", 2, vocabSize),
    };
    if (scaling === "linear") config.ropeScaling = { type: "linear", factor: numberKey(h, name, `${archName}.rope.scaling.factor`) };
    if (arch === "gemma2" || arch === "gemma3") Object.assign(config, ggufGemma23(h, name, archName, config));
    if (archName === "phi3") {
      const long = byName.get(PHI3_LONGROPE.long), short = byName.get(PHI3_LONGROPE.short);
      if (!long !== !short) throw new FormatError(name, `LongRoPE needs both ${PHI3_LONGROPE.long} and ${PHI3_LONGROPE.short}; the file has only one`);
      if (long && short) {
        const at = (t: GGUFTensorInfo) => entries.find((e) => e.t === t)!;
        const originalContext = intKey(h, name, "phi3.rope.scaling.original_context_length", config.seqLen);
        config.ropeScaling = {
          type: "longrope", originalContext,
          shortFactors: await readRopeFactors(at(short).file, at(short).dataOffset, short, headDim, name),
          longFactors: await readRopeFactors(at(long).file, at(long).dataOffset, long, headDim, name),
          attentionFactor: numberKey(h, name, "phi3.rope.scaling.attn_factor", longropeAttentionFactor(config.seqLen / originalContext, originalContext)),
        };
      }
      // A stated window applies to every layer, as in transformers' Phi-3 (llama.cpp currently ignores it).
      const window = intKey(h, name, "phi3.attention.sliding_window", 0);
      if (window > 0 && window < config.seqLen) Object.assign(config, { arch: "mistral", slidingWindow: window });
    }
    const valueLength = h.kv.get(`${archName}.attention.value_length`);
    if (valueLength !== undefined && valueLength !== headDim) throw new FormatError(name, `value_length ${String(valueLength)} != key_length ${headDim} is not supported`);
    const ropeDims = h.kv.get(`${archName}.rope.dimension_count`);
    if (ropeDims !== undefined && ropeDims !== headDim) throw new FormatError(name, `partial RoPE (rope.dimension_count ${String(ropeDims)} of head size ${headDim}) is not supported`);
    const locations = new Map<string, TensorLocation>();
    type Entry = (typeof entries)[number];
    const pairs = new Map<string, { values?: Entry; masks?: Entry }>();
    for (const entry of entries) {
      const { t, file, dataOffset } = entry;
      const half = t.name.endsWith(NM_VALUES_SUFFIX) ? "values" : t.name.endsWith(NM_MASKS_SUFFIX) ? "masks" : null;
      if (half) {
        const base = t.name.slice(0, -(half === "values" ? NM_VALUES_SUFFIX : NM_MASKS_SUFFIX).length);
        let p = pairs.get(base);
        if (!p) pairs.set(base, p = {});
        p[half] = entry;
        continue;
      }
      if (t.name === ROPE_FREQS) {
        config.ropeScaling = { type: "factors", factors: await readRopeFactors(file, dataOffset, t, headDim, name) };
        continue;
      }
      if (archName === "phi3" && (t.name === PHI3_LONGROPE.long || t.name === PHI3_LONGROPE.short)) continue;
      if (t.type === GGML_I8) throw new FormatError(name, `tensor ${t.name} has type I8, which is only used for compressed N:M masks (${NM_MASKS_SUFFIX})`);
      const shape = [...t.dims].reverse();
      const fused = archName === "phi3" ? /^blk\.(\d+)\.(.+)$/.exec(t.name) : null;
      const parts = fused && PHI3_FUSED[fused[2]]?.(config);
      const canon = ggufToCanonical(t.name);
      if (!canon && !parts) throw new FormatError(name, `unexpected tensor ${t.name} for a ${archName} model`);
      const quant = ggmlQuantType(t.type);
      const dtype = quant ? "f32" : dtypeOfGgml(t.type);
      if (!dtype) {
        throw new FormatError(name, `tensor ${t.name} has type ${GGML_NAMES[t.type] ?? `#${t.type}`}: only F32, F16, BF16 and ${GGML_QUANT_TYPES.map((q) => q.name).join(", ")} are read`);
      }
      const byteLength = numel(shape) * dtypeSize(dtype);
      if (!Number.isSafeInteger(byteLength)) throw new FormatError(name, `tensor ${t.name} is absurdly large`);
      let quantized: TensorInfo["quantized"];
      if (quant) {
        // ggml quantises along rows (ne[0], the innermost dimension) in whole blocks.
        if (t.dims[0] % quant.blockElems !== 0) throw new FormatError(name, `tensor ${t.name} (${quant.name}) has rows of ${t.dims[0]}, not a multiple of its ${quant.blockElems}-element blocks`);
        quantized = { type: quant.name, storedBytes: (numel(shape) / quant.blockElems) * quant.blockBytes };
      }
      const stored = (n: string): void => {
        if (locations.has(n)) throw new FormatError(name, `tensor ${n} is stored twice (${t.name} holds it too)`);
      };
      if (!parts) {
        stored(canon!);
        locations.set(canon!, { file, offset: dataOffset + t.offset, info: { name: canon!, dtype, shape, byteLength, ...(quantized ? { quantized } : {}) } });
        continue;
      }
      const rows = parts.reduce((s, [, r]) => s + r, 0);
      if (shape.length !== 2 || shape[0] !== rows || shape[1] !== dim) {
        throw new FormatError(name, `tensor ${t.name} has shape [${shape}], expected [${rows}, ${dim}] (${parts.map(([p]) => p).join(" + ")})`);
      }
      // Each part is a row range; ggml stores (and quantises) row by row.
      const rowBytes = (quantized?.storedBytes ?? byteLength) / rows;
      let row = 0;
      for (const [suffix, n] of parts) {
        const partName = `layers.${Number(fused![1])}.${suffix}`;
        stored(partName);
        locations.set(partName, {
          file, offset: dataOffset + t.offset + row * rowBytes,
          info: {
            name: partName, dtype, shape: [n, dim], byteLength: n * dim * dtypeSize(dtype),
            ...(quantized ? { quantized: { type: quantized.type, storedBytes: n * rowBytes } } : {}),
          },
        });
        row += n;
      }
    }
    for (const [base, p] of pairs) {
      if (!p.values) throw new FormatError(name, `compressed tensor ${base}: missing ${base}${NM_VALUES_SUFFIX}`);
      if (!p.masks) throw new FormatError(name, `compressed tensor ${base}: missing ${base}${NM_MASKS_SUFFIX}`);
      const key = (k: string) => h.kv.get(`${NM_META_PREFIX}${base}.${k}`);
      if (key("pattern") === undefined) throw new FormatError(name, `compressed tensor ${base}: no ${NM_META_PREFIX}${base}.* metadata (pattern, axis, shape unknown)`);
      const meta = checkRecordedMeta(name, base, {
        version: key("version"), pattern: key("pattern"), axis: key("axis"), rows: key("rows"), cols: key("cols"), dtype: key("dtype"),
      });
      const values = p.values.t, masks = p.masks.t;
      const vd = dtypeOfGgml(values.type);
      if (!vd) throw new FormatError(name, `compressed tensor ${base}: values have type ${GGML_NAMES[values.type] ?? `#${values.type}`}, expected F32, F16 or BF16`);
      if (masks.type !== GGML_I8) throw new FormatError(name, `compressed tensor ${base}: masks have type ${GGML_NAMES[masks.type] ?? `#${masks.type}`}, expected I8`);
      const info = checkStoredPair(name, base, meta, { dtype: vd, shape: [...values.dims].reverse() }, { shape: [...masks.dims].reverse() });
      const canon = ggufToCanonical(base);
      if (!canon) throw new FormatError(name, `unexpected compressed tensor ${base} for a ${archName} model`);
      if (locations.has(canon)) throw new FormatError(name, `tensor ${base} is stored both dense and compressed`);
      locations.set(canon, {
        file: p.values.file, offset: p.values.dataOffset + values.offset, masks: { file: p.masks.file, offset: p.masks.dataOffset + masks.offset },
        info: { name: canon, dtype: vd, shape: [meta.rows, meta.cols], byteLength: meta.rows * meta.cols * dtypeSize(vd), compressed: info },
      });
    }
    for (const key of h.kv.keys()) {
      if (!key.startsWith(NM_META_PREFIX)) continue;
      const m = /^(.*)\.(version|pattern|axis|rows|cols|dtype)$/.exec(key.slice(NM_META_PREFIX.length));
      if (m && !pairs.has(m[1])) throw new FormatError(name, `metadata ${key} describes a compressed tensor ${m[1]} that the file does not contain`);
    }
    checkOverlaps(name, [...locations.values()]);
    return makeReader({
      format: "gguf",
      path: name,
      config,
      locations,
      metadata: {
        version: h.version, kv: h.kv, kvTypes: h.kvTypes, alignment: h.alignment, dataOffset: h.dataOffset, ggufArch: archName,
        ...(files.length > 1 ? { parts: files.map((f) => f.name) } : {}),
      },
      files,
    });
  } catch (e) {
    for (const f of files) await f.close();
    throw e;
  }
}

/** Options of readGGUF(). */
export interface ReadGGUFOptions {
  /**
   * Opens another part of a split model (llama.cpp's gguf-split: `name-00001-of-00003.gguf` and on), by
   * file name beside the first. Without it a split model is refused.
   */
  openPart?: (fileName: string) => Promise<RandomAccessFile>;
}

/** The numbered name of part `i` (0-based) of a split GGUF whose first part is `first`, or null if not split-named. */
export function ggufSplitPartName(first: string, i: number, count: number): string | null {
  const m = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i.exec(first);
  return m ? `${m[1]}-${String(i + 1).padStart(5, "0")}-of-${String(count).padStart(5, "0")}.gguf` : null;
}

/**
 * The other parts of a split GGUF (`split.count` > 1 in the first part, as llama.cpp's gguf-split writes
 * it: the metadata in the first part, every part with its own tensors and data section), each opened,
 * checked and appended to `opened` (so the caller closes them). Empty for a whole file.
 */
async function splitParts(
  file: RandomAccessFile, h: GGUFHeader, openPart: ReadGGUFOptions["openPart"], opened: RandomAccessFile[],
): Promise<{ file: RandomAccessFile; h: GGUFHeader }[]> {
  const count = h.kv.get("split.count");
  if (count === undefined) return [];
  const no = h.kv.get("split.no");
  if (typeof count !== "number" || !Number.isInteger(count) || count < 1 || count > 99999) {
    throw new FormatError(file.name, `metadata split.count = ${String(count)} is invalid`);
  }
  if (count === 1) return [];
  if (no !== 0) {
    const first = ggufSplitPartName(file.name.replace(/^.*[\\/]/, ""), 0, count);
    const which = typeof no === "number" ? `part ${no + 1}` : "a part (no split.no)";
    throw new FormatError(file.name, `is ${which} of a model split into ${count} files; open the first part${first ? ` (${first})` : ""}`);
  }
  const base = file.name.replace(/^.*[\\/]/, "");
  if (!openPart) throw new FormatError(file.name, `is split into ${count} files; open it by path (or give every part in memory) so that the others can be read`);
  const parts: { file: RandomAccessFile; h: GGUFHeader }[] = [];
  let tensors = h.tensors.length;
  for (let i = 1; i < count; i++) {
    const partName = ggufSplitPartName(base, i, count);
    if (!partName) throw new FormatError(file.name, `is split into ${count} files but is not named like one (NAME-00001-of-${String(count).padStart(5, "0")}.gguf)`);
    let part: RandomAccessFile;
    try {
      part = await openPart(partName);
    } catch (e) {
      throw new FormatError(file.name, `part ${i + 1} of ${count} (${partName}) cannot be opened: ${(e as Error).message}`);
    }
    opened.push(part);
    const ph = await parseGGUFHeader(part);
    if (ph.kv.get("split.no") !== i || ph.kv.get("split.count") !== count) {
      throw new FormatError(part.name, `is not part ${i + 1} of ${count} (its split.no is ${String(ph.kv.get("split.no"))}, split.count ${String(ph.kv.get("split.count"))})`);
    }
    tensors += ph.tensors.length;
    parts.push({ file: part, h: ph });
  }
  const total = h.kv.get("split.tensors.count");
  if (total !== undefined && total !== tensors) throw new FormatError(file.name, `split.tensors.count is ${String(total)} but the ${count} parts hold ${tensors} tensors`);
  return parts;
}

/** Gemma 2's and 3's settings beyond Gemma's, from their keys and llama.cpp's conventions (ggufGemmaSlidingLayers). */
function ggufGemma23(h: GGUFHeader, file: string, archName: string, c: ModelConfig): Partial<ModelConfig> {
  const cap = (key: string): number | undefined => {
    const v = numberKey(h, file, `${archName}.${key}`, 0);
    return v > 0 ? v : undefined;
  };
  const attnSoftcap = c.arch === "gemma2" ? cap("attn_logit_softcapping") : undefined, logitSoftcap = cap("final_logit_softcapping");
  const window = intKey(h, file, `${archName}.attention.sliding_window`, 0);
  // Newer converters may state the pattern (a period, or one flag per layer); otherwise llama.cpp's.
  const stated = h.kv.get(`${archName}.attention.sliding_window_pattern`);
  let slidingLayers: boolean[];
  if (stated === undefined) {
    slidingLayers = ggufGemmaSlidingLayers(c.arch, c.nLayers);
  } else if (typeof stated === "number") {
    const p = intKey(h, file, `${archName}.attention.sliding_window_pattern`);
    slidingLayers = periodicSlidingLayers(c.nLayers, p);
  } else if ((Array.isArray(stated) || ArrayBuffer.isView(stated)) && (stated as ArrayLike<unknown>).length === c.nLayers) {
    slidingLayers = Array.from(stated as ArrayLike<unknown>, (v) => v === true || v === 1);
  } else {
    throw new FormatError(file, `metadata ${archName}.attention.sliding_window_pattern must be a period or ${c.nLayers} flags`);
  }
  return {
    sandwichNorms: true,
    attnScale: ggufGemmaAttnScale(c),
    ...(attnSoftcap ? { attnSoftcap } : {}),
    ...(logitSoftcap ? { logitSoftcap } : {}),
    ...(window > 0 && slidingLayers.includes(true) ? { slidingWindow: window, ...(slidingLayers.every(Boolean) ? {} : { slidingLayers }) } : {}),
    ...(c.arch === "gemma3" && window > 0 ? { ropeLocalTheta: numberKey(h, file, `${archName}.rope.freq_base_swa`, GEMMA3_LOCAL_THETA) } : {}),
  };
}

/** Llama 3.1-style RoPE scaling: one f32 divisor per frequency, as llama.cpp stores it. */
const ROPE_FREQS = "rope_freqs.weight";

/** A tensor of headDim/2 f32 RoPE frequency divisors (rope_freqs, rope_factors_long/short). */
async function readRopeFactors(file: RandomAccessFile, dataOffset: number, t: GGUFTensorInfo, headDim: number, name: string): Promise<number[]> {
  const n = headDim / 2;
  if (t.type !== GGML_TYPE.f32 || t.dims.length !== 1 || t.dims[0] !== n) {
    throw new FormatError(name, `${t.name} must be F32 [${n}] (headDim / 2), got ${GGML_NAMES[t.type] ?? `#${t.type}`} [${t.dims.join(", ")}]`);
  }
  const b = await file.read(dataOffset + t.offset, 4 * n);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const factors = Array.from({ length: n }, (_, i) => dv.getFloat32(4 * i, true));
  const bad = factors.findIndex((v) => !(Number.isFinite(v) && v > 0));
  if (bad >= 0) throw new FormatError(name, `${t.name}[${bad}] = ${factors[bad]}: RoPE frequency factors must be finite and > 0`);
  return factors;
}

function intOr(h: GGUFHeader, key: string, fallback: number, vocab: number): number {
  const v = h.kv.get(key);
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v < vocab ? v : fallback;
}

function checkOverlaps(file: string, locs: TensorLocation[]): void {
  const byFile = new Map<RandomAccessFile, ReturnType<typeof storedRanges>>();
  for (const r of locs.flatMap(storedRanges)) {
    const list = byFile.get(r.file) ?? [];
    byFile.set(r.file, list);
    list.push(r);
  }
  for (const ranges of byFile.values()) {
    const sorted = ranges.sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) {
      const p = sorted[i - 1];
      if (p.end > sorted[i].start) throw new FormatError(file, `tensors ${p.what} and ${sorted[i].what} overlap`);
    }
  }
}

/** The vocabulary stored in GGUF `tokenizer.ggml.*`: SentencePiece ("llama") or byte-level BPE ("gpt2"). */
export interface GGUFVocab {
  /** Pieces as GGUF stores them (`▁` for spaces, `<0x0A>` for byte tokens). */
  tokens: string[];
  scores: ArrayLike<number>;
  /** llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  tokenTypes: ArrayLike<number>;
  bosId: number;
  eosId: number;
  unkId?: number;
  /** `tokenizer.ggml.model`, default "llama" (SentencePiece); "gpt2" is byte-level BPE. */
  model?: string;
  /** BPE merges ("a b", highest priority first), for "gpt2". */
  merges?: string[];
  /** `tokenizer.ggml.pre`: which pre-tokenizer a "gpt2" vocabulary expects (e.g. "llama-bpe", "qwen2"). */
  pre?: string;
  /**
   * `tokenizer.ggml.add_space_prefix`: whether SentencePiece text starts with a space (the "dummy
   * prefix"); absent means yes (Llama). Gemma's GGUFs say no.
   */
  addSpacePrefix?: boolean;
  /** `tokenizer.chat_template`: the Jinja chat template of an instruction model. */
  chatTemplate?: string;
  /** `tokenizer.ggml.eot_token_id` / `eom_token_id`: the tokens that end a turn or a message. */
  eotId?: number;
  eomId?: number;
}

/** Extra options of the GGUF writer. */
export interface GGUFWriteOptions extends WriteOptions {
  /** Vocabulary to embed so the file is self-contained. */
  vocab?: GGUFVocab;
  /** `general.name`. */
  name?: string;
  /** Extra metadata entries (strings, numbers as f32 unless integral u32, booleans). */
  extra?: Record<string, string | number | boolean>;
  /**
   * Matrices to store quantised (Q8_0, Q4_0 or Q6_K, per tensor name), instead of `dtype`: those whose
   * rows are whole blocks of the type (32 elements, 256 for Q6_K) and that are not stored compressed;
   * the others keep `dtype`.
   */
  quantize?: GgmlWriteType | ((name: string) => GgmlWriteType | undefined);
  /**
   * Tensors to store as the source stores them: ggml blocks of any type, copied bit for bit instead of
   * dequantised and written again (lossless and fast; for the matrices a pruning left alone).
   * `typeOf(name)` names the blocks' type, or undefined to write the tensor as the other options say;
   * `read(name)` gives the blocks when the tensor is written. A phi3 fused group is copied when all its
   * parts are, in the same type. Wins over `dtype` and `quantize`; compressed matrices are never copied.
   */
  copyBlocks?: { typeOf(name: string): string | undefined; read(name: string): Promise<Uint8Array> };
}

/** Why a config cannot be stored in GGUF, or null. */
export function ggufUnsupported(c: ModelConfig): string | null {
  const g23 = c.arch === "gemma2" || c.arch === "gemma3";
  if (g23) {
    const why = gemma23Unsupported(c);
    if (why) return `GGUF ${c.arch}: ${why}; keep this model as safetensors`;
  } else if (c.sandwichNorms || c.attnScale !== undefined || c.attnSoftcap !== undefined || c.logitSoftcap !== undefined || c.ropeLocalTheta !== undefined) {
    return `GGUF ${ggufArchName(c.arch, c.ropeLayout)} has no sandwich norms, attention scale, soft-capping or local RoPE (gemma2 and gemma3 have)`;
  }
  const layout = ggufRopeLayout(c.arch);
  if (isGgufPhi3(c)) {
    if (c.slidingLayers && !c.slidingLayers.every(Boolean)) return "GGUF phi3 slides every layer or none, not some";
    if (c.ropeScaling && c.ropeScaling.type !== "linear" && c.ropeScaling.type !== "longrope") return "GGUF phi3 has no Llama 3.1-style per-frequency RoPE factors";
  } else if (c.ropeScaling?.type === "longrope") {
    return `GGUF ${ggufArchName(c.arch, c.ropeLayout)} has no LongRoPE (phi3 has it, for a model in HF's half-rotation RoPE layout)`;
  } else if (c.ropeLayout !== layout) {
    return `GGUF ${ggufArchName(c.arch)} stores ${layout}-layout RoPE but the config is ${c.ropeLayout}; permute q/k first (convertModel does this)`;
  }
  if (isGemmaArch(c.arch)) {
    if (c.normPlusOne) return `GGUF ${c.arch} stores norms with the +1 baked in; add 1 to the norm weights and clear normPlusOne (convertModel does this)`;
    if (c.act !== "gelu_tanh" || Math.abs(c.embedScale - Math.sqrt(c.dim)) > 1e-6 * c.embedScale) return `GGUF ${c.arch} implies gelu_tanh and sqrt(dim) embedding scale`;
  } else {
    if (c.act !== "silu") return `GGUF ${c.arch} implies SiLU, not ${c.act}`;
    if (c.embedScale !== 1 || c.normPlusOne) return `GGUF ${c.arch} cannot represent embedding scaling or (1+w) norms`;
  }
  if (c.qkvBias && c.arch !== "qwen2") return `GGUF ${ggufArchName(c.arch, c.ropeLayout)} has no q/k/v biases`;
  if (!c.qkvBias && c.arch === "qwen2") return "qwen2 models carry q/k/v biases; qkvBias must be true";
  if (!!c.qkNorm !== (c.arch === "qwen3" || c.arch === "gemma3")) {
    return c.qkNorm ? `GGUF ${ggufArchName(c.arch, c.ropeLayout)} has no q/k norms` : `${c.arch} models normalise q and k per head; qkNorm must be true`;
  }
  return null;
}

/** What of a Gemma 2/3 config llama.cpp's conventions (ggufGemmaSlidingLayers) cannot express, or null. */
function gemma23Unsupported(c: ModelConfig): string | null {
  if (!c.sandwichNorms) return "sandwich norms are implied";
  const scale = ggufGemmaAttnScale(c);
  if (Math.abs((c.attnScale ?? 1 / Math.sqrt(c.headDim)) - scale) > 1e-6 * scale) {
    return `llama.cpp infers the attention scale 1/sqrt(${Math.round(1 / scale ** 2)}) for this shape, not ${c.attnScale}`;
  }
  if (c.arch === "gemma3" && c.attnSoftcap !== undefined) return "llama.cpp has no attention-score soft-capping for gemma3";
  if (c.slidingWindow !== undefined) {
    const pattern = ggufGemmaSlidingLayers(c.arch, c.nLayers);
    if (pattern.some((v, i) => v !== (c.slidingLayers?.[i] ?? true))) return `llama.cpp slides ${c.arch === "gemma2" ? "every second layer" : "five layers in six"}, not these`;
  }
  if (c.arch === "gemma3" && c.slidingWindow !== undefined && c.ropeLocalTheta !== GEMMA3_LOCAL_THETA) return `llama.cpp's gemma3 sliding layers take RoPE base ${GEMMA3_LOCAL_THETA}, not ${c.ropeLocalTheta}`;
  if (c.arch === "gemma2" && c.ropeLocalTheta !== undefined) return "llama.cpp's gemma2 has no separate RoPE base for its sliding layers";
  return null;
}

/** Serialises metadata for the writer. */
class Builder {
  private chunks: Uint8Array[] = [];
  length = 0;
  private enc = new TextEncoder();
  private push(b: Uint8Array) { this.chunks.push(b); this.length += b.byteLength; }
  private num(size: number, set: (dv: DataView) => void) {
    const b = new Uint8Array(size);
    set(new DataView(b.buffer));
    this.push(b);
  }
  u32(v: number) { this.num(4, (d) => d.setUint32(0, v, true)); }
  i32(v: number) { this.num(4, (d) => d.setInt32(0, v, true)); }
  f32(v: number) { this.num(4, (d) => d.setFloat32(0, v, true)); }
  u64(v: number) { this.num(8, (d) => d.setBigUint64(0, BigInt(v), true)); }
  u8(v: number) { this.num(1, (d) => d.setUint8(0, v)); }
  str(s: string) { const b = this.enc.encode(s); this.u64(b.byteLength); this.push(b); }
  bytes(b: Uint8Array) { this.push(b); }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let p = 0;
    for (const c of this.chunks) { out.set(c, p); p += c.byteLength; }
    return out;
  }
}

type KV = [string, GGUFType, number | string | boolean | string[] | ArrayLike<number>, GGUFType?];

function writeKV(b: Builder, [key, type, value, itemType]: KV): void {
  b.str(key);
  b.u32(type);
  const scalar = (t: GGUFType, v: number | string | boolean) => {
    switch (t) {
      case GGUFType.U32: b.u32(v as number); break;
      case GGUFType.I32: b.i32(v as number); break;
      case GGUFType.F32: b.f32(v as number); break;
      case GGUFType.BOOL: b.u8(v ? 1 : 0); break;
      case GGUFType.STRING: b.str(v as string); break;
      default: throw new ArgumentError("metadata", `writer does not emit type ${t}`);
    }
  };
  if (type !== GGUFType.ARRAY) { scalar(type, value as number | string | boolean); return; }
  const arr = value as ArrayLike<number | string>;
  b.u32(itemType!);
  b.u64(arr.length);
  if (itemType === GGUFType.F32 || itemType === GGUFType.I32) {
    const typed = itemType === GGUFType.F32 ? Float32Array.from(arr as ArrayLike<number>) : Int32Array.from(arr as ArrayLike<number>);
    b.bytes(new Uint8Array(typed.buffer));
  } else {
    for (let i = 0; i < arr.length; i++) scalar(itemType!, arr[i]);
  }
}

/**
 * Writes a GGUF v3 file (alignment 32) from a config and a tensor source, streaming tensor by tensor.
 * Matrices use the requested dtype; 1-D tensors (norms, biases) are always F32, as llama.cpp expects.
 * GGUF llama/qwen2/qwen3 have no sliding window: a model with one is written with its context cut to
 * the window, where it is exact.
 */
export async function writeGGUF(
  out: string | OutputFolder,
  model: ModelConfig,
  tensors: TensorSource,
  opts: GGUFWriteOptions = {},
): Promise<string> {
  checkConfigArg(model);
  const config = ggufKeepsWindow(model) ? model : fullAttentionConfig(model);
  const why = ggufUnsupported(config);
  if (why) throw new ArgumentError("config", why);
  const arch = ggufArchName(config.arch, config.ropeLayout);
  const specs = ggufTensorSpecs(config, arch, opts.compress).map((spec) => {
    const dtype = spec.shape.length === 1 ? "f32" as const : dtypeFor(opts, spec.parts?.[0].name ?? spec.name);
    const nm = spec.parts ? undefined : compressTarget(opts.compress, spec.name, spec.shape);
    const q = typeof opts.quantize === "function" ? opts.quantize(spec.parts?.[0].name ?? spec.name) : opts.quantize;
    if (q !== undefined && !GGML_WRITE_TYPES.includes(q)) throw new ArgumentError("quantize", `${JSON.stringify(q)} is not one of ${GGML_WRITE_TYPES.join(", ")}`);
    const copy = nm ? undefined : copiedType(opts.copyBlocks, spec);
    const quant = copy ?? (q && !nm && spec.shape.length === 2 && spec.shape[1] % ggmlWriteBlock(q) === 0 ? ggmlWriteType(q) : undefined);
    return { spec, dtype, nm, quant, copy: copy !== undefined };
  });
  const kvs: KV[] = [
    ["general.architecture", GGUFType.STRING, arch],
    ["general.name", GGUFType.STRING, opts.name ?? "dass-wasm model"],
    ["general.alignment", GGUFType.U32, DEFAULT_ALIGNMENT],
    ["general.file_type", GGUFType.U32, fileType(specs.filter((s) => s.spec.shape.length > 1))],
    [`${arch}.context_length`, GGUFType.U32, config.seqLen],
    [`${arch}.embedding_length`, GGUFType.U32, config.dim],
    [`${arch}.block_count`, GGUFType.U32, config.nLayers],
    [`${arch}.feed_forward_length`, GGUFType.U32, config.hiddenDim],
    [`${arch}.attention.head_count`, GGUFType.U32, config.nHeads],
    [`${arch}.attention.head_count_kv`, GGUFType.U32, config.nKvHeads],
    [`${arch}.attention.key_length`, GGUFType.U32, config.headDim],
    [`${arch}.attention.value_length`, GGUFType.U32, config.headDim],
    [`${arch}.rope.dimension_count`, GGUFType.U32, config.headDim],
    [`${arch}.rope.freq_base`, GGUFType.F32, config.ropeTheta],
    [`${arch}.attention.layer_norm_rms_epsilon`, GGUFType.F32, config.normEps],
    [`${arch}.vocab_size`, GGUFType.U32, config.vocabSize],
  ];
  if (config.ropeScaling?.type === "linear") {
    kvs.push([`${arch}.rope.scaling.type`, GGUFType.STRING, "linear"], [`${arch}.rope.scaling.factor`, GGUFType.F32, config.ropeScaling.factor]);
  }
  if (config.ropeScaling?.type === "longrope") {
    kvs.push(
      [`${arch}.rope.scaling.attn_factor`, GGUFType.F32, config.ropeScaling.attentionFactor],
      [`${arch}.rope.scaling.original_context_length`, GGUFType.U32, config.ropeScaling.originalContext],
    );
  }
  if (config.attnSoftcap !== undefined) kvs.push([`${arch}.attn_logit_softcapping`, GGUFType.F32, config.attnSoftcap]);
  if (config.logitSoftcap !== undefined) kvs.push([`${arch}.final_logit_softcapping`, GGUFType.F32, config.logitSoftcap]);
  if (config.slidingWindow !== undefined) kvs.push([`${arch}.attention.sliding_window`, GGUFType.U32, config.slidingWindow]);
  if (config.ropeLocalTheta !== undefined) kvs.push([`${arch}.rope.freq_base_swa`, GGUFType.F32, config.ropeLocalTheta]);
  const v = opts.vocab;
  if (v) {
    if (v.tokens.length !== config.vocabSize || v.scores.length !== config.vocabSize || v.tokenTypes.length !== config.vocabSize) {
      throw new ArgumentError("vocab", `vocabulary has ${v.tokens.length} tokens / ${v.scores.length} scores / ${v.tokenTypes.length} types, the model has ${config.vocabSize}`);
    }
    kvs.push(
      ["tokenizer.ggml.model", GGUFType.STRING, v.model ?? "llama"],
      ["tokenizer.ggml.tokens", GGUFType.ARRAY, v.tokens, GGUFType.STRING],
      ["tokenizer.ggml.scores", GGUFType.ARRAY, v.scores, GGUFType.F32],
      ["tokenizer.ggml.token_type", GGUFType.ARRAY, v.tokenTypes, GGUFType.I32],
      ["tokenizer.ggml.bos_token_id", GGUFType.U32, v.bosId],
      ["tokenizer.ggml.eos_token_id", GGUFType.U32, v.eosId],
    );
    if (v.unkId !== undefined) kvs.push(["tokenizer.ggml.unknown_token_id", GGUFType.U32, v.unkId]);
    if (v.pre !== undefined) kvs.push(["tokenizer.ggml.pre", GGUFType.STRING, v.pre]);
    if (v.merges !== undefined) kvs.push(["tokenizer.ggml.merges", GGUFType.ARRAY, v.merges, GGUFType.STRING]);
    if (v.addSpacePrefix !== undefined) kvs.push(["tokenizer.ggml.add_space_prefix", GGUFType.BOOL, v.addSpacePrefix]);
    if (v.eotId !== undefined) kvs.push(["tokenizer.ggml.eot_token_id", GGUFType.U32, v.eotId]);
    if (v.eomId !== undefined) kvs.push(["tokenizer.ggml.eom_token_id", GGUFType.U32, v.eomId]);
    if (v.chatTemplate !== undefined) kvs.push(["tokenizer.chat_template", GGUFType.STRING, v.chatTemplate]);
  } else {
    if (config.bosId >= 0) kvs.push(["tokenizer.ggml.bos_token_id", GGUFType.U32, config.bosId]);
    if (config.eosId >= 0) kvs.push(["tokenizer.ggml.eos_token_id", GGUFType.U32, config.eosId]);
  }
  // Tensor infos in file order: a compressed matrix becomes its values and masks tensors.
  const infos: { name: string; dims: number[]; type: number; bytes: number }[] = [];
  for (const { spec, dtype, nm, quant } of specs) {
    const g = spec.gguf;
    if (quant) {
      infos.push({ name: g, dims: [...spec.shape].reverse(), type: quant.id, bytes: (numel(spec.shape) / quant.blockElems) * quant.blockBytes });
      continue;
    }
    if (!nm) {
      infos.push({ name: g, dims: [...spec.shape].reverse(), type: GGML_TYPE[dtype], bytes: numel(spec.shape) * dtypeSize(dtype) });
      continue;
    }
    if (spec.shape.length !== 2) throw new ArgumentError("compress", `${spec.name} has shape [${spec.shape}]: only matrices can be stored compressed`);
    const info = nmStorageInfo(spec.shape[0], spec.shape[1], nm, dtype);
    infos.push(
      { name: g + NM_VALUES_SUFFIX, dims: [info.valueCount], type: GGML_TYPE[dtype], bytes: info.valueBytes },
      { name: g + NM_MASKS_SUFFIX, dims: [info.maskBytes], type: GGML_I8, bytes: info.maskBytes },
    );
    const key = (k: string) => `${NM_META_PREFIX}${g}.${k}`;
    kvs.push(
      [key("version"), GGUFType.U32, info.version],
      [key("pattern"), GGUFType.STRING, `${info.n}:${info.m}`],
      [key("axis"), GGUFType.STRING, info.axis],
      [key("rows"), GGUFType.U32, info.rows],
      [key("cols"), GGUFType.U32, info.cols],
      [key("dtype"), GGUFType.STRING, nmDTypeName(dtype)],
    );
  }
  for (const [k, val] of Object.entries(opts.extra ?? {})) {
    if (kvs.some((e) => e[0] === k)) throw new ArgumentError("extra", `metadata key ${k} is written by the writer itself`);
    if (k.startsWith(NM_META_PREFIX)) throw new ArgumentError("extra", `keys starting with ${NM_META_PREFIX} are reserved for compressed matrices (${k})`);
    const t = typeof val === "string" ? GGUFType.STRING : typeof val === "boolean" ? GGUFType.BOOL
      : Number.isInteger(val) && val >= 0 && val <= 0xffffffff ? GGUFType.U32 : GGUFType.F32;
    kvs.push([k, t, val]);
  }
  // Llama 3.1-style scaling goes as llama.cpp stores it: per-frequency divisors in a rope_freqs tensor;
  // LongRoPE as two such tensors (phi3 only, ggufUnsupported checks).
  const rs = config.ropeScaling;
  const ropeFactors: [string, readonly number[]][] = rs?.type === "llama3" ? [[ROPE_FREQS, llama3RopeFactors(config.headDim, config.ropeTheta, rs)]]
    : rs?.type === "factors" ? [[ROPE_FREQS, rs.factors]]
    : rs?.type === "longrope" ? [[PHI3_LONGROPE.long, rs.longFactors], [PHI3_LONGROPE.short, rs.shortFactors]] : [];
  for (const [tensor, v] of ropeFactors) infos.push({ name: tensor, dims: [v.length], type: GGML_TYPE.f32, bytes: 4 * v.length });
  const b = new Builder();
  b.u32(GGUF_MAGIC);
  b.u32(3);
  b.u64(infos.length);
  b.u64(kvs.length);
  for (const kv of kvs) writeKV(b, kv);
  let offset = 0;
  for (const t of infos) {
    b.str(t.name);
    b.u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(t.type);
    b.u64(offset);
    offset += align(t.bytes);
  }
  const header = b.concat();
  const target = await singleFileTarget(out, opts, "model.gguf");
  await writeAtomically(target.folder, target.fileName, opts.signal, async (w) => {
    await w.write(header);
    await w.write(zeros(align(header.byteLength) - header.byteLength));
    const put = async (bytes: Uint8Array) => {
      await w.write(bytes);
      const pad = align(bytes.byteLength) - bytes.byteLength;
      if (pad) await w.write(zeros(pad));
    };
    for (const { spec, dtype, nm, quant, copy } of specs) {
      if (opts.signal?.aborted) throw new AbortError();
      if (copy) {
        const blocks: Uint8Array[] = [];
        for (const p of spec.parts ?? [spec]) blocks.push(await opts.copyBlocks!.read(p.name));
        const got = blocks.reduce((n, b) => n + b.byteLength, 0), want = (numel(spec.shape) / quant!.blockElems) * quant!.blockBytes;
        if (got !== want) throw new ArgumentError("copyBlocks", `${spec.name}: ${got} bytes of ${quant!.name} blocks, its shape [${spec.shape}] needs ${want}`);
        for (const b of blocks) await w.write(b);
        const pad = align(got) - got;
        if (pad) await w.write(zeros(pad));
        continue;
      }
      // Quantised matrices go through f32 (rows are independent, so a fused matrix quantises as its parts).
      const stored = quant ? "f32" : dtype;
      let bytes: Uint8Array;
      if (spec.parts) {
        const parts: Uint8Array[] = [];
        for (const p of spec.parts) parts.push(tensorBytes(p, await tensors(p.name), stored));
        bytes = new Uint8Array(parts.reduce((s, b) => s + b.byteLength, 0));
        parts.reduce((o, b) => (bytes.set(b, o), o + b.byteLength), 0);
      } else {
        const data = await tensors(spec.name);
        if (nm) {
          const enc = encodeForStorage(spec.name, data, spec.shape, nm, dtype);
          await put(enc.values);
          await put(enc.masks);
          continue;
        }
        bytes = tensorBytes(spec, data, stored);
      }
      await put(quant ? quantizeMatrix(spec.name, bytes, quant.name as GgmlWriteType) : bytes);
    }
    for (const [, v] of ropeFactors) await put(new Uint8Array(Float32Array.from(v).buffer));
  });
  return target.display;
}

function align(n: number): number {
  return Math.ceil(n / DEFAULT_ALIGNMENT) * DEFAULT_ALIGNMENT;
}

// llama.cpp's llama_ftype of a file whose main type is this one (the k-quants as their usual _M mixes).
const FILE_TYPE: Record<string, number> = {
  f32: 0, f16: 1, bf16: 32, Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9, Q2_K: 10, Q3_K: 12, Q4_K: 15, Q5_K: 17, Q6_K: 18,
  IQ4_NL: 25, IQ4_XS: 30,
};

/** general.file_type: the type of the first matrix, as llama.cpp names a file by its main type. */
function fileType(matrices: { dtype: TensorDType; quant?: GgmlQuantType }[]): number {
  const first = matrices[0];
  return FILE_TYPE[first?.quant?.name ?? first?.dtype ?? "f32"] ?? 0;
}

/** The ggml type a tensor (or every part of a fused one) is copied in, if copyBlocks offers one that fits its rows. */
function copiedType(copy: GGUFWriteOptions["copyBlocks"], spec: { name: string; shape: readonly number[]; parts?: readonly { name: string }[] }): GgmlQuantType | undefined {
  if (!copy) return undefined;
  const types = new Set((spec.parts ?? [spec]).map((p) => copy.typeOf(p.name)));
  const [name] = types;
  const t = types.size === 1 && name !== undefined ? ggmlQuantTypeNamed(name) : undefined;
  return t && spec.shape[spec.shape.length - 1] % t.blockElems === 0 ? t : undefined;
}

/** The f32 bytes of a matrix, quantised; a non-finite weight or an f16-overflowing block scale is an ArgumentError. */
function quantizeMatrix(name: string, f32: Uint8Array, type: GgmlWriteType): Uint8Array {
  const x = new Float32Array(f32.buffer, f32.byteOffset, f32.byteLength / 4);
  const bad = x.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new ArgumentError("tensors", `${name}[${bad}] = ${x[bad]} cannot be quantised to ${type}`);
  try {
    return quantizeGgml(type, x);
  } catch (e) {
    throw new ArgumentError("tensors", `${name}: ${(e as Error).message}`);
  }
}

/** A tensor as the GGUF file holds it: one canonical tensor, or (phi3) the canonical row blocks it fuses. */
type GGUFTensorSpec = TensorSpec & { gguf: string; parts?: TensorSpec[] };

/** The tensors of a GGUF file of `arch` in file order: phi3 fuses q/k/v and gate/up (PHI3_FUSED). */
function ggufTensorSpecs(config: ModelConfig, arch: string, compress: CompressSpec | undefined): GGUFTensorSpec[] {
  const specs = expectedTensors(config);
  if (arch !== "phi3") return specs.map((spec) => ({ ...spec, gguf: canonicalToGGUF(spec.name) }));
  const byName = new Map(specs.map((t) => [t.name, t]));
  const out: GGUFTensorSpec[] = [];
  for (const spec of specs) {
    const m = /^layers\.(\d+)\.(attn\.[qkv]|mlp\.gate|mlp\.up)$/.exec(spec.name);
    if (!m) { out.push({ ...spec, gguf: canonicalToGGUF(spec.name) }); continue; }
    if (m[2] !== "attn.q" && m[2] !== "mlp.gate") continue;
    const [gguf, split] = m[2] === "attn.q" ? ["attn_qkv.weight", PHI3_FUSED["attn_qkv.weight"]] : ["ffn_up.weight", PHI3_FUSED["ffn_up.weight"]];
    const parts = split(config).map(([suffix]) => byName.get(`layers.${m[1]}.${suffix}`)!);
    // Compressed parts are stored apart under their own names (only dass reads compressed files), all
    // of a fused group or none, since a dense ffn_up or attn_qkv holds the whole group.
    const compressed = parts.filter((p) => compressTarget(compress, p.name, p.shape)).length;
    if (compressed === parts.length) {
      for (const p of parts) out.push({ ...p, gguf: canonicalToGGUF(p.name) });
      continue;
    }
    if (compressed > 0) {
      throw new ArgumentError("compress", `GGUF phi3 fuses ${parts.map((p) => p.name).join(", ")} into ${gguf}: compress all of them or none`);
    }
    out.push({ name: `layers.${m[1]}.${gguf}`, shape: [parts.reduce((s, p) => s + p.shape[0], 0), config.dim], gguf: `blk.${m[1]}.${gguf}`, parts });
  }
  return out;
}

/** Reads the vocabulary from a GGUF reader or header key/values, or null when it has none. */
export function ggufVocab(source: ModelReader | Map<string, GGUFValue>): GGUFVocab | null {
  const kv = source instanceof Map ? source : (source.metadata.kv as Map<string, GGUFValue> | undefined);
  if (!kv) return null;
  const tokens = kv.get("tokenizer.ggml.tokens");
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== "string")) return null;
  const n = tokens.length;
  const scoresV = kv.get("tokenizer.ggml.scores");
  const typesV = kv.get("tokenizer.ggml.token_type");
  const scores = scoresV instanceof Float32Array && scoresV.length === n ? scoresV : new Float32Array(n);
  const types = ArrayBuffer.isView(typesV) && (typesV as Int32Array).length === n ? Array.from(typesV as Int32Array, Number) : new Array<number>(n).fill(1);
  const num = (k: string, d: number) => { const x = kv.get(k); return typeof x === "number" && x >= 0 && x < n ? x : d; };
  const model = kv.get("tokenizer.ggml.model");
  const merges = kv.get("tokenizer.ggml.merges");
  const pre = kv.get("tokenizer.ggml.pre");
  const space = kv.get("tokenizer.ggml.add_space_prefix");
  const chatTemplate = kv.get("tokenizer.chat_template");
  const optionalId = (k: string): number | undefined => { const x = kv.get(k); return typeof x === "number" && Number.isInteger(x) && x >= 0 && x < n ? x : undefined; };
  const eotId = optionalId("tokenizer.ggml.eot_token_id"), eomId = optionalId("tokenizer.ggml.eom_token_id");
  return {
    tokens: tokens as string[],
    scores,
    tokenTypes: types,
    bosId: num("tokenizer.ggml.bos_token_id", 1),
    eosId: num("tokenizer.ggml.eos_token_id", 2),
    unkId: num("tokenizer.ggml.unknown_token_id", 0),
    model: typeof model === "string" ? model : "llama",
    ...(Array.isArray(merges) && merges.every((m) => typeof m === "string") ? { merges: merges as string[] } : {}),
    ...(typeof pre === "string" ? { pre } : {}),
    ...(typeof space === "boolean" ? { addSpacePrefix: space } : {}),
    ...(typeof chatTemplate === "string" ? { chatTemplate } : {}),
    ...(eotId !== undefined ? { eotId } : {}),
    ...(eomId !== undefined ? { eomId } : {}),
  };
}

/**
 * A GGUF writer's copyBlocks over a reader's stored quantised blocks (none for readers without any),
 * for the tensors `unchanged` accepts; `onRead` is told of each tensor read.
 */
export function storedBlocks(
  reader: ModelReader, unchanged: (name: string) => boolean = () => true, onRead?: (name: string) => void,
): GGUFWriteOptions["copyBlocks"] {
  const readBlocks = reader.readBlocks?.bind(reader);
  if (!readBlocks) return undefined;
  return {
    typeOf: (name) => (unchanged(name) ? reader.tensors.get(name)?.quantized?.type : undefined),
    read: async (name) => {
      const { bytes } = await readBlocks(name);
      onRead?.(name);
      return bytes;
    },
  };
}
