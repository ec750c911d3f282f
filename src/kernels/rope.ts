/**
 * Rotary position embedding (RoPE) in both pair layouts, through per-position tables.
 *
 * Angles follow llama2.c and Hugging Face exactly, in float32: for pair i of a head of width d,
 * freq_i = 1 / f32(theta ^ f32(2i / d)) and angle = f32(pos * freq_i); cos and sin of that f32
 * angle are then rounded to f32. (Computing the angle in f64 would be "more exact" but would
 * differ from both references by up to ulp(pos) radians at long positions.)
 */
import { ArgumentError } from "../errors.js";
import type { WasmArray, WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import { ropeScalingProblem, type RopeScaling } from "../model/config.js";
import { checkCount, checkFinite, checkRef } from "./activations.js";

/** How RoPE pairs a head's dimensions: (2i, 2i+1) or (i, i + d/2). */
export type RopeLayout = "adjacent" | "half";

/**
 * The frequency of each of a head's headDim/2 pairs, as f32 values: 1 / f32(theta ^ f32(2i / d)),
 * then scaled as transformers scales its f32 `inv_freq` (see RopeScaling).
 */
export function ropeFrequencies(headDim: number, theta: number, scaling?: RopeScaling | null): Float64Array {
  const f = Math.fround;
  const half = headDim / 2;
  const freq = new Float64Array(half);
  for (let i = 0; i < half; i++) freq[i] = f(1 / f(Math.pow(f(theta), f(f(2 * i) / headDim))));
  if (!scaling) return freq;
  if (scaling.type === "factors") {
    for (let i = 0; i < half; i++) freq[i] = f(freq[i] / f(scaling.factors[i]));
    return freq;
  }
  const factor = f(scaling.factor);
  if (scaling.type === "linear") {
    for (let i = 0; i < half; i++) freq[i] = f(freq[i] / factor);
    return freq;
  }
  const { lowFreqFactor: lo, highFreqFactor: hi, originalContext: ctx } = scaling;
  const lowWavelen = f(ctx / lo), highWavelen = f(ctx / hi), twoPi = f(2 * Math.PI);
  for (let i = 0; i < half; i++) {
    const wavelen = f(twoPi / freq[i]);
    if (wavelen > lowWavelen) freq[i] = f(freq[i] / factor);
    else if (wavelen >= highWavelen) {
      const smooth = f(f(f(ctx) / wavelen - f(lo)) / f(hi - lo));
      freq[i] = f(f(f(f(1 - smooth) * freq[i]) / factor) + f(smooth * freq[i]));
    }
  }
  return freq;
}

/**
 * Llama 3.1's scaling as per-frequency divisors, the form GGUF stores (`rope_freqs`), computed as
 * llama.cpp's converter does in float32: 1 (kept), `factor` (interpolated), or 1 / ((1 - s) / factor + s).
 */
export function llama3RopeFactors(headDim: number, theta: number, s: Extract<RopeScaling, { type: "llama3" }>): number[] {
  const f = Math.fround;
  const base = ropeFrequencies(headDim, theta);
  const lowWavelen = f(s.originalContext / s.lowFreqFactor), highWavelen = f(s.originalContext / s.highFreqFactor);
  return Array.from(base, (freq) => {
    const wavelen = f(f(2 * Math.PI) / freq);
    if (wavelen < highWavelen) return 1;
    if (wavelen > lowWavelen) return f(s.factor);
    const smooth = f(f(f(s.originalContext / wavelen) - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor));
    return f(1 / f(f(f(1 - smooth) / s.factor) + smooth));
  });
}

/**
 * Host-side RoPE tables for positions [0, positions): `cos[p * d + j]` is the cosine of j's pair
 * angle, `sin[p * d + j]` the sine signed for j's place in its pair (-sin for the first member,
 * +sin for the second), so out[j] = x[j] cos[j] + x[partner(j)] sin[j].
 */
export function ropeTables(
  headDim: number, positions: number, theta: number, layout: RopeLayout, scaling?: RopeScaling | null,
): { cos: Float32Array; sin: Float32Array } {
  checkCount("headDim", headDim, 2);
  if (headDim % 2 !== 0) throw new ArgumentError("headDim", `must be even, got ${headDim}`);
  checkCount("positions", positions);
  checkFinite("theta", theta);
  if (theta <= 0) throw new ArgumentError("theta", `must be > 0, got ${theta}`);
  if (layout !== "adjacent" && layout !== "half") throw new ArgumentError("layout", `must be "adjacent" or "half", got ${String(layout)}`);
  const problem = ropeScalingProblem(scaling) ??
    (scaling?.type === "factors" && scaling.factors.length !== headDim / 2 ? `factors has ${scaling.factors.length} entries, headDim / 2 = ${headDim / 2}` : null);
  if (problem) throw new ArgumentError("scaling", problem);
  const f = Math.fround;
  const half = headDim / 2;
  const freq = ropeFrequencies(headDim, theta, scaling);
  const cos = new Float32Array(positions * headDim);
  const sin = new Float32Array(positions * headDim);
  for (let p = 0; p < positions; p++) {
    const row = p * headDim;
    for (let i = 0; i < half; i++) {
      const a = f(p * freq[i]);
      const c = Math.cos(a), s = Math.sin(a);
      const [j0, j1] = layout === "adjacent" ? [2 * i, 2 * i + 1] : [i, i + half];
      cos[row + j0] = c; cos[row + j1] = c;
      sin[row + j0] = -s; sin[row + j1] = s;
    }
  }
  return { cos, sin };
}

/** RoPE tables resident in Wasm memory for one head width, theta, layout, scaling and position count. */
export class RopeTable {
  readonly headDim: number;
  readonly positions: number;
  readonly theta: number;
  readonly layout: RopeLayout;
  readonly scaling: RopeScaling | null;
  /** [positions, headDim] f32. */
  readonly cos: WasmArray<"f32">;
  /** [positions, headDim] f32 (signed sines). */
  readonly sin: WasmArray<"f32">;

  constructor(rt: Runtime, headDim: number, positions: number, theta: number, layout: RopeLayout, scaling: RopeScaling | null = null) {
    const t = ropeTables(headDim, positions, theta, layout, scaling);
    this.headDim = headDim; this.positions = positions; this.theta = theta; this.layout = layout; this.scaling = scaling;
    this.cos = rt.heap.from("f32", t.cos);
    try {
      this.sin = rt.heap.from("f32", t.sin);
    } catch (e) {
      this.cos.free();
      throw e;
    }
  }

  /** Bytes of Wasm memory the tables use. */
  get byteLength(): number { return this.cos.byteLength + this.sin.byteLength; }

  free(): void { this.cos.free(); this.sin.free(); }
}

/**
 * Rotates, in place, the first `nHeads` heads of each of `rows` rows of X ([rows, rowStride] f32),
 * row r at position pos[r] (an i32 WasmRef). Positions must be < table.positions.
 */
export function rope(
  rt: Runtime, table: RopeTable, X: WasmRef<"f32">, rows: number, rowStride: number, nHeads: number, pos: WasmRef<"i32">,
): Promise<void> {
  checkCount("rows", rows);
  checkCount("nHeads", nHeads, 1);
  checkCount("rowStride", rowStride, nHeads * table.headDim);
  checkRef("X", X, "f32", rows === 0 ? 0 : (rows - 1) * rowStride + nHeads * table.headDim);
  checkRef("pos", pos, "i32", rows);
  const pv = pos.view();
  for (let r = 0; r < rows; r++) {
    const p = pv[r];
    if (!(p >= 0 && p < table.positions)) {
      throw new ArgumentError("pos", `position ${p} (row ${r}) is outside the table's [0, ${table.positions})`);
    }
  }
  return rt.run(
    "rope_f32",
    [X.ptr, rowStride, nHeads, table.headDim, pos.ptr, table.cos.ptr, table.sin.ptr, table.layout === "half" ? 1 : 0],
    rows, 1, rows * nHeads * table.headDim,
  );
}
