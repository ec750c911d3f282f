/**
 * Small random models of every supported arch, reproducible from a seed, for format round trips and any test
 * that needs a model without shared data.
 *
 * Values are chosen to be exactly representable in f32, f16 and bf16 (weights k/256 with |k| < 256, norms
 * 0.5 + k/128), so writing in any dtype and reading back is bit-exact, and Gemma's +1 norm shift is exact too.
 */
import type { Arch, ModelConfig, RopeLayout, TensorDType } from "../../src/model/config.js";
import { expectedTensors, numel } from "../../src/model/config.js";
import type { TensorSource } from "../../src/formats/writer.js";
import { mulberry32 } from "./random.js";

/** A synthetic model: its config, its tensors by canonical name, and a writer-ready source over them. */
export interface SyntheticModel {
  config: ModelConfig;
  tensors: Map<string, Float32Array>;
  source: TensorSource;
}

/** Options of `syntheticModel`. */
export interface SyntheticOptions {
  /** Default: "half" (Hugging Face convention), "adjacent" for llama2.c/GGUF-llama style. */
  ropeLayout?: RopeLayout;
  /** Default: true for gemma, false otherwise. */
  tied?: boolean;
  /** Gemma's (1+w) norms; default true (HF convention). Ignored for other arches. */
  normPlusOne?: boolean;
  /** Config overrides applied last. */
  overrides?: Partial<ModelConfig>;
}

/** A small random config for `arch` (sizes vary with the seed). */
export function syntheticConfig(arch: Arch, seed: number, opts: SyntheticOptions = {}): ModelConfig {
  const r = mulberry32(seed ^ 0x5eed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const nKvHeads = pick([1, 2]);
  const nHeads = nKvHeads * pick([1, 2]);
  const headDim = pick([4, 8]);
  const gemma = arch === "gemma" || arch === "gemma2" || arch === "gemma3";
  // Gemma and Qwen3 decouple headDim from dim; the others keep dim = nHeads * headDim.
  const dim = gemma || arch === "qwen3" ? nHeads * headDim + 8 : nHeads * headDim;
  const base: ModelConfig = {
    arch,
    dim,
    hiddenDim: pick([12, 20, 36]),
    nLayers: pick([1, 2]),
    nHeads,
    nKvHeads,
    headDim,
    vocabSize: pick([7, 32, 45]),
    seqLen: pick([16, 64]),
    normEps: arch === "llama" || arch === "mistral" ? 1e-5 : 1e-6,
    ropeTheta: arch === "qwen2" || arch === "qwen3" || arch === "gemma3" ? 1000000 : 10000,
    ropeLayout: opts.ropeLayout ?? "half",
    tiedEmbeddings: opts.tied ?? gemma,
    qkvBias: arch === "qwen2",
    ...(arch === "qwen3" ? { qkNorm: true } : {}),
    act: gemma ? "gelu_tanh" : "silu",
    embedScale: gemma ? Math.sqrt(dim) : 1,
    normPlusOne: gemma ? opts.normPlusOne ?? true : false,
    // Gemma 2: scale as query_pre_attn_scalar = 2 headDim, caps small enough to bite on synthetic weights.
    ...(arch === "gemma2" ? { sandwichNorms: true, attnScale: 1 / Math.sqrt(2 * headDim), attnSoftcap: 2, logitSoftcap: 3 } : {}),
    // Gemma 3: q/k norms, a 3-position window on all but every second layer, whose RoPE base is 10^4 (10^6 elsewhere).
    ...(arch === "gemma3" ? { sandwichNorms: true, attnScale: 1 / Math.sqrt(2 * headDim), qkNorm: true, slidingWindow: 3, ropeLocalTheta: 10000 } : {}),
    bosId: 1,
    eosId: 2,
  };
  if (arch === "gemma3" && base.nLayers === 2) base.slidingLayers = [true, false];
  return { ...base, ...opts.overrides };
}

/** Random tensors for a config: weights k/256, norms 0.5 + k/128 (exact in every dtype). */
export function syntheticTensors(config: ModelConfig, seed: number): Map<string, Float32Array> {
  const r = mulberry32(seed);
  const out = new Map<string, Float32Array>();
  for (const spec of expectedTensors(config)) {
    const a = new Float32Array(numel(spec.shape));
    const isNorm = /(^norm$|_norm$)/.test(spec.name);
    for (let i = 0; i < a.length; i++) {
      a[i] = isNorm ? 0.5 + Math.floor(r() * 128) / 128 : (Math.floor(r() * 511) - 255) / 256;
    }
    out.set(spec.name, a);
  }
  return out;
}

/** A random model of `arch` from `seed`. */
export function syntheticModel(arch: Arch, seed: number, opts: SyntheticOptions = {}): SyntheticModel {
  const config = syntheticConfig(arch, seed, opts);
  const tensors = syntheticTensors(config, seed);
  return { config, tensors, source: sourceOf(tensors) };
}

/** A TensorSource over a map (returns copies, so writers may not alias the originals). */
export function sourceOf(tensors: Map<string, Float32Array>): TensorSource {
  return async (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`synthetic model has no tensor ${name}`);
    return t.slice();
  };
}

/** All dtypes, for looping. */
export const DTYPES: readonly TensorDType[] = ["f32", "f16", "bf16"];
