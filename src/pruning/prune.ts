/**
 * End-to-end pruning of a loaded model (docs/methods.md, "Sequential procedure"):
 *
 * 1. The calibration windows are embedded; these are block 0's inputs.
 * 2. For each block: run it **dense** while collecting the statistics of its pruned linears
 *    (column norms s_j, the intermediate norms a_k, or Hessians); prune those linears; optionally
 *    run it dense again to measure each matrix's reconstruction error ‖WX − W'X‖/‖WX‖ on exactly
 *    those inputs; install the pruned weights; run the **pruned** block on the same inputs; its
 *    outputs are the next block's inputs.
 * 3. Magnitude needs no calibration: without calibration data it prunes every matrix directly
 *    (no forward pass, no reconstruction error); with calibration data it also reports the error.
 *
 * Activations stay outside Wasm memory (JS heap, or a temporary file when large); only one block
 * runs at a time. SparseGPT factors each distinct Hessian once (q/k/v share one, gate/up another).
 */
import { AbortError, ArgumentError, DassError } from "../errors.js";
import { gemm } from "../kernels/dense.js";
import { checkNM, countZeros } from "../kernels/masks.js";
import { sparsegptFactor, type SparseGPTFactor } from "../kernels/sparsegpt.js";
import { colSumSq, hessianAccumulate } from "../kernels/stats.js";
import { expectedTensors, parameterCount, type ModelConfig } from "../model/config.js";
import { blockLinearOf, LINEAR_NAMES, linearTensorSuffix, type LinearName } from "../model/linear.js";
import type { LinearInput, RunBlockOptions } from "../model/transformer.js";
import type { WasmArray } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import type { Tokenizer } from "../tokenizers/types.js";
import type { Progress } from "../util/progress.js";
import { calibrationWindows, type CalibrationWindows } from "../calibration/sampler.js";
import { createActivationStore, type ActivationStore, type ActivationStoreOptions } from "./activations.js";
import { layerPlan, PRUNE_METHODS, pruneLinear, type LayerStats, type PruneAxis, type PruneMethod } from "./methods.js";
import { formatPattern, nmPattern, parsePattern, unstructuredPattern, type Pattern } from "./pattern.js";

/** What prune() needs from a model; `Transformer` provides it. */
export interface PrunableModel {
  readonly config: ModelConfig;
  readonly runtime: Runtime;
  /** Positions a sequence may have. */
  readonly contextLength: number;
  /** Token rows a block runs at once (bounds what a forward hook sees). */
  readonly maxBatchTokens?: number;
  /** [dOut, dIn] of a block linear; throws for a linear the model does not have. */
  linearShape(name: LinearName): [number, number];
  /** Embedding rows of tokens: [T, dim]. */
  embed(tokens: ArrayLike<number>): Float32Array;
  /** Runs one block on fresh sequences of hidden states (in place unless writeBack is false). */
  runBlock(layer: number, sequences: readonly Float32Array[], opts?: RunBlockOptions): Promise<void>;
  getLinearWeights(layer: number, name: LinearName): Promise<Float32Array>;
  setLinear(layer: number, name: LinearName, weights: Float32Array): Promise<void>;
  /**
   * Optional: zeros among a tensor other than a block linear or the embedding (norms, biases, an untied
   * classifier), so that the report's sparsity over all parameters counts them too.
   */
  zerosOf?(name: string): Promise<{ zeros: number; total: number }>;
}

/** Which matrices are pruned: the MLP (default, the DaSS paper's setting) or also attention. */
export type PruneTargets = "mlp" | "all";

/** Calibration data: text (tokenised with `tokenizer`), drawn windows, or explicit token windows. */
export type CalibrationInput = string | CalibrationWindows | readonly ArrayLike<number>[];

/**
 * Progress of prune(), in the library's common shape (phase / done / total / message; see
 * src/util/progress.ts): one phase "prune" whose `done` counts steps up to `total` (per block: the
 * statistics pass, each matrix, the reconstruction pass, the pruned pass), plus where it is.
 */
export interface PruneProgress extends Progress {
  phase: "prune";
  /** The step about to run. */
  step: "statistics" | "matrix" | "reconstruction" | "forward" | "done";
  /** Block being processed (nLayers when done). */
  block: number;
  blocks: number;
  /** Matrix about to be pruned (step "matrix"), e.g. "mlp.down". */
  matrix?: string;
}

/** Options of prune(). */
export interface PruneOptions {
  method: PruneMethod;
  /** "0.5" (unstructured) or "2:4" (N:M), or a parsed Pattern. */
  pattern: string | Pattern;
  /** Calibration data; required for wanda, dass and sparsegpt, optional for magnitude (gives reconstruction errors). */
  calib?: CalibrationInput;
  /** Tokenizer for text calibration (the stream is encoded without BOS/EOS). */
  tokenizer?: Pick<Tokenizer, "encode">;
  /** Name of the calibration source for reports and messages (e.g. its file name). */
  calibName?: string;
  /** Windows drawn from text calibration (default 128). Ignored for explicit windows. */
  nsamples?: number;
  /** Tokens per window (default min(2048, model context)). Ignored for explicit windows. */
  seqlen?: number;
  /** Seed of the window generator (default 0). */
  seed?: number;
  /** Default "mlp". */
  targets?: PruneTargets;
  /** DaSS exponent on the L2 norm (default 0.5). */
  alpha?: number;
  /** SparseGPT damping fraction (default 0.01). */
  percdamp?: number;
  /** Measure each matrix's reconstruction error (one extra dense pass per block). Default true. */
  reconError?: boolean;
  /**
   * Keep a copy of every replaced matrix so that a failure or abort restores the dense model.
   * Default: true when the pruned matrices total at most 1 GiB, else false (the error then says the
   * model is partially pruned).
   */
  restoreOnFailure?: boolean;
  /** Also return the pruned weights by canonical tensor name (they are applied to the model anyway). */
  returnWeights?: boolean;
  /** Where large calibration activations go (see ActivationStoreOptions). */
  activations?: ActivationStoreOptions;
  onProgress?: (p: PruneProgress) => void;
  signal?: AbortSignal;
}

/** One pruned matrix. */
export interface MatrixReport {
  block: number;
  /** Canonical suffix, e.g. "mlp.down". */
  name: string;
  /** [dOut, dIn]. */
  shape: [number, number];
  /** The metric used (DaSS prunes attention with Wanda's). */
  method: PruneMethod;
  pattern: string;
  /** N:M: the axis along which groups run; unstructured: the comparison group. */
  axis: PruneAxis;
  /** Fraction of zeros after pruning. */
  sparsity: number;
  zeros: number;
  numel: number;
  /** ‖WX − W'X‖_F / ‖WX‖_F on this matrix's calibration inputs; null without calibration or when disabled. */
  reconError: number | null;
  /** Whether every N:M group holds along `axis` (null for unstructured). */
  nmValid: boolean | null;
  /**
   * Whether every N:M group holds along each axis (null for unstructured): DaSS's gate and up hold
   * along the output axis only, the other matrices along the input axis.
   */
  nmAxes: { input: boolean; output: boolean } | null;
  /** Seconds spent pruning this matrix (a shared SparseGPT factorisation is split evenly). */
  seconds: number;
  /** SparseGPT: Σ (w − q)^2 / U_jj^2 / 2, the damping used and the tries it took. */
  loss?: number;
  lambda?: number;
  attempts?: number;
}

/** Zeros among a set of parameters. */
export interface SparsityTotal {
  zeros: number;
  total: number;
  sparsity: number;
}

/** What prune() did. */
export interface PruneReport {
  options: {
    method: PruneMethod; pattern: string; targets: PruneTargets; alpha: number; percdamp: number;
    nsamples: number | null; seqlen: number | null; seed: number | null; reconError: boolean;
  };
  matrices: MatrixReport[];
  totals: {
    /** Over the pruned matrices. */
    pruned: SparsityTotal;
    /** Over every block linear (q, k, v, o, gate, up, down of every block). */
    blockLinears: SparsityTotal;
    /**
     * Over all parameters: the block linears, the embeddings, and the norms, biases and untied
     * classifier where the model counts them (PrunableModel.zerosOf; Transformer does); otherwise
     * those are counted as parameters but not inspected (`uninspected` of them).
     */
    parameters: SparsityTotal & { uninspected: number };
  };
  /** Whether every N:M group of every pruned matrix holds (null for unstructured). */
  nmValid: boolean | null;
  /** Seconds spent pruning (statistics handling, factorisations, masks, updates), excluding forward passes. */
  pruneSeconds: number;
  /** Seconds in forward passes (statistics, reconstruction and pruned passes, embedding). */
  forwardSeconds: number;
  totalSeconds: number;
  calibration: {
    source: string; nsamples: number; seqlen: number; seed: number | null;
    /** Window start offsets in the token stream (null for explicit windows). */
    starts: number[] | null;
    streamLength: number | null;
    activationStore: "memory" | "file";
  } | null;
}

/** Result of prune(). */
export interface PruneResult {
  report: PruneReport;
  /** Pruned weights by canonical tensor name (only with returnWeights). */
  weights?: Map<string, Float32Array>;
}

const MLP: readonly LinearName[] = ["gate", "up", "down"];

/** The linears a target set prunes. */
export function targetLinears(targets: PruneTargets): readonly LinearName[] {
  return targets === "all" ? LINEAR_NAMES : MLP;
}
/** Linears that see the same input share statistics: the first of each group collects them. */
const GROUP: Record<LinearName, LinearName> = { q: "q", k: "q", v: "q", o: "o", gate: "gate", up: "gate", down: "down" };

const now = (): number => (typeof performance !== "undefined" ? performance.now() : Date.now());

interface Resolved {
  method: PruneMethod;
  pattern: Pattern;
  targets: PruneTargets;
  alpha: number;
  percdamp: number;
  recon: boolean;
  windows: { tokens: Int32Array; nsamples: number; seqlen: number; starts: number[] | null; streamLength: number | null; seed: number | null; source: string } | null;
}

function positiveInt(arg: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new ArgumentError(arg, `must be a positive integer, got ${String(v)}`);
  return v;
}

function resolvePattern(p: string | Pattern): Pattern {
  if (typeof p === "string") return parsePattern(p);
  if (p && typeof p === "object" && p.kind === "unstructured") return unstructuredPattern(p.sparsity);
  if (p && typeof p === "object" && p.kind === "nm") return nmPattern(p.n, p.m);
  throw new ArgumentError("pattern", `must be a string like "0.5" or "2:4" or a Pattern, got ${JSON.stringify(p)}`);
}

function resolve(model: PrunableModel, o: PruneOptions): Resolved {
  if (!o || typeof o !== "object") throw new ArgumentError("options", "must be an object");
  if (!PRUNE_METHODS.includes(o.method)) throw new ArgumentError("method", `must be one of ${PRUNE_METHODS.join(", ")}, got ${JSON.stringify(o.method)}`);
  const pattern = resolvePattern(o.pattern);
  const targets = o.targets ?? "mlp";
  if (targets !== "mlp" && targets !== "all") throw new ArgumentError("targets", `must be "mlp" or "all", got ${JSON.stringify(targets)}`);
  const alpha = o.alpha ?? 0.5;
  if (typeof alpha !== "number" || !(alpha >= 0 && alpha < Infinity)) throw new ArgumentError("alpha", `must be a finite number >= 0, got ${alpha}`);
  const percdamp = o.percdamp ?? 0.01;
  if (typeof percdamp !== "number" || !(percdamp >= 0 && percdamp < Infinity)) throw new ArgumentError("percdamp", `must be a finite number >= 0, got ${percdamp}`);
  if (o.method === "sparsegpt" && pattern.kind === "nm" && 128 % pattern.m !== 0) {
    throw new ArgumentError("pattern", `SparseGPT needs M (${pattern.m}) to divide its column block of 128`);
  }
  // The model must have what the method prunes: a GLU MLP (gate, up, down) for every method here,
  // and DaSS is defined by it.
  for (const name of targetLinears(targets)) {
    try {
      model.linearShape(name);
    } catch {
      if (o.method === "dass") throw new ArgumentError("method", `DaSS needs a GLU MLP (gate, up, down); this model has no ${name} projection`);
      throw new ArgumentError("model", `has no ${name} projection to prune`);
    }
  }
  const calibrated = o.method !== "magnitude";
  if (calibrated && o.calib === undefined) throw new ArgumentError("calib", `${o.method} needs calibration data`);
  let windows: Resolved["windows"] = null;
  if (o.calib !== undefined) {
    const source = o.calibName ?? (typeof o.calib === "string" ? "<calibration text>" : "<calibration windows>");
    const seed = o.seed ?? 0;
    if (!Number.isInteger(seed)) throw new ArgumentError("seed", `must be an integer, got ${seed}`);
    if (typeof o.calib === "string") {
      if (!o.tokenizer || typeof o.tokenizer.encode !== "function") throw new ArgumentError("tokenizer", "is required to tokenise calibration text");
      const nsamples = positiveInt("nsamples", o.nsamples ?? 128);
      const seqlen = positiveInt("seqlen", o.seqlen ?? Math.min(2048, model.contextLength));
      if (seqlen > model.contextLength) throw new ArgumentError("seqlen", `${seqlen} exceeds the model's context length ${model.contextLength}`);
      const w = calibrationWindows(o.calib, o.tokenizer, { nsamples, seqlen, seed, source });
      windows = { tokens: w.tokens, nsamples, seqlen, starts: w.starts, streamLength: w.streamLength, seed, source };
    } else if (isWindows(o.calib)) {
      const w = o.calib;
      if (w.tokens.length !== w.nsamples * w.seqlen) throw new ArgumentError("calib", "window tokens do not match nsamples × seqlen");
      windows = { tokens: w.tokens, nsamples: w.nsamples, seqlen: w.seqlen, starts: w.starts, streamLength: w.streamLength, seed: w.seed, source: o.calibName ?? w.source };
    } else if (Array.isArray(o.calib)) {
      const arr = o.calib as readonly ArrayLike<number>[];
      if (arr.length === 0) throw new ArgumentError("calib", "holds no windows");
      const seqlen = arr[0].length;
      if (seqlen < 1) throw new ArgumentError("calib", "windows must not be empty");
      const tokens = new Int32Array(arr.length * seqlen);
      arr.forEach((w, i) => {
        if (w.length !== seqlen) throw new ArgumentError("calib", `window ${i} has ${w.length} tokens, window 0 has ${seqlen}`);
        for (let t = 0; t < seqlen; t++) tokens[i * seqlen + t] = w[t];
      });
      windows = { tokens, nsamples: arr.length, seqlen, starts: null, streamLength: null, seed: null, source };
    } else {
      throw new ArgumentError("calib", "must be text, CalibrationWindows or an array of token windows");
    }
    if (windows.seqlen > model.contextLength) throw new ArgumentError("calib", `windows of ${windows.seqlen} tokens exceed the model's context length ${model.contextLength}`);
    const V = model.config.vocabSize;
    for (let i = 0; i < windows.tokens.length; i++) {
      const t = windows.tokens[i];
      if (!(t >= 0 && t < V)) throw new ArgumentError("calib", `token ${t} (window ${Math.floor(i / windows.seqlen)}) is not in the vocabulary [0, ${V})`);
    }
  }
  return { method: o.method, pattern, targets, alpha, percdamp, recon: o.reconError ?? true, windows };
}

function isWindows(c: CalibrationInput): c is CalibrationWindows {
  return typeof c === "object" && c !== null && !Array.isArray(c) && (c as CalibrationWindows).tokens instanceof Int32Array;
}

function checkFinite(W: Float32Array, cols: number, what: string): void {
  for (let i = 0; i < W.length; i++) {
    if (!Number.isFinite(W[i])) throw new ArgumentError("model", `${what} holds a non-finite weight: W[${Math.floor(i / cols)}][${i % cols}] = ${W[i]}`);
  }
}

/** Per-block statistics, collected by a forward hook. */
class BlockStats {
  private readonly sumsq = new Map<LinearName, WasmArray<"f64">>();
  private readonly hess = new Map<LinearName, WasmArray<"f32">>();
  constructor(private readonly rt: Runtime, private readonly nsamples: number) {}

  wantSums(group: LinearName, d: number): void {
    if (!this.sumsq.has(group)) this.sumsq.set(group, this.rt.heap.alloc("f64", d));
  }
  wantHessian(group: LinearName, d: number): void {
    if (!this.hess.has(group)) this.hess.set(group, this.rt.heap.alloc("f32", d * d));
  }
  get empty(): boolean { return this.sumsq.size === 0 && this.hess.size === 0; }

  readonly hook = async (inp: LinearInput): Promise<void> => {
    if (GROUP[inp.name] !== inp.name) return;
    const s = this.sumsq.get(inp.name);
    if (s) await colSumSq(this.rt, inp.X, inp.T, inp.dIn, s);
    const h = this.hess.get(inp.name);
    if (h) await hessianAccumulate(this.rt, inp.X, inp.T, inp.dIn, h, 2 / this.nsamples);
  };

  /** s_j = (1/nsamples) Σ x², checked finite. */
  norms(group: LinearName, label: string): Float64Array {
    const a = this.sumsq.get(group);
    if (!a) throw new ArgumentError("stats", `internal: no statistics for ${label}`);
    const out = Float64Array.from(a.view(), (x) => x / this.nsamples);
    for (let i = 0; i < out.length; i++) {
      if (!Number.isFinite(out[i])) throw new ArgumentError("calib", `${label}: the calibration activations at this input contain NaN or Inf (column ${i})`);
    }
    return out;
  }

  hessian(group: LinearName, label: string): WasmArray<"f32"> {
    const h = this.hess.get(group);
    if (!h) throw new ArgumentError("stats", `internal: no Hessian for ${label}`);
    const v = h.view(), d = Math.round(Math.sqrt(v.length));
    for (let j = 0; j < d; j++) {
      if (!Number.isFinite(v[j * d + j])) throw new ArgumentError("calib", `${label}: the calibration activations at this input contain NaN or Inf (column ${j})`);
    }
    return h;
  }

  dropHessian(group: LinearName): void {
    this.hess.get(group)?.free();
    this.hess.delete(group);
  }

  free(): void {
    for (const a of this.sumsq.values()) a.free();
    for (const a of this.hess.values()) a.free();
    this.sumsq.clear();
    this.hess.clear();
  }
}

/** Accumulates ‖WX‖² and ‖(W − W')X‖² per matrix through a forward hook. */
class ReconMeter {
  private readonly mats = new Map<LinearName, { W: WasmArray<"f32">; D: WasmArray<"f32">; dOut: number; y: WasmArray<"f64">; e: WasmArray<"f64"> }>();
  private Y: WasmArray<"f32"> | null = null;
  private E: WasmArray<"f32"> | null = null;
  constructor(private readonly rt: Runtime) {}

  /** Sizes the output buffers up front: allocating inside a forward hook could grow Wasm memory mid-block. */
  reserve(rows: number): void {
    let n = 0;
    for (const m of this.mats.values()) n = Math.max(n, rows * m.dOut);
    if (n > 0 && (!this.Y || this.Y.length < n)) {
      this.Y?.free(); this.E?.free();
      this.Y = null; this.E = null;
      this.Y = this.rt.heap.alloc("f32", n);
      this.E = this.rt.heap.alloc("f32", n);
    }
  }

  add(name: LinearName, dense: Float32Array, pruned: Float32Array, dOut: number): void {
    const D = new Float32Array(dense.length);
    for (let i = 0; i < D.length; i++) D[i] = dense[i] - pruned[i];
    const heap = this.rt.heap;
    this.mats.set(name, { W: heap.from("f32", dense), D: heap.from("f32", D), dOut, y: heap.alloc("f64", dOut), e: heap.alloc("f64", dOut) });
  }

  readonly hook = async (inp: LinearInput): Promise<void> => {
    const m = this.mats.get(inp.name);
    if (!m) return;
    const n = inp.T * m.dOut;
    if (!this.Y || this.Y.length < n) this.reserve(inp.T);
    const Y = this.Y!.sub(0, n), E = this.E!.sub(0, n);
    await gemm(this.rt, m.W, inp.X, Y, m.dOut, inp.dIn, inp.T);
    await gemm(this.rt, m.D, inp.X, E, m.dOut, inp.dIn, inp.T);
    await colSumSq(this.rt, Y, inp.T, m.dOut, m.y);
    await colSumSq(this.rt, E, inp.T, m.dOut, m.e);
  };

  /** ‖(W − W')X‖_F / ‖WX‖_F (0 when both are 0). */
  error(name: LinearName): number | null {
    const m = this.mats.get(name);
    if (!m) return null;
    let y = 0, e = 0;
    for (const v of m.y.view()) y += v;
    for (const v of m.e.view()) e += v;
    if (!Number.isFinite(y) || !Number.isFinite(e)) return NaN;
    return y === 0 ? (e === 0 ? 0 : Infinity) : Math.sqrt(e / y);
  }

  free(): void {
    for (const m of this.mats.values()) { m.W.free(); m.D.free(); m.y.free(); m.e.free(); }
    this.mats.clear();
    this.Y?.free(); this.E?.free();
    this.Y = null; this.E = null;
  }
}

/**
 * Prunes `model` in place (see the module comment) and returns a report. Throws ArgumentError for
 * bad options (method, pattern, targets, alpha, calibration, tokenizer, a model without a GLU MLP
 * for DaSS), NaN/Inf weights or activations; NumericalError when SparseGPT cannot factor a
 * Hessian; AbortError when `signal` fires. On any failure the dense weights are restored when
 * `restoreOnFailure` is in effect, else the error message says the model is partially pruned.
 */
export async function prune(model: PrunableModel, options: PruneOptions): Promise<PruneResult> {
  const t0 = now();
  const { signal } = options ?? {};
  if (signal?.aborted) throw new AbortError("pruning aborted before it started; the model is unchanged");
  const o = resolve(model, options);
  const rt = model.runtime;
  const cfg = model.config;
  const L = cfg.nLayers;
  const targets = targetLinears(o.targets);
  const patternText = formatPattern(o.pattern);
  const useCalib = o.windows !== null && (o.method !== "magnitude" || o.recon);
  const needsStats = o.method !== "magnitude";
  const stepsPerBlock = (useCalib && needsStats ? 1 : 0) + targets.length + (useCalib && o.recon ? 1 : 0);
  const totalSteps = L * stepsPerBlock + (useCalib ? L - 1 : 0);
  let done = 0;
  const progress = (step: PruneProgress["step"], block: number, matrix?: string): void => {
    const message = step === "done" ? "done" : `block ${block + 1}/${L} ${matrix ?? step}`;
    options.onProgress?.({ phase: "prune", done, total: totalSteps, message, step, block, blocks: L, ...(matrix ? { matrix } : {}) });
  };
  const checkAbort = (): void => { if (signal?.aborted) throw new AbortError(); };

  let targetBytes = 0;
  for (const n of targets) { const [a, b] = model.linearShape(n); targetBytes += 4 * a * b * L; }
  const restoreOnFailure = options.restoreOnFailure ?? targetBytes <= 2 ** 30;
  const originals: { layer: number; name: LinearName; W: Float32Array }[] = [];
  const weights = options.returnWeights ? new Map<string, Float32Array>() : undefined;
  const matrices: MatrixReport[] = [];
  let pruneSeconds = 0, forwardSeconds = 0;
  let store: ActivationStore | null = null;
  let block = 0;
  let installed = 0;

  try {
    if (useCalib) {
      const w = o.windows!;
      const tf = now();
      store = await createActivationStore(w.nsamples, w.seqlen * cfg.dim, (i) => model.embed(w.tokens.subarray(i * w.seqlen, (i + 1) * w.seqlen)), options.activations);
      forwardSeconds += (now() - tf) / 1000;
    }
    const pass = async (layer: number, hook: RunBlockOptions["hook"], writeBack: boolean): Promise<void> => {
      const tf = now();
      await store!.forEachChunk((seqs) => model.runBlock(layer, seqs, { hook, writeBack, signal }), writeBack);
      forwardSeconds += (now() - tf) / 1000;
    };

    for (block = 0; block < L; block++) {
      checkAbort();
      const l = block;
      // 1. Dense pass with statistics.
      const stats = new BlockStats(rt, o.windows?.nsamples ?? 1);
      const recon = new ReconMeter(rt);
      const dense = new Map<LinearName, Float32Array>();
      try {
        // Bad weights are reported as such, before they poison the activations.
        for (const name of targets) {
          const W0 = await model.getLinearWeights(l, name);
          checkFinite(W0, model.linearShape(name)[1], `layers.${l}.${linearTensorSuffix(name)}`);
          dense.set(name, W0);
        }
        if (useCalib) {
          for (const name of targets) {
            const plan = layerPlan(o.method, name, o.pattern);
            const [, dIn] = model.linearShape(name);
            if (plan.needs === "input") stats.wantSums(GROUP[name], dIn);
            if (plan.needs === "intermediate") stats.wantSums("down", model.linearShape("down")[1]);
            if (plan.needs === "hessian") stats.wantHessian(GROUP[name], dIn);
          }
          if (!stats.empty) {
            progress("statistics", l);
            await pass(l, stats.hook, false);
            done++;
          }
        }
        checkAbort();

        // 2. Prune each target matrix.
        const factors = new Map<LinearName, { f: SparseGPTFactor; seconds: number; members: number }>();
        const pruned = new Map<LinearName, Float32Array>();
        try {
          for (const name of targets) {
            checkAbort();
            const suffix = linearTensorSuffix(name);
            const label = `block ${l} ${suffix}`;
            progress("matrix", l, suffix);
            const [dOut, dIn] = model.linearShape(name);
            const W0 = dense.get(name)!;
            const tp = now();
            const plan = layerPlan(o.method, name, o.pattern);
            const st: LayerStats = {};
            if (plan.needs === "input") st.input = stats.norms(GROUP[name], `block ${l} ${linearTensorSuffix(GROUP[name])} input`);
            if (plan.needs === "intermediate") st.intermediate = stats.norms("down", `block ${l} mlp.down input`);
            let factorShare = 0, factoredHere = 0;
            if (plan.needs === "hessian") {
              const g = GROUP[name];
              let entry = factors.get(g);
              if (!entry) {
                const members = targets.filter((t) => GROUP[t] === g);
                const tf = now();
                const groupLabel = `block ${l} ${members.map(linearTensorSuffix).join("/")}`;
                const f = await sparsegptFactor(rt, stats.hessian(g, `${groupLabel} input`), dIn, { percdamp: o.percdamp, label: groupLabel, signal });
                stats.dropHessian(g);
                entry = { f, seconds: (now() - tf) / 1000, members: members.length };
                factoredHere = entry.seconds;
                factors.set(g, entry);
              }
              st.factor = entry.f;
              factorShare = entry.seconds / entry.members;
            }
            const Wq = rt.heap.from("f32", W0);
            let res, zeros;
            const tq = now();
            try {
              res = await pruneLinear(rt, Wq, dOut, dIn, { method: o.method, name, pattern: o.pattern, stats: st, alpha: o.alpha, percdamp: o.percdamp, label, signal });
              const sec = (now() - tq) / 1000;
              pruneSeconds += (tq - tp) / 1000 + sec;
              zeros = await countZeros(rt, Wq, dOut * dIn);
              let nmAxes: MatrixReport["nmAxes"] = null;
              if (o.pattern.kind === "nm") {
                const { n, m } = o.pattern;
                nmAxes = { input: (await checkNM(rt, Wq, dOut, dIn, n, m, "input")) === 0, output: (await checkNM(rt, Wq, dOut, dIn, n, m, "output")) === 0 };
              }
              pruned.set(name, Wq.read());
              done++;
              matrices.push({
                block: l, name: suffix, shape: [dOut, dIn], method: res.metric, pattern: patternText, axis: res.axis,
                sparsity: zeros / (dOut * dIn), zeros, numel: dOut * dIn, reconError: null,
                nmValid: nmAxes ? nmAxes[res.axis === "output" ? "output" : "input"] : null,
                nmAxes,
                seconds: (tq - tp) / 1000 - factoredHere + sec + factorShare,
                ...(res.loss !== undefined ? { loss: res.loss, lambda: res.lambda, attempts: res.attempts } : {}),
              });
            } finally {
              Wq.free();
            }
          }
        } finally {
          for (const e of factors.values()) e.f.U.free();
          factors.clear();
          stats.free();
        }
        checkAbort();

        // 3. Reconstruction error on the dense block's inputs.
        if (useCalib && o.recon) {
          for (const name of targets) recon.add(name, dense.get(name)!, pruned.get(name)!, model.linearShape(name)[0]);
          recon.reserve(Math.min(model.maxBatchTokens ?? o.windows!.seqlen, o.windows!.seqlen));
          progress("reconstruction", l);
          await pass(l, recon.hook, false);
          done++;
          for (const m of matrices) if (m.block === l) {
            const name = targets.find((t) => linearTensorSuffix(t) === m.name)!;
            m.reconError = recon.error(name);
            if (Number.isNaN(m.reconError)) throw new ArgumentError("calib", `block ${l} ${m.name}: the calibration activations at this input contain NaN or Inf`);
          }
        }
        recon.free();
        checkAbort();

        // 4. Install the pruned weights.
        for (const name of targets) {
          if (restoreOnFailure) originals.push({ layer: l, name, W: dense.get(name)! });
          const Wp = pruned.get(name)!;
          await model.setLinear(l, name, Wp);
          installed++;
          weights?.set(`layers.${l}.${linearTensorSuffix(name)}`, Wp);
        }
        dense.clear();
        pruned.clear();

        // 5. The pruned block's outputs feed the next block.
        if (useCalib && l + 1 < L) {
          progress("forward", l);
          await pass(l, undefined, true);
          done++;
        }
      } finally {
        recon.free();
        stats.free();
      }
    }
  } catch (e) {
    const state = installed === 0
      ? "the model is unchanged"
      : (await restore(model, originals, restoreOnFailure))
        ? "the model was restored to its dense weights"
        : `the model is partially pruned (blocks 0..${block - 1} done, block ${block} may be partly pruned): discard it`;
    if (e instanceof AbortError) throw new AbortError(`pruning aborted in block ${block}; ${state}`);
    if (e instanceof DassError) {
      e.message = `${e.message} (${state})`;
      throw e;
    }
    throw e;
  } finally {
    await store?.close();
  }

  progress("done", L);
  const totals = await sparsityTotals(model, matrices, targets);
  const w = o.windows;
  const report: PruneReport = {
    options: {
      method: o.method, pattern: patternText, targets: o.targets, alpha: o.alpha, percdamp: o.percdamp,
      nsamples: w?.nsamples ?? null, seqlen: w?.seqlen ?? null, seed: w?.seed ?? null, reconError: useCalib && o.recon,
    },
    matrices,
    totals,
    nmValid: o.pattern.kind === "nm" ? matrices.every((m) => m.nmValid) : null,
    pruneSeconds,
    forwardSeconds,
    totalSeconds: (now() - t0) / 1000,
    calibration: w ? {
      source: w.source, nsamples: w.nsamples, seqlen: w.seqlen, seed: w.seed, starts: w.starts, streamLength: w.streamLength,
      activationStore: store?.kind ?? "memory",
    } : null,
  };
  return weights ? { report, weights } : { report };
}

async function restore(model: PrunableModel, originals: { layer: number; name: LinearName; W: Float32Array }[], enabled: boolean): Promise<boolean> {
  if (!enabled) return false;
  try {
    for (const x of originals.reverse()) await model.setLinear(x.layer, x.name, x.W);
    return true;
  } catch {
    return false;
  }
}

async function sparsityTotals(model: PrunableModel, matrices: MatrixReport[], targets: readonly LinearName[]): Promise<PruneReport["totals"]> {
  const cfg = model.config;
  let pz = 0, pt = 0;
  for (const m of matrices) { pz += m.zeros; pt += m.numel; }
  let lz = pz, lt = pt;
  for (let l = 0; l < cfg.nLayers; l++) {
    for (const name of LINEAR_NAMES) {
      if (targets.includes(name)) continue;
      const W = await model.getLinearWeights(l, name);
      for (let i = 0; i < W.length; i++) if (W[i] === 0) lz++;
      lt += W.length;
    }
  }
  // Embeddings: zeros survive the embedding scale, so embedding every id shows them.
  let ez = 0;
  const chunk = 4096;
  for (let t0 = 0; t0 < cfg.vocabSize; t0 += chunk) {
    const ids = Array.from({ length: Math.min(chunk, cfg.vocabSize - t0) }, (_, i) => t0 + i);
    const E = model.embed(ids);
    for (let i = 0; i < E.length; i++) if (E[i] === 0) ez++;
  }
  // Everything else (norms, biases, an untied classifier), where the model can give it.
  let oz = 0, ot = 0;
  if (typeof model.zerosOf === "function") {
    for (const spec of expectedTensors(cfg)) {
      if (spec.name === "tok_embeddings" || blockLinearOf(spec.name)) continue;
      const { zeros, total } = await model.zerosOf(spec.name);
      oz += zeros;
      ot += total;
    }
  }
  const total = parameterCount(cfg);
  const inspected = lt + cfg.vocabSize * cfg.dim + ot;
  const ratio = (z: number, t: number) => (t === 0 ? 0 : z / t);
  return {
    pruned: { zeros: pz, total: pt, sparsity: ratio(pz, pt) },
    blockLinears: { zeros: lz, total: lt, sparsity: ratio(lz, lt) },
    parameters: { zeros: lz + ez + oz, total, sparsity: ratio(lz + ez + oz, total), uninspected: Math.max(0, total - inspected) },
  };
}
