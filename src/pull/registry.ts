/**
 * Models `dass pull` knows. Each file has its canonical download URL, its size and, where known, its sha256.
 *
 * Provenance: Andrej Karpathy's llama2.c "tinyllamas" (MIT), trained on TinyStories. Checkpoints are on the
 * Hugging Face repo `karpathy/tinyllamas` (URLs use the `main` branch; the sha256 pins the content, so a
 * changed file is rejected rather than silently used). The 32000-token `tokenizer.bin` of the larger models
 * ships in the llama2.c GitHub repository. Sizes follow from the llama2.c legacy layout (28-byte header +
 * f32 weights incl. the freq_cis tables) and agree with published listings; the sha256 values are the ones
 * widely pinned for these files (stories260K's were checked here against the copies in ../shared/data).
 *
 * A file may carry `sha256: undefined` when its hash is not known in advance: it is then verified by size
 * only (`bytes` is required in that case) and `dass pull` says so.
 */

/** One file of a registered model. */
export interface RegistryFile {
  /** File name in the cache folder (and the last path segment under a base-URL override). */
  name: string;
  /** What the file is: weights, the tokenizer, or another file the model's folder needs (config.json). */
  role: "model" | "tokenizer" | "config";
  /** Canonical download URL. */
  url: string;
  /** Exact size in bytes, when known. */
  bytes?: number;
  /** Lower-case hex sha256; undefined = unknown, verify by size only. */
  sha256?: string;
  /**
   * For a file verified by size only: an id of its content (a Hub file's Git blob id). A cached copy is
   * reused only when it was downloaded for the same id.
   */
  blob?: string;
}

/** A registered model. */
export interface RegistryModel {
  /** Name used with `dass pull NAME`. */
  name: string;
  /** One-line description. */
  description: string;
  /** Container format of the model file. */
  format: "llama2c" | "gguf" | "safetensors";
  /** Licence of the weights. */
  license: string;
  files: RegistryFile[];
}

const TINYLLAMAS = "https://huggingface.co/karpathy/tinyllamas/resolve/main";
const LLAMA2C_TOKENIZER: RegistryFile = {
  name: "tokenizer.bin",
  role: "tokenizer",
  url: "https://raw.githubusercontent.com/karpathy/llama2.c/master/tokenizer.bin",
  bytes: 433_869,
  sha256: "50a52ef822ee9e83de5ce9d0be0a025a773d019437f58b5ff9dcafb063ece361",
};

/** Every model `dass pull` can download, smallest first. */
export const MODELS: readonly RegistryModel[] = [
  {
    name: "stories260K",
    description: "llama2.c TinyStories 260K (dim 64, 5 layers, GQA 8/4 heads, 512-token vocabulary), 1 MiB",
    format: "llama2c",
    license: "MIT",
    files: [
      {
        name: "stories260K.bin",
        role: "model",
        url: `${TINYLLAMAS}/stories260K/stories260K.bin`,
        bytes: 1_056_540,
        sha256: "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696",
      },
      {
        name: "tok512.bin",
        role: "tokenizer",
        url: `${TINYLLAMAS}/stories260K/tok512.bin`,
        bytes: 6_227,
        sha256: "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312",
      },
    ],
  },
  {
    name: "stories15M",
    description: "llama2.c TinyStories 15M (dim 288, 6 layers, 6 heads, 32000-token Llama 2 vocabulary), 58 MiB",
    format: "llama2c",
    license: "MIT",
    files: [
      {
        name: "stories15M.bin",
        role: "model",
        url: `${TINYLLAMAS}/stories15M.bin`,
        bytes: 60_816_028,
        sha256: "cd590644d963867a2b6e5a1107f51fad663c41d79c149fbecbbb1f95fa81f49a",
      },
      LLAMA2C_TOKENIZER,
    ],
  },
  {
    name: "stories42M",
    description: "llama2.c TinyStories 42M (dim 512, 8 layers, 8 heads, 32000-token Llama 2 vocabulary), 159 MiB",
    format: "llama2c",
    license: "MIT",
    files: [
      {
        name: "stories42M.bin",
        role: "model",
        url: `${TINYLLAMAS}/stories42M.bin`,
        bytes: 167_020_572,
        sha256: "9f65a1000e17d0bc167dd6332e0ce5119a0222a3d920cead5bce413bfab2ee7b",
      },
      LLAMA2C_TOKENIZER,
    ],
  },
  {
    name: "stories110M",
    description: "llama2.c TinyStories 110M (dim 768, 12 layers, 12 heads, 32000-token Llama 2 vocabulary), 418 MiB",
    format: "llama2c",
    license: "MIT",
    files: [
      {
        name: "stories110M.bin",
        role: "model",
        url: `${TINYLLAMAS}/stories110M.bin`,
        bytes: 438_381_596,
        sha256: "515267168726a1ed1317a64a408492e6af3b67c1f71c5bd98c01d9d721803a24",
      },
      LLAMA2C_TOKENIZER,
    ],
  },
];

/** Looks a model up by name (case-insensitive); undefined when unknown. */
export function findModel(name: string, models: readonly RegistryModel[] = MODELS): RegistryModel | undefined {
  const lower = name.toLowerCase();
  return models.find((m) => m.name.toLowerCase() === lower);
}
