/**
 * Text generation with llama2.c `run` semantics: the prompt is encoded with BOS; `steps` counts
 * positions including the prompt; at each position the next token is the following prompt token
 * (while inside the prompt) or a sample; generation stops after `steps` positions or when BOS is
 * produced (or, with `stopTokens`, one of them: the EOS of chat and instruction models). Every next
 * token is printed as its piece (a piece right after BOS loses its leading space; byte tokens print as
 * the raw byte), and the text ends with a newline.
 */
import { ArgumentError, throwIfAborted } from "../errors.js";
import type { Transformer } from "../model/transformer.js";
import type { Tokenizer } from "../tokenizers/types.js";
import { Sampler, type SamplerOptions } from "./sampler.js";

/** One printed piece. */
export interface GeneratedPiece {
  /** Token id. */
  token: number;
  /** Position whose step produced it (the token sits at pos + 1). */
  pos: number;
  /** Raw bytes printed. */
  bytes: Uint8Array;
  /**
   * Text of those bytes decoded in stream order: a UTF-8 character split over byte tokens comes
   * out whole with its last byte (earlier pieces then carry "").
   */
  text: string;
  /** Whether the token came from the prompt (forced) rather than from sampling. */
  fromPrompt: boolean;
}

/** Options of generate(). */
export interface GenerateOptions extends SamplerOptions {
  /**
   * Positions to run, prompt included (llama2.c `-n`). 0 or above the context length means the
   * context length (as llama2.c clamps to seq_len). Default: the context length.
   */
  steps?: number;
  /**
   * Sampled tokens that end generation besides BOS, unprinted (e.g. the model's EOS). Default none, as
   * llama2.c: its models delimit texts with BOS.
   */
  stopTokens?: readonly number[];
  /**
   * Encode the prompt with BOS (default true, as llama2.c). A rendered chat template carries its own, as
   * transformers tokenizes it without special tokens added.
   */
  addBos?: boolean;
  /** Read special-token texts in the prompt as those tokens (see EncodeOptions.parseSpecial); for chat templates. */
  parseSpecial?: boolean;
  /** Called with each printed piece, in order. */
  onPiece?: (piece: GeneratedPiece) => void;
  /** Called after each position. */
  onProgress?: (p: { pos: number; steps: number }) => void;
  signal?: AbortSignal;
}

/** Result of generate(). */
export interface GenerateResult {
  /** Exactly what llama2.c prints: the pieces, then "\n". */
  text: string;
  /** The same as raw bytes (pieces + 0x0a). */
  bytes: Uint8Array;
  /** Next-token ids for positions 0, 1, ... (prompt tokens after BOS, then generated ones). */
  tokens: number[];
  /** Prompt length in tokens, BOS included. */
  promptTokens: number;
  /** Why it stopped: all steps ran, BOS was produced, or one of `stopTokens` was. */
  stop: "steps" | "bos" | "stop-token";
  /** Seconds spent after the first position (llama2.c's tok/s excludes it). */
  seconds: number;
}

type ByteTokenizer = Tokenizer & { decodePieceBytes?(prev: number, tok: number): Uint8Array };

/** Generates from `prompt` (see the module comment). */
export async function generate(model: Transformer, tokenizer: Tokenizer, prompt: string, options: GenerateOptions = {}): Promise<GenerateResult> {
  if (typeof prompt !== "string") throw new ArgumentError("prompt", "must be a string");
  const ctx = model.contextLength;
  let steps = options.steps ?? ctx;
  if (!Number.isInteger(steps) || steps < 0) throw new ArgumentError("steps", `must be a non-negative integer, got ${steps}`);
  if (steps === 0 || steps > ctx) steps = ctx;
  const sampler = new Sampler(options);
  const stopTokens = new Set(options.stopTokens ?? []);
  for (const t of stopTokens) {
    if (!(Number.isInteger(t) && t >= 0 && t < model.config.vocabSize)) throw new ArgumentError("stopTokens", `token ${t} is not in the vocabulary [0, ${model.config.vocabSize})`);
  }
  const { signal, onPiece, onProgress } = options;
  throwIfAborted(signal);
  const addBos = options.addBos ?? true;
  const prompt_ = tokenizer.encode(prompt, { bos: addBos, eos: false, parseSpecial: options.parseSpecial ?? false });
  if (prompt_.length < 1) throw new ArgumentError("prompt", addBos ? "encodes to no tokens (the tokenizer has no BOS?)" : "encodes to no tokens");
  if (prompt_.length > ctx) {
    throw new ArgumentError("prompt", `is ${prompt_.length} tokens${addBos ? " (with BOS)" : ""}, longer than the context length ${ctx}`);
  }
  const bosId = model.config.bosId;
  const tok = tokenizer as ByteTokenizer;
  const encoder = new TextEncoder();
  const pieceBytes = (prev: number, t: number): Uint8Array =>
    typeof tok.decodePieceBytes === "function" ? tok.decodePieceBytes(prev, t) : encoder.encode(tok.decodePiece(prev, t));
  const decoder = new TextDecoder("utf-8");
  const chunks: Uint8Array[] = [];
  const tokens: number[] = [];
  const cache = model.newCache(steps); // positions never pass steps
  let stop: GenerateResult["stop"] = "steps";
  let started = 0;
  try {
    const P = prompt_.length;
    // Positions [0, n) are prompt positions; their tokens go through one prefill.
    const n = Math.min(P, steps);
    let logits = await model.forward(prompt_.slice(0, n), 0, cache, { logits: n === P ? "last" : "none", signal });
    started = now();
    let token = prompt_[0];
    for (let pos = 0; pos < steps; pos++) {
      throwIfAborted(signal);
      let next: number;
      const fromPrompt = pos < P - 1;
      if (fromPrompt) next = prompt_[pos + 1];
      else {
        if (pos >= n) logits = await model.decode(token, pos, cache, { signal });
        next = sampler.sample(logits);
      }
      onProgress?.({ pos: pos + 1, steps });
      if (next === bosId) { stop = "bos"; break; }
      if (!fromPrompt && stopTokens.has(next)) { stop = "stop-token"; break; }
      tokens.push(next);
      const bytes = pieceBytes(token, next);
      chunks.push(bytes);
      onPiece?.({ token: next, pos, bytes, text: decoder.decode(bytes, { stream: true }), fromPrompt });
      token = next;
    }
  } finally {
    cache.free();
  }
  const seconds = (now() - started) / 1000;
  chunks.push(Uint8Array.of(0x0a));
  let size = 0;
  for (const c of chunks) size += c.byteLength;
  const bytes = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) { bytes.set(c, o); o += c.byteLength; }
  return { text: new TextDecoder().decode(bytes), bytes, tokens, promptTokens: prompt_.length, stop, seconds };
}

function now(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}
