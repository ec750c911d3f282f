/**
 * One linear layer pruned by one method (docs/methods.md, "Scores and masks"), given its weights
 * in Wasm memory and the statistics the method needs:
 *
 * | method    | matrix          | score                       | unstructured group | N:M axis |
 * |-----------|-----------------|-----------------------------|--------------------|----------|
 * | magnitude | any             | abs(W)                      | whole matrix       | input    |
 * | wanda     | any             | abs(W) * sqrt(s_j)          | output row         | input    |
 * | dass      | down            | abs(W) * sqrt(a_k)          | output row         | input    |
 * | dass      | gate, up        | abs(W) * a_k^(alpha/2)      | input column       | output   |
 * | dass      | q, k, v, o      | as wanda (no attention metric) | output row      | input    |
 * | sparsegpt | any             | W^2 / U_jj^2 with updates   | 128-column block   | input    |
 *
 * Scores are f32 (engineer-M kernels: one correctly rounded product), masks exact with ties to
 * the lower index in the group's order, so results are identical for any thread count.
 */
import { ArgumentError } from "../errors.js";
import { applyMask, selectMask, type MaskSpec } from "../kernels/masks.js";
import { scoreMagnitude, scoreScaled, type ScoreStats } from "../kernels/scores.js";
import { sparsegpt, sparsegptPrune, type SparseGPTFactor } from "../kernels/sparsegpt.js";
import type { LinearName } from "../model/linear.js";
import type { WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import type { Pattern } from "./pattern.js";

/** The pruning methods. */
export type PruneMethod = "magnitude" | "wanda" | "sparsegpt" | "dass";

/** Every method, for validation. */
export const PRUNE_METHODS: readonly PruneMethod[] = ["magnitude", "wanda", "sparsegpt", "dass"];

/** Where an N:M pattern's groups run, or which comparison group an unstructured mask uses. */
export type PruneAxis = "input" | "output" | "matrix" | "row" | "column" | "block";

/** How a given method treats a given matrix: the effective metric and the mask layout. */
export interface LayerPlan {
  /** The metric actually used (DaSS on attention uses Wanda's). */
  metric: PruneMethod;
  /** N:M: "input" (groups along a row) or "output" (along a column). Unstructured: the comparison group. */
  axis: PruneAxis;
  /** Which statistics the method needs for this matrix. */
  needs: "none" | "input" | "intermediate" | "hessian";
}

/** The plan of `method` for linear `name` under `pattern`. */
export function layerPlan(method: PruneMethod, name: LinearName, pattern: Pattern): LayerPlan {
  const nm = pattern.kind === "nm";
  switch (method) {
    case "magnitude": return { metric: "magnitude", axis: nm ? "input" : "matrix", needs: "none" };
    case "sparsegpt": return { metric: "sparsegpt", axis: nm ? "input" : "block", needs: "hessian" };
    case "wanda": return { metric: "wanda", axis: nm ? "input" : "row", needs: "input" };
    case "dass":
      if (name === "gate" || name === "up") return { metric: "dass", axis: nm ? "output" : "column", needs: "intermediate" };
      if (name === "down") return { metric: "dass", axis: nm ? "input" : "row", needs: "intermediate" };
      return { metric: "wanda", axis: nm ? "input" : "row", needs: "input" };
    default:
      throw new ArgumentError("method", `must be one of ${PRUNE_METHODS.join(", ")}, got ${JSON.stringify(method)}`);
  }
}

/** Statistics of one linear, as the sequential procedure collects them. */
export interface LayerStats {
  /** s_j = (1/nsamples) Σ_t x_{t,j}^2 of this matrix's input (length dIn): Wanda, DaSS on attention. */
  input?: ScoreStats;
  /** a_k = s_k of down's input (length d_ff): DaSS on gate, up and down. */
  intermediate?: ScoreStats;
  /** H = (2/nsamples) Σ_t x_t x_tᵀ (dIn×dIn): SparseGPT (unless `factor` is given). */
  hessian?: WasmRef<"f32"> | WasmRef<"f64">;
  /** A SparseGPT factor already computed from the same Hessian (shared by q/k/v or gate/up). */
  factor?: SparseGPTFactor;
}

/** Options of pruneLinear(). */
export interface PruneLinearOptions {
  method: PruneMethod;
  /** Which block linear (decides DaSS's layout). */
  name: LinearName;
  pattern: Pattern;
  stats?: LayerStats;
  /** DaSS exponent on the L2 norm (default 0.5: a_k^0.25 on gate/up). */
  alpha?: number;
  /** SparseGPT damping fraction (default 0.01). */
  percdamp?: number;
  /** Names the matrix in errors, e.g. "block 3 mlp.down". */
  label?: string;
  /** If given (dOut×dIn u8), receives the mask: 1 = pruned. */
  mask?: WasmRef<"u8">;
  signal?: AbortSignal;
}

/** What pruneLinear() reports. */
export interface PruneLinearResult extends LayerPlan {
  /** SparseGPT's Σ (w - q)^2 / U_jj^2 / 2. */
  loss?: number;
  /** SparseGPT's damping and tries. */
  lambda?: number;
  attempts?: number;
}

function need<T>(v: T | undefined, what: string, label: string): T {
  if (v === undefined) throw new ArgumentError("stats", `${label}: ${what} statistics are required`);
  return v;
}

/** The mask spec of a plan. */
export function maskSpec(plan: LayerPlan, pattern: Pattern): MaskSpec {
  if (pattern.kind === "nm") return { nm: { n: pattern.n, m: pattern.m }, axis: plan.axis === "output" ? "output" : "input" };
  const group = plan.axis === "column" ? "col" : plan.axis === "matrix" ? "matrix" : "row";
  return { group, sparsity: pattern.sparsity };
}

/**
 * Prunes W (dOut×dIn f32 row-major, in Wasm memory) in place with `method`. Throws ArgumentError
 * for missing/ill-shaped statistics, NaN/Inf weights or statistics, bad patterns; NumericalError
 * for a SparseGPT Hessian that cannot be factored.
 */
export async function pruneLinear(rt: Runtime, W: WasmRef<"f32">, dOut: number, dIn: number, options: PruneLinearOptions): Promise<PruneLinearResult> {
  const { method, name, pattern } = options;
  const plan = layerPlan(method, name, pattern);
  const label = options.label ?? name;
  const stats = options.stats ?? {};
  if (plan.metric === "sparsegpt") {
    if (stats.factor) {
      const w = W.view();
      for (let i = 0; i < dOut * dIn; i++) if (!Number.isFinite(w[i])) throw new ArgumentError("W", `${label}: W[${Math.floor(i / dIn)}][${i % dIn}] = ${w[i]} is not finite`);
      for (const j of stats.factor.dead) for (let r = 0; r < dOut; r++) w[r * dIn + j] = 0;
      const loss = await sparsegptPrune(rt, W, dOut, dIn, stats.factor.U, { pattern, mask: options.mask, signal: options.signal, label });
      return { ...plan, loss, lambda: stats.factor.lambda, attempts: stats.factor.attempts };
    }
    const H = need(stats.hessian, "Hessian", label);
    const r = await sparsegpt(rt, W, H, dOut, dIn, { pattern, mask: options.mask, percdamp: options.percdamp, label, signal: options.signal });
    return { ...plan, loss: r.loss, lambda: r.lambda, attempts: r.attempts };
  }
  const alpha = options.alpha ?? 0.5;
  if (!(alpha >= 0 && alpha < Infinity)) throw new ArgumentError("alpha", `must be finite and >= 0, got ${alpha}`);
  const scope = rt.heap.scope();
  try {
    const S = scope.alloc("f32", dOut * dIn);
    const mask = options.mask ?? scope.alloc("u8", dOut * dIn);
    if (plan.metric === "magnitude") {
      await scoreMagnitude(rt, W, S, dOut * dIn);
    } else if (plan.needs === "input") {
      await scoreScaled(rt, W, need(stats.input, "input-norm", label), 0.5, "col", dOut, dIn, S);
    } else if (name === "down") {
      await scoreScaled(rt, W, need(stats.intermediate, "intermediate-norm", label), 0.5, "col", dOut, dIn, S);
    } else {
      await scoreScaled(rt, W, need(stats.intermediate, "intermediate-norm", label), alpha / 2, "row", dOut, dIn, S);
    }
    await selectMask(rt, S, dOut, dIn, maskSpec(plan, pattern), mask);
    await applyMask(rt, W, mask, dOut * dIn);
    return plan;
  } finally {
    scope.release();
  }
}
