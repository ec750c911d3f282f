/**
 * Format conversion: re-layouts a model for the target container (RoPE permutation of q/k, Gemma's +1 norm
 * convention) and streams it tensor by tensor, so models larger than memory convert fine.
 */
import { ArgumentError } from "../errors.js";
import { fullAttentionConfig, isGemmaArch, type ModelConfig, type TensorDType } from "../model/config.js";
import type { OutputFolder } from "./file.js";
import { ggufKeepsWindow, ggufRopeLayout, ggufUnsupported, ggufVocab, storedBlocks, writeGGUF, type GGUFVocab } from "./gguf.js";
import { llama2cUnsupported, writeLlama2c } from "./llama2c.js";
import { readerInputPaths, type ModelFormat, type ModelReader } from "./reader.js";
import { permuteQK, type PermuteDirection } from "./rope-permute.js";
import { HF_SIDE_FILES, hfUnsupported, isPhi3Config, writeSafetensors } from "./safetensors.js";
import { ggufBpeTokenizerFiles, GGUFTokenizer } from "../tokenizers/gguf.js";
import { toHFTokenizerFiles } from "../tokenizers/tokenizer-json.js";
import type { TensorData, TensorSource } from "./writer.js";
import type { CompressSpec, NMPatternSpec } from "../sparse/storage.js";
import { keptQuantType, type GgmlWriteType } from "./ggml-quantize.js";

/** Options of `convertModel`. */
export interface ConvertOptions {
  /** Storage dtype of matrices in the output; default: keep each tensor's dtype (f32 for llama2.c). */
  dtype?: TensorDType;
  /**
   * GGUF only: matrices to store quantised (see GGUFWriteOptions.quantize). Default, unless `dtype` is
   * given: a GGUF input's quantised matrices are copied as stored (any type) where the conversion does
   * not change them, and keep their type if Q8_0, Q4_0 or Q6_K where it does (others become f32); null:
   * none quantised.
   */
  quantize?: GgmlWriteType | null;
  /** Vocabulary for a GGUF output (default: the source GGUF's own). */
  vocab?: GGUFVocab;
  /**
   * Side files for an HF output (default: the tokenizer files of a source HF folder, or tokenizer.json
   * converted from a source GGUF's vocabulary).
   */
  extraFiles?: Record<string, Uint8Array>;
  /** File name when `out` is an in-memory folder (single-file formats). */
  fileName?: string;
  /**
   * Compressed N:M matrices in the output: "keep" (default) stores the ones the input stores
   * compressed compressed again (GGUF, safetensors; a llama2.c output gets them dense), "none"
   * writes every matrix dense, or an explicit CompressSpec.
   */
  compress?: "keep" | "none" | CompressSpec;
  signal?: AbortSignal;
}

// Every norm weight: GGUF's Gemmas store each with its +1 baked in (q/k and sandwich norms too).
const NORMS = /^(norm|layers\.\d+\.(attn_norm|ffn_norm|attn_post_norm|ffn_post_norm|attn\.q_norm|attn\.k_norm))$/;


/** Whether a model is a Phi-3 (an HF Phi3ForCausalLM folder or a GGUF phi3 file). */
export function isPhi3Source(reader: ModelReader): boolean {
  if (reader.format === "gguf") return reader.metadata.ggufArch === "phi3";
  const hf = reader.metadata.hfConfig as Record<string, unknown> | undefined;
  return reader.format === "safetensors" && !!hf && isPhi3Config(hf);
}

/**
 * The config a model takes on in the target format (layout and norm convention), or why it cannot. A
 * Phi-3 (`phi3`) goes to GGUF as llama.cpp's phi3, which keeps HF's RoPE layout and the window.
 */
export function targetConfig(src: ModelConfig, to: ModelFormat, phi3 = false): ModelConfig {
  const c: ModelConfig = { ...src };
  if (to === "llama2c") c.ropeLayout = "adjacent";
  else if (to === "gguf") c.ropeLayout = phi3 && (src.arch === "llama" || src.arch === "mistral") ? "half" : ggufRopeLayout(src.arch);
  else c.ropeLayout = "half";
  if (isGemmaArch(src.arch)) c.normPlusOne = to === "safetensors";
  const why = to === "llama2c" ? llama2cUnsupported(c) : to === "gguf" ? ggufUnsupported(c) : hfUnsupported(c);
  if (why) throw new ArgumentError("to", `cannot convert this ${src.arch} model to ${to}: ${why}`);
  return c;
}

/**
 * A tensor source reading from `reader` and transforming each tensor into the layout of `target`.
 * Tensors that need no change are passed through as raw bytes (bit-exact).
 */
export function convertingSource(reader: ModelReader, target: ModelConfig): TensorSource {
  const src = reader.config;
  const permute: PermuteDirection | null =
    src.ropeLayout === target.ropeLayout ? null : src.ropeLayout === "adjacent" ? "adjacent-to-half" : "half-to-adjacent";
  const normShift = src.normPlusOne === target.normPlusOne ? 0 : src.normPlusOne ? 1 : -1;
  return async (name: string): Promise<TensorData> => {
    const m = /^layers\.\d+\.attn\.(q|k)(_bias)?$/.exec(name);
    if (permute && m) {
      const heads = m[1] === "q" ? src.nHeads : src.nKvHeads;
      const raw = await reader.readRaw(name);
      if (raw.dtype === "f32") {
        const f = new Float32Array(raw.bytes.buffer, raw.bytes.byteOffset, raw.bytes.byteLength / 4);
        return permuteQK(f, heads, src.headDim, permute);
      }
      const h = new Uint16Array(raw.bytes.buffer, raw.bytes.byteOffset, raw.bytes.byteLength / 2);
      const p = permuteQK(h, heads, src.headDim, permute);
      return { dtype: raw.dtype, bytes: new Uint8Array(p.buffer) };
    }
    if (normShift !== 0 && NORMS.test(name)) {
      const f = await reader.readTensor(name);
      for (let i = 0; i < f.length; i++) f[i] = f[i] + normShift;
      return f;
    }
    return reader.readRaw(name);
  };
}

/**
 * The context length a conversion to `to` keeps. Formats without sliding windows (llama2.c, GGUF llama,
 * qwen2, qwen3) hold a windowed model only up to its window, where it is exact.
 */
export function convertedContext(reader: ModelReader, to: ModelFormat): number {
  const target = targetConfig(reader.config, to, isPhi3Source(reader));
  const keeps = to === "safetensors" || (to === "gguf" && ggufKeepsWindow(target));
  return keeps ? target.seqLen : fullAttentionConfig(target).seqLen;
}

/**
 * Converts an opened model to another format. `out` is a file path (llama2c, gguf), a folder path
 * (safetensors), or an in-memory OutputFolder. Refuses to overwrite the input. Returns what was written.
 */
export async function convertModel(
  reader: ModelReader,
  to: ModelFormat,
  out: string | OutputFolder,
  opts: ConvertOptions = {},
): Promise<string> {
  if (to !== "llama2c" && to !== "gguf" && to !== "safetensors") throw new ArgumentError("to", `unknown format ${JSON.stringify(to)}`);
  if (opts.quantize && to !== "gguf") throw new ArgumentError("quantize", `only GGUF holds quantised matrices, not ${to}`);
  const target = targetConfig(reader.config, to, isPhi3Source(reader));
  const source = convertingSource(reader, target);
  const dtype = (name: string): TensorDType => opts.dtype ?? reader.tensors.get(name)?.dtype ?? "f32";
  const mode = opts.compress ?? "keep";
  let compress: CompressSpec | undefined;
  if (mode === "keep") {
    const permuting = reader.config.ropeLayout !== target.ropeLayout;
    compress = (name: string): NMPatternSpec | undefined => {
      const c = reader.tensors.get(name)?.compressed;
      if (!c) return undefined;
      // Permuting q/k rows would split output-axis groups: such a matrix is written dense.
      if (permuting && c.axis === "output" && /^layers\.\d+\.attn\.(q|k)$/.test(name)) return undefined;
      return { n: c.n, m: c.m, axis: c.axis };
    };
  } else if (mode !== "none") {
    compress = mode;
  }
  const common = { inputPaths: readerInputPaths(reader), signal: opts.signal, fileName: opts.fileName, compress };
  if (to === "llama2c") {
    // "keep" means "where the target can": llama2.c gets dense matrices; an explicit spec is refused there.
    return writeLlama2c(out, target, source, { ...common, compress: mode === "keep" ? undefined : compress });
  }
  if (to === "gguf") {
    const vocab = opts.vocab ?? (reader.format === "gguf" ? ggufVocab(reader) ?? undefined : undefined);
    const quantize = opts.quantize !== undefined ? opts.quantize ?? undefined
      : opts.dtype !== undefined ? undefined : (name: string) => keptQuantType(reader, name);
    // Unless a storage is asked for, a GGUF's quantised matrices go over as they are, when nothing
    // changes them (a RoPE layout change permutes q and k).
    const copyBlocks = opts.dtype === undefined && opts.quantize === undefined && reader.config.ropeLayout === target.ropeLayout
      ? storedBlocks(reader) : undefined;
    return writeGGUF(out, target, source, { ...common, dtype, vocab, quantize, copyBlocks });
  }
  let extraFiles = opts.extraFiles;
  if (!extraFiles && reader.format === "safetensors") {
    extraFiles = {};
    for (const f of HF_SIDE_FILES) {
      const b = await reader.readAuxFile(f);
      if (b) extraFiles[f] = b;
    }
  }
  if (!extraFiles && reader.format === "gguf") {
    // A GGUF's own vocabulary goes along as tokenizer.json, as GGUF outputs keep it.
    const v = ggufVocab(reader);
    if (v && (v.model ?? "llama") === "llama") extraFiles = toHFTokenizerFiles(new GGUFTokenizer(v));
    else if (v && v.model === "gpt2" && v.merges) extraFiles = ggufBpeTokenizerFiles(v);
    // transformers 4.47 and later keep the template in a file of its own, as here.
    if (extraFiles && v?.chatTemplate !== undefined) extraFiles["chat_template.jinja"] = new TextEncoder().encode(v.chatTemplate);
  }
  const hfConfig = reader.format === "safetensors" ? (reader.metadata.hfConfig as Record<string, unknown>) : undefined;
  return writeSafetensors(out, target, source, { ...common, dtype, extraFiles, hfConfig });
}

