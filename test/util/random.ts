/**
 * Seeded randomness for tests, so a failing case can be reproduced from its seed: the mulberry32
 * generator of docs/methods.md (the library's, also used for calibration windows) and draws from it.
 */
import { mulberry32, type Uniform } from "../../src/calibration/random.js";

export { mulberry32 };

/** A source of uniform numbers in [0, 1). */
export type Rng = Uniform;

/** One standard normal draw (Box–Muller; 1 - u keeps the log argument in (0, 1]). */
export function randn(rng: Rng): number {
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** `n` floats uniform in [-scale, scale). */
export function randomF32(n: number, rng: Rng, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng() * 2 - 1) * scale;
  return out;
}

/** `n` floats drawn from N(0, scale^2). */
export function randnF32(n: number, rng: Rng, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = randn(rng) * scale;
  return out;
}

/** Integer uniform in [lo, hi). */
export function randInt(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo));
}
