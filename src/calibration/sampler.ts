/**
 * Calibration windows (docs/methods.md): one token stream without BOS/EOS, `nsamples` windows of
 * `seqlen` consecutive tokens whose starts come from mulberry32(seed):
 * `start = floor(u * (len - seqlen + 1))`. Windows are raw slices, each later run as a fresh
 * sequence at positions 0..seqlen-1.
 */
import { ArgumentError } from "../errors.js";
import type { Tokenizer } from "../tokenizers/types.js";
import { mulberry32 } from "./random.js";

/** Drawn windows, token-major: window w is `tokens[w*seqlen : (w+1)*seqlen]`. */
export interface CalibrationWindows {
  readonly nsamples: number;
  readonly seqlen: number;
  /** nsamples × seqlen token ids. */
  readonly tokens: Int32Array;
  /** Start offset of each window in the stream (for reports). */
  readonly starts: number[];
  /** Length of the token stream the windows were drawn from. */
  readonly streamLength: number;
  readonly seed: number;
  /** Where the text came from (file name), for reports and messages. */
  readonly source: string;
}

/** Options of sampleWindows(). */
export interface SampleOptions {
  nsamples: number;
  seqlen: number;
  seed?: number;
  /** Name of the calibration source, used in the error for a too-short stream. */
  source?: string;
}

/** Validates a positive integer option. */
function positiveInt(arg: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new ArgumentError(arg, `must be a positive integer, got ${v}`);
}

/** The window starts mulberry32(seed) gives for a stream of `len` tokens (len >= seqlen). */
export function windowStarts(len: number, seqlen: number, nsamples: number, seed = 0): number[] {
  const next = mulberry32(seed);
  const span = len - seqlen + 1;
  const starts: number[] = [];
  for (let i = 0; i < nsamples; i++) starts.push(Math.floor(next() * span));
  return starts;
}

/** Draws the calibration windows from an already tokenised stream. */
export function sampleWindows(stream: ArrayLike<number>, options: SampleOptions): CalibrationWindows {
  const { nsamples, seqlen } = options;
  const seed = options.seed ?? 0;
  const source = options.source ?? "<calibration>";
  positiveInt("nsamples", nsamples);
  positiveInt("seqlen", seqlen);
  if (!Number.isInteger(seed)) throw new ArgumentError("seed", `must be an integer, got ${seed}`);
  const len = stream.length;
  if (len < seqlen) {
    throw new ArgumentError("calib", `${source} tokenizes to ${len} tokens, fewer than one window of seqlen = ${seqlen}`);
  }
  const starts = windowStarts(len, seqlen, nsamples, seed);
  const tokens = new Int32Array(nsamples * seqlen);
  for (let w = 0; w < nsamples; w++) {
    const s = starts[w];
    for (let t = 0; t < seqlen; t++) tokens[w * seqlen + t] = stream[s + t];
  }
  return { nsamples, seqlen, tokens, starts, streamLength: len, seed, source };
}

/** Tokenises `text` as one stream (no BOS, no EOS) and draws the windows. */
export function calibrationWindows(text: string, tokenizer: Pick<Tokenizer, "encode">, options: SampleOptions): CalibrationWindows {
  const stream = tokenizer.encode(text, { bos: false, eos: false });
  return sampleWindows(stream, options);
}
