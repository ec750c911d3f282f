/**
 * Token sampling as llama2.c's run.c does it.
 *
 * PRNG: xorshift64* exactly as llama2.c (`random_u32`: state ^= state >> 12; state ^= state << 25;
 * state ^= state >> 27; return (state * 0x2545F4914F6CDD1D) >> 32, all mod 2^64; `random_f32`:
 * (u32 >> 8) / 2^24). The state starts at the seed, which must be a positive integer (xorshift
 * never leaves 0). One draw per sampled token, so a seed gives the same coin sequence as llama2.c.
 * Probabilities are computed in f64 here (llama2.c uses f32), so a coin that lands within ~1e-7 of
 * a cumulative boundary may pick a neighbouring token.
 */
import { ArgumentError } from "../errors.js";

const MASK = (1n << 64n) - 1n;

/** llama2.c's xorshift64* generator. */
export class XorShiftRng {
  private state: bigint;
  constructor(seed: number | bigint) {
    const s = typeof seed === "bigint" ? seed : Number.isSafeInteger(seed) ? BigInt(seed) : -1n;
    if (s < 1n || s > MASK) throw new ArgumentError("seed", `must be an integer in [1, 2^64), got ${String(seed)}`);
    this.state = s;
  }
  /** Next 32-bit value. */
  nextU32(): number {
    let s = this.state;
    s ^= s >> 12n;
    s ^= (s << 25n) & MASK;
    s ^= s >> 27n;
    this.state = s;
    return Number(((s * 0x2545f4914f6cdd1dn) & MASK) >> 32n);
  }
  /** Next float in [0, 1) with 24 random bits. */
  nextF32(): number {
    return (this.nextU32() >>> 8) / 16777216;
  }
}

/** Options of a Sampler. */
export interface SamplerOptions {
  /** 0 (default) = greedy argmax; > 0 divides the logits before the softmax. */
  temperature?: number;
  /** Nucleus sampling threshold in (0, 1); values <= 0 or >= 1 (default 1) disable it. */
  topP?: number;
  /** PRNG seed, a positive integer (default 1). */
  seed?: number | bigint;
}

/** Picks the next token from logits: greedy, temperature, or temperature + top-p (llama2.c's `sample`). */
export class Sampler {
  readonly temperature: number;
  readonly topP: number;
  private readonly rng: XorShiftRng;

  constructor(opts: SamplerOptions = {}) {
    const t = opts.temperature ?? 0;
    if (typeof t !== "number" || !Number.isFinite(t) || t < 0) throw new ArgumentError("temperature", `must be finite and >= 0, got ${t}`);
    const p = opts.topP ?? 1;
    if (typeof p !== "number" || Number.isNaN(p)) throw new ArgumentError("topP", `must be a number, got ${p}`);
    this.temperature = t;
    this.topP = p;
    this.rng = new XorShiftRng(opts.seed ?? 1);
  }

  /** The next token id. */
  sample(logits: ArrayLike<number>): number {
    const n = logits.length;
    if (n === 0) throw new ArgumentError("logits", "empty");
    if (this.temperature === 0) return argmax(logits);
    const probs = new Float64Array(n);
    let m = -Infinity;
    for (let i = 0; i < n; i++) m = Math.max(m, logits[i] / this.temperature);
    let z = 0;
    for (let i = 0; i < n; i++) { probs[i] = Math.exp(logits[i] / this.temperature - m); z += probs[i]; }
    for (let i = 0; i < n; i++) probs[i] /= z;
    const coin = this.rng.nextF32();
    if (this.topP <= 0 || this.topP >= 1) return sampleMult(probs, coin);
    return sampleTopP(probs, this.topP, coin);
  }
}

/** First index of the maximum (NaN skipped). */
export function argmax(x: ArrayLike<number>): number {
  let best = -Infinity, bi = 0, found = false;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v > best || (!found && v === v)) { best = v; bi = i; found = true; }
  }
  return bi;
}

function sampleMult(probs: Float64Array, coin: number): number {
  let cdf = 0;
  for (let i = 0; i < probs.length; i++) {
    cdf += probs[i];
    if (coin < cdf) return i;
  }
  return probs.length - 1;
}

// llama2.c's sample_topp: drop tokens below (1 - p) / (n - 1), sort by probability (descending;
// ties by index, where llama2.c's qsort is unspecified), keep the smallest prefix whose mass
// exceeds p, sample within it.
function sampleTopP(probs: Float64Array, topP: number, coin: number): number {
  const n = probs.length;
  const cutoff = (1 - topP) / (n - 1);
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (probs[i] >= cutoff) idx.push(i);
  idx.sort((a, b) => probs[b] - probs[a] || a - b);
  let cum = 0, last = idx.length - 1;
  for (let i = 0; i < idx.length; i++) {
    cum += probs[idx[i]];
    if (cum > topP) { last = i; break; }
  }
  const r = coin * cum;
  let cdf = 0;
  for (let i = 0; i <= last; i++) {
    cdf += probs[idx[i]];
    if (r < cdf) return idx[i];
  }
  return idx[last];
}
