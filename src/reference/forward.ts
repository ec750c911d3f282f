/**
 * A plain-TypeScript float64 forward pass: the model definition written as directly as possible,
 * for checking the Wasm forward pass. Slow (it recomputes everything per call); for small models.
 */
import { ropeUsesLongFactors, type ModelConfig } from "../model/config.js";
import { geluTanhScalar, siluScalar } from "./activations.js";
import { ropeFrequency, ropeGain } from "./rope.js";

/** Tensor lookup by canonical name. */
export type TensorGetter = (name: string) => ArrayLike<number>;

function matvec(W: ArrayLike<number>, x: ArrayLike<number>, dOut: number, dIn: number): Float64Array {
  const y = new Float64Array(dOut);
  for (let r = 0; r < dOut; r++) {
    let s = 0;
    for (let j = 0; j < dIn; j++) s += W[r * dIn + j] * x[j];
    y[r] = s;
  }
  return y;
}

function rmsnorm(x: ArrayLike<number>, w: ArrayLike<number>, eps: number, plusOne: boolean): Float64Array {
  const d = x.length;
  let ss = 0;
  for (let j = 0; j < d; j++) ss += x[j] * x[j];
  const inv = 1 / Math.sqrt(ss / d + eps);
  const out = new Float64Array(d);
  for (let j = 0; j < d; j++) out[j] = x[j] * inv * (plusOne ? 1 + w[j] : w[j]);
  return out;
}

/** Rotates the heads of `v` (nHeads x headDim) in place for position `pos`. */
function applyRope(
  v: Float64Array, nHeads: number, headDim: number, pos: number, theta: number, layout: "adjacent" | "half",
  scaling: ModelConfig["ropeScaling"], sequenceEnd: number,
): void {
  const f = Math.fround;
  const half = headDim / 2;
  const long = ropeUsesLongFactors(scaling, sequenceEnd), gain = ropeGain(scaling);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      // Angles as llama2.c and HF compute them (float32 frequency and angle).
      const freq = ropeFrequency(i, headDim, theta, scaling, long);
      const a = f(pos * freq);
      const c = Math.cos(a) * gain, s = Math.sin(a) * gain;
      const j0 = h * headDim + (layout === "adjacent" ? 2 * i : i);
      const j1 = h * headDim + (layout === "adjacent" ? 2 * i + 1 : i + half);
      const v0 = v[j0], v1 = v[j1];
      v[j0] = v0 * c - v1 * s;
      v[j1] = v0 * s + v1 * c;
    }
  }
}

/**
 * Logits [T][vocab] (f64) of every position of `tokens` run as one sequence from position 0, for a
 * model given by its config and canonical tensors.
 */
export function referenceForward(config: ModelConfig, tensor: TensorGetter, tokens: ArrayLike<number>): Float64Array[] {
  const c = config;
  const { dim, headDim, nHeads, nKvHeads, hiddenDim: hidden, vocabSize: V } = c;
  const qDim = nHeads * headDim, kvDim = nKvHeads * headDim, group = nHeads / nKvHeads;
  const T = tokens.length;
  const emb = tensor("tok_embeddings");
  const cls = c.tiedEmbeddings ? emb : tensor("output");
  const act = c.act === "gelu_tanh" ? geluTanhScalar : siluScalar;
  const scale = Math.fround(c.embedScale);
  // Hidden states [T][dim].
  let xs: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    const x = new Float64Array(dim);
    for (let j = 0; j < dim; j++) x[j] = Math.fround(emb[tokens[t] * dim + j] * scale);
    xs.push(x);
  }
  for (let l = 0; l < c.nLayers; l++) {
    const L = (s: string) => tensor(`layers.${l}.${s}`);
    const Ks: Float64Array[] = [], Vs: Float64Array[] = [], Qs: Float64Array[] = [];
    const window = c.slidingWindow && (c.slidingLayers?.[l] ?? true) ? c.slidingWindow : 0;
    const localRope = window > 0 && c.ropeLocalTheta !== undefined; // Gemma 3's local layers
    for (let t = 0; t < T; t++) {
      const xb = rmsnorm(xs[t], L("attn_norm"), c.normEps, c.normPlusOne);
      const q = matvec(L("attn.q"), xb, qDim, dim);
      const k = matvec(L("attn.k"), xb, kvDim, dim);
      const v = matvec(L("attn.v"), xb, kvDim, dim);
      if (c.qkvBias) {
        const bq = L("attn.q_bias"), bk = L("attn.k_bias"), bv = L("attn.v_bias");
        for (let i = 0; i < qDim; i++) q[i] += bq[i];
        for (let i = 0; i < kvDim; i++) { k[i] += bk[i]; v[i] += bv[i]; }
      }
      if (c.qkNorm) {
        // Qwen3: every head of q and k through its own RMSNorm (weights shared across heads).
        const nq = L("attn.q_norm"), nk = L("attn.k_norm");
        for (let h = 0; h < nHeads; h++) q.set(rmsnorm(q.subarray(h * headDim, (h + 1) * headDim), nq, c.normEps, c.normPlusOne), h * headDim);
        for (let h = 0; h < nKvHeads; h++) k.set(rmsnorm(k.subarray(h * headDim, (h + 1) * headDim), nk, c.normEps, c.normPlusOne), h * headDim);
      }
      // One pass over the whole sequence, as transformers runs it (LongRoPE picks its factors by T).
      applyRope(q, nHeads, headDim, t, localRope ? c.ropeLocalTheta! : c.ropeTheta, c.ropeLayout, localRope ? null : c.ropeScaling, T);
      applyRope(k, nKvHeads, headDim, t, localRope ? c.ropeLocalTheta! : c.ropeTheta, c.ropeLayout, localRope ? null : c.ropeScaling, T);
      Qs.push(q); Ks.push(k); Vs.push(v);
    }
    const next: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const att = new Float64Array(qDim);
      const j0 = window > 0 ? Math.max(0, t + 1 - window) : 0; // a sliding layer sees the last `window` positions
      for (let h = 0; h < nHeads; h++) {
        const kvh = Math.floor(h / group);
        const s = new Float64Array(t + 1);
        let m = -Infinity;
        for (let j = j0; j <= t; j++) {
          let d = 0;
          for (let i = 0; i < headDim; i++) d += Qs[t][h * headDim + i] * Ks[j][kvh * headDim + i];
          s[j] = c.attnScale !== undefined ? d * c.attnScale : d / Math.sqrt(headDim);
          if (c.attnSoftcap) s[j] = c.attnSoftcap * Math.tanh(s[j] / c.attnSoftcap); // Gemma 2
          m = Math.max(m, s[j]);
        }
        let z = 0;
        for (let j = j0; j <= t; j++) { s[j] = Math.exp(s[j] - m); z += s[j]; }
        for (let j = j0; j <= t; j++) {
          for (let i = 0; i < headDim; i++) att[h * headDim + i] += (s[j] / z) * Vs[j][kvh * headDim + i];
        }
      }
      const x = Float64Array.from(xs[t]);
      let o = matvec(L("attn.o"), att, dim, qDim);
      if (c.sandwichNorms) o = rmsnorm(o, L("attn_post_norm"), c.normEps, c.normPlusOne);
      for (let j = 0; j < dim; j++) x[j] += o[j];
      const xb = rmsnorm(x, L("ffn_norm"), c.normEps, c.normPlusOne);
      const g = matvec(L("mlp.gate"), xb, hidden, dim);
      const u = matvec(L("mlp.up"), xb, hidden, dim);
      for (let i = 0; i < hidden; i++) g[i] = act(g[i]) * u[i];
      let dn = matvec(L("mlp.down"), g, dim, hidden);
      if (c.sandwichNorms) dn = rmsnorm(dn, L("ffn_post_norm"), c.normEps, c.normPlusOne);
      for (let j = 0; j < dim; j++) x[j] += dn[j];
      next.push(x);
    }
    xs = next;
  }
  const norm = tensor("norm");
  const cap = c.logitSoftcap;
  return xs.map((x) => {
    const logits = matvec(cls, rmsnorm(x, norm, c.normEps, c.normPlusOne), V, dim);
    return cap ? logits.map((v) => cap * Math.tanh(v / cap)) : logits;
  });
}

/** Mean natural-log NLL of predicting tokens[1..] from each prefix, with the f64 forward. */
export function referenceWindowNll(config: ModelConfig, tensor: TensorGetter, tokens: ArrayLike<number>, targets: ArrayLike<number>): Float64Array {
  const logits = referenceForward(config, tensor, tokens);
  return Float64Array.from(logits, (row, t) => {
    let m = -Infinity;
    for (const v of row) m = Math.max(m, v);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    return Math.log(s) + m - row[targets[t]];
  });
}
