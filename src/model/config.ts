/**
 * The architecture description every model format maps to, and the canonical tensor names the rest of
 * dass-wasm (pruning, inference, writers) uses regardless of how a file names them.
 *
 * All weight matrices are row-major `[out, in]`, so `y = W x`.
 */

/** Model families dass-wasm understands. All are pre-norm decoder-only GLU transformers. */
export type Arch = "llama" | "mistral" | "qwen2" | "qwen3" | "gemma" | "gemma2" | "gemma3";

/** Every supported arch, for validation and iteration. */
export const ARCHS: readonly Arch[] = ["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3"];

/**
 * How RoPE pairs the dimensions of a head.
 * - `adjacent`: pairs (2i, 2i+1), as in Meta's original code, llama2.c and GGUF `llama`.
 * - `half`: pairs (i, i + headDim/2), as in Hugging Face transformers ("rotate_half") and GGUF qwen2/qwen3/gemma.
 * The two are the same model up to a per-head row permutation of q and k (see `permuteQK`).
 */
export type RopeLayout = "adjacent" | "half";

/**
 * RoPE frequency scaling, as Hugging Face configs give it (`rope_scaling`):
 * - `linear`: every frequency divided by `factor` (positions interpolated);
 * - `llama3`: Llama 3.1's scheme: wavelengths longer than `originalContext / lowFreqFactor` divided by
 *   `factor`, shorter than `originalContext / highFreqFactor` kept, and a smooth blend in between;
 * - `factors`: frequency i divided by `factors[i]` (headDim/2 of them), as GGUF stores Llama 3.1's
 *   scheme (the `rope_freqs` tensor).
 * - `longrope`: Phi-3's LongRoPE (transformers' "longrope", once "su"): frequency i divided by
 *   `shortFactors[i]`, or by `longFactors[i]` in a pass whose sequence runs beyond `originalContext`
 *   positions (see {@link ropeUsesLongFactors}); cos and sin are multiplied by `attentionFactor`.
 */
export type RopeScaling =
  | { type: "linear"; factor: number }
  | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalContext: number }
  | { type: "factors"; factors: readonly number[] }
  | { type: "longrope"; shortFactors: readonly number[]; longFactors: readonly number[]; originalContext: number; attentionFactor: number };

/**
 * Whether LongRoPE runs a pass with its long factors: transformers decides per forward pass, by the
 * sequence's length so far (its last position + 1), so a prompt within the original context keeps the
 * short factors even in a model opened for a longer one. (llama.cpp decides by the context size.)
 */
export function ropeUsesLongFactors(scaling: RopeScaling | null | undefined, sequenceEnd: number): boolean {
  return scaling?.type === "longrope" && sequenceEnd > scaling.originalContext;
}

/**
 * LongRoPE's default attention factor, as transformers and llama.cpp's converter compute it from the
 * context extension s (Phi-3: context / originalContext): sqrt(1 + ln s / ln originalContext), 1 when s <= 1.
 */
export function longropeAttentionFactor(extension: number, originalContext: number): number {
  return extension <= 1 ? 1 : Math.sqrt(1 + Math.log(extension) / Math.log(originalContext));
}

/** The per-frequency divisors a scaling applies in a pass (none for linear and llama3, which scale otherwise). */
export function ropeFactorsOf(scaling: RopeScaling | null | undefined, long = false): readonly number[] | null {
  if (scaling?.type === "factors") return scaling.factors;
  if (scaling?.type === "longrope") return long ? scaling.longFactors : scaling.shortFactors;
  return null;
}

/** Gate activation of the GLU MLP. */
export type Activation = "silu" | "gelu_tanh";

/** Architecture hyper-parameters shared by every reader and writer. */
export interface ModelConfig {
  arch: Arch;
  /** Residual stream width. */
  dim: number;
  /** MLP inner width (rows of gate/up). */
  hiddenDim: number;
  nLayers: number;
  /** Query heads. */
  nHeads: number;
  /** Key/value heads (grouped-query attention when < nHeads). */
  nKvHeads: number;
  /** Width of one head; usually dim / nHeads, but Gemma sets it independently. */
  headDim: number;
  vocabSize: number;
  /** Context length the model was built for. */
  seqLen: number;
  /** RMSNorm epsilon. */
  normEps: number;
  /** RoPE base frequency. */
  ropeTheta: number;
  ropeLayout: RopeLayout;
  /** RoPE frequency scaling; absent or null for none. */
  ropeScaling?: RopeScaling | null;
  /**
   * RoPE base of the sliding-window layers, which then take no scaling (Gemma 3's local layers); absent:
   * every layer uses ropeTheta and ropeScaling.
   */
  ropeLocalTheta?: number;
  /** The classifier reuses `tok_embeddings` (no `output` tensor). */
  tiedEmbeddings: boolean;
  /** q, k and v projections carry biases (Qwen2). */
  qkvBias: boolean;
  /** Each head of q and k is RMS-normalised (weights `attn.q_norm`, `attn.k_norm`) before RoPE (Qwen3, Gemma 3). */
  qkNorm?: boolean;
  /**
   * The attention and MLP outputs are RMS-normalised (`attn_post_norm`, `ffn_post_norm`) before they are
   * added to the residual stream (Gemma 2's and 3's "sandwich" norms).
   */
  sandwichNorms?: boolean;
  /** Factor on the attention scores; default 1 / sqrt(headDim) (Gemma 2: query_pre_attn_scalar^-0.5). */
  attnScale?: number;
  /** Attention scores become cap * tanh(score / cap) before the softmax (Gemma 2); absent: none. */
  attnSoftcap?: number;
  /** Logits become cap * tanh(logit / cap) (Gemma 2); absent: none. */
  logitSoftcap?: number;
  /**
   * Sliding-window attention (Mistral, Gemma 2, Phi-3, Qwen with `use_sliding_window`): on a sliding
   * layer a query attends to the last `slidingWindow` positions, its own included. Absent: full
   * attention everywhere.
   */
  slidingWindow?: number;
  /** Which layers slide (HF's `layer_types`), one flag per layer; absent with a window: every layer. */
  slidingLayers?: readonly boolean[];
  act: Activation;
  /** Factor applied to embeddings after lookup: 1, or sqrt(dim) for Gemma. */
  embedScale: number;
  /** RMSNorm multiplies by (1 + w) instead of w (Gemma). */
  normPlusOne: boolean;
  /** Beginning-of-sequence token id, or -1 when the model has none. */
  bosId: number;
  /** End-of-sequence token id, or -1 when the model has none. */
  eosId: number;
}

/** The Gemma family: (1+w) norms, GELU-tanh, embeddings scaled by sqrt(dim). */
export function isGemmaArch(a: Arch): boolean {
  return a === "gemma" || a === "gemma2" || a === "gemma3";
}

/**
 * The sliding layers of a model where every `period`-th layer attends fully and the others slide, as
 * Gemma 2 (period 2) and Gemma 3 (period 6) do: layer i slides unless (i + 1) % period == 0. Period 0:
 * every layer slides.
 */
export function periodicSlidingLayers(nLayers: number, period: number): boolean[] {
  return Array.from({ length: nLayers }, (_, i) => period === 0 || (i + 1) % period !== 0);
}

/** The attention window of a layer: its sliding window, or 0 for full attention. */
export function layerWindow(c: ModelConfig, layer: number): number {
  if (!c.slidingWindow) return 0;
  return c.slidingLayers === undefined || c.slidingLayers[layer] ? c.slidingWindow : 0;
}

/** Whether a layer takes the local RoPE (base ropeLocalTheta, unscaled): a sliding layer of a model that has one. */
export function usesLocalRope(c: ModelConfig, layer: number): boolean {
  return c.ropeLocalTheta !== undefined && layerWindow(c, layer) > 0;
}

/**
 * The model as a format without sliding windows (GGUF's llama/qwen2/qwen3, llama2.c) holds it exactly:
 * full attention, with the context cut to the window (within it, sliding attention is full attention).
 */
export function fullAttentionConfig(c: ModelConfig): ModelConfig {
  const { slidingWindow, slidingLayers, ...rest } = c;
  const slides = slidingWindow !== undefined && (slidingLayers === undefined || slidingLayers.includes(true));
  return slides ? { ...rest, seqLen: Math.min(c.seqLen, slidingWindow) } : rest;
}

/** Element types tensors may be stored in. */
export type TensorDType = "f32" | "f16" | "bf16";

/** Bytes per element of a tensor dtype. */
export function dtypeSize(dtype: TensorDType): number {
  return dtype === "f32" ? 4 : 2;
}

/** A canonical tensor name with the shape the config implies. */
export interface TensorSpec {
  name: string;
  shape: number[];
}

/** Per-layer canonical tensor name, e.g. `layerTensor(3, "attn.q")` = `layers.3.attn.q`. */
export function layerTensor(layer: number, suffix: LayerTensorSuffix): string {
  return `layers.${layer}.${suffix}`;
}

/** The per-layer parts of a model under their canonical suffixes. */
export type LayerTensorSuffix =
  | "attn_norm"
  | "attn.q"
  | "attn.k"
  | "attn.v"
  | "attn.o"
  | "attn.q_bias"
  | "attn.k_bias"
  | "attn.v_bias"
  | "attn.q_norm"
  | "attn.k_norm"
  | "attn_post_norm"
  | "ffn_norm"
  | "mlp.gate"
  | "mlp.up"
  | "mlp.down"
  | "ffn_post_norm";

/**
 * Every tensor a model with this config has, in canonical order (embedding, then layer by layer, then final
 * norm and classifier). Readers validate files against it and writers stream in this order.
 */
export function expectedTensors(c: ModelConfig): TensorSpec[] {
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const out: TensorSpec[] = [{ name: "tok_embeddings", shape: [c.vocabSize, c.dim] }];
  for (let i = 0; i < c.nLayers; i++) {
    const L = (s: LayerTensorSuffix, shape: number[]) => out.push({ name: layerTensor(i, s), shape });
    L("attn_norm", [c.dim]);
    L("attn.q", [q, c.dim]);
    L("attn.k", [kv, c.dim]);
    L("attn.v", [kv, c.dim]);
    if (c.qkvBias) {
      L("attn.q_bias", [q]);
      L("attn.k_bias", [kv]);
      L("attn.v_bias", [kv]);
    }
    if (c.qkNorm) {
      L("attn.q_norm", [c.headDim]);
      L("attn.k_norm", [c.headDim]);
    }
    L("attn.o", [c.dim, q]);
    if (c.sandwichNorms) L("attn_post_norm", [c.dim]);
    L("ffn_norm", [c.dim]);
    L("mlp.gate", [c.hiddenDim, c.dim]);
    L("mlp.up", [c.hiddenDim, c.dim]);
    L("mlp.down", [c.dim, c.hiddenDim]);
    if (c.sandwichNorms) L("ffn_post_norm", [c.dim]);
  }
  out.push({ name: "norm", shape: [c.dim] });
  if (!c.tiedEmbeddings) out.push({ name: "output", shape: [c.vocabSize, c.dim] });
  return out;
}

/** Largest value accepted for a single dimension; beyond it a header is almost surely corrupt. */
export const MAX_DIM = 1 << 24;

/**
 * Returns a description of the first thing wrong with a config, or null when it is usable.
 * Readers turn the message into a FormatError and writers into an ArgumentError.
 */
export function configProblem(c: ModelConfig): string | null {
  if (!ARCHS.includes(c.arch)) return `unknown arch ${JSON.stringify(c.arch)}`;
  const ints: [keyof ModelConfig, number][] = [
    ["dim", 1], ["hiddenDim", 1], ["nLayers", 1], ["nHeads", 1], ["nKvHeads", 1], ["headDim", 2],
    ["vocabSize", 1], ["seqLen", 1],
  ];
  for (const [k, min] of ints) {
    const v = c[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > MAX_DIM) {
      return `${k} must be an integer in [${min}, ${MAX_DIM}], got ${String(v)}`;
    }
  }
  if (c.headDim % 2 !== 0) return `headDim must be even for RoPE, got ${c.headDim}`;
  if (c.nHeads % c.nKvHeads !== 0) return `nHeads (${c.nHeads}) must be a multiple of nKvHeads (${c.nKvHeads})`;
  if (c.nHeads * c.headDim > MAX_DIM) return `nHeads*headDim too large`;
  for (const k of ["normEps", "ropeTheta", "embedScale"] as const) {
    if (typeof c[k] !== "number" || !Number.isFinite(c[k]) || c[k] <= 0) return `${k} must be finite and > 0, got ${String(c[k])}`;
  }
  if (c.ropeLayout !== "adjacent" && c.ropeLayout !== "half") return `unknown ropeLayout ${JSON.stringify(c.ropeLayout)}`;
  const scalingProblem = ropeScalingProblem(c.ropeScaling);
  if (scalingProblem) return scalingProblem;
  const factors = ropeFactorsOf(c.ropeScaling);
  if (factors && factors.length !== c.headDim / 2) {
    return `ropeScaling ${c.ropeScaling!.type === "factors" ? "factors" : "shortFactors and longFactors"} have ${factors.length} entries, headDim / 2 = ${c.headDim / 2}`;
  }
  if (c.act !== "silu" && c.act !== "gelu_tanh") return `unknown act ${JSON.stringify(c.act)}`;
  for (const k of ["tiedEmbeddings", "qkvBias", "normPlusOne"] as const) {
    if (typeof c[k] !== "boolean") return `${k} must be a boolean`;
  }
  for (const k of ["qkNorm", "sandwichNorms"] as const) {
    if (c[k] !== undefined && typeof c[k] !== "boolean") return `${k} must be a boolean`;
  }
  for (const k of ["attnScale", "attnSoftcap", "logitSoftcap", "ropeLocalTheta"] as const) {
    const v = c[k];
    if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && v > 0)) return `${k} must be finite and > 0, got ${String(v)}`;
  }
  if (c.slidingWindow !== undefined && !(Number.isInteger(c.slidingWindow) && c.slidingWindow >= 1)) {
    return `slidingWindow must be an integer >= 1, got ${String(c.slidingWindow)}`;
  }
  if (c.slidingLayers !== undefined) {
    if (c.slidingWindow === undefined) return "slidingLayers needs a slidingWindow";
    if (!Array.isArray(c.slidingLayers) || c.slidingLayers.length !== c.nLayers || !c.slidingLayers.every((v) => typeof v === "boolean")) {
      return `slidingLayers must be ${c.nLayers} booleans (one per layer)`;
    }
  }
  for (const k of ["bosId", "eosId"] as const) {
    if (!Number.isInteger(c[k]) || c[k] < -1 || c[k] >= c.vocabSize) return `${k} ${c[k]} out of range for vocabSize ${c.vocabSize}`;
  }
  return null;
}

/** What is wrong with a RoPE scaling, or null (none counts as fine). */
export function ropeScalingProblem(r: RopeScaling | null | undefined): string | null {
  if (r === undefined || r === null) return null;
  const pos = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v > 0;
  if (r.type === "linear") return pos(r.factor) ? null : `ropeScaling.factor must be finite and > 0, got ${String(r.factor)}`;
  if (r.type === "llama3") {
    for (const k of ["factor", "lowFreqFactor", "highFreqFactor", "originalContext"] as const) {
      if (!pos(r[k])) return `ropeScaling.${k} must be finite and > 0, got ${String(r[k])}`;
    }
    if (!(r.highFreqFactor > r.lowFreqFactor)) return `ropeScaling.highFreqFactor (${r.highFreqFactor}) must exceed lowFreqFactor (${r.lowFreqFactor})`;
    return null;
  }
  const factorsProblem = (k: string, v: readonly number[]): string | null => {
    if (!Array.isArray(v) || v.length === 0) return `ropeScaling.${k} must be a non-empty array`;
    const bad = v.findIndex((x) => !pos(x));
    return bad < 0 ? null : `ropeScaling.${k}[${bad}] must be finite and > 0, got ${String(v[bad])}`;
  };
  if (r.type === "factors") return factorsProblem("factors", r.factors);
  if (r.type === "longrope") {
    const problem = factorsProblem("shortFactors", r.shortFactors) ?? factorsProblem("longFactors", r.longFactors);
    if (problem) return problem;
    if (r.shortFactors.length !== r.longFactors.length) return `ropeScaling.shortFactors has ${r.shortFactors.length} entries, longFactors ${r.longFactors.length}`;
    if (!(Number.isInteger(r.originalContext) && r.originalContext >= 1)) return `ropeScaling.originalContext must be an integer >= 1, got ${String(r.originalContext)}`;
    return pos(r.attentionFactor) ? null : `ropeScaling.attentionFactor must be finite and > 0, got ${String(r.attentionFactor)}`;
  }
  return `unknown ropeScaling type ${JSON.stringify((r as { type?: unknown }).type)}`;
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Total parameter count (classifier counted once when tied), in closed form: safe for absurd configs. */
export function parameterCount(c: ModelConfig): number {
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const layer = 2 * c.dim + q * c.dim * 2 + kv * c.dim * 2 + (c.qkvBias ? q + 2 * kv : 0) + (c.qkNorm ? 2 * c.headDim : 0) + (c.sandwichNorms ? 2 * c.dim : 0) + 3 * c.hiddenDim * c.dim;
  return c.vocabSize * c.dim * (c.tiedEmbeddings ? 1 : 2) + c.nLayers * layer + c.dim;
}
