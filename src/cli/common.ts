/** Helpers shared by the model commands: model/tokenizer resolution, runtime lifetime, shared flags. */
import { DassError, FormatError, formatBytes } from "../errors.js";
import { findCachedModel, findModel, modelCacheDir, parseHubSpec, type HubSpec } from "../pull/index.js";
import { int, str, type OptionSpec, type ParsedArgs } from "./args.js";
import type { CommandContext } from "./context.js";
// lib.js (formats, tokenizers, runtime) is loaded when a command runs, keeping `dass --help` and `dass pull` light.
import type { ModelReader, Runtime, Tokenizer, Transformer } from "./lib.js";
import type { GgmlWriteType } from "../formats/ggml-quantize.js";

/** `--model` as every model command documents it. */
export const MODEL_OPTION: OptionSpec = {
  name: "model",
  type: "string",
  value: "M",
  required: true,
  help: "model: llama2.c .bin, .gguf, Hugging Face folder, or a name pulled with `dass pull` (e.g. stories260K)",
};

/** `--tokenizer`. */
export const TOKENIZER_OPTION: OptionSpec = {
  name: "tokenizer",
  type: "string",
  value: "T",
  help: "tokenizer: llama2.c tokenizer.bin, tokenizer.json or .gguf [default: the model's own, or the pulled one]",
};

/** `--threads`. */
export const THREADS_OPTION: OptionSpec = {
  name: "threads",
  type: "string",
  value: "N",
  help: "worker threads [default: all cores]",
};

/** `--dtype` of the commands that write models: a storage dtype, or (GGUF) a ggml quantisation. */
export const DTYPE_OPTION: OptionSpec = {
  name: "dtype", type: "string", value: "DTYPE", choices: ["f32", "f16", "bf16", "q8_0", "q6_k", "q4_0"],
  help: "storage of the output's tensors; q8_0, q6_k and q4_0 quantise a GGUF's matrices whose rows are whole blocks " +
    "(32 values, 256 for q6_k; pruned zeros stay exact) " +
    "[default: keep the input's; a quantised GGUF copies the matrices it does not change as stored, " +
    "keeps Q8_0, Q6_K and Q4_0 for the ones it rewrites and writes other rewritten types as f32]",
};

/** `--dtype` split into what the writers take: `dtype` (f32, f16, bf16) or `quantize` (Q8_0, Q6_K, Q4_0). */
export function dtypeArgs(args: ParsedArgs): { dtype?: "f32" | "f16" | "bf16"; quantize?: GgmlWriteType } {
  const v = str(args, "dtype");
  const q = v ? QUANTIZED_DTYPES[v] : undefined;
  if (q) return { quantize: q };
  return v ? { dtype: v as "f32" | "f16" | "bf16" } : {};
}

// Spelled out rather than derived from GGML_WRITE_TYPES, whose module this light one does not load.
const QUANTIZED_DTYPES: Record<string, GgmlWriteType> = { q8_0: "Q8_0", q6_k: "Q6_K", q4_0: "Q4_0" };

/** `--json`. */
export const JSON_OPTION: OptionSpec = { name: "json", type: "boolean", help: "print machine-readable JSON on stdout, no progress" };

/** Where a `--model` value points. */
export interface ResolvedModel {
  path: string;
  /** The tokenizer that came with a pulled model. */
  tokenizerPath?: string;
}

/**
 * Resolves `--model`: an existing path, else the name of a model in the `dass pull` cache (a registry
 * name, or a Hugging Face `org/name`, whichever revision was pulled last).
 */
export async function resolveModel(ctx: CommandContext, value: string): Promise<ResolvedModel> {
  const fs = await import("node:fs/promises");
  try {
    await fs.stat(value);
    return { path: value };
  } catch {
    // Not a path: maybe a pulled model's name.
  }
  let hub: HubSpec | null = null;
  try {
    hub = parseHubSpec(value);
  } catch {
    // A path with a "/" that is no Hub id either.
  }
  if (hub) {
    const dir = await modelCacheDir(value, { env: ctx.io.env });
    // A pulled GGUF is the one .gguf file in its folder, or the first part of a split one; a transformers
    // model is its folder.
    const ggufs = hub.gguf !== undefined ? (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.toLowerCase().endsWith(".gguf")).sort() : [];
    const gguf = ggufs.find((n) => /-00001-of-\d{5}\.gguf$/i.test(n)) ?? ggufs[0];
    const ok = hub.gguf !== undefined ? gguf !== undefined : await fs.stat(`${dir}/config.json`).then(() => true, () => false);
    if (!ok) {
      throw new DassError("ERR_NOT_CACHED", `${value}: no such file or folder, nor a Hugging Face model in the cache (\`dass pull ${value}\` downloads it)`);
    }
    return { path: gguf !== undefined ? `${dir}/${gguf}` : dir };
  }
  if (findModel(value)) {
    const m = await findCachedModel(value, { env: ctx.io.env, signal: ctx.signal });
    if (!m) throw new DassError("ERR_NOT_CACHED", `model ${value} is not downloaded yet: run \`dass pull ${value}\` first`);
    return { path: m.modelPath, tokenizerPath: m.tokenizerPath };
  }
  throw new FormatError(value, "no such file or folder (and not a model name known to `dass pull`)");
}

/** Opens `--model`, and the tokenizer when `wantTokenizer`. Close the reader when done. */
export async function openModelArgs(
  ctx: CommandContext,
  args: ParsedArgs,
  wantTokenizer: boolean,
): Promise<{ reader: ModelReader; tokenizer: Tokenizer | undefined; modelPath: string; tokenizerPath: string | undefined }> {
  const { openModel, loadTokenizer } = await import("./lib.js");
  const resolved = await resolveModel(ctx, str(args, "model")!);
  const reader = await openModel(resolved.path);
  try {
    const tokPath = str(args, "tokenizer") ?? resolved.tokenizerPath;
    let tokenizer: Tokenizer | undefined;
    if (wantTokenizer) {
      tokenizer = tokPath
        ? await loadTokenizer(tokPath, { vocabSize: reader.config.vocabSize })
        : await loadTokenizer(reader, { vocabSize: reader.config.vocabSize });
    }
    return { reader, tokenizer, modelPath: resolved.path, tokenizerPath: tokPath };
  } catch (err) {
    await reader.close();
    throw err;
  }
}

/** Creates a runtime with `--threads`, runs `fn`, and closes it. */
export async function withRuntime<T>(ctx: CommandContext, args: ParsedArgs, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const threads = int(args, "threads", undefined, 1, 1024);
  const { createRuntime } = await import("./lib.js");
  const rt = await createRuntime(threads === undefined ? { signal: ctx.signal } : { threads, signal: ctx.signal });
  try {
    return await fn(rt);
  } finally {
    rt.close();
  }
}

/**
 * Loads the model onto the runtime (weights resident when they fit the Wasm budget, else streamed block by
 * block), showing phase "load" progress. The caller closes the Transformer.
 *
 * Streamed blocks are held on the JS heap (as f32, or as the stored blocks of the ggml types the Wasm
 * kernels dequantise) while that takes at most half of the machine's memory; beyond that (a 7B model is
 * 27 GB in f32) they are re-read from the file each time they run. Perplexity runs layer-major (each block
 * once per pass), so that costs it little; generation re-reads per token.
 */
export async function loadTransformer(
  ctx: CommandContext,
  reader: ModelReader,
  runtime: Runtime,
  contextLength?: number,
): Promise<Transformer> {
  const { Transformer, DEFAULT_BUDGET_BYTES, hostHeldBytes } = await import("./lib.js");
  const os = await import("node:os");
  let heldBytes = 0;
  for (const t of reader.tensors.values()) heldBytes += hostHeldBytes(t);
  const streamFrom = streamSource(heldBytes, DEFAULT_BUDGET_BYTES, os.totalmem());
  if (streamFrom === "reader") {
    ctx.note(`note: this model holds ${formatBytes(heldBytes)} in memory (f32, or stored blocks of Q8_0/Q4_0/Q4_K/Q5_K/Q6_K), more than half of this machine's: ` +
      `blocks that do not fit the Wasm budget are re-read from ${reader.path} whenever they run`);
  }
  return ctx.withProgress((r) =>
    Transformer.load(reader, runtime, {
      contextLength,
      streamFrom,
      signal: ctx.signal,
      onProgress: (p) => r.onProgress({ phase: "load", done: p.done, total: p.total }),
    }),
  );
}

/** Where streamed blocks live: on the heap while the f32 weights beyond the Wasm budget take at most half the RAM. */
export function streamSource(f32Bytes: number, budgetBytes: number, totalMemBytes: number): "host" | "reader" {
  return f32Bytes - budgetBytes > totalMemBytes / 2 ? "reader" : "host";
}

/** A number for tables: fixed decimals, or "-" when not finite. */
export function fmt(x: number | undefined, digits = 3): string {
  return typeof x === "number" && Number.isFinite(x) ? x.toFixed(digits) : "-";
}
