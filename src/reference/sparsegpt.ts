/**
 * Float64 reference of SparseGPT exactly as docs/methods.md words it: dead inputs, damping, U =
 * upper Cholesky factor of H^-1 computed as Cholesky of H, inverse, Cholesky of the inverse (with
 * the λ×10/×100/×1000 retries from the undamped H), and the column-block loop with B = 128.
 * Straightforward loops; meant for small layers in tests.
 */
import { ArgumentError } from "../errors.js";
import { NumericalError } from "../pruning/errors.js";
import { tailPruneCount, unstructuredPruneCount, type Pattern } from "../pruning/pattern.js";

/** Damping multipliers tried in order, each applied to the undamped H. */
export const SPARSEGPT_DAMP_STEPS: readonly number[] = [1, 10, 100, 1000];

/**
 * In-place lower Cholesky of the symmetric n×n row-major A (only the lower triangle is read;
 * the strict upper triangle is zeroed). Returns 0, or (index + 1) of the first pivot that is not
 * positive and finite.
 */
export function choleskyLowerRef(A: Float64Array, n: number): number {
  for (let j = 0; j < n; j++) {
    let s = A[j * n + j];
    for (let p = 0; p < j; p++) s -= A[j * n + p] * A[j * n + p];
    if (!(s > 0) || !(s < Infinity)) return j + 1;
    const d = Math.sqrt(s);
    A[j * n + j] = d;
    for (let i = j + 1; i < n; i++) {
      let t = A[i * n + j];
      for (let p = 0; p < j; p++) t -= A[i * n + p] * A[j * n + p];
      A[i * n + j] = t / d;
    }
    for (let i = 0; i < j; i++) A[i * n + j] = 0;
  }
  return 0;
}

/** (L Lᵀ)^-1 from a lower Cholesky factor L (like torch.cholesky_inverse): L^-T L^-1. */
export function choleskyInverseRef(L: Float64Array, n: number): Float64Array {
  // X = L^-1 by forward substitution, column by column.
  const X = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    X[c * n + c] = 1 / L[c * n + c];
    for (let i = c + 1; i < n; i++) {
      let s = 0;
      for (let q = c; q < i; q++) s += L[i * n + q] * X[q * n + c];
      X[i * n + c] = -s / L[i * n + i];
    }
  }
  const R = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let q = i; q < n; q++) s += X[q * n + i] * X[q * n + j];
      R[i * n + j] = s;
      R[j * n + i] = s;
    }
  }
  return R;
}

/** What the factorisation produced. */
export interface SparseGPTFactorRef {
  /** Upper factor, n×n row-major (zeros below the diagonal): H^-1 = Uᵀ U. */
  U: Float64Array;
  /** The damping that succeeded. */
  lambda: number;
  /** 1 + number of retries. */
  attempts: number;
  /** dead[j] = 1 where H_jj was 0. */
  dead: Uint8Array;
}

/**
 * Steps 1–3 of SparseGPT on a copy of H (n×n row-major). Throws NumericalError naming `label`
 * when the damped H cannot be factored even with λ × 1000.
 */
export function sparsegptFactorRef(H: ArrayLike<number>, n: number, percdamp = 0.01, label = "matrix"): SparseGPTFactorRef {
  if (H.length !== n * n) throw new ArgumentError("H", `has ${H.length} elements, expected ${n}×${n}`);
  const H0 = Float64Array.from(H);
  const dead = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    if (!Number.isFinite(H0[j * n + j])) throw new ArgumentError("H", `H[${j}][${j}] is not finite`);
    if (H0[j * n + j] === 0) { dead[j] = 1; H0[j * n + j] = 1; }
  }
  let mean = 0;
  for (let j = 0; j < n; j++) mean += H0[j * n + j];
  mean /= n;
  const base = percdamp * mean;
  const tried: number[] = [];
  for (let a = 0; a < SPARSEGPT_DAMP_STEPS.length; a++) {
    const lambda = base * SPARSEGPT_DAMP_STEPS[a];
    tried.push(lambda);
    const A = Float64Array.from(H0);
    for (let j = 0; j < n; j++) A[j * n + j] += lambda;
    if (choleskyLowerRef(A, n) !== 0) continue;
    const Hinv = choleskyInverseRef(A, n);
    if (choleskyLowerRef(Hinv, n) !== 0) continue;
    // Upper form: U = Lcᵀ.
    const U = new Float64Array(n * n);
    let finite = true;
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const v = Hinv[j * n + i];
        if (!Number.isFinite(v)) finite = false;
        U[i * n + j] = v;
      }
    }
    if (!finite) continue;
    return { U, lambda, attempts: a + 1, dead };
  }
  throw new NumericalError(label, hessianFailureMessage(tried));
}

/** The message for a Hessian that no damping could factor (shared with the Wasm path). */
export function hessianFailureMessage(tried: readonly number[]): string {
  return `SparseGPT: the damped Hessian is not positive definite (Cholesky failed with λ = ${tried.map((x) => x.toPrecision(4)).join(", ")}); ` +
    `the calibration activations are degenerate for this matrix (try more or different calibration samples)`;
}

/** Options of sparsegptRef(). */
export interface SparseGPTRefOptions {
  pattern: Pattern;
  /** Column block size B (default 128); N:M needs M to divide it. */
  blocksize?: number;
  percdamp?: number;
  label?: string;
}

/** Result of sparsegptRef(). */
export interface SparseGPTRefResult {
  /** Updated weights, dOut×dIn row-major. */
  W: Float64Array;
  /** 1 = pruned. */
  mask: Uint8Array;
  /** Σ (w - q)^2 / U_jj^2 / 2. */
  loss: number;
  lambda: number;
  attempts: number;
}

/** SparseGPT on W (dOut×dIn row-major) with Hessian H (dIn×dIn), in f64. */
export function sparsegptRef(W: ArrayLike<number>, H: ArrayLike<number>, dOut: number, dIn: number, options: SparseGPTRefOptions): SparseGPTRefResult {
  const B = options.blocksize ?? 128;
  const { pattern } = options;
  if (W.length !== dOut * dIn) throw new ArgumentError("W", `has ${W.length} elements, expected ${dOut}×${dIn}`);
  if (pattern.kind === "nm" && B % pattern.m !== 0) throw new ArgumentError("pattern", `M = ${pattern.m} must divide the block size ${B}`);
  const f = sparsegptFactorRef(H, dIn, options.percdamp ?? 0.01, options.label);
  const U = f.U;
  const w = Float64Array.from(W);
  for (let j = 0; j < dIn; j++) if (f.dead[j]) for (let r = 0; r < dOut; r++) w[r * dIn + j] = 0;
  const mask = new Uint8Array(dOut * dIn);
  const score = (r: number, j: number) => (w[r * dIn + j] * w[r * dIn + j]) / (U[j * dIn + j] * U[j * dIn + j]);
  let loss = 0;
  for (let i1 = 0; i1 < dIn; i1 += B) {
    const i2 = Math.min(i1 + B, dIn);
    const bw = i2 - i1;
    if (pattern.kind === "unstructured") {
      const k = unstructuredPruneCount(pattern.sparsity, dOut * bw);
      const idx: number[] = [];
      for (let r = 0; r < dOut; r++) for (let c = 0; c < bw; c++) idx.push(r * bw + c);
      const sc = idx.map((e) => score(Math.floor(e / bw), i1 + (e % bw)));
      idx.sort((a, b) => sc[a] - sc[b] || a - b);
      for (let t = 0; t < k; t++) mask[Math.floor(idx[t] / bw) * dIn + i1 + (idx[t] % bw)] = 1;
    }
    const err = new Float64Array(dOut * bw);
    for (let j = i1; j < i2; j++) {
      if (pattern.kind === "nm" && (j - i1) % pattern.m === 0) {
        const g = Math.min(pattern.m, i2 - j);
        const cnt = g === pattern.m ? pattern.n : tailPruneCount(pattern.n, pattern.m, g);
        for (let r = 0; r < dOut; r++) {
          const order = Array.from({ length: g }, (_, t) => t);
          const sc = order.map((t) => score(r, j + t));
          order.sort((a, b) => sc[a] - sc[b] || a - b);
          for (let t = 0; t < cnt; t++) mask[r * dIn + j + order[t]] = 1;
        }
      }
      const d = U[j * dIn + j];
      for (let r = 0; r < dOut; r++) {
        const wv = w[r * dIn + j];
        const q = mask[r * dIn + j] ? 0 : wv;
        const e = (wv - q) / d;
        loss += ((wv - q) * (wv - q)) / (d * d) / 2;
        for (let c = j; c < i2; c++) w[r * dIn + c] -= e * U[j * dIn + c];
        w[r * dIn + j] = q;
        err[r * bw + (j - i1)] = e;
      }
    }
    for (let r = 0; r < dOut; r++) {
      for (let c = i2; c < dIn; c++) {
        let s = 0;
        for (let p = 0; p < bw; p++) s += err[r * bw + p] * U[(i1 + p) * dIn + c];
        w[r * dIn + c] -= s;
      }
    }
  }
  return { W: w, mask, loss, lambda: f.lambda, attempts: f.attempts };
}
