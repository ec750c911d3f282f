/** Reference RoPE: pair rotation written out per layout, angles computed as llama2.c/HF do (f32). */
import { ropeFactorsOf, ropeUsesLongFactors, type RopeScaling } from "../model/config.js";

/**
 * The frequency of pair i, as llama2.c and HF compute it (float32), then scaled as transformers'
 * `_compute_linear_scaling_rope_parameters` / `_compute_llama3_parameters` /
 * `_compute_longrope_parameters` do (`long`: LongRoPE's long factors).
 */
export function ropeFrequency(i: number, headDim: number, theta: number, scaling?: RopeScaling | null, long = false): number {
  const f = Math.fround;
  const power = f(Math.pow(f(theta), f(f(2 * i) / headDim)));
  if (scaling?.type === "longrope") return f(1 / f(f(ropeFactorsOf(scaling, long)![i]) * power));
  const base = f(1 / power);
  if (!scaling) return base;
  if (scaling.type === "factors") return f(base / scaling.factors[i]);
  if (scaling.type === "linear") return f(base / scaling.factor);
  const { factor, lowFreqFactor, highFreqFactor, originalContext } = scaling;
  const wavelen = f(f(2 * Math.PI) / base);
  if (wavelen < f(originalContext / highFreqFactor)) return base; // high frequencies: kept
  if (wavelen > f(originalContext / lowFreqFactor)) return f(base / factor); // low frequencies: interpolated
  const s = f(f(f(originalContext / wavelen) - lowFreqFactor) / (highFreqFactor - lowFreqFactor));
  return f(f(f(f(1 - s) * base) / factor) + f(s * base));
}

/** LongRoPE's multiplier of cos and sin (1 for every other scaling). */
export function ropeGain(scaling?: RopeScaling | null): number {
  return scaling?.type === "longrope" ? Math.fround(scaling.attentionFactor) : 1;
}

/**
 * Rotates, out of place, the first nHeads heads of each row of X ([rows, rowStride]) with row r at
 * position pos[r], in a pass over a sequence ending at `sequenceEnd` (default: the last position + 1).
 */
export function rope(
  X: ArrayLike<number>, rows: number, rowStride: number, nHeads: number, headDim: number,
  pos: ArrayLike<number>, theta: number, layout: "adjacent" | "half", scaling?: RopeScaling | null, sequenceEnd?: number,
): Float32Array {
  const f = Math.fround;
  const out = Float32Array.from(X);
  const half = headDim / 2;
  const long = ropeUsesLongFactors(scaling, sequenceEnd ?? Math.max(0, ...Array.from(pos, (p) => p + 1)));
  const gain = ropeGain(scaling);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < nHeads; h++) {
      const base = r * rowStride + h * headDim;
      for (let i = 0; i < half; i++) {
        const a = f(pos[r] * ropeFrequency(i, headDim, theta, scaling, long));
        const c = f(f(Math.cos(a)) * gain), s = f(f(Math.sin(a)) * gain);
        const [j0, j1] = layout === "adjacent" ? [base + 2 * i, base + 2 * i + 1] : [base + i, base + i + half];
        const v0 = X[j0], v1 = X[j1];
        out[j0] = v0 * c - v1 * s;
        out[j1] = v0 * s + v1 * c;
      }
    }
  }
  return out;
}
