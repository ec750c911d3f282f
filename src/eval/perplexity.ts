/**
 * Perplexity, in the two protocols of docs/methods.md ("Evaluation"):
 *
 * - "paper" (default): the text as one token stream with one BOS at the very start; consecutive
 *   non-overlapping windows of seqLen tokens (the tail is dropped); each window is a fresh sequence
 *   predicting its own tokens 1..seqLen-1; ppl = exp(mean over windows of the window's mean NLL).
 * - "bos": the stream without BOS; window w = s[w*L, (w+1)*L) (tail dropped), fed as
 *   [BOS, s0 .. s(L-2)] and predicting s0 .. s(L-1); ppl = exp(mean NLL over all predicted tokens).
 *
 * NLLs are natural logs. Windows all have the same length, so both means are also the plain mean
 * over predicted tokens; they are accumulated in f64 in window order (thread-count independent).
 */
import { ArgumentError, throwIfAborted } from "../errors.js";
import type { Transformer } from "../model/transformer.js";
import type { Tokenizer } from "../tokenizers/types.js";

/** Which evaluation protocol (see the module comment). */
export type PerplexityProtocol = "paper" | "bos";

/** Progress of an evaluation: `done` of `total` (window, block) steps; `windows` windows in all. */
export interface PerplexityProgress {
  done: number;
  total: number;
  windows: number;
}

/** Options of evaluatePerplexity / perplexityOfTokens. */
export interface PerplexityOptions {
  /** Default "paper". */
  protocol?: PerplexityProtocol;
  /** Window length in tokens. Default min(2048, model.contextLength). */
  seqLen?: number;
  /**
   * Keep only the first N tokens of the stream (after the protocol's BOS handling: "paper" counts
   * its leading BOS, "bos" does not).
   */
  maxTokens?: number;
  /**
   * "window-major" runs each window through the whole model; "layer-major" runs block i over a
   * group of windows (hidden states on the JS heap), then block i + 1, so a streamed model uploads
   * each block once per group. "auto" (default): window-major when all weights are resident.
   */
  strategy?: "auto" | "window-major" | "layer-major";
  /** Layer-major group size in windows. Default: as many as fit in about 256 MiB of hidden states. */
  windowsPerGroup?: number;
  onProgress?: (p: PerplexityProgress) => void;
  signal?: AbortSignal;
}

/** Result of a perplexity evaluation. */
export interface PerplexityResult {
  /** exp(meanNll). */
  ppl: number;
  /** Mean natural-log NLL (over windows of window means; equal to the mean over predicted tokens). */
  meanNll: number;
  /** Tokens predicted (and scored). */
  tokens: number;
  /** Windows evaluated. */
  windows: number;
  protocol: PerplexityProtocol;
  seqLen: number;
  /** Tokens in the stream that was windowed (after maxTokens). */
  streamTokens: number;
}

const GROUP_BYTES = 256 << 20;

/** Tokenizes `text` as one stream (without BOS/EOS) and evaluates perplexity on it. */
export async function evaluatePerplexity(
  model: Transformer, tokenizer: Tokenizer, text: string, options: PerplexityOptions = {},
): Promise<PerplexityResult> {
  if (typeof text !== "string") throw new ArgumentError("text", "must be a string");
  throwIfAborted(options.signal);
  return perplexityOfTokens(model, tokenizer.encode(text, { bos: false, eos: false }), options);
}

/**
 * Perplexity of a token stream: the text's tokens without BOS (the "paper" protocol prepends the
 * model's BOS itself).
 */
export async function perplexityOfTokens(
  model: Transformer, textTokens: ArrayLike<number>, options: PerplexityOptions = {},
): Promise<PerplexityResult> {
  const protocol = options.protocol ?? "paper";
  if (protocol !== "paper" && protocol !== "bos") throw new ArgumentError("protocol", `must be "paper" or "bos", got ${String(protocol)}`);
  const L = options.seqLen ?? Math.min(2048, model.contextLength);
  if (!Number.isInteger(L) || L < 2 || L > model.contextLength) {
    throw new ArgumentError("seqLen", `must be an integer in [2, ${model.contextLength}] (the model's context), got ${L}`);
  }
  const bos = model.config.bosId;
  if (bos < 0) throw new ArgumentError("model", "has no BOS token; both protocols need one");
  let stream: number[] = protocol === "paper" ? [bos, ...Array.from(textTokens)] : Array.from(textTokens);
  if (options.maxTokens !== undefined) {
    if (!Number.isInteger(options.maxTokens) || options.maxTokens < 1) {
      throw new ArgumentError("maxTokens", `must be a positive integer, got ${options.maxTokens}`);
    }
    stream = stream.slice(0, options.maxTokens);
  }
  const nWin = Math.floor(stream.length / L);
  if (nWin < 1) {
    throw new ArgumentError("seqLen", `the stream has ${stream.length} tokens, fewer than one window of ${L}`);
  }
  const strategy = options.strategy ?? "auto";
  if (!["auto", "window-major", "layer-major"].includes(strategy)) {
    throw new ArgumentError("strategy", `must be "auto", "window-major" or "layer-major", got ${String(strategy)}`);
  }
  const layerMajor = strategy === "layer-major" || (strategy === "auto" && model.residency.mode !== "resident");
  const { signal, onProgress } = options;
  const nLayers = model.config.nLayers;
  const total = nWin * nLayers;
  let done = 0;

  // Window w's input tokens and targets (target -1 = not scored).
  const windowOf = (w: number): { input: number[]; targets: number[] } => {
    const s = stream.slice(w * L, (w + 1) * L);
    if (protocol === "paper") return { input: s, targets: [...s.slice(1), -1] };
    return { input: [bos, ...s.slice(0, L - 1)], targets: s };
  };
  const windowMeans = new Float64Array(nWin);
  const score = (w: number, nll: Float64Array, targets: number[]) => {
    let sum = 0, n = 0;
    for (let i = 0; i < nll.length; i++) if (targets[i] >= 0) { sum += nll[i]; n++; }
    windowMeans[w] = sum / n;
  };

  if (!layerMajor) {
    for (let w = 0; w < nWin; w++) {
      throwIfAborted(signal);
      const { input, targets } = windowOf(w);
      score(w, await model.sequenceNll(input, targets, { signal }), targets);
      done += nLayers;
      onProgress?.({ done, total, windows: nWin });
    }
  } else {
    const perWindow = L * model.config.dim * 4;
    const group = options.windowsPerGroup ?? Math.max(1, Math.floor(GROUP_BYTES / perWindow));
    if (!Number.isInteger(group) || group < 1) throw new ArgumentError("windowsPerGroup", `must be a positive integer, got ${group}`);
    for (let g0 = 0; g0 < nWin; g0 += group) {
      const ws = Array.from({ length: Math.min(group, nWin - g0) }, (_, i) => windowOf(g0 + i));
      const hidden = ws.map((w) => model.embed(w.input));
      for (let l = 0; l < nLayers; l++) {
        throwIfAborted(signal);
        await model.runBlock(l, hidden, { signal });
        done += ws.length;
        onProgress?.({ done, total, windows: nWin });
      }
      for (let i = 0; i < ws.length; i++) {
        throwIfAborted(signal);
        score(g0 + i, await model.nll(hidden[i], ws[i].targets), ws[i].targets);
      }
    }
  }
  let sum = 0;
  for (let w = 0; w < nWin; w++) sum += windowMeans[w];
  const meanNll = sum / nWin;
  return {
    ppl: Math.exp(meanNll), meanNll, tokens: nWin * (protocol === "paper" ? L - 1 : L), windows: nWin,
    protocol, seqLen: L, streamTokens: stream.length,
  };
}
