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
import { ropeFactorsOf, ropeScalingProblem, ropeUsesLongFactors, type RopeScaling } from "../model/config.js";
import { checkCount, checkFinite, checkRef } from "./activations.js";

/** How RoPE pairs a head's dimensions: (2i, 2i+1) or (i, i + d/2). */
export type RopeLayout = "adjacent" | "half";

/**
 * The frequency of each of a head's headDim/2 pairs, as f32 values: 1 / f32(theta ^ f32(2i / d)),
 * then scaled as transformers scales its f32 `inv_freq` (see RopeScaling); `long` picks LongRoPE's
 * long factors.
 */
export function ropeFrequencies(headDim: number, theta: number, scaling?: RopeScaling | null, long = false): Float64Array {
  const f = Math.fround;
  const half = headDim / 2;
  const freq = new Float64Array(half);
  const power = (i: number) => f(Math.pow(f(theta), f(f(2 * i) / headDim)));
  if (scaling?.type === "longrope") {
    // transformers: inv_freq = 1 / (ext_factors * base ** (2i / d)), all in f32.
    const ext = ropeFactorsOf(scaling, long)!;
    for (let i = 0; i < half; i++) freq[i] = f(1 / f(f(ext[i]) * power(i)));
    return freq;
  }
  for (let i = 0; i < half; i++) freq[i] = f(1 / power(i));
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
 * +sin for the second), so out[j] = x[j] cos[j] + x[partner(j)] sin[j]. LongRoPE's attention factor
 * multiplies both, as transformers scales its f32 cos and sin; `long` picks its long factors.
 */
export function ropeTables(
  headDim: number, positions: number, theta: number, layout: RopeLayout, scaling?: RopeScaling | null, long = false,
): { cos: Float32Array; sin: Float32Array } {
  checkCount("headDim", headDim, 2);
  if (headDim % 2 !== 0) throw new ArgumentError("headDim", `must be even, got ${headDim}`);
  checkCount("positions", positions);
  checkFinite("theta", theta);
  if (theta <= 0) throw new ArgumentError("theta", `must be > 0, got ${theta}`);
  if (layout !== "adjacent" && layout !== "half") throw new ArgumentError("layout", `must be "adjacent" or "half", got ${String(layout)}`);
  const factors = ropeFactorsOf(scaling);
  const problem = ropeScalingProblem(scaling) ??
    (factors && factors.length !== headDim / 2 ? `${scaling!.type} has ${factors.length} factors, headDim / 2 = ${headDim / 2}` : null);
  if (problem) throw new ArgumentError("scaling", problem);
  const f = Math.fround;
  const half = headDim / 2;
  const freq = ropeFrequencies(headDim, theta, scaling, long);
  const gain = scaling?.type === "longrope" ? f(scaling.attentionFactor) : 1;
  const cos = new Float32Array(positions * headDim);
  const sin = new Float32Array(positions * headDim);
  for (let p = 0; p < positions; p++) {
    const row = p * headDim;
    for (let i = 0; i < half; i++) {
      const a = f(p * freq[i]);
      const c = f(Math.cos(a)) * gain, s = f(Math.sin(a)) * gain;
      const [j0, j1] = layout === "adjacent" ? [2 * i, 2 * i + 1] : [i, i + half];
      cos[row + j0] = c; cos[row + j1] = c;
      sin[row + j0] = -s; sin[row + j1] = s;
    }
  }
  return { cos, sin };
}

/** cos and sin tables in Wasm memory, [positions, headDim] f32 each. */
interface RopeTableSet { cos: WasmArray<"f32">; sin: WasmArray<"f32">; positions: number }

/**
 * RoPE tables resident in Wasm memory for one head width, theta, layout, scaling and position count.
 * LongRoPE holds two sets: the short factors' for passes within its original context (so at most
 * that many positions), the long factors' when the table reaches beyond it.
 */
export class RopeTable {
  readonly headDim: number;
  readonly positions: number;
  readonly theta: number;
  readonly layout: RopeLayout;
  readonly scaling: RopeScaling | null;
  private readonly short: RopeTableSet;
  private readonly long: RopeTableSet | null;

  constructor(rt: Runtime, headDim: number, positions: number, theta: number, layout: RopeLayout, scaling: RopeScaling | null = null) {
    this.headDim = headDim; this.positions = positions; this.theta = theta; this.layout = layout; this.scaling = scaling;
    const made: WasmArray<"f32">[] = [];
    const set = (n: number, long: boolean): RopeTableSet => {
      const t = ropeTables(headDim, n, theta, layout, scaling, long);
      const cos = rt.heap.from("f32", t.cos);
      made.push(cos);
      const sin = rt.heap.from("f32", t.sin);
      made.push(sin);
      return { cos, sin, positions: n };
    };
    try {
      const [shortPositions, longPositions] = RopeTable.setPositions(positions, scaling);
      this.short = set(shortPositions, false);
      this.long = longPositions ? set(longPositions, true) : null;
    } catch (e) {
      for (const a of made) a.free();
      throw e;
    }
  }

  /** Positions of the short (or only) set and of the long set (0: none). */
  private static setPositions(positions: number, scaling: RopeScaling | null): [number, number] {
    if (scaling?.type !== "longrope" || positions <= scaling.originalContext) return [positions, 0];
    return [scaling.originalContext, positions];
  }

  /** Bytes of Wasm memory a table of these dimensions takes, before making it (arrays 64-byte aligned, as the heap places them). */
  static byteLengthFor(headDim: number, positions: number, scaling: RopeScaling | null = null): number {
    const aligned = (n: number) => Math.ceil((4 * headDim * n) / 64) * 64;
    const [a, b] = RopeTable.setPositions(positions, scaling);
    return 2 * (aligned(a) + aligned(b));
  }

  /** The set a pass over a sequence ending at `sequenceEnd` (last position + 1) uses. */
  setFor(sequenceEnd: number): Readonly<RopeTableSet> {
    return this.long && ropeUsesLongFactors(this.scaling, sequenceEnd) ? this.long : this.short;
  }

  /** Bytes of Wasm memory the tables use. */
  get byteLength(): number {
    return RopeTable.byteLengthFor(this.headDim, this.positions, this.scaling);
  }

  free(): void {
    for (const t of this.long ? [this.short, this.long] : [this.short]) { t.cos.free(); t.sin.free(); }
  }
}

/**
 * Rotates, in place, the first `nHeads` heads of each of `rows` rows of X ([rows, rowStride] f32),
 * row r at position pos[r] (an i32 WasmRef). Positions must be < table.positions. `sequenceEnd` is
 * where the pass's sequence ends (last position + 1; default the largest position here + 1): LongRoPE
 * picks its factors by it.
 */
export function rope(
  rt: Runtime, table: RopeTable, X: WasmRef<"f32">, rows: number, rowStride: number, nHeads: number, pos: WasmRef<"i32">,
  sequenceEnd?: number,
): Promise<void> {
  checkCount("rows", rows);
  checkCount("nHeads", nHeads, 1);
  checkCount("rowStride", rowStride, nHeads * table.headDim);
  checkRef("X", X, "f32", rows === 0 ? 0 : (rows - 1) * rowStride + nHeads * table.headDim);
  checkRef("pos", pos, "i32", rows);
  const pv = pos.view();
  let last = -1;
  for (let r = 0; r < rows; r++) {
    const p = pv[r];
    if (!(p >= 0 && p < table.positions)) {
      throw new ArgumentError("pos", `position ${p} (row ${r}) is outside the table's [0, ${table.positions})`);
    }
    last = Math.max(last, p);
  }
  const end = sequenceEnd ?? last + 1;
  if (!(Number.isInteger(end) && end > last && end <= table.positions)) {
    throw new ArgumentError("sequenceEnd", `must be an integer in (${last}, ${table.positions}] (after the last position), got ${end}`);
  }
  const set = table.setFor(end);
  return rt.run(
    "rope_f32",
    [X.ptr, rowStride, nHeads, table.headDim, pos.ptr, set.cos.ptr, set.sin.ptr, table.layout === "half" ? 1 : 0],
    rows, 1, rows * nHeads * table.headDim,
  );
}
