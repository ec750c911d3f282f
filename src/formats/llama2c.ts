/**
 * llama2.c legacy ("version 0") checkpoints: 7 little-endian int32 header fields, then float32 weights grouped
 * by kind across layers (all attention norms, then all wq, ...), two unused freq_cis tables, and a separate
 * classifier only when the stored vocab size is negative.
 */
import { ArgumentError, FormatError } from "../errors.js";
import { expectedTensors, fullAttentionConfig, layerTensor, MAX_DIM, type LayerTensorSuffix, type ModelConfig } from "../model/config.js";
import { compressesAny } from "../sparse/storage.js";
import type { OutputFolder, RandomAccessFile } from "./file.js";
import { makeReader, type ModelReader, type TensorLocation } from "./reader.js";
import { checkConfigArg, singleFileTarget, streamTensors, writeAtomically, type TensorSource, type WriteOptions } from "./writer.js";

const HEADER_BYTES = 28;
// llama2.c's export.py writes this magic in its version 1/2 files; legacy files start with `dim` instead.
const V1_MAGIC = 0x616b3432;

/** The fields of a legacy llama2.c header. */
export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Stored value: negative means a separate classifier follows. */
  vocabSize: number;
  seqLen: number;
}

/** The defaults llama2.c's run.c hard-codes for every legacy checkpoint. */
export const LLAMA2C_FIXED = { ropeTheta: 10000, normEps: 1e-5, bosId: 1, eosId: 2 } as const;

type Group = { suffix: LayerTensorSuffix | null; name?: string; rows: number; cols: number; perLayer: boolean };

/** Weight groups in file order, with per-layer shapes. freq_cis tables are named so they can be skipped. */
function layout(c: ModelConfig): Group[] {
  const kv = c.nKvHeads * c.headDim;
  const q = c.nHeads * c.headDim;
  return [
    { suffix: null, name: "tok_embeddings", rows: c.vocabSize, cols: c.dim, perLayer: false },
    { suffix: "attn_norm", rows: 1, cols: c.dim, perLayer: true },
    { suffix: "attn.q", rows: q, cols: c.dim, perLayer: true },
    { suffix: "attn.k", rows: kv, cols: c.dim, perLayer: true },
    { suffix: "attn.v", rows: kv, cols: c.dim, perLayer: true },
    { suffix: "attn.o", rows: c.dim, cols: q, perLayer: true },
    { suffix: "ffn_norm", rows: 1, cols: c.dim, perLayer: true },
    { suffix: "mlp.gate", rows: c.hiddenDim, cols: c.dim, perLayer: true },
    { suffix: "mlp.down", rows: c.dim, cols: c.hiddenDim, perLayer: true },
    { suffix: "mlp.up", rows: c.hiddenDim, cols: c.dim, perLayer: true },
    { suffix: null, name: "norm", rows: 1, cols: c.dim, perLayer: false },
    { suffix: null, name: "#freq_cis_real", rows: c.seqLen, cols: c.headDim / 2, perLayer: false },
    { suffix: null, name: "#freq_cis_imag", rows: c.seqLen, cols: c.headDim / 2, perLayer: false },
    ...(c.tiedEmbeddings ? [] : [{ suffix: null, name: "output", rows: c.vocabSize, cols: c.dim, perLayer: false }]),
  ];
}

function isVector(g: Group): boolean {
  return g.rows === 1;
}

/** Parses and validates a legacy llama2.c header; exported for tests and format sniffing. */
export function parseLlama2cHeader(bytes: Uint8Array, fileName: string): Llama2cHeader {
  if (bytes.byteLength < HEADER_BYTES) throw new FormatError(fileName, `truncated: ${bytes.byteLength} bytes, a llama2.c header needs ${HEADER_BYTES}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const v = (i: number) => dv.getInt32(i * 4, true);
  if (dv.getUint32(0, true) === V1_MAGIC) {
    throw new FormatError(fileName, `llama2.c version ${v(1)} export (magic "ak42"); only legacy version-0 float32 checkpoints are supported`);
  }
  const h: Llama2cHeader = { dim: v(0), hiddenDim: v(1), nLayers: v(2), nHeads: v(3), nKvHeads: v(4), vocabSize: v(5), seqLen: v(6) };
  for (const [k, val] of Object.entries(h)) {
    const abs = k === "vocabSize" ? Math.abs(val) : val;
    if (abs < 1 || abs > MAX_DIM) throw new FormatError(fileName, `not a llama2.c checkpoint: header field ${k} = ${val} is out of range`);
  }
  if (h.dim % h.nHeads !== 0) throw new FormatError(fileName, `dim ${h.dim} is not divisible by n_heads ${h.nHeads}`);
  if (h.nHeads % h.nKvHeads !== 0) throw new FormatError(fileName, `n_heads ${h.nHeads} is not a multiple of n_kv_heads ${h.nKvHeads}`);
  if ((h.dim / h.nHeads) % 2 !== 0) throw new FormatError(fileName, `head size ${h.dim / h.nHeads} is odd`);
  return h;
}

/** The ModelConfig a legacy header implies (llama arch, adjacent RoPE, run.c's fixed constants). */
export function llama2cConfig(h: Llama2cHeader): ModelConfig {
  return {
    arch: "llama",
    dim: h.dim,
    hiddenDim: h.hiddenDim,
    nLayers: h.nLayers,
    nHeads: h.nHeads,
    nKvHeads: h.nKvHeads,
    headDim: h.dim / h.nHeads,
    vocabSize: Math.abs(h.vocabSize),
    seqLen: h.seqLen,
    normEps: LLAMA2C_FIXED.normEps,
    ropeTheta: LLAMA2C_FIXED.ropeTheta,
    ropeLayout: "adjacent",
    tiedEmbeddings: h.vocabSize > 0,
    qkvBias: false,
    act: "silu",
    embedScale: 1,
    normPlusOne: false,
    bosId: LLAMA2C_FIXED.bosId,
    eosId: LLAMA2C_FIXED.eosId,
  };
}

/** Opens a legacy llama2.c checkpoint. The file is owned by the reader and closed with it. */
export async function readLlama2c(file: RandomAccessFile): Promise<ModelReader> {
  try {
    const header = parseLlama2cHeader(await file.read(0, Math.min(HEADER_BYTES, file.size)), file.name);
    const config = llama2cConfig(header);
    const groups = layout(config);
    const implied = groups.reduce((s, g) => s + (g.perLayer ? config.nLayers : 1) * g.rows * g.cols * 4, HEADER_BYTES);
    if (file.size < implied) {
      throw new FormatError(file.name, `truncated: the header implies ${implied} bytes but the file has ${file.size}`);
    }
    if (file.size > implied) {
      throw new FormatError(file.name, `${file.size - implied} unexpected trailing bytes after the weights (header implies ${implied} bytes): not a legacy llama2.c checkpoint?`);
    }
    const locations = new Map<string, TensorLocation>();
    let offset = HEADER_BYTES;
    for (const g of groups) {
      const count = g.perLayer ? config.nLayers : 1;
      const bytesEach = g.rows * g.cols * 4;
      for (let l = 0; l < count; l++) {
        const name = g.suffix ? layerTensor(l, g.suffix) : g.name!;
        if (!name.startsWith("#")) {
          const shape = isVector(g) ? [g.cols] : [g.rows, g.cols];
          locations.set(name, { file, offset, info: { name, dtype: "f32", shape, byteLength: bytesEach } });
        }
        offset += bytesEach;
      }
    }
    return makeReader({ format: "llama2c", path: file.name, config, locations, metadata: { header }, files: [file] });
  } catch (e) {
    await file.close();
    throw e;
  }
}

/** Why a config cannot be stored as a legacy llama2.c checkpoint, or null when it can. */
export function llama2cUnsupported(c: ModelConfig): string | null {
  if (c.arch !== "llama" && c.arch !== "mistral") return `arch ${c.arch} cannot be stored in llama2.c format (it only holds llama-style models)`;
  if (c.qkvBias) return "llama2.c format cannot hold q/k/v biases";
  if (c.qkNorm) return "llama2.c format cannot hold q/k norms";
  if (c.act !== "silu") return `llama2.c format implies SiLU; ${c.act} cannot be represented`;
  if (c.normPlusOne || c.embedScale !== 1) return "llama2.c format cannot represent (1+w) norms or embedding scaling";
  if (c.ropeLayout !== "adjacent") return "llama2.c format uses adjacent-pair RoPE; permute q/k first (convertModel does this)";
  if (c.headDim * c.nHeads !== c.dim) return `llama2.c format requires headDim*nHeads = dim (${c.headDim}*${c.nHeads} != ${c.dim})`;
  if (c.ropeTheta !== LLAMA2C_FIXED.ropeTheta) return `llama2.c hard-codes RoPE theta 10000; this model uses ${c.ropeTheta}`;
  if (c.ropeScaling) return `llama2.c format cannot hold RoPE scaling (${c.ropeScaling.type})`;
  if (c.normEps !== LLAMA2C_FIXED.normEps) return `llama2.c hard-codes RMSNorm eps 1e-5; this model uses ${c.normEps}`;
  return null;
}

/**
 * The legacy freq_cis tables, as llama2.c's model.py computes them (float32 cos/sin of pos * theta^(-2i/d)).
 * run.c skips them, but older readers use them, so writers emit real values rather than zeros.
 */
function freqCis(c: ModelConfig, part: "real" | "imag"): Float32Array {
  const half = c.headDim / 2;
  const out = new Float32Array(c.seqLen * half);
  for (let i = 0; i < half; i++) {
    const freq = Math.fround(1 / Math.fround(Math.pow(c.ropeTheta, Math.fround((2 * i) / c.headDim))));
    for (let t = 0; t < c.seqLen; t++) {
      const a = Math.fround(t * freq);
      out[t * half + i] = part === "real" ? Math.cos(a) : Math.sin(a);
    }
  }
  return out;
}

/**
 * Writes a legacy llama2.c checkpoint (float32) from a config and a tensor source. Tensors are requested one
 * at a time in file order (by kind across layers). Returns the path or display name written. llama2.c has no
 * sliding window: a model with one is written with its context cut to the window, where it is exact.
 */
export async function writeLlama2c(
  out: string | OutputFolder,
  model: ModelConfig,
  tensors: TensorSource,
  opts: WriteOptions = {},
): Promise<string> {
  checkConfigArg(model);
  const config = fullAttentionConfig(model);
  const why = llama2cUnsupported(config);
  if (why) throw new ArgumentError("config", why);
  if (opts.dtype !== undefined && opts.dtype !== "f32" && typeof opts.dtype !== "function") {
    throw new ArgumentError("dtype", "llama2.c legacy checkpoints hold float32 only");
  }
  if (compressesAny(opts.compress, expectedTensors(config).map((t) => t.name))) {
    throw new ArgumentError(
      "compress",
      "llama2.c checkpoints are a fixed sequence of float32 arrays with no names or metadata, so they cannot hold " +
        "compressed N:M matrices; write GGUF (a .gguf file) or a Hugging Face safetensors folder instead, or store the pruned model dense",
    );
  }
  const target = await singleFileTarget(out, opts, "model.bin");
  await writeAtomically(target.folder, target.fileName, opts.signal, async (w) => {
    const header = new DataView(new ArrayBuffer(HEADER_BYTES));
    const fields = [config.dim, config.hiddenDim, config.nLayers, config.nHeads, config.nKvHeads,
      config.tiedEmbeddings ? config.vocabSize : -config.vocabSize, config.seqLen];
    fields.forEach((v, i) => header.setInt32(i * 4, v, true));
    await w.write(new Uint8Array(header.buffer));
    for (const g of layout(config)) {
      if (g.name?.startsWith("#")) {
        const t = freqCis(config, g.name === "#freq_cis_real" ? "real" : "imag");
        await w.write(new Uint8Array(t.buffer));
        continue;
      }
      const count = g.perLayer ? config.nLayers : 1;
      const specs = [];
      for (let l = 0; l < count; l++) {
        const name = g.suffix ? layerTensor(l, g.suffix) : g.name!;
        specs.push({ spec: { name, shape: isVector(g) ? [g.cols] : [g.rows, g.cols] }, dtype: "f32" as const });
      }
      await streamTensors(specs, tensors, opts.signal, (_s, bytes) => w.write(bytes));
    }
  });
  return target.display;
}
