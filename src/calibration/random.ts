/**
 * The seeded generator of docs/methods.md (mulberry32). Every implementation that follows the spec
 * draws the same calibration windows from the same seed, so results can be compared across tools.
 */

/** A source of uniform numbers in [0, 1). */
export type Uniform = () => number;

/** mulberry32 seeded with `seed` (taken modulo 2^32); returns uniform floats in [0, 1) with 32-bit resolution. */
export function mulberry32(seed: number): Uniform {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t = (t + Math.imul(t ^ (t >>> 7), t | 61)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
