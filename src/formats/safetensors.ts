/**
 * Hugging Face model folders: `config.json` plus `model.safetensors` or sharded
 * `model.safetensors.index.json` + shards, for Llama, Mistral, Qwen2, Qwen3, Gemma and Gemma 2 causal LMs (F32/F16/BF16).
 *
 * safetensors layout: u64 little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the data section that the
 * offsets are relative to.
 */
import { AbortError, ArgumentError, FormatError } from "../errors.js";
import { dtypeSize, expectedTensors, isGemmaArch, longropeAttentionFactor, MAX_DIM, numel, periodicSlidingLayers, ropeScalingProblem, type Arch, type ModelConfig, type RopeScaling, type TensorDType } from "../model/config.js";
import {
  checkStoredPair, compressTarget, encodeForStorage, nmMetadataJson, nmStorageInfo, NM_MASKS_SUFFIX, NM_META_PREFIX, NM_VALUES_SUFFIX,
  parseNMMetadataJson,
} from "../sparse/storage.js";
import { readSmallFile, type FileSource, type OutputFolder, type RandomAccessFile } from "./file.js";
import { makeReader, type ModelReader, type TensorLocation } from "./reader.js";
import { checkConfigArg, dtypeFor, folderTarget, tensorBytes, writeAtomically, type TensorSource, type WriteOptions } from "./writer.js";

/** The files of a Hugging Face folder besides config and weights that a written copy carries along. */
export const HF_SIDE_FILES: readonly string[] = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "tokenizer.model", "chat_template.jinja"];

/** Element types of safetensors entries: model tensors, plus U8 for compressed N:M masks. */
export type SafetensorsDType = TensorDType | "u8";

/** One entry of a safetensors header. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
}

/** Parsed safetensors header. */
export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Absolute offset of the data section. */
  dataOffset: number;
}

const MAX_HEADER = 256 * 1024 * 1024;
const ST_DTYPES: Record<string, SafetensorsDType> = { F32: "f32", F16: "f16", BF16: "bf16", U8: "u8" };
const ST_NAMES: Record<SafetensorsDType, string> = { f32: "F32", f16: "F16", bf16: "BF16", u8: "U8" };
const stSize = (d: SafetensorsDType): number => (d === "u8" ? 1 : dtypeSize(d));

/** Parses and validates a safetensors header; reads only the header bytes. */
export async function parseSafetensorsHeader(file: RandomAccessFile): Promise<SafetensorsHeader> {
  const fail = (msg: string): never => { throw new FormatError(file.name, msg); };
  if (file.size < 8) fail(`truncated: ${file.size} bytes, a safetensors file starts with an 8-byte header length`);
  const lenBytes = await file.read(0, 8);
  const len = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (len > BigInt(file.size - 8)) fail(`JSON header length ${len} is larger than the file (${file.size} bytes): truncated or not safetensors`);
  if (len > BigInt(MAX_HEADER)) fail(`JSON header length ${len} is absurd`);
  const n = Number(len);
  if (n < 2) fail(`JSON header length ${n} is too small`);
  const text = new TextDecoder("utf-8", { fatal: false }).decode(await file.read(8, n));
  if (text.trimStart()[0] !== "{") fail("header is not a JSON object: not a safetensors file");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) fail("header is not a JSON object");
  const dataOffset = 8 + n;
  const dataSize = file.size - dataOffset;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (!v || typeof v !== "object" || Array.isArray(v)) fail("__metadata__ is not an object");
      metadata = Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, String(x)]));
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== "object") fail(`tensor ${name}: entry is not an object`);
    const dtype = typeof e.dtype === "string" ? ST_DTYPES[e.dtype] : undefined;
    if (!dtype) fail(`tensor ${name}: unsupported dtype ${JSON.stringify(e.dtype)} (F32, F16 and BF16 are supported, and U8 for compressed N:M masks)`);
    if (!Array.isArray(e.shape) || e.shape.length > 8 || e.shape.some((d) => !Number.isInteger(d) || d < 0 || d > MAX_DIM * 64)) {
      fail(`tensor ${name}: invalid shape ${JSON.stringify(e.shape)}`);
    }
    const shape = e.shape as number[];
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((x) => !Number.isSafeInteger(x) || x < 0) || offs[0] > offs[1]) {
      fail(`tensor ${name}: invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [b, end] = offs as [number, number];
    const want = numel(shape) * stSize(dtype!);
    if (end - b !== want) fail(`tensor ${name}: shape [${shape}] x ${dtype} is ${want} bytes but data_offsets span ${end - b}`);
    if (end > dataSize) fail(`tensor ${name}: data_offsets [${b}, ${end}] run past the end of the data (${dataSize} bytes): truncated?`);
    entries.push({ name, dtype: dtype!, shape, offset: dataOffset + b, byteLength: want });
  }
  return { entries, metadata, dataOffset };
}

// Phi-3 is a Llama whose q/k/v and gate/up projections are stored fused (qkv_proj, gate_up_proj): it is
// read as llama (the fused tensors split by row ranges, no copy) and written back as LlamaForCausalLM,
// or as mistral / MistralForCausalLM when it has a sliding window.
const HF_ARCHS: Record<string, Arch> = {
  LlamaForCausalLM: "llama",
  Phi3ForCausalLM: "llama",
  MistralForCausalLM: "mistral",
  Qwen2ForCausalLM: "qwen2",
  Qwen3ForCausalLM: "qwen3",
  GemmaForCausalLM: "gemma",
  Gemma2ForCausalLM: "gemma2",
  Gemma3ForCausalLM: "gemma3",
  // Its language model (the vision tower is not read); written back as Gemma3ForCausalLM.
  Gemma3ForConditionalGeneration: "gemma3",
};
const MODEL_TYPES: Record<string, Arch> = {
  llama: "llama", phi3: "llama", mistral: "mistral", qwen2: "qwen2", qwen3: "qwen3", gemma: "gemma", gemma2: "gemma2", gemma3: "gemma3",
  gemma3_text: "gemma3",
};

/** Whether an HF config is Phi-3's (fused projections in its weights). */
export function isPhi3Config(cfg: Record<string, unknown>): boolean {
  const archs = cfg.architectures;
  return Array.isArray(archs) && archs.length > 0 ? archs[0] === "Phi3ForCausalLM" : cfg.model_type === "phi3";
}
const ARCH_CLASS: Record<Arch, string> = {
  llama: "LlamaForCausalLM", mistral: "MistralForCausalLM", qwen2: "Qwen2ForCausalLM", qwen3: "Qwen3ForCausalLM", gemma: "GemmaForCausalLM",
  gemma2: "Gemma2ForCausalLM", gemma3: "Gemma3ForCausalLM",
};
/** HF model_type of each arch's written class. */
const hfModelType = (a: Arch) => (a === "gemma3" ? "gemma3_text" : a);

/** Builds a ModelConfig from an HF `config.json` object. */
export function hfConfigToModelConfig(hfConfig: Record<string, unknown>, file: string): ModelConfig {
  const fail = (msg: string): never => { throw new FormatError(file, msg); };
  let cfg = hfConfig;
  const archs = cfg.architectures;
  let arch: Arch | undefined;
  if (Array.isArray(archs) && archs.length > 0) {
    arch = HF_ARCHS[String(archs[0])];
    if (!arch) fail(`unsupported architecture ${JSON.stringify(archs[0])} (supported: ${Object.keys(HF_ARCHS).join(", ")})`);
  } else if (typeof cfg.model_type === "string") {
    arch = MODEL_TYPES[cfg.model_type];
    if (!arch) fail(`unsupported model_type ${JSON.stringify(cfg.model_type)}`);
  } else {
    fail("config.json names neither architectures nor model_type");
  }
  const a = arch!;
  if (a === "gemma3") cfg = gemma3TextConfig(cfg, fail);
  const int = (k: string, fallback?: number): number => {
    const v = cfg[k];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      fail(`config.json lacks ${k}`);
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > MAX_DIM) fail(`config.json ${k} = ${JSON.stringify(v)} is out of range`);
    return v as number;
  };
  const num = (k: string, fallback: number): number => {
    const v = cfg[k];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) fail(`config.json ${k} = ${JSON.stringify(v)} is invalid`);
    return v as number;
  };
  const tokenId = (k: string): number => {
    const v = Array.isArray(cfg[k]) ? (cfg[k] as unknown[])[0] : cfg[k];
    return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : -1;
  };
  const seqLen = int("max_position_embeddings", 2048);
  const ropeScaling = hfRopeScaling(cfg, seqLen, fail);
  const prf = cfg.partial_rotary_factor;
  if (prf !== undefined && prf !== null && prf !== 1) fail(`partial_rotary_factor = ${JSON.stringify(prf)} (RoPE on part of each head) is not supported`);
  if (cfg.attention_bias === true && a !== "qwen2") fail("attention_bias = true (biases on all attention projections) is not supported");
  if (cfg.mlp_bias === true) fail("mlp_bias = true is not supported");
  let act: ModelConfig["act"] = "silu";
  if (isGemmaArch(a)) {
    // transformers runs Gemma with the tanh GELU whether config says "gelu" or "gelu_pytorch_tanh".
    const g = String(cfg.hidden_activation ?? cfg.hidden_act ?? "gelu_pytorch_tanh");
    if (!["gelu_pytorch_tanh", "gelu", "gelu_new"].includes(g)) fail(`Gemma activation ${g} is not supported`);
    act = "gelu_tanh";
  } else {
    const h = cfg.hidden_act ?? "silu";
    if (h !== "silu" && h !== "swish") fail(`hidden_act ${JSON.stringify(h)} is not supported (silu only)`);
  }
  const dim = int("hidden_size");
  const nHeads = int("num_attention_heads");
  const ropeParams = cfg.rope_parameters as { rope_theta?: number } | undefined;
  const vocabSize = int("vocab_size");
  const bos = tokenId("bos_token_id");
  const eos = tokenId("eos_token_id");
  const phi3 = isPhi3Config(cfg);
  const sliding = hfSliding(cfg, a, phi3, int("num_hidden_layers"), fail);
  return {
    // A Phi-3 with a window is the Mistral it then is (transformers' Llama has no sliding window).
    arch: phi3 && sliding.slidingWindow ? "mistral" : a,
    dim,
    hiddenDim: int("intermediate_size"),
    nLayers: int("num_hidden_layers"),
    nHeads,
    nKvHeads: int("num_key_value_heads", nHeads),
    headDim: int("head_dim", Math.floor(dim / nHeads)),
    vocabSize,
    seqLen,
    normEps: num("rms_norm_eps", 1e-6),
    ropeTheta: num("rope_theta", ropeParams?.rope_theta ?? 10000),
    ropeLayout: "half",
    ...(ropeScaling ? { ropeScaling } : {}),
    tiedEmbeddings: typeof cfg.tie_word_embeddings === "boolean" ? cfg.tie_word_embeddings : isGemmaArch(a),
    qkvBias: a === "qwen2",
    ...(a === "qwen3" ? { qkNorm: true } : {}),
    act,
    embedScale: isGemmaArch(a) ? Math.sqrt(dim) : 1,
    normPlusOne: isGemmaArch(a),
    ...(a === "gemma2" || a === "gemma3" ? gemma2Extras(cfg, fail) : {}),
    ...(a === "gemma3" ? { qkNorm: true, ropeLocalTheta: num("rope_local_base_freq", 10000) } : {}),
    ...sliding,
    bosId: bos < vocabSize ? bos : -1,
    eosId: eos < vocabSize ? eos : -1,
  };
}

/**
 * Gemma 2's departures from Gemma (Gemma 3 keeps them): sandwich norms, scores scaled by
 * query_pre_attn_scalar^-0.5, and soft-capped attention scores and logits (a null cap means none).
 */
function gemma2Extras(cfg: Record<string, unknown>, fail: (m: string) => never): Partial<ModelConfig> {
  const cap = (k: string): number | undefined => {
    const v = cfg[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) fail(`config.json ${k} = ${JSON.stringify(v)} is invalid`);
    return v as number;
  };
  const q = cfg.query_pre_attn_scalar;
  if (typeof q !== "number" || !Number.isFinite(q) || q <= 0) fail(`config.json query_pre_attn_scalar = ${JSON.stringify(q)} is invalid`);
  const attnSoftcap = cap("attn_logit_softcapping"), logitSoftcap = cap("final_logit_softcapping");
  return {
    sandwichNorms: true,
    attnScale: 1 / Math.sqrt(q as number),
    ...(attnSoftcap ? { attnSoftcap } : {}),
    ...(logitSoftcap ? { logitSoftcap } : {}),
  };
}

/** transformers' Gemma3TextConfig defaults, for what a Gemma 3 config.json leaves out. */
const GEMMA3_TEXT_DEFAULTS: Record<string, unknown> = {
  vocab_size: 262208, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26, num_attention_heads: 8,
  num_key_value_heads: 4, head_dim: 256, max_position_embeddings: 131072, rms_norm_eps: 1e-6, rope_theta: 1000000,
  query_pre_attn_scalar: 256, sliding_window: 4096, rope_local_base_freq: 10000, sliding_window_pattern: 6,
  tie_word_embeddings: true, bos_token_id: 2, eos_token_id: 1,
};

/**
 * A Gemma 3 config in the form the other arches' take: the multimodal wrapper's `text_config` (its
 * language model is what dass reads), transformers' defaults for what a checkpoint leaves out, and
 * transformers 5's per-layer-type `rope_parameters` split into the global RoPE (rope_theta,
 * rope_scaling) and the local layers' base.
 */
function gemma3TextConfig(cfg: Record<string, unknown>, fail: (m: string) => never): Record<string, unknown> {
  const obj = (v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : undefined);
  const text = obj(cfg.text_config);
  // The wrapper holds the token ids its text_config may leave out.
  const ids = text ? Object.fromEntries(["bos_token_id", "eos_token_id"].filter((k) => cfg[k] !== undefined).map((k) => [k, cfg[k]])) : {};
  const out: Record<string, unknown> = { ...GEMMA3_TEXT_DEFAULTS, ...ids, ...(text ?? cfg) };
  const rp = obj(out.rope_parameters);
  if (rp && (rp.full_attention !== undefined || rp.sliding_attention !== undefined)) {
    const full = obj(rp.full_attention) ?? {}, local = obj(rp.sliding_attention) ?? {};
    if (full.rope_theta !== undefined) out.rope_theta = full.rope_theta;
    out.rope_scaling = full.rope_type === undefined || full.rope_type === "default" ? null : full;
    if (local.rope_theta !== undefined) out.rope_local_base_freq = local.rope_theta;
    if (local.rope_type !== undefined && local.rope_type !== "default") fail(`scaled RoPE on Gemma 3's sliding layers (${JSON.stringify(local.rope_type)}) is not supported`);
    delete out.rope_parameters;
  }
  return out;
}

/**
 * Sliding-window attention as transformers runs it: the layers `layer_types` marks "sliding_attention"
 * when the config lists them; otherwise Mistral and Phi-3 slide on every layer, Gemma 2 on the even
 * ones, Gemma 3 all but every `sliding_window_pattern`-th, and Qwen2/Qwen3 (only with
 * `use_sliding_window`) from layer `max_window_layers` on. Llama and Gemma have none.
 */
function hfSliding(cfg: Record<string, unknown>, a: Arch, phi3: boolean, nLayers: number, fail: (m: string) => never): Pick<ModelConfig, "slidingWindow" | "slidingLayers"> {
  // MistralConfig and Gemma2Config default to 4096 when the field is missing (null means none).
  const w = cfg.sliding_window === undefined && (a === "mistral" || a === "gemma2") ? 4096 : cfg.sliding_window;
  if (w === undefined || w === null || w === false) return {};
  if (typeof w !== "number" || !Number.isInteger(w) || w < 1) fail(`config.json sliding_window = ${JSON.stringify(w)} is invalid`);
  const qwen = a === "qwen2" || a === "qwen3";
  if (qwen && cfg.use_sliding_window !== true) return {};
  let layers: boolean[] | undefined;
  const types = cfg.layer_types;
  if (Array.isArray(types)) {
    if (types.length !== nLayers || !types.every((t) => t === "sliding_attention" || t === "full_attention")) {
      fail(`config.json layer_types must list ${nLayers} of "sliding_attention" and "full_attention"`);
    }
    layers = types.map((t) => t === "sliding_attention");
  } else if (a === "gemma2") {
    layers = periodicSlidingLayers(nLayers, 2);
  } else if (a === "gemma3") {
    const p = cfg.sliding_window_pattern;
    if (typeof p !== "number" || !Number.isInteger(p) || p < 1) fail(`config.json sliding_window_pattern = ${JSON.stringify(p)} is invalid`);
    layers = periodicSlidingLayers(nLayers, p as number);
  } else if (qwen) {
    const m = cfg.max_window_layers ?? 28;
    if (typeof m !== "number" || !Number.isInteger(m) || m < 0) fail(`config.json max_window_layers = ${JSON.stringify(m)} is invalid`);
    layers = Array.from({ length: nLayers }, (_, i) => i >= (m as number));
  } else if (a !== "mistral" && !phi3) {
    return {};
  }
  if (layers && !layers.includes(true)) return {};
  return { slidingWindow: w as number, ...(layers && !layers.every(Boolean) ? { slidingLayers: layers } : {}) };
}

/** HF config fields for a model's sliding window, in the form its class reads (see hfSliding). */
function hfSlidingJson(c: ModelConfig): Record<string, unknown> {
  const qwen = c.arch === "qwen2" || c.arch === "qwen3";
  // Mistral's and Gemma 2/3's classes default to a 4096 window when the field is missing.
  if (!c.slidingWindow) {
    if (qwen) return { use_sliding_window: false, sliding_window: null };
    return c.arch === "mistral" || c.arch === "gemma2" || c.arch === "gemma3" ? { sliding_window: null } : {};
  }
  const layers = Array.from({ length: c.nLayers }, (_, i) => c.slidingLayers?.[i] ?? true);
  const out: Record<string, unknown> = { sliding_window: c.slidingWindow };
  if (qwen) {
    out.use_sliding_window = true;
    // Older transformers read only max_window_layers: right when the sliding layers are the last ones.
    const first = layers.indexOf(true);
    out.max_window_layers = layers.every((v, i) => v === i >= first) ? first : c.nLayers;
  }
  if (c.slidingLayers || qwen || c.arch === "gemma2" || c.arch === "gemma3") out.layer_types = layers.map((v) => (v ? "sliding_attention" : "full_attention"));
  if (c.arch === "gemma3") {
    // transformers before 4.53 read only sliding_window_pattern: right when every p-th layer is full.
    const p = layers.indexOf(false) + 1;
    const periodic = periodicSlidingLayers(c.nLayers, p);
    out.sliding_window_pattern = p > 0 && layers.every((v, i) => v === periodic[i]) ? p : c.nLayers + 1;
  }
  return out;
}

/**
 * `rope_scaling` (or transformers 5's `rope_parameters`) as a RopeScaling: none, "linear", "llama3" or
 * "longrope" (once "su"); every other kind (dynamic, yarn) is refused rather than run unscaled.
 */
function hfRopeScaling(cfg: Record<string, unknown>, seqLen: number, fail: (m: string) => never): RopeScaling | null {
  const params = cfg.rope_parameters as Record<string, unknown> | null | undefined;
  const rs = (cfg.rope_scaling ?? (params && (params.rope_type !== undefined || params.type !== undefined) ? params : null)) as Record<string, unknown> | null;
  if (rs === null || rs === undefined) return null;
  if (typeof rs !== "object" || Array.isArray(rs)) return fail(`config.json rope_scaling = ${JSON.stringify(rs)} is not an object`);
  const kind = rs.rope_type ?? rs.type;
  if (kind === "default" || (kind === undefined && Object.keys(rs).length === 0)) return null;
  if (kind === undefined) return fail("config.json rope_scaling has no rope_type");
  let s: RopeScaling;
  if (kind === "linear") s = { type: "linear", factor: rs.factor as number };
  else if (kind === "llama3") {
    s = {
      type: "llama3", factor: rs.factor as number, lowFreqFactor: rs.low_freq_factor as number,
      highFreqFactor: rs.high_freq_factor as number, originalContext: rs.original_max_position_embeddings as number,
    };
  } else if (kind === "longrope" || kind === "su") s = hfLongrope(cfg, rs, seqLen);
  else return fail(`rope_scaling ${JSON.stringify(kind)} is not supported (only linear, llama3 and longrope)`);
  const problem = ropeScalingProblem(s);
  if (problem) fail(`config.json rope_scaling: ${problem}`);
  return s;
}

/**
 * LongRoPE as transformers' `_compute_longrope_parameters` reads it. Phi-3 states the original context
 * at the top level, and the extension is then max_position_embeddings / original; without it, the
 * original context is max_position_embeddings (so the long factors never run) and the extension is
 * rope_scaling.factor. An explicit attention_factor wins over the one derived from the extension.
 */
function hfLongrope(cfg: Record<string, unknown>, rs: Record<string, unknown>, ctx: number): RopeScaling {
  const stated = cfg.original_max_position_embeddings ?? rs.original_max_position_embeddings;
  const originalContext = (stated ?? ctx) as number;
  const extension = stated !== undefined && stated !== null ? ctx / originalContext : ((rs.factor ?? 1) as number);
  return {
    type: "longrope", shortFactors: rs.short_factor as number[], longFactors: rs.long_factor as number[], originalContext,
    attentionFactor: (rs.attention_factor ?? longropeAttentionFactor(extension, originalContext)) as number,
  };
}

/** The HF rope_scaling object of a RopeScaling (hfUnsupported refuses "factors" first). */
function hfRopeScalingJson(s: RopeScaling): Record<string, unknown> {
  if (s.type === "factors") throw new ArgumentError("config", "per-frequency RoPE factors have no Hugging Face rope_scaling form");
  if (s.type === "linear") return { rope_type: "linear", factor: s.factor };
  if (s.type === "longrope") {
    // The attention factor is written out: transformers would derive it from the extension otherwise.
    return { rope_type: "longrope", short_factor: [...s.shortFactors], long_factor: [...s.longFactors], attention_factor: s.attentionFactor };
  }
  return {
    rope_type: "llama3", factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor,
    original_max_position_embeddings: s.originalContext,
  };
}

/** The HF config.json object for a ModelConfig (plus caller extras, which win on conflicts except core fields). */
export function modelConfigToHf(c: ModelConfig, extra: Record<string, unknown> = {}, dtype: TensorDType = "f32"): Record<string, unknown> {
  const core: Record<string, unknown> = {
    architectures: [ARCH_CLASS[c.arch]],
    model_type: hfModelType(c.arch),
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.headDim,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.seqLen,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    ...(c.ropeScaling ? { rope_scaling: hfRopeScalingJson(c.ropeScaling) } : {}),
    // transformers runs LongRoPE's long factors only beyond a top-level original context (Phi-3's key).
    ...(c.ropeScaling?.type === "longrope" ? { original_max_position_embeddings: c.ropeScaling.originalContext } : {}),
    tie_word_embeddings: c.tiedEmbeddings,
    hidden_act: c.act === "silu" ? "silu" : "gelu_pytorch_tanh",
    ...(isGemmaArch(c.arch) ? { hidden_activation: "gelu_pytorch_tanh" } : {}),
    ...(c.arch === "gemma2" || c.arch === "gemma3" ? {
      query_pre_attn_scalar: Number((1 / (c.attnScale ?? 1 / Math.sqrt(c.headDim)) ** 2).toPrecision(12)),
      attn_logit_softcapping: c.attnSoftcap ?? null,
      final_logit_softcapping: c.logitSoftcap ?? null,
    } : {}),
    ...(c.arch === "gemma3" ? { rope_local_base_freq: c.ropeLocalTheta ?? c.ropeTheta } : {}),
    ...hfSlidingJson(c),
    ...(c.bosId >= 0 ? { bos_token_id: c.bosId } : {}),
    ...(c.eosId >= 0 ? { eos_token_id: c.eosId } : {}),
    torch_dtype: dtype === "f32" ? "float32" : dtype === "f16" ? "float16" : "bfloat16",
  };
  // Extras that could contradict the config or the written tensors go; the config's own say. auto_map
  // would send transformers to remote code for the source's class (Phi-3's), not the one written.
  // A multimodal wrapper's extras are its language model's (text_config): that is what is written.
  const text = extra.text_config;
  const out: Record<string, unknown> = text && typeof text === "object" && !Array.isArray(text) ? { ...text as Record<string, unknown> } : { ...extra };
  delete out.auto_map;
  delete out.rope_scaling;
  for (const k of ["sliding_window", "use_sliding_window", "max_window_layers", "layer_types", "sliding_window_pattern"]) delete out[k];
  delete out.rope_parameters;
  delete out.dtype;
  return Object.assign(out, core);
}

const HF_LAYER: [string, string][] = [
  ["input_layernorm.weight", "attn_norm"],
  ["self_attn.q_proj.weight", "attn.q"],
  ["self_attn.k_proj.weight", "attn.k"],
  ["self_attn.v_proj.weight", "attn.v"],
  ["self_attn.q_proj.bias", "attn.q_bias"],
  ["self_attn.k_proj.bias", "attn.k_bias"],
  ["self_attn.v_proj.bias", "attn.v_bias"],
  ["self_attn.q_norm.weight", "attn.q_norm"],
  ["self_attn.k_norm.weight", "attn.k_norm"],
  ["self_attn.o_proj.weight", "attn.o"],
  ["post_attention_layernorm.weight", "ffn_norm"],
  ["mlp.gate_proj.weight", "mlp.gate"],
  ["mlp.up_proj.weight", "mlp.up"],
  ["mlp.down_proj.weight", "mlp.down"],
];
// Gemma 2 renames: its post_attention_layernorm norms the attention output (a sandwich norm), and the
// pre-MLP norm is pre_feedforward_layernorm.
const HF_LAYER_GEMMA2: [string, string][] = [
  ...HF_LAYER.filter(([, c]) => c !== "ffn_norm"),
  ["post_attention_layernorm.weight", "attn_post_norm"],
  ["pre_feedforward_layernorm.weight", "ffn_norm"],
  ["post_feedforward_layernorm.weight", "ffn_post_norm"],
];
const hfLayerNames = (arch: Arch | undefined) => (arch === "gemma2" || arch === "gemma3" ? HF_LAYER_GEMMA2 : HF_LAYER);
const HF_GLOBAL: [string, string][] = [
  ["model.embed_tokens.weight", "tok_embeddings"],
  ["model.norm.weight", "norm"],
  ["lm_head.weight", "output"],
];

/**
 * Maps an HF tensor name to canonical, null for tensors we ignore (rotary inv_freq, Gemma 3's vision
 * tower), undefined when unknown. `arch` matters for Gemma 2 and 3, whose norm names mean something else.
 */
export function hfToCanonical(hfName: string, arch?: Arch): string | null | undefined {
  let name = hfName;
  if (arch === "gemma3") {
    // Gemma3ForConditionalGeneration: language_model.model.X (or, since transformers 4.52, model.language_model.X).
    if (/^(vision_tower|multi_modal_projector|model\.vision_tower|model\.multi_modal_projector)\./.test(name)) return null;
    name = name.replace(/^language_model\.model\./, "model.").replace(/^model\.language_model\./, "model.").replace(/^language_model\.lm_head\./, "lm_head.");
  }
  for (const [h, c] of HF_GLOBAL) if (name === h) return c;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  if (!m) return undefined;
  if (m[2] === "self_attn.rotary_emb.inv_freq") return null;
  for (const [h, c] of hfLayerNames(arch)) if (m[2] === h) return `layers.${Number(m[1])}.${c}`;
  return undefined;
}

/** Maps a canonical tensor name to its HF name (for `arch`, see hfToCanonical). */
export function canonicalToHf(name: string, arch?: Arch): string {
  for (const [h, c] of HF_GLOBAL) if (name === c) return h;
  const m = /^layers\.(\d+)\.(.+)$/.exec(name);
  if (m) for (const [h, c] of hfLayerNames(arch)) if (m[2] === c) return `model.layers.${m[1]}.${h}`;
  throw new ArgumentError("name", `no HF name for tensor ${name}`);
}

async function readJson(file: RandomAccessFile): Promise<Record<string, unknown>> {
  const bytes = await readSmallFile(file, 64 * 1024 * 1024);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new FormatError(file.name, `invalid JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new FormatError(file.name, "expected a JSON object");
  return v as Record<string, unknown>;
}

/** Opens an HF model folder (config.json + safetensors weights). */
export async function readHfFolder(src: FileSource): Promise<ModelReader> {
  const opened: RandomAccessFile[] = [];
  const open = async (fileName: string): Promise<RandomAccessFile | null> => {
    const f = await src.open(fileName);
    if (f) opened.push(f);
    return f;
  };
  try {
    const cfgFile = await open("config.json");
    if (!cfgFile) throw new FormatError(src.name, "no config.json: not a Hugging Face model folder");
    const hf = await readJson(cfgFile);
    await cfgFile.close();
    opened.pop();
    const config = hfConfigToModelConfig(hf, cfgFile.name);
    const phi3 = isPhi3Config(hf);
    let shardNames: string[];
    const index = await open("model.safetensors.index.json");
    if (index) {
      const idx = await readJson(index);
      const wm = idx.weight_map;
      if (!wm || typeof wm !== "object") throw new FormatError(index.name, "no weight_map");
      shardNames = [...new Set(Object.values(wm as Record<string, unknown>).map(String))];
      for (const s of shardNames) {
        if (s.includes("/") || s.includes("\\") || s.startsWith(".")) throw new FormatError(index.name, `shard name ${JSON.stringify(s)} is not a plain file name`);
      }
      await index.close();
      opened.pop();
    } else {
      shardNames = ["model.safetensors"];
    }
    const locations = new Map<string, TensorLocation>();
    const ignored: string[] = [];
    const stMeta: Record<string, string> = {};
    // Compressed N:M matrices: base HF name -> its two halves and the shard whose metadata describes it.
    const pairs = new Map<string, { values?: { f: RandomAccessFile; e: SafetensorsEntry }; masks?: { f: RandomAccessFile; e: SafetensorsEntry }; meta?: { f: RandomAccessFile; text: string } }>();
    const pair = (base: string) => { let p = pairs.get(base); if (!p) pairs.set(base, p = {}); return p; };
    for (const shard of shardNames) {
      const f = await open(shard);
      if (!f) throw new FormatError(src.name, `missing weights file ${shard}`);
      const h = await parseSafetensorsHeader(f);
      Object.assign(stMeta, h.metadata);
      for (const [k, v] of Object.entries(h.metadata)) {
        if (!k.startsWith(NM_META_PREFIX)) continue;
        const p = pair(k.slice(NM_META_PREFIX.length));
        if (p.meta) throw new FormatError(f.name, `metadata ${k} appears twice`);
        p.meta = { f, text: v };
      }
      for (const e of h.entries) {
        for (const [suffix, half] of [[NM_VALUES_SUFFIX, "values"], [NM_MASKS_SUFFIX, "masks"]] as const) {
          if (!e.name.endsWith(suffix)) continue;
          const p = pair(e.name.slice(0, -suffix.length));
          if (p[half]) throw new FormatError(f.name, `tensor ${e.name} appears twice`);
          p[half] = { f, e };
        }
        if (e.name.endsWith(NM_VALUES_SUFFIX) || e.name.endsWith(NM_MASKS_SUFFIX)) continue;
        if (e.dtype === "u8") throw new FormatError(f.name, `tensor ${e.name}: dtype U8 is only used for compressed N:M masks (${NM_MASKS_SUFFIX})`);
        const fused = phi3 ? phi3Split({ ...e, dtype: e.dtype }, config, f.name) : null;
        if (fused) {
          for (const [canon, loc] of fused) {
            if (locations.has(canon)) throw new FormatError(f.name, `tensor ${e.name} appears twice`);
            locations.set(canon, { file: f, ...loc });
          }
          continue;
        }
        const canon = hfToCanonical(e.name, config.arch);
        if (canon === undefined) throw new FormatError(f.name, `unexpected tensor ${e.name} for ${config.arch}`);
        if (canon === null || (canon === "output" && config.tiedEmbeddings)) { ignored.push(e.name); continue; }
        if (locations.has(canon)) throw new FormatError(f.name, `tensor ${e.name} appears twice`);
        locations.set(canon, { file: f, offset: e.offset, info: { name: canon, dtype: e.dtype, shape: e.shape, byteLength: e.byteLength } });
      }
    }
    for (const [base, p] of pairs) {
      const where = (p.values ?? p.masks ?? p.meta)!.f.name;
      if (!p.meta) throw new FormatError(where, `compressed tensor ${base}: no ${NM_META_PREFIX}${base} entry in __metadata__ (pattern, axis, shape unknown)`);
      if (!p.values) throw new FormatError(where, `compressed tensor ${base}: missing ${base}${NM_VALUES_SUFFIX}`);
      if (!p.masks) throw new FormatError(where, `compressed tensor ${base}: missing ${base}${NM_MASKS_SUFFIX}`);
      const meta = parseNMMetadataJson(p.meta.f.name, base, p.meta.text);
      const v = p.values.e, mk = p.masks.e;
      if (v.dtype === "u8") throw new FormatError(p.values.f.name, `compressed tensor ${base}: values are U8, expected F32, F16 or BF16`);
      if (mk.dtype !== "u8") throw new FormatError(p.masks.f.name, `compressed tensor ${base}: masks are ${ST_NAMES[mk.dtype]}, expected U8`);
      const info = checkStoredPair(p.values.f.name, base, meta, { dtype: v.dtype, shape: v.shape }, { shape: mk.shape });
      const canon = hfToCanonical(base, config.arch);
      if (canon === undefined || canon === null) throw new FormatError(where, `unexpected compressed tensor ${base} for ${config.arch}`);
      if (canon === "output" && config.tiedEmbeddings) { ignored.push(base); continue; }
      if (locations.has(canon)) throw new FormatError(where, `tensor ${base} is stored both dense and compressed`);
      locations.set(canon, {
        file: p.values.f, offset: v.offset, masks: { file: p.masks.f, offset: mk.offset },
        info: { name: canon, dtype: v.dtype, shape: [meta.rows, meta.cols], byteLength: meta.rows * meta.cols * dtypeSize(v.dtype), compressed: info },
      });
    }
    return makeReader({
      format: "safetensors",
      path: src.name,
      config,
      locations,
      metadata: { hfConfig: hf, safetensors: stMeta, shards: shardNames, ignoredTensors: ignored },
      files: opened,
      aux: async (fileName) => {
        const f = await src.open(fileName);
        if (!f) return null;
        try { return await readSmallFile(f); } finally { await f.close(); }
      },
    });
  } catch (e) {
    await Promise.all(opened.map((f) => f.close().catch(() => {})));
    throw e;
  }
}

/**
 * Phi-3's fused `qkv_proj` ([q + 2 kv, dim]: q rows, then k, then v) and `gate_up_proj` ([2 hidden, dim]:
 * gate rows, then up) as the canonical matrices they hold: row ranges of the stored tensor. null for
 * any other tensor.
 */
function phi3Split(
  e: { name: string; dtype: TensorDType; shape: number[]; offset: number }, c: ModelConfig, file: string,
): [string, Omit<TensorLocation, "file">][] | null {
  const m = /^model\.layers\.(\d+)\.(self_attn\.qkv_proj|mlp\.gate_up_proj)\.weight$/.exec(e.name);
  if (!m) return null;
  const q = c.nHeads * c.headDim, kv = c.nKvHeads * c.headDim;
  const parts: [string, number][] = m[2] === "self_attn.qkv_proj" ? [["attn.q", q], ["attn.k", kv], ["attn.v", kv]] : [["mlp.gate", c.hiddenDim], ["mlp.up", c.hiddenDim]];
  const rows = parts.reduce((s, [, r]) => s + r, 0);
  if (e.shape.length !== 2 || e.shape[0] !== rows || e.shape[1] !== c.dim) {
    throw new FormatError(file, `${e.name} has shape [${e.shape}], the config implies [${rows}, ${c.dim}]`);
  }
  const rowBytes = c.dim * dtypeSize(e.dtype);
  let r0 = 0;
  return parts.map(([suffix, r]) => {
    const name = `layers.${Number(m[1])}.${suffix}`;
    const loc = { offset: e.offset + r0 * rowBytes, info: { name, dtype: e.dtype, shape: [r, c.dim], byteLength: r * rowBytes } };
    r0 += r;
    return [name, loc];
  });
}

/** Why a config cannot be stored as an HF folder, or null. */
export function hfUnsupported(c: ModelConfig): string | null {
  if (c.ropeLayout !== "half") return "Hugging Face models use half-rotation RoPE but the config is adjacent; permute q/k first (convertModel does this)";
  if (isGemmaArch(c.arch)) {
    if (!c.normPlusOne) return "HF Gemma computes norms as (1+w): subtract 1 from the norm weights and set normPlusOne (convertModel does this)";
    if (c.act !== "gelu_tanh" || Math.abs(c.embedScale - Math.sqrt(c.dim)) > 1e-6 * c.embedScale) return "HF Gemma implies gelu_tanh and sqrt(dim) embedding scale";
  } else {
    if (c.act !== "silu") return `HF ${c.arch} implies SiLU, not ${c.act}`;
    if (c.embedScale !== 1 || c.normPlusOne) return `HF ${c.arch} cannot represent embedding scaling or (1+w) norms`;
  }
  if (c.qkvBias !== (c.arch === "qwen2")) return c.qkvBias ? `HF ${c.arch} has no q/k/v biases` : "Qwen2 carries q/k/v biases; qkvBias must be true";
  if (!!c.qkNorm !== (c.arch === "qwen3" || c.arch === "gemma3")) {
    return c.qkNorm ? `HF ${c.arch} has no q/k norms` : `${c.arch === "qwen3" ? "Qwen3" : "Gemma 3"} normalises q and k per head; qkNorm must be true`;
  }
  if (c.ropeScaling?.type === "factors") return "GGUF's per-frequency RoPE factors (rope_freqs) have no Hugging Face rope_scaling form; keep this model as GGUF";
  if (c.arch === "gemma2" || c.arch === "gemma3") {
    if (!c.sandwichNorms || c.attnScale === undefined) return "HF Gemma 2 and 3 have sandwich norms and a query_pre_attn_scalar; sandwichNorms and attnScale must be set";
  } else if (c.sandwichNorms || c.attnScale !== undefined || c.attnSoftcap !== undefined || c.logitSoftcap !== undefined) {
    return `HF ${c.arch} has no sandwich norms, attention scale or soft-capping (Gemma 2 and 3 have)`;
  }
  if (c.ropeLocalTheta !== undefined && c.arch !== "gemma3") return `HF ${c.arch} has no separate RoPE base for its sliding layers (Gemma 3 has)`;
  if (c.slidingWindow !== undefined && (c.arch === "llama" || c.arch === "gemma")) {
    return `HF ${c.arch} has no sliding window (Mistral, Qwen2/3 and Gemma 2 have); write it as mistral`;
  }
  if (c.arch === "mistral" && c.slidingLayers) return "HF Mistral slides on every layer or none; slidingLayers must be absent";
  return null;
}

/** Options of the HF folder writer. */
export interface SafetensorsWriteOptions extends WriteOptions {
  /** Extra `__metadata__` entries (format: "pt" is always written). */
  metadata?: Record<string, string>;
  /** Extra config.json fields (e.g. the source model's config); core fields are always derived from the config. */
  hfConfig?: Record<string, unknown>;
  /** Bytes of tokenizer.json (and any other side files) to copy into the folder unchanged. */
  extraFiles?: Record<string, Uint8Array>;
}

/** Serialises a safetensors header (padded with spaces to a multiple of 8, as the reference implementation does). */
export function safetensorsHeader(entries: { name: string; dtype: SafetensorsDType; shape: number[] }[], metadata: Record<string, string>): { bytes: Uint8Array; dataBytes: number } {
  const obj: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  for (const e of entries) {
    const len = numel(e.shape) * stSize(e.dtype);
    obj[e.name] = { dtype: ST_NAMES[e.dtype], shape: e.shape, data_offsets: [off, off + len] };
    off += len;
  }
  let json = JSON.stringify(obj);
  const enc = new TextEncoder();
  let body = enc.encode(json);
  const pad = (8 - (body.byteLength % 8)) % 8;
  if (pad) { json += " ".repeat(pad); body = enc.encode(json); }
  const bytes = new Uint8Array(8 + body.byteLength);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(body.byteLength), true);
  bytes.set(body, 8);
  return { bytes, dataBytes: off };
}

/**
 * Writes an HF model folder: model.safetensors (streamed tensor by tensor), then config.json and any extra
 * files. Each file appears atomically. Returns the folder path or name.
 */
export async function writeSafetensors(
  out: string | OutputFolder,
  config: ModelConfig,
  tensors: TensorSource,
  opts: SafetensorsWriteOptions = {},
): Promise<string> {
  checkConfigArg(config);
  const why = hfUnsupported(config);
  if (why) throw new ArgumentError("config", why);
  const extraNames = Object.keys(opts.extraFiles ?? {});
  for (const n of extraNames) {
    if (!/^[\w.-]+$/.test(n) || n.startsWith(".") || n === "model.safetensors" || n === "config.json") {
      throw new ArgumentError("extraFiles", `invalid or reserved file name ${JSON.stringify(n)}`);
    }
  }
  const folder = await folderTarget(out, opts, ["model.safetensors", "config.json", ...extraNames]);
  const specs = expectedTensors(config).map((spec) => ({ spec, dtype: dtypeFor(opts, spec.name), nm: compressTarget(opts.compress, spec.name, spec.shape) }));
  const metadata: Record<string, string> = { ...(opts.metadata ?? {}), format: "pt" };
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") throw new ArgumentError("metadata", `__metadata__ values must be strings (${k})`);
    if (k.startsWith(NM_META_PREFIX)) throw new ArgumentError("metadata", `keys starting with ${NM_META_PREFIX} are reserved for compressed matrices (${k})`);
  }
  const entries: { name: string; dtype: SafetensorsDType; shape: number[] }[] = [];
  for (const { spec, dtype, nm } of specs) {
    const hf = canonicalToHf(spec.name, config.arch);
    if (!nm) { entries.push({ name: hf, dtype, shape: spec.shape }); continue; }
    if (spec.shape.length !== 2) throw new ArgumentError("compress", `${spec.name} has shape [${spec.shape}]: only matrices can be stored compressed`);
    const info = nmStorageInfo(spec.shape[0], spec.shape[1], nm, dtype);
    entries.push({ name: hf + NM_VALUES_SUFFIX, dtype, shape: [info.valueCount] }, { name: hf + NM_MASKS_SUFFIX, dtype: "u8", shape: [info.maskBytes] });
    metadata[NM_META_PREFIX + hf] = nmMetadataJson(info);
  }
  const header = safetensorsHeader(entries, metadata);
  await writeAtomically(folder, "model.safetensors", opts.signal, async (w) => {
    await w.write(header.bytes);
    for (const { spec, dtype, nm } of specs) {
      if (opts.signal?.aborted) throw new AbortError();
      const data = await tensors(spec.name);
      if (!nm) { await w.write(tensorBytes(spec, data, dtype)); continue; }
      const enc = encodeForStorage(spec.name, data, spec.shape, nm, dtype);
      await w.write(enc.values);
      await w.write(enc.masks);
    }
  });
  const mainDtype = specs.find((s) => s.spec.shape.length > 1)?.dtype ?? "f32";
  const cfgBytes = new TextEncoder().encode(JSON.stringify(modelConfigToHf(config, opts.hfConfig, mainDtype), null, 2) + "\n");
  await writeAtomically(folder, "config.json", opts.signal, (w) => w.write(cfgBytes));
  for (const n of extraNames) {
    await writeAtomically(folder, n, opts.signal, (w) => w.write(opts.extraFiles![n]));
  }
  return folder.name;
}
