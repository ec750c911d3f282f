/**
 * The library entry points the CLI commands call, in one place.
 *
 * Modules that are part of this build are imported statically (formats, tokenizers, runtime, forward pass,
 * pruning). Others are loaded on first use through `optional()`, typed by the interfaces below, which state
 * the API each command expects (evaluation, generation and calibration text have landed since, and keep their
 * loaders; compressed N:M storage is still being written). A command whose module is missing fails
 * with NotAvailableError instead of breaking the whole CLI (and `dass --help`, `dass pull`) at load time.
 * Once a module lands, replace its `optional()` loader with a static import.
 */
import { DassError } from "../errors.js";
import type { Tokenizer } from "../tokenizers/types.js";
import type { Transformer } from "../model/transformer.js";

export { openModel } from "../formats/open.js";
export { convertModel } from "../formats/convert.js";
export type { ModelFormat, ModelReader } from "../formats/reader.js";
export { loadTokenizer } from "../tokenizers/index.js";
export { toGGUFVocab } from "../tokenizers/gguf.js";
export { SentencePieceTokenizer } from "../tokenizers/sentencepiece.js";
export type { Tokenizer } from "../tokenizers/types.js";
export { createRuntime } from "../runtime/runtime.js";
export { Transformer } from "../model/transformer.js";
export type { Runtime } from "../runtime/runtime.js";
export { prune, parsePattern, type Pattern, type PruneMethod, type PruneReport, type PruneProgress, type MatrixReport } from "../pruning/index.js";
export { checkSaveTarget, savePrunedModel, type SavedModel } from "../pruning/save.js";
export { calibrationWindows, type CalibrationWindows } from "../calibration/sampler.js";

/** A library module this build does not include (yet). */
export class NotAvailableError extends DassError {
  constructor(what: string) {
    super("ERR_NOT_AVAILABLE", `${what} is not available in this build of dass-wasm`);
  }
}

/** Perplexity, as `src/eval/index.ts` provides it. */
export interface EvalApi {
  evaluatePerplexity(
    model: Transformer,
    tokenizer: Tokenizer,
    /** The whole evaluation text (JSON lines already joined). */
    text: string,
    options?: {
      protocol?: "paper" | "bos";
      /** Window length; default min(2048, the model's context length). */
      seqLen?: number;
      /** Keep only the first N tokens of the stream. */
      maxTokens?: number;
      onProgress?: (p: { done: number; total: number; windows: number }) => void;
      signal?: AbortSignal;
    },
  ): Promise<{ ppl: number; meanNll: number; tokens: number; windows: number }>;
}

/** Generation, as `src/generate/index.ts` provides it (llama2.c `run` semantics). */
export interface GenerateApi {
  generate(
    model: Transformer,
    tokenizer: Tokenizer,
    prompt: string,
    options: {
      /** Positions including the prompt, as llama2.c's `run -n` (clamped to the context length). */
      steps: number;
      temperature: number;
      /** Positive integer (xorshift64* state). */
      seed: number;
      signal?: AbortSignal;
      /** Each printed piece as soon as it is decoded: raw bytes, and text decoded in stream order. */
      onPiece?: (piece: { bytes: Uint8Array; text: string }) => void;
      onProgress?: (p: { pos: number; steps: number }) => void;
    },
  ): Promise<{
    /** Exactly what llama2.c prints: the pieces, then "\n". */
    text: string;
    /** Next-token ids for positions 0, 1, ... */
    tokens: number[];
    promptTokens: number;
    stop: string;
    /** Seconds after the first position (llama2.c's tok/s excludes it). */
    seconds: number;
  }>;
}

/** Calibration/evaluation text reading from `src/calibration/text.ts`. */
export interface CalibrationApi {
  readCalibrationFile(path: string): Promise<{ text: string; name: string }>;
}

const cache = new Map<string, Promise<unknown>>();

async function optional<T>(specifier: string, fn: string, what: string): Promise<T> {
  let p = cache.get(specifier);
  if (!p) {
    // A variable specifier keeps tsc from resolving the module at build time.
    p = import(specifier);
    cache.set(specifier, p);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await p) as Record<string, unknown>;
  } catch (err) {
    cache.delete(specifier);
    const e = err as { code?: string; message?: string };
    if (e.code === "ERR_MODULE_NOT_FOUND" && String(e.message).includes(specifier.replace(/^\.\.\//, ""))) {
      throw new NotAvailableError(what);
    }
    throw err;
  }
  if (typeof mod[fn] !== "function") throw new NotAvailableError(`${what} (${fn})`);
  return mod as T;
}

/** `src/eval`: perplexity. */
export const loadEval = (): Promise<EvalApi> => optional<EvalApi>("../eval/index.js", "evaluatePerplexity", "perplexity evaluation (src/eval)");
/** `src/generate`: text generation. */
export const loadGenerate = (): Promise<GenerateApi> => optional<GenerateApi>("../generate/index.js", "generate", "text generation (src/generate)");
/** `src/sparse/storage.ts`: compressed N:M storage for `dass prune --compress` (issue 5). */
export interface CompressedStorageApi {
  /** The writers' `compress` option for the N:M matrices of a pruning report. */
  compressForSave(report: { matrices: readonly { block: number; name: string; pattern: string; axis: string; nmValid?: boolean | null }[] }): unknown;
}
/** `src/sparse/storage.ts`: compressed N:M storage (loaded on demand; absent builds fail with NotAvailableError). */
export const loadCompressedStorage = (): Promise<CompressedStorageApi> =>
  optional<CompressedStorageApi>("../sparse/storage.js", "compressForSave", "compressed N:M storage (src/sparse/storage.ts)");
/** `src/calibration`: calibration / evaluation text files. */
export const loadCalibration = (): Promise<CalibrationApi> =>
  optional<CalibrationApi>("../calibration/index.js", "readCalibrationFile", "calibration text reading (src/calibration)");

/**
 * Reads an evaluation or calibration text file: plain UTF-8, or JSON lines whose `"text"` fields are joined
 * with "\n\n". Uses `src/calibration` when present, so both commands read files exactly as the library does.
 */
export async function readTextFile(path: string): Promise<string> {
  try {
    const cal = await loadCalibration();
    return (await cal.readCalibrationFile(path)).text;
  } catch (err) {
    if (!(err instanceof NotAvailableError)) throw err;
  }
  const { FormatError } = await import("../errors.js");
  const fs = await import("node:fs/promises");
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (e) {
    throw new FormatError(path, `cannot read: ${(e as Error).message}`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new FormatError(path, "is not valid UTF-8 text");
  }
  if (!/\.jsonl$/i.test(path)) return text;
  const rows: string[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      throw new FormatError(path, `line ${i + 1} is not JSON`);
    }
    const t = (rec as { text?: unknown } | null)?.text;
    if (typeof t !== "string") throw new FormatError(path, `line ${i + 1} has no string "text" field`);
    rows.push(t);
  }
  return rows.join("\n\n");
}
