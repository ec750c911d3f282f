/**
 * The forward pass of a pre-norm decoder-only GLU transformer (LLaMA, Mistral, Qwen2, Qwen3, Gemma), laid
 * out like llama2.c's run.c: every buffer is allocated once when the model is loaded, with its
 * shape next to it, and a block is a fixed sequence of kernel calls.
 *
 * Weights and memory. Token embeddings always stay on the JS heap (a lookup copies rows). The other
 * weights live in Wasm memory when they fit the budget (`budgetBytes`, default 1 GiB, counting
 * activation buffers, RoPE tables and one full KV cache); otherwise as many blocks as fit stay
 * resident and the rest are streamed: kept on the JS heap (or re-read from the model file) and
 * copied one block at a time into a reusable "block slot" when they run. Peak Wasm memory is then
 * the budget plus one slot. A streamed classifier goes through the same slot in row chunks. Weights
 * of streamed blocks set after load (pruned matrices) are kept on the JS heap, or in a `spill`
 * (src/model/spill.ts) so that host memory too stays near one block.
 *
 * Batches. The core primitive runs one block on T <= maxBatchTokens token rows at positions
 * pos0 .. pos0+T-1 against a layer KV cache (prefill when T > 1, decode when T = 1). Longer inputs
 * are split into chunks. Layer-major evaluation (`runBlock`: block i over many sequences whose
 * hidden states are on the JS heap, then block i + 1) uploads each streamed block once per pass;
 * it is both the efficient way to evaluate perplexity on a streamed model and the shape of the
 * pruning "sequential procedure".
 *
 * Hooks for pruning: `hook` (in ForwardOptions / RunBlockOptions) sees every linear's input right
 * before the linear runs; `setLinear` replaces a block linear's weights by a dense matrix or by
 * any `Linear` (e.g. a sparse matrix).
 *
 * Compressed N:M matrices. A matrix the file stores compressed (`TensorInfo.compressed`) runs on the
 * sparse kernels as a `SparseLinear` (unless `compressed: "dense"`). Such a linear is a
 * `PlaceableLinear`: the model places it in Wasm memory like dense weights, so the memory plan counts
 * its real bytes, a resident block holds it in its own allocation and a streamed block uploads it
 * into the block slot with the rest of the block. Unpruned matrices stay dense.
 */
import { ArgumentError, throwIfAborted } from "../errors.js";
import type { ModelReader, RawTensor } from "../formats/reader.js";
import { addBias, addInPlace, glu, softcap } from "../kernels/activations.js";
import { attention, kvStore } from "../kernels/attention.js";
import { nll as nllKernel } from "../kernels/logits.js";
import { rmsnorm } from "../kernels/norms.js";
import { rope, RopeTable } from "../kernels/rope.js";
import type { WasmArray, WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import { SparseLinear } from "../sparse/linear.js";
import { configProblem, layerTensor, layerWindow, usesLocalRope, type LayerTensorSuffix, type ModelConfig } from "./config.js";
import { KVCache, kvRows, type KVLayer } from "./kv-cache.js";
import { dequantBlocks, readTensorF32, readWasmBlocks, type GgmlBlocks } from "./tensor-read.js";
import { checkLinearShape, DenseLinear, isLinear, LINEAR_NAMES, linearTensorSuffix, type Linear, type LinearName } from "./linear.js";
import type { WeightSpill } from "./spill.js";

/** Default Wasm memory budget: 1 GiB. */
export const DEFAULT_BUDGET_BYTES = 1 << 30;
/** Default cap on token rows per batch (prefill chunk). */
export const DEFAULT_MAX_BATCH_TOKENS = 512;
// Logit rows computed at once: bounds the [rows, vocab] buffer to about this many bytes.
const LOGITS_BUFFER_BYTES = 16 << 20;

/** Options of Transformer.load(). */
export interface TransformerOptions {
  /**
   * Wasm memory budget in bytes (default 1 GiB). Everything fits: all weights resident. Otherwise
   * blocks are streamed through one extra block slot (peak = budget + one block).
   */
  budgetBytes?: number;
  /** Positions the model is run at: RoPE tables and KV caches. Default config.seqLen. */
  contextLength?: number;
  /** Token rows processed at once (activation buffers). Default min(512, contextLength). */
  maxBatchTokens?: number;
  /**
   * Where streamed (non-resident) blocks come from: "host" keeps them on the JS heap (default),
   * "reader" re-reads them from the model file for every use (least memory, needs the reader open).
   */
  streamFrom?: "host" | "reader";
  /**
   * Where dense weights set after load (`setLinear`, e.g. pruned matrices) are kept for blocks that are
   * streamed: on the JS heap (default), or in this spill (e.g. a `FileSpill`, so that pruning a model
   * larger than memory holds about one block). Owned by the caller: close it after the model.
   */
  spill?: WeightSpill;
  /**
   * Substitutes a Linear (e.g. a sparse matrix on this runtime) for a block linear at load time;
   * return undefined to keep the default (dense weights, or a SparseLinear for a matrix the file
   * stores compressed). `dense()` reads the stored weights (decompressed). Linear objects are owned
   * by the caller. A `PlaceableLinear` that is not placed yet (e.g. `SparseLinear.fromDense(...)`)
   * is placed by the model: its `placementBytes` count in the budget and it streams with its block.
   * Any other Linear is resident in memory the caller manages; its `bytes` (when it has a numeric
   * `bytes` property, as SparseMatrix does) are taken off the budget.
   */
  makeLinear?: (layer: number, name: LinearName, dense: () => Promise<Float32Array>) => Promise<Linear | undefined> | Linear | undefined;
  /**
   * Matrices the file stores compressed (N:M values + masks): "sparse" (default) runs them on the
   * sparse kernels, "dense" decompresses them into dense weights.
   */
  compressed?: "sparse" | "dense";
  /** Cancels loading. */
  signal?: AbortSignal;
  /** Loading progress: tensors read so far of `total`. */
  onProgress?: (p: { done: number; total: number }) => void;
}

/** Input of a linear layer, as given to a LinearInputHook. */
export interface LinearInput {
  /** Block index. */
  layer: number;
  name: LinearName;
  /** The input rows, [T, dIn] token-major, in Wasm memory; valid only until the hook returns (or its promise settles). */
  X: WasmRef<"f32">;
  T: number;
  dIn: number;
  /** Index of the sequence within a runBlock call (0 for forward). */
  sequence: number;
  /** Position of row 0 within its sequence. */
  pos0: number;
}

/**
 * Called with each linear's input right before the linear runs (q, k and v see the same X). May be
 * async; the forward pass waits for it. Must not keep X beyond that.
 */
export type LinearInputHook = (input: LinearInput) => void | Promise<void>;

/** Options of forward(). */
export interface ForwardOptions {
  /** Which logits to return: the last token's (default), every token's, or none. */
  logits?: "last" | "all" | "none";
  hook?: LinearInputHook;
  signal?: AbortSignal;
}

/** Options of runBlock(). */
export interface RunBlockOptions {
  hook?: LinearInputHook;
  /** Write the block outputs back into the sequences (default true). False: run for the hook only. */
  writeBack?: boolean;
  signal?: AbortSignal;
}

/** Where the weights are. */
export interface Residency {
  /** "resident": all weights in Wasm memory; "streamed": some go through the block slot. */
  mode: "resident" | "streamed";
  /** Blocks kept in Wasm memory. */
  residentBlocks: number[];
  classifierResident: boolean;
  /** Bytes of the block slot (0 when resident). */
  slotBytes: number;
  /**
   * Wasm bytes the load plan counted besides weights and the slot: activations, RoPE tables, one
   * full KV cache (newCache), the one-layer cache of layer-major runs, and (when the classifier is
   * streamed) its chunk output buffer.
   */
  fixedBytes: number;
  /** Bytes of all weights as dense f32 (blocks, final norm, classifier). */
  weightBytes: number;
  /**
   * Wasm bytes of the weights as the model holds them: dense f32 tensors, sparse linears in their
   * runtime layout, final norm and classifier (and caller-managed Linears' `bytes`).
   */
  storedWeightBytes: number;
  /** Bytes of each block's weights as planned (dense tensors + placed sparse linears). */
  blockBytes: number[];
  /** Bytes copied into the block slot by one pass over all blocks and the classifier (0 when resident). */
  streamedBytes: number;
  /** Block linears running on sparse kernels (SparseLinear or other placeable linears). */
  sparseLinears: number;
  /** Bytes of caller-managed resident Linears counted against the budget. */
  externalBytes: number;
}

/**
 * A Linear whose weights the model places in Wasm memory it owns (a resident allocation or the
 * block slot), so that they count in the memory plan and stream with their block. SparseLinear is one.
 */
export interface PlaceableLinear extends Linear {
  /** Bytes of Wasm memory a placement needs (a multiple of 64). */
  readonly placementBytes: number;
  /** Whether the weights are in Wasm memory now. */
  readonly placed: boolean;
  /**
   * Copies the weights to [ptr, ptr + placementBytes) (64-byte aligned) and runs there; `persistent`
   * says the placement lasts (the host copy may be dropped).
   */
  place(ptr: number, persistent?: boolean): void;
  /** Detaches from the placement, whose memory is about to be reused or freed. */
  unplace(): void;
}

/** True for Linears the model can place (see PlaceableLinear). */
export function isPlaceable(l: unknown): l is PlaceableLinear {
  const p = l as Partial<PlaceableLinear> | null;
  return isLinear(l) && typeof p!.placementBytes === "number" && typeof p!.place === "function" && typeof p!.unplace === "function" &&
    typeof p!.placed === "boolean";
}

type DenseTensor = { suffix: LayerTensorSuffix; n: number };

/** A block bound to Wasm memory, ready to run. */
interface BoundBlock {
  attnNorm: WasmRef<"f32">;
  ffnNorm: WasmRef<"f32">;
  qBias?: WasmRef<"f32">;
  kBias?: WasmRef<"f32">;
  vBias?: WasmRef<"f32">;
  qNorm?: WasmRef<"f32">;
  kNorm?: WasmRef<"f32">;
  attnPostNorm?: WasmRef<"f32">;
  ffnPostNorm?: WasmRef<"f32">;
  lin: Record<LinearName, Linear>;
}

interface BlockState {
  /** Resident: one Wasm array per dense tensor. */
  resident: Map<LayerTensorSuffix, WasmArray<"f32">> | null;
  /**
   * Streamed from host: the dense tensors on the JS heap, as f32 or, for block-quantised GGUF tensors the
   * Wasm kernels dequantise, as their stored blocks (dequantised at each upload). In "reader" mode only
   * replaced ones (without a spill).
   */
  host: Map<LayerTensorSuffix, Float32Array | GgmlBlocks>;
  /** Linears replaced by Linear objects. */
  custom: Map<LinearName, Linear>;
  /** Placeable customs the model places: in the block slot when the block is streamed. */
  managed: Set<LinearName>;
  /** Resident placements the model allocated for placeable customs. */
  placedMem: Map<LinearName, WasmArray<"u8">>;
}

const align = (bytes: number) => Math.ceil(bytes / 64) * 64;

/** A loaded model ready to run on a runtime. */
export class Transformer {
  readonly config: ModelConfig;
  readonly runtime: Runtime;
  /** Positions supported (RoPE tables, KV caches). */
  readonly contextLength: number;
  /** Token rows per batch. */
  readonly maxBatchTokens: number;
  readonly residency: Residency;

  private readonly reader: ModelReader | null;
  private readonly streamFrom: "host" | "reader";
  private readonly spill: WeightSpill | null;
  private readonly dims: { dim: number; qDim: number; kvDim: number; hidden: number; vocab: number };
  /** Token embeddings [vocab, dim] on the JS heap. */
  private readonly embedding: Float32Array;
  private readonly blocks: BlockState[];
  private readonly owned: WasmArray[] = [];
  private closed = false;

  // --- Wasm buffers (B = maxBatchTokens, Lc = logit rows per chunk) ---
  private readonly buf: {
    x: WasmArray<"f32">;      // [B, dim]     residual stream
    xb: WasmArray<"f32">;     // [B, dim]     normed input of q/k/v and gate/up; o and down outputs
    q: WasmArray<"f32">;      // [B, qDim]    queries (RoPE applied)
    k: WasmArray<"f32">;      // [B, kvDim]   keys of the batch (RoPE applied), before kvStore
    v: WasmArray<"f32">;      // [B, kvDim]   values of the batch
    att: WasmArray<"f32">;    // [B, qDim]    attention output = input of o
    hb: WasmArray<"f32">;     // [B, hidden]  gate output, then act(gate) * up = input of down
    hb2: WasmArray<"f32">;    // [B, hidden]  up output
    pos: WasmArray<"i32">;    // [B]          position of each row
    logits: WasmArray<"f32">; // [Lc, vocab]  classifier output
    target: WasmArray<"i32">; // [Lc]         NLL targets
    nll: WasmArray<"f64">;    // [Lc]         NLL per row
    norm: WasmArray<"f32">;   // [dim]        final RMSNorm weight
  };
  private readonly logitRows: number;
  private readonly rope: RopeTable;
  /**
   * Where the sequence of the pass in progress ends (its last position + 1), set by every whole-sequence
   * entry point: LongRoPE picks its factors per pass by it, as transformers does per forward call.
   */
  private passEnd = 0;
  /** The sliding layers' RoPE when it differs (Gemma 3: ropeLocalTheta, unscaled). */
  private readonly ropeLocal: RopeTable | undefined;
  private classifier: { resident: WasmArray<"f32"> | null; host: Float32Array | null };
  /** Block slot for streamed weights (bytes), with what it currently holds. */
  private slot: WasmArray<"u8"> | null = null;
  private slotHolds: number | string = -1;
  /** Placeable linears currently placed in the slot. */
  private slotLinears: PlaceableLinear[] = [];
  /** SparseLinears the model built from compressed tensors (freed on close). */
  private ownedLinears: SparseLinear[] = [];
  /** [clsTempRows, clsChunkRows]: classifier chunk output when the classifier is streamed. */
  private clsTemp: WasmArray<"f32"> | null = null;
  private clsChunkRows = 0;
  private clsTempRows = 0;
  /** One layer's KV cache for layer-major runs, allocated on first use. */
  private scratchKV: KVCache | null = null;

  private constructor(init: {
    config: ModelConfig; runtime: Runtime; contextLength: number; maxBatchTokens: number; reader: ModelReader | null;
    streamFrom: "host" | "reader"; spill: WeightSpill | null; embedding: Float32Array; residency: Residency; logitRows: number;
  }) {
    this.config = init.config;
    this.runtime = init.runtime;
    this.contextLength = init.contextLength;
    this.maxBatchTokens = init.maxBatchTokens;
    this.reader = init.reader;
    this.streamFrom = init.streamFrom;
    this.spill = init.spill;
    this.embedding = init.embedding;
    this.residency = init.residency;
    this.logitRows = init.logitRows;
    const c = this.config;
    this.dims = { dim: c.dim, qDim: c.nHeads * c.headDim, kvDim: c.nKvHeads * c.headDim, hidden: c.hiddenDim, vocab: c.vocabSize };
    this.blocks = Array.from({ length: c.nLayers }, () => ({ resident: null, host: new Map(), custom: new Map(), managed: new Set(), placedMem: new Map() }));
    this.classifier = { resident: null, host: null };
    const { dim, qDim, kvDim, hidden, vocab } = this.dims;
    const B = this.maxBatchTokens, Lc = this.logitRows;
    const a = <K extends "f32" | "i32" | "f64">(k: K, n: number) => this.alloc(k, n);
    try {
      this.buf = {
        x: a("f32", B * dim), xb: a("f32", B * dim), q: a("f32", B * qDim), att: a("f32", B * qDim),
        k: a("f32", B * kvDim), v: a("f32", B * kvDim),
        hb: a("f32", B * hidden), hb2: a("f32", B * hidden), pos: a("i32", B),
        logits: a("f32", Lc * vocab), target: a("i32", Lc), nll: a("f64", Lc), norm: a("f32", dim),
      };
      this.rope = new RopeTable(this.runtime, c.headDim, this.contextLength, c.ropeTheta, c.ropeLayout, c.ropeScaling ?? null);
      this.ropeLocal = c.ropeLocalTheta !== undefined ? new RopeTable(this.runtime, c.headDim, this.contextLength, c.ropeLocalTheta, c.ropeLayout, null) : undefined;
    } catch (e) {
      this.freeAll();
      throw e;
    }
  }

  /**
   * Loads a model from an open reader onto a runtime. The reader must stay open while the model is
   * used when `streamFrom` is "reader"; otherwise it may be closed after load.
   */
  static async load(reader: ModelReader, runtime: Runtime, options: TransformerOptions = {}): Promise<Transformer> {
    const config = reader.config;
    const problem = configProblem(config);
    if (problem) throw new ArgumentError("reader", `invalid model config: ${problem}`);
    const contextLength = options.contextLength ?? config.seqLen;
    if (!Number.isInteger(contextLength) || contextLength < 1) {
      throw new ArgumentError("contextLength", `must be a positive integer, got ${contextLength}`);
    }
    const maxBatchTokens = options.maxBatchTokens ?? Math.min(DEFAULT_MAX_BATCH_TOKENS, contextLength);
    if (!Number.isInteger(maxBatchTokens) || maxBatchTokens < 1) {
      throw new ArgumentError("maxBatchTokens", `must be a positive integer, got ${maxBatchTokens}`);
    }
    const budget = options.budgetBytes ?? DEFAULT_BUDGET_BYTES;
    if (typeof budget !== "number" || !(budget >= 0)) throw new ArgumentError("budgetBytes", `must be a number >= 0, got ${budget}`);
    const streamFrom = options.streamFrom ?? "host";
    if (streamFrom !== "host" && streamFrom !== "reader") throw new ArgumentError("streamFrom", `must be "host" or "reader", got ${String(streamFrom)}`);
    const spill = options.spill;
    if (spill !== undefined && !(spill && typeof spill.put === "function" && typeof spill.get === "function" && typeof spill.delete === "function")) {
      throw new ArgumentError("spill", "must be a WeightSpill (put, get and delete), e.g. a FileSpill");
    }
    const compressedMode = options.compressed ?? "sparse";
    if (compressedMode !== "sparse" && compressedMode !== "dense") {
      throw new ArgumentError("compressed", `must be "sparse" or "dense", got ${String(compressedMode)}`);
    }
    const { signal } = options;
    throwIfAborted(signal);

    const dim = config.dim, qDim = config.nHeads * config.headDim, kvDim = config.nKvHeads * config.headDim;
    const hidden = config.hiddenDim, vocab = config.vocabSize;
    const B = Math.min(maxBatchTokens, contextLength);
    const logitRows = Math.max(1, Math.min(B, Math.floor(LOGITS_BUFFER_BYTES / (4 * vocab))));
    const dense = denseTensors(config);
    const shapeOf = (name: LinearName): [number, number] =>
      name === "q" ? [qDim, dim] : name === "k" || name === "v" ? [kvDim, dim] : name === "o" ? [dim, qDim] : name === "down" ? [dim, hidden] : [hidden, dim];

    const total = 2 + config.nLayers * (dense.length) + (config.tiedEmbeddings ? 0 : 1);
    let done = 0;
    const progress = () => { done++; options.onProgress?.({ done, total }); };

    // Linear objects first (caller substitutes, sparse linears of compressed matrices): the memory
    // plan counts what they really take.
    const customs: Map<LinearName, Linear>[] = [];
    const owned: SparseLinear[] = [];
    let sparseLinears = 0;
    try {
      for (let i = 0; i < config.nLayers; i++) {
        throwIfAborted(signal);
        const map = new Map<LinearName, Linear>();
        customs.push(map);
        for (const name of LINEAR_NAMES) {
          const tensor = layerTensor(i, linearTensorSuffix(name) as LayerTensorSuffix);
          let lin: Linear | undefined;
          if (options.makeLinear) {
            lin = await options.makeLinear(i, name, () => readTensorF32(runtime, reader, tensor));
            if (lin !== undefined) {
              if (!isLinear(lin)) throw new ArgumentError("makeLinear", `returned a non-Linear for layers.${i}.${name}`);
              checkLinearShape(`makeLinear(${i}, ${name})`, lin, ...shapeOf(name));
            }
          }
          if (lin === undefined && compressedMode === "sparse" && reader.tensors.get(tensor)?.compressed) {
            if (!reader.readCompressed) throw new ArgumentError("reader", `${tensor} is compressed but the reader has no readCompressed()`);
            const c = await reader.readCompressed(tensor);
            const sl = SparseLinear.fromCompressed(runtime, c, { valuesFromF16: true });
            owned.push(sl);
            lin = sl;
          }
          if (lin !== undefined) {
            checkSameMemory(`makeLinear(${i}, ${name})`, lin, runtime);
            map.set(name, lin);
            if (isPlaceable(lin)) sparseLinears++;
          }
        }
      }
    } catch (e) {
      for (const l of owned) l.free();
      throw e;
    }

    // Load plan: fixed buffers, then weights in order while they fit.
    const fixedBytes =
      align(4 * B * dim) * 2 + align(4 * B * qDim) * 2 + align(4 * B * kvDim) * 2 + align(4 * B * hidden) * 2 + align(4 * B) +
      align(4 * logitRows * vocab) + align(4 * logitRows) + align(8 * logitRows) + align(4 * dim) +
      RopeTable.byteLengthFor(config.headDim, contextLength, config.ropeScaling ?? null) +
      (config.ropeLocalTheta !== undefined ? RopeTable.byteLengthFor(config.headDim, contextLength) : 0) +
      align(4 * kvRows(config, contextLength, B).reduce((a, r) => a + r, 0) * kvDim) * 2 +
      align(4 * contextLength * kvDim) * 2;
    // A placeable linear that is already placed, or any other Linear, lives in memory the caller
    // manages: counted once, off the top.
    let externalBytes = 0;
    const managed = customs.map((map) => {
      const set = new Set<LinearName>();
      for (const [name, l] of map) {
        if (isPlaceable(l) && !l.placed) set.add(name);
        else {
          const b = (l as { bytes?: unknown }).bytes;
          externalBytes += typeof b === "number" && Number.isFinite(b) && b > 0 ? b : isPlaceable(l) ? l.placementBytes : 0;
        }
      }
      return set;
    });
    const blockBytesOf = (i: number): number => dense.reduce((s, t) => {
      if (!isLinearSuffix(t.suffix)) return s + align(4 * t.n);
      const name = linearOf(t.suffix), l = customs[i].get(name);
      if (!l) return s + align(4 * t.n);
      return s + (managed[i].has(name) ? align((l as PlaceableLinear).placementBytes) : 0);
    }, 0);
    const blockBytes = Array.from({ length: config.nLayers }, (_, i) => blockBytesOf(i));
    const maxBlockBytes = Math.max(64, ...blockBytes);
    const clsBytes = align(4 * vocab * dim);
    const weightBytes = config.nLayers * dense.reduce((s, t) => s + align(4 * t.n), 0) + clsBytes + align(4 * dim);
    const storedWeightBytes = blockBytes.reduce((a, b) => a + b, 0) + clsBytes + align(4 * dim) + externalBytes;
    const allFit = fixedBytes + storedWeightBytes <= budget;
    // A streamed classifier goes through the slot in chunks of vocabulary rows, with a
    // [clsTempRows, chunk rows] output buffer (at most a block, at most 16 MiB) besides it.
    const clsChunkRows = Math.max(1, Math.min(vocab, Math.floor(maxBlockBytes / (4 * dim))));
    const clsTempRows = Math.max(1, Math.min(logitRows, Math.floor(Math.min(LOGITS_BUFFER_BYTES, maxBlockBytes) / (4 * clsChunkRows))));
    const clsTempBytes = align(4 * clsTempRows * clsChunkRows);
    let avail = budget - fixedBytes - clsTempBytes - externalBytes;
    const residentBlocks: number[] = [];
    let classifierResident = allFit;
    if (allFit) {
      for (let i = 0; i < config.nLayers; i++) residentBlocks.push(i);
    } else {
      for (let i = 0; i < config.nLayers; i++) {
        if (blockBytes[i] <= avail) { residentBlocks.push(i); avail -= blockBytes[i]; }
      }
      if (clsBytes <= avail + clsTempBytes) { classifierResident = true; avail -= clsBytes - clsTempBytes; }
    }
    const streamed = !allFit && (residentBlocks.length < config.nLayers || !classifierResident);
    const slotBytes = streamed ? maxBlockBytes : 0;
    const residentSet = new Set(residentBlocks);
    const streamedBytes = !streamed ? 0
      : blockBytes.reduce((s, b, i) => s + (residentSet.has(i) ? 0 : b), 0) + (classifierResident ? 0 : 4 * vocab * dim);
    const residency: Residency = {
      mode: streamed ? "streamed" : "resident", residentBlocks, classifierResident, slotBytes,
      fixedBytes: fixedBytes + (classifierResident ? 0 : clsTempBytes), weightBytes,
      storedWeightBytes, blockBytes, streamedBytes, sparseLinears, externalBytes,
    };

    let m: Transformer;
    try {
      const embedding = await readTensorF32(runtime, reader, "tok_embeddings");
      progress();
      m = new Transformer({ config, runtime, contextLength, maxBatchTokens: B, reader, streamFrom, spill: spill ?? null, embedding, residency, logitRows });
    } catch (e) {
      for (const l of owned) l.free();
      throw e;
    }
    m.ownedLinears = owned;
    try {
      m.buf.norm.set(await reader.readTensor("norm"));
      progress();
      for (let i = 0; i < config.nLayers; i++) {
        throwIfAborted(signal);
        const st = m.blocks[i];
        for (const [name, l] of customs[i]) st.custom.set(name, l);
        st.managed = managed[i];
        if (residentSet.has(i)) {
          st.resident = new Map();
          for (const name of st.managed) {
            const l = st.custom.get(name) as PlaceableLinear;
            const mem = m.alloc("u8", l.placementBytes);
            l.place(mem.ptr, true);
            st.placedMem.set(name, mem);
          }
        }
        for (const t of dense) {
          if (isLinearSuffix(t.suffix) && st.custom.has(linearOf(t.suffix))) { progress(); continue; }
          if (st.resident) {
            st.resident.set(t.suffix, await readTensorF32(runtime, reader, layerTensor(i, t.suffix), m.alloc("f32", t.n)));
          } else if (streamFrom === "host") {
            const name = layerTensor(i, t.suffix);
            st.host.set(t.suffix, (await readWasmBlocks(reader, name)) ?? (await reader.readTensor(name)));
          }
          progress();
        }
      }
      throwIfAborted(signal);
      const clsData = config.tiedEmbeddings ? m.embedding : await readTensorF32(runtime, reader, "output");
      if (!config.tiedEmbeddings) progress();
      if (classifierResident) m.classifier.resident = m.alloc("f32", vocab * dim).set(clsData);
      else if (config.tiedEmbeddings || streamFrom === "host") m.classifier.host = clsData;
      if (streamed) {
        m.slot = m.alloc("u8", slotBytes);
        if (!classifierResident) {
          m.clsChunkRows = clsChunkRows;
          m.clsTempRows = clsTempRows;
          m.clsTemp = m.alloc("f32", clsTempRows * clsChunkRows);
        }
      }
    } catch (e) {
      m.freeAll();
      throw e;
    }
    return m;
  }

  /** [dOut, dIn] of a block linear. */
  linearShape(name: LinearName): [number, number] {
    const { dim, qDim, kvDim, hidden } = this.dims;
    switch (name) {
      case "q": return [qDim, dim];
      case "k": case "v": return [kvDim, dim];
      case "o": return [dim, qDim];
      case "gate": case "up": return [hidden, dim];
      case "down": return [dim, hidden];
      default: throw new ArgumentError("name", `unknown linear ${JSON.stringify(name)}; expected one of ${LINEAR_NAMES.join(", ")}`);
    }
  }

  /**
   * A fresh KV cache for one sequence of up to `positions` positions (default and at most the context
   * length; caller frees it). A sequence known to be shorter needs less: a full cache of Llama 3.1 8B's
   * 131072 positions is 32 GiB.
   */
  newCache(positions = this.contextLength): KVCache {
    this.checkOpen();
    if (!Number.isInteger(positions) || positions < 1 || positions > this.contextLength) {
      throw new ArgumentError("positions", `must be an integer in [1, ${this.contextLength}] (the context length), got ${positions}`);
    }
    return new KVCache(this.runtime, this.config.nLayers, positions, this.dims.kvDim, kvRows(this.config, positions, this.maxBatchTokens));
  }

  // ---------------------------------------------------------------- whole-model passes

  /**
   * Runs `tokens` at positions pos0, pos0+1, ... through every block, filling `cache` (which must
   * hold positions [0, pos0) already: pos0 <= cache.length), and returns the logits of the last
   * token ([vocab]), of every token ([T, vocab] row-major), or an empty array.
   */
  async forward(tokens: ArrayLike<number>, pos0: number, cache: KVCache, opts: ForwardOptions = {}): Promise<Float32Array> {
    this.checkOpen();
    const T = tokens.length;
    this.checkTokens(tokens);
    if (T === 0) throw new ArgumentError("tokens", "must not be empty");
    if (!(cache instanceof KVCache) || cache.nLayers !== this.config.nLayers || cache.kvDim !== this.dims.kvDim) {
      throw new ArgumentError("cache", "must be a KVCache made by this model's newCache()");
    }
    if (!Number.isInteger(pos0) || pos0 < 0 || pos0 > cache.length) {
      throw new ArgumentError("pos0", `must be an integer in [0, cache.length = ${cache.length}], got ${pos0}`);
    }
    const limit = Math.min(cache.positions, this.contextLength);
    if (pos0 + T > limit) throw new ArgumentError("tokens", `positions ${pos0}..${pos0 + T - 1} exceed the context length ${limit}`);
    if (pos0 < cache.length) this.checkRewind(cache, pos0);
    const mode = opts.logits ?? "last";
    if (mode !== "last" && mode !== "all" && mode !== "none") throw new ArgumentError("logits", `must be "last", "all" or "none"`);
    const { signal, hook } = opts;
    const { dim } = this.dims;
    const B = this.maxBatchTokens;
    // Invalidate first: a failure half-way leaves the cache unusable beyond pos0.
    cache.length = pos0;
    this.passEnd = pos0 + T;
    let out: Float32Array;
    if (T <= B) {
      this.embedInto(tokens, this.buf.x.view(), 0);
      for (let l = 0; l < this.config.nLayers; l++) {
        throwIfAborted(signal);
        const blk = await this.acquire(l);
        await this.blockRows(l, blk, T, pos0, cache.layer(l), hook, 0);
      }
      throwIfAborted(signal);
      if (mode === "none") out = new Float32Array(0);
      else if (mode === "last") out = await this.headRows(this.buf.x.sub((T - 1) * dim, T * dim), 1);
      else out = await this.headRows(this.buf.x.sub(0, T * dim), T);
    } else {
      const hidden = this.embed(tokens);
      for (let l = 0; l < this.config.nLayers; l++) {
        throwIfAborted(signal);
        const blk = await this.acquire(l);
        await this.blockOnHost(l, blk, hidden, T, pos0, cache.layer(l), hook, 0, true, signal);
      }
      throwIfAborted(signal);
      if (mode === "none") out = new Float32Array(0);
      else if (mode === "last") out = await this.logits(hidden.subarray((T - 1) * dim));
      else out = await this.logits(hidden);
    }
    cache.length = pos0 + T;
    return out;
  }

  /**
   * A pass from pos0 < cache.length reuses the keys before pos0; a sliding layer's ring still holds
   * only its last `rows` positions, so it can go back that far and no further.
   */
  private checkRewind(cache: KVCache, pos0: number): void {
    for (let l = 0; l < cache.nLayers; l++) {
      const w = layerWindow(this.config, l), held = cache.length - cache.rows[l];
      if (w > 0 && Math.max(0, pos0 - w + 1) < held) {
        throw new ArgumentError("pos0", `layer ${l} keeps the last ${cache.rows[l]} positions (a ring for its window of ${w}); a pass from ${pos0} needs position ${pos0 - w + 1}, gone since the cache reached ${cache.length}`);
      }
    }
  }

  /** Prefill: runs a prompt from position 0 in a (reset) cache; returns the last token's logits. */
  prefill(tokens: ArrayLike<number>, cache: KVCache, opts: ForwardOptions = {}): Promise<Float32Array> {
    return this.forward(tokens, 0, cache, opts);
  }

  /** Decode step: one token at position `pos` (cache.length must be >= pos); returns its logits [vocab]. */
  decode(token: number, pos: number, cache: KVCache, opts: Omit<ForwardOptions, "logits"> = {}): Promise<Float32Array> {
    return this.forward([token], pos, cache, { ...opts, logits: "last" });
  }

  // ---------------------------------------------------------------- layer-major primitives

  /** Embedding rows of `tokens` (scaled by config.embedScale): [T, dim] on the JS heap. */
  embed(tokens: ArrayLike<number>): Float32Array {
    this.checkTokens(tokens);
    const out = new Float32Array(tokens.length * this.dims.dim);
    this.embedInto(tokens, out, 0);
    return out;
  }

  /**
   * Runs block `layer` on each sequence, in place: `sequences[s]` holds the hidden states
   * [L_s, dim] (token-major) of a fresh sequence at positions 0 .. L_s - 1 (L_s <= contextLength).
   * A streamed block is uploaded once for all sequences.
   */
  async runBlock(layer: number, sequences: readonly Float32Array[], opts: RunBlockOptions = {}): Promise<void> {
    this.checkOpen();
    this.checkLayer(layer);
    const { dim } = this.dims;
    for (let s = 0; s < sequences.length; s++) {
      const h = sequences[s];
      if (!(h instanceof Float32Array) || h.length === 0 || h.length % dim !== 0 || h.length / dim > this.contextLength) {
        throw new ArgumentError(`sequences[${s}]`, `must be a Float32Array of L * ${dim} floats with 1 <= L <= ${this.contextLength}`);
      }
    }
    throwIfAborted(opts.signal);
    this.scratchKV ??= new KVCache(this.runtime, 1, this.contextLength, this.dims.kvDim);
    const kv = this.scratchKV.layer(0);
    const blk = await this.acquire(layer);
    for (let s = 0; s < sequences.length; s++) {
      throwIfAborted(opts.signal);
      const h = sequences[s];
      this.passEnd = h.length / dim;
      await this.blockOnHost(layer, blk, h, h.length / dim, 0, kv, opts.hook, s, opts.writeBack ?? true, opts.signal);
    }
  }

  /** Final norm and classifier on hidden states [T, dim] (JS heap): logits [T, vocab]. */
  async logits(hidden: Float32Array): Promise<Float32Array> {
    this.checkOpen();
    const { dim, vocab } = this.dims;
    const T = this.checkHidden(hidden);
    const out = new Float32Array(T * vocab);
    const Lc = this.logitRows;
    for (let r0 = 0; r0 < T; r0 += Lc) {
      const n = Math.min(Lc, T - r0);
      this.buf.x.set(hidden.subarray(r0 * dim, (r0 + n) * dim));
      out.set(await this.headRows(this.buf.x.sub(0, n * dim), n), r0 * vocab);
    }
    return out;
  }

  /**
   * Final norm, classifier and negative log-likelihood: nll[t] = -log softmax(logits[t])[targets[t]]
   * (natural log) for hidden states [T, dim]; a target < 0 skips the row (nll 0).
   */
  async nll(hidden: Float32Array, targets: ArrayLike<number>): Promise<Float64Array> {
    this.checkOpen();
    const { dim } = this.dims;
    const T = this.checkHidden(hidden);
    this.checkTargets(targets, T);
    const out = new Float64Array(T);
    const Lc = this.logitRows;
    for (let r0 = 0; r0 < T; r0 += Lc) {
      const n = Math.min(Lc, T - r0);
      this.buf.x.set(hidden.subarray(r0 * dim, (r0 + n) * dim));
      await this.headNll(this.buf.x.sub(0, n * dim), n, targets, r0, out);
    }
    return out;
  }

  /**
   * Runs `tokens` as a fresh sequence from position 0 (no KV cache kept) and returns the NLL of
   * each row's target: nll[t] = -log p(targets[t] | tokens[0..t]); target < 0 skips a row. For
   * perplexity: targets[t] = tokens[t + 1].
   */
  async sequenceNll(
    tokens: ArrayLike<number>, targets: ArrayLike<number>, opts: { hook?: LinearInputHook; signal?: AbortSignal } = {},
  ): Promise<Float64Array> {
    this.checkOpen();
    const T = tokens.length;
    this.checkTokens(tokens);
    if (T < 1 || T > this.contextLength) throw new ArgumentError("tokens", `needs 1 to ${this.contextLength} tokens, got ${T}`);
    this.checkTargets(targets, T);
    const { dim } = this.dims;
    this.scratchKV ??= new KVCache(this.runtime, 1, this.contextLength, this.dims.kvDim);
    const kv = this.scratchKV.layer(0);
    this.passEnd = T;
    if (T > this.maxBatchTokens) {
      const hidden = this.embed(tokens);
      for (let l = 0; l < this.config.nLayers; l++) {
        throwIfAborted(opts.signal);
        const blk = await this.acquire(l);
        await this.blockOnHost(l, blk, hidden, T, 0, kv, opts.hook, 0, true, opts.signal);
      }
      throwIfAborted(opts.signal);
      return this.nll(hidden, targets);
    }
    this.embedInto(tokens, this.buf.x.view(), 0);
    for (let l = 0; l < this.config.nLayers; l++) {
      throwIfAborted(opts.signal);
      const blk = await this.acquire(l);
      await this.blockRows(l, blk, T, 0, kv, opts.hook, 0);
    }
    throwIfAborted(opts.signal);
    const out = new Float64Array(T);
    const Lc = this.logitRows;
    for (let r0 = 0; r0 < T; r0 += Lc) {
      const n = Math.min(Lc, T - r0);
      await this.headNll(f32Ref(this.runtime.heap.memory, this.buf.x.ptr + 4 * r0 * dim, n * dim), n, targets, r0, out);
    }
    return out;
  }

  // ---------------------------------------------------------------- weights

  /**
   * Replaces block `layer`'s linear `name`: by dense weights (a [dOut, dIn] row-major Float32Array,
   * copied), or by a Linear that computes on this runtime (kept by reference; the caller keeps it
   * valid and frees it after the model). A resident block's dense copy is freed when a Linear
   * replaces it.
   */
  async setLinear(layer: number, name: LinearName, weights: Float32Array | Linear): Promise<void> {
    this.checkOpen();
    this.checkLayer(layer);
    const [dOut, dIn] = this.linearShape(name);
    const st = this.blocks[layer];
    const suffix = linearTensorSuffix(name) as LayerTensorSuffix;
    if (isLinear(weights)) {
      checkLinearShape("weights", weights, dOut, dIn);
      if (st.custom.get(name) === weights) return;
      checkSameMemory("weights", weights, this.runtime);
      this.releaseSlot();
      this.dropCustom(layer, name);
      // An unplaced placeable linear set after load gets its own resident placement.
      if (isPlaceable(weights) && !weights.placed) {
        const mem = this.alloc("u8", weights.placementBytes);
        try {
          weights.place(mem.ptr, true);
        } catch (e) {
          mem.free();
          throw e;
        }
        st.placedMem.set(name, mem);
      }
      st.custom.set(name, weights);
      st.resident?.get(suffix)?.free();
      st.resident?.delete(suffix);
      st.host.delete(suffix);
      this.spill?.delete(layerTensor(layer, suffix));
      return;
    }
    if (!(weights instanceof Float32Array) || weights.length !== dOut * dIn) {
      throw new ArgumentError("weights", `must be a Float32Array of ${dOut} x ${dIn} = ${dOut * dIn} floats or a Linear`);
    }
    this.releaseSlot();
    this.dropCustom(layer, name);
    if (st.resident) {
      const arr = st.resident.get(suffix);
      if (arr) arr.set(weights);
      else st.resident.set(suffix, this.alloc("f32", weights.length).set(weights));
    } else if (this.spill) {
      st.host.delete(suffix);
      await this.spill.put(layerTensor(layer, suffix), weights);
    } else {
      st.host.set(suffix, weights.slice());
    }
  }

  /**
   * The current dense weights of a block linear (a copy). A sparse linear gives its weights
   * decompressed (any Linear with a `denseWeights()` method does); ArgumentError for other Linear
   * objects.
   */
  async getLinearWeights(layer: number, name: LinearName): Promise<Float32Array> {
    this.checkOpen();
    this.checkLayer(layer);
    this.linearShape(name);
    const custom = this.blocks[layer].custom.get(name);
    if (custom) {
      const dw = (custom as { denseWeights?: () => Float32Array | Promise<Float32Array> }).denseWeights;
      if (typeof dw === "function") return (await dw.call(custom)).slice();
      throw new ArgumentError("name", `layers.${layer}.${name} was replaced by a Linear object and has no dense weights here`);
    }
    const { data, shared } = await this.tensorData(layer, linearTensorSuffix(name) as LayerTensorSuffix);
    return shared ? data.slice() : data;
  }

  /**
   * Zeros among the values of a tensor other than a block linear or the embedding, for reports: a layer's
   * norms and biases (`layers.N.attn_norm`, `layers.N.attn.q_bias`, ...), the final `norm`, an untied
   * `output`. Read where the model holds it, without a copy; a classifier the model streams is read as
   * stored, not widened to f32. Block linears: getLinearWeights; embedding rows: embed().
   */
  async zerosOf(name: string): Promise<{ zeros: number; total: number }> {
    this.checkOpen();
    const m = /^layers\.(\d+)\.(.+)$/.exec(name);
    let data: Float32Array | undefined;
    if (m) {
      const layer = Number(m[1]), suffix = m[2] as LayerTensorSuffix;
      this.checkLayer(layer);
      if (isLinearSuffix(suffix)) throw new ArgumentError("name", `${name} is a block linear: read it with getLinearWeights`);
      if (!denseTensors(this.config).some((t) => t.suffix === suffix)) throw new ArgumentError("name", `the model has no tensor ${name}`);
      data = (await this.tensorData(layer, suffix)).data;
    } else if (name === "norm") {
      data = this.buf.norm.view();
    } else if (name === "output" && !this.config.tiedEmbeddings) {
      data = this.classifier.resident?.view() ?? this.classifier.host ?? undefined;
      if (!data && this.reader) return rawZeros(await this.reader.readRaw("output"));
    }
    if (!data) throw new ArgumentError("name", `the model has no tensor ${name}${name === "tok_embeddings" ? " to count whole: embed() gives its rows" : ""}`);
    let zeros = 0;
    for (let i = 0; i < data.length; i++) if (data[i] === 0) zeros++;
    return { zeros, total: data.length };
  }

  /** The Linear object replacing a block linear, if any. */
  getCustomLinear(layer: number, name: LinearName): Linear | undefined {
    this.checkLayer(layer);
    return this.blocks[layer].custom.get(name);
  }

  /** Frees the model's Wasm memory (not the runtime, not the reader, not caller-supplied Linears). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.freeAll();
  }

  // ---------------------------------------------------------------- internals

  private alloc<K extends "f32" | "i32" | "f64" | "u8">(kind: K, n: number): WasmArray<K> {
    const a = this.runtime.heap.alloc(kind, n);
    this.owned.push(a);
    return a;
  }

  private freeAll(): void {
    // Placements live in memory freed below: detach every placed linear first (a caller's linear
    // gets its weights back on the host), then free the linears the model built.
    this.releaseSlot();
    for (const st of this.blocks ?? []) {
      for (const name of st.placedMem.keys()) (st.custom.get(name) as PlaceableLinear | undefined)?.unplace();
      st.placedMem.clear();
    }
    for (const l of this.ownedLinears) l.free();
    this.ownedLinears = [];
    for (const a of this.owned) a.free();
    this.owned.length = 0;
    this.scratchKV?.free();
    this.scratchKV = null;
    (this.rope as RopeTable | undefined)?.free();
    this.ropeLocal?.free();
  }

  private checkOpen(): void {
    if (this.closed) throw new ArgumentError("model", "is closed");
  }

  /** The slot's contents are about to change: detach the linears placed in it. */
  private releaseSlot(): void {
    for (const l of this.slotLinears) l.unplace();
    this.slotLinears = [];
    this.slotHolds = -1;
  }

  /** Forgets block `layer`'s custom linear `name` (its placement, and the linear if the model built it). */
  private dropCustom(layer: number, name: LinearName): void {
    const st = this.blocks[layer];
    const old = st.custom.get(name);
    if (!old) return;
    const mem = st.placedMem.get(name);
    if (isPlaceable(old) && (mem || st.managed.has(name))) old.unplace();
    mem?.free();
    st.placedMem.delete(name);
    st.managed.delete(name);
    st.custom.delete(name);
    const i = this.ownedLinears.indexOf(old as SparseLinear);
    if (i >= 0) { this.ownedLinears.splice(i, 1); (old as SparseLinear).free(); }
  }

  private checkLayer(layer: number): void {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.config.nLayers) {
      throw new ArgumentError("layer", `must be an integer in [0, ${this.config.nLayers}), got ${layer}`);
    }
  }

  private checkTokens(tokens: ArrayLike<number>): void {
    const V = this.dims.vocab;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!Number.isInteger(t) || t < 0 || t >= V) throw new ArgumentError("tokens", `tokens[${i}] = ${t} is not a token id in [0, ${V})`);
    }
  }

  private checkTargets(targets: ArrayLike<number>, T: number): void {
    const V = this.dims.vocab;
    if (!targets || targets.length !== T) throw new ArgumentError("targets", `needs ${T} entries (one per row), got ${targets?.length}`);
    for (let i = 0; i < T; i++) {
      const t = targets[i];
      if (!Number.isInteger(t) || t >= V) throw new ArgumentError("targets", `targets[${i}] = ${t} is not a token id < ${V} (or < 0 to skip)`);
    }
  }

  private checkHidden(hidden: Float32Array): number {
    const { dim } = this.dims;
    if (!(hidden instanceof Float32Array) || hidden.length % dim !== 0) {
      throw new ArgumentError("hidden", `must be a Float32Array of T * ${dim} floats`);
    }
    return hidden.length / dim;
  }

  private embedInto(tokens: ArrayLike<number>, dst: Float32Array, offset: number): void {
    const { dim } = this.dims;
    const e = this.embedding;
    const scale = Math.fround(this.config.embedScale);
    for (let t = 0; t < tokens.length; t++) {
      const src = tokens[t] * dim, o = offset + t * dim;
      if (scale === 1) dst.set(e.subarray(src, src + dim), o);
      else for (let j = 0; j < dim; j++) dst[o + j] = e[src + j] * scale;
    }
  }

  /**
   * Dense data of a block tensor from wherever it lives; `shared` unless it is a fresh copy (the spill's),
   * so callers copy it before handing it out (a reader may return a view of its own bytes).
   */
  private async tensorData(layer: number, suffix: LayerTensorSuffix): Promise<{ data: Float32Array; shared: boolean }> {
    const st = this.blocks[layer];
    const r = st.resident?.get(suffix);
    if (r) return { data: r.view(), shared: true };
    const h = st.host.get(suffix);
    if (h) return h instanceof Float32Array ? { data: h, shared: true } : { data: await dequantBlocks(this.runtime, h), shared: false };
    const spilled = await this.spill?.get(layerTensor(layer, suffix));
    if (spilled) return { data: spilled, shared: false };
    if (!this.reader) throw new ArgumentError("model", `no source for layers.${layer}.${suffix}`);
    return { data: await readTensorF32(this.runtime, this.reader, layerTensor(layer, suffix)), shared: true };
  }

  /** Block `layer` bound to Wasm memory: resident arrays, or the slot after uploading. */
  private async acquire(layer: number): Promise<BoundBlock> {
    const st = this.blocks[layer];
    const c = this.config;
    const rt = this.runtime;
    const refs = new Map<LayerTensorSuffix, WasmRef<"f32">>();
    if (st.resident) {
      for (const [s, a] of st.resident) refs.set(s, a);
    } else {
      if (!this.slot) throw new ArgumentError("model", "internal: streamed block without a slot");
      const fresh = this.slotHolds !== layer;
      const parts = denseTensors(c).flatMap((t): { t: DenseTensor; bytes: number; lin: PlaceableLinear | null }[] => {
        if (!isLinearSuffix(t.suffix) || !st.custom.has(linearOf(t.suffix))) return [{ t, bytes: align(4 * t.n), lin: null }];
        const name = linearOf(t.suffix);
        return st.managed.has(name) ? [{ t, bytes: align((st.custom.get(name) as PlaceableLinear).placementBytes), lin: st.custom.get(name) as PlaceableLinear }] : [];
      });
      if (fresh) {
        this.releaseSlot();
        // Weights replaced after load (a sparse matrix by dense weights) can outgrow the planned slot.
        const need = parts.reduce((s, p) => s + p.bytes, 0);
        if (need > this.slot.length) {
          this.slot.free();
          this.slot = this.alloc("u8", need);
        }
      }
      const slot = this.slot;
      const heapMem = rt.heap.memory;
      let off = 0;
      this.slotHolds = -1;
      for (const { t, bytes, lin } of parts) {
        const ptr = slot.ptr + off;
        if (lin) {
          if (fresh) { lin.place(ptr); this.slotLinears.push(lin); }
        } else {
          if (fresh) {
            const h = st.host.get(t.suffix);
            if (h && !(h instanceof Float32Array)) {
              await dequantBlocks(rt, h, f32Ref(heapMem, ptr, t.n));
            } else {
              const { data } = await this.tensorData(layer, t.suffix);
              new Float32Array(heapMem.buffer, ptr, t.n).set(data);
            }
          }
          refs.set(t.suffix, f32Ref(heapMem, ptr, t.n));
        }
        off += bytes;
      }
      this.slotHolds = layer;
    }
    const lin = {} as Record<LinearName, Linear>;
    for (const name of LINEAR_NAMES) {
      const custom = st.custom.get(name);
      if (custom) { lin[name] = custom; continue; }
      const [dOut, dIn] = this.linearShape(name);
      lin[name] = new DenseLinear(rt, refs.get(linearTensorSuffix(name) as LayerTensorSuffix)!, dOut, dIn);
    }
    return {
      attnNorm: refs.get("attn_norm")!, ffnNorm: refs.get("ffn_norm")!,
      qBias: refs.get("attn.q_bias"), kBias: refs.get("attn.k_bias"), vBias: refs.get("attn.v_bias"),
      qNorm: refs.get("attn.q_norm"), kNorm: refs.get("attn.k_norm"),
      attnPostNorm: refs.get("attn_post_norm"), ffnPostNorm: refs.get("ffn_post_norm"),
      lin,
    };
  }

  /**
   * The block, on rows [0, T) of buf.x at positions pos0 .. pos0+T-1, with the layer cache `kv`
   * (rows [0, pos0) already filled). T <= maxBatchTokens.
   */
  private async blockRows(
    layer: number, blk: BoundBlock, T: number, pos0: number, kv: KVLayer, hook: LinearInputHook | undefined, sequence: number,
  ): Promise<void> {
    const rt = this.runtime, c = this.config, b = this.buf;
    const { dim, qDim, kvDim, hidden } = this.dims;
    const norm = { eps: c.normEps, plusOne: c.normPlusOne };
    const x = b.x.sub(0, T * dim);                                  // [T, dim]
    const xb = b.xb.sub(0, T * dim);                                // [T, dim]
    const q = b.q.sub(0, T * qDim);                                 // [T, qDim]
    const att = b.att.sub(0, T * qDim);                             // [T, qDim]
    const hb = b.hb.sub(0, T * hidden);                             // [T, hidden]
    const hb2 = b.hb2.sub(0, T * hidden);                           // [T, hidden]
    const k = b.k.sub(0, T * kvDim);                                // [T, kvDim]
    const v = b.v.sub(0, T * kvDim);                                // [T, kvDim]
    if (pos0 + T > kv.positions) throw new ArgumentError("tokens", `position ${pos0 + T - 1} is beyond the cache`);
    const pv = b.pos.view();
    for (let t = 0; t < T; t++) pv[t] = pos0 + t;
    const pos = b.pos.sub(0, T);
    const apply = async (name: LinearName, X: WasmRef<"f32">, Y: WasmRef<"f32">) => {
      const lin = blk.lin[name];
      if (hook) await hook({ layer, name, X, T, dIn: lin.dIn, sequence, pos0 });
      if (T === 1) await lin.gemv(X, Y);
      else await lin.gemm(X, Y, T);
    };

    // Attention: xb = norm(x); q, k, v = projections (+ bias); per-head q/k norms; RoPE; att = attention;
    // x += o(att), normed first with sandwich norms.
    await rmsnorm(rt, x, blk.attnNorm, xb, dim, T, norm);
    await apply("q", xb, q);
    await apply("k", xb, k);
    await apply("v", xb, v);
    if (blk.qBias) await addBias(rt, q, blk.qBias, qDim, T);
    if (blk.kBias) await addBias(rt, k, blk.kBias, kvDim, T);
    if (blk.vBias) await addBias(rt, v, blk.vBias, kvDim, T);
    if (blk.qNorm) await rmsnorm(rt, q, blk.qNorm, q, c.headDim, T * c.nHeads, norm);   // q as [T * nHeads, headDim]
    if (blk.kNorm) await rmsnorm(rt, k, blk.kNorm, k, c.headDim, T * c.nKvHeads, norm); // k as [T * nKvHeads, headDim]
    const table = usesLocalRope(c, layer) ? this.ropeLocal! : this.rope;
    await rope(rt, table, q, T, qDim, c.nHeads, pos, this.passEnd);
    await rope(rt, table, k, T, kvDim, c.nKvHeads, pos, this.passEnd);
    await kvStore(rt, k, kv.K, T, pos0, c.nKvHeads, c.headDim, kv.rows);
    await kvStore(rt, v, kv.V, T, pos0, c.nKvHeads, c.headDim, kv.rows);
    await attention(rt, {
      Q: q, K: kv.K, V: kv.V, Y: att, T, pos0, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, capacity: kv.rows,
      scale: c.attnScale, softcap: c.attnSoftcap, window: layerWindow(c, layer),
    });
    await apply("o", att, xb);
    if (blk.attnPostNorm) await rmsnorm(rt, xb, blk.attnPostNorm, xb, dim, T, norm);
    await addInPlace(rt, xb, x, T * dim);

    // MLP: xb = norm(x); hb = act(gate(xb)) * up(xb); x += down(hb), normed first with sandwich norms.
    await rmsnorm(rt, x, blk.ffnNorm, xb, dim, T, norm);
    await apply("gate", xb, hb);
    await apply("up", xb, hb2);
    await glu(rt, hb, hb2, hb, T * hidden, c.act);
    await apply("down", hb, xb);
    if (blk.ffnPostNorm) await rmsnorm(rt, xb, blk.ffnPostNorm, xb, dim, T, norm);
    await addInPlace(rt, xb, x, T * dim);
  }

  /** The block on host hidden states [T, dim] at positions pos0.., in chunks of maxBatchTokens rows. */
  private async blockOnHost(
    layer: number, blk: BoundBlock, hidden: Float32Array, T: number, pos0: number, kv: KVLayer,
    hook: LinearInputHook | undefined, sequence: number, writeBack: boolean, signal: AbortSignal | undefined,
  ): Promise<void> {
    const { dim } = this.dims;
    const B = this.maxBatchTokens;
    for (let c0 = 0; c0 < T; c0 += B) {
      throwIfAborted(signal);
      const n = Math.min(B, T - c0);
      this.buf.x.set(hidden.subarray(c0 * dim, (c0 + n) * dim));
      await this.blockRows(layer, blk, n, pos0 + c0, kv, hook, sequence);
      if (writeBack) hidden.set(this.buf.x.view().subarray(0, n * dim), c0 * dim);
    }
  }

  /** Final norm + classifier (+ soft-capping) of n <= logitRows rows at X (Wasm) into buf.logits rows [0, n). */
  private async headInto(X: WasmRef<"f32">, n: number): Promise<void> {
    const rt = this.runtime, c = this.config;
    const { dim, vocab } = this.dims;
    const xb = this.buf.xb.sub(0, n * dim);
    await rmsnorm(rt, X, this.buf.norm, xb, dim, n, { eps: c.normEps, plusOne: c.normPlusOne });
    const logits = this.buf.logits.sub(0, n * vocab);
    await this.classifierInto(xb, logits, n);
    if (c.logitSoftcap) await softcap(rt, logits, n * vocab, c.logitSoftcap);
  }

  /** logits [n, vocab] = classifier(xb [n, dim]). */
  private async classifierInto(xb: WasmRef<"f32">, logits: WasmRef<"f32">, n: number): Promise<void> {
    const rt = this.runtime;
    const { dim, vocab } = this.dims;
    if (this.classifier.resident) {
      const cls = new DenseLinear(rt, this.classifier.resident, vocab, dim);
      if (n === 1) await cls.gemv(xb, logits); else await cls.gemm(xb, logits, n);
      return;
    }
    // Streamed classifier: row chunks through the slot.
    const slot = this.slot!, temp = this.clsTemp!, mem = rt.heap.memory;
    const R = this.clsChunkRows;
    const src = this.classifier.host ?? (await readTensorF32(this.runtime, this.reader!, "output"));
    for (let r0 = 0; r0 < vocab; r0 += R) {
      const rows = Math.min(R, vocab - r0);
      const key = `cls:${r0}`;
      if (this.slotHolds !== key) {
        this.releaseSlot();
        new Float32Array(mem.buffer, slot.ptr, rows * dim).set(src.subarray(r0 * dim, (r0 + rows) * dim));
        this.slotHolds = key;
      }
      const W = new DenseLinear(rt, f32Ref(mem, slot.ptr, rows * dim), rows, dim);
      if (n === 1) {
        await W.gemv(xb, f32Ref(mem, logits.ptr + 4 * r0, rows));
        continue;
      }
      for (let t0 = 0; t0 < n; t0 += this.clsTempRows) {
        const m = Math.min(this.clsTempRows, n - t0);
        await W.gemm(f32Ref(mem, xb.ptr + 4 * t0 * dim, m * dim), temp.sub(0, m * rows), m);
        const all = new Float32Array(mem.buffer);
        for (let t = 0; t < m; t++) {
          const from = temp.ptr / 4 + t * rows;
          all.copyWithin(logits.ptr / 4 + (t0 + t) * vocab + r0, from, from + rows);
        }
      }
    }
  }

  /** NLL of n <= logitRows rows at X (Wasm) against targets[r0 ..], into out[r0 ..]. */
  private async headNll(X: WasmRef<"f32">, n: number, targets: ArrayLike<number>, r0: number, out: Float64Array): Promise<void> {
    await this.headInto(X, n);
    const tv = this.buf.target.view();
    for (let i = 0; i < n; i++) tv[i] = targets[r0 + i] < 0 ? -1 : targets[r0 + i];
    await nllKernel(this.runtime, this.buf.logits, this.dims.vocab, this.buf.target, this.buf.nll, n);
    out.set(this.buf.nll.view().subarray(0, n), r0);
  }

  /** Logits of n rows at X (Wasm), copied out: [n, vocab]. */
  private async headRows(X: WasmRef<"f32">, n: number): Promise<Float32Array> {
    const { dim, vocab } = this.dims;
    const out = new Float32Array(n * vocab);
    const Lc = this.logitRows;
    for (let r0 = 0; r0 < n; r0 += Lc) {
      const m = Math.min(Lc, n - r0);
      await this.headInto(f32Ref(this.runtime.heap.memory, X.ptr + 4 * r0 * dim, m * dim), m);
      out.set(this.buf.logits.view().subarray(0, m * vocab), r0 * vocab);
    }
    return out;
  }
}

/** A placeable linear runs in the memory it is placed in: it must be this runtime's. */
function checkSameMemory(arg: string, l: Linear, runtime: Runtime): void {
  const mem = (l as { memory?: unknown }).memory;
  if (isPlaceable(l) && mem !== undefined && mem !== runtime.heap.memory) {
    throw new ArgumentError(arg, "was built on another runtime (its Wasm memory is not this model's)");
  }
}

/** A WasmRef over raw memory (for slices of caches and the slot). */
function f32Ref(memory: WebAssembly.Memory, ptr: number, length: number): WasmRef<"f32"> {
  return { ptr, length, kind: "f32", view: () => new Float32Array(memory.buffer, ptr, length) };
}

/** A block's dense tensors in canonical order with their element counts. */
function denseTensors(c: ModelConfig): DenseTensor[] {
  const q = c.nHeads * c.headDim, kv = c.nKvHeads * c.headDim;
  const out: DenseTensor[] = [
    { suffix: "attn_norm", n: c.dim },
    { suffix: "attn.q", n: q * c.dim },
    { suffix: "attn.k", n: kv * c.dim },
    { suffix: "attn.v", n: kv * c.dim },
  ];
  if (c.qkvBias) out.push({ suffix: "attn.q_bias", n: q }, { suffix: "attn.k_bias", n: kv }, { suffix: "attn.v_bias", n: kv });
  if (c.qkNorm) out.push({ suffix: "attn.q_norm", n: c.headDim }, { suffix: "attn.k_norm", n: c.headDim });
  out.push({ suffix: "attn.o", n: c.dim * q });
  if (c.sandwichNorms) out.push({ suffix: "attn_post_norm", n: c.dim });
  out.push(
    { suffix: "ffn_norm", n: c.dim },
    { suffix: "mlp.gate", n: c.hiddenDim * c.dim },
    { suffix: "mlp.up", n: c.hiddenDim * c.dim },
    { suffix: "mlp.down", n: c.dim * c.hiddenDim },
  );
  if (c.sandwichNorms) out.push({ suffix: "ffn_post_norm", n: c.dim });
  return out;
}

function isLinearSuffix(s: LayerTensorSuffix): boolean {
  return s === "attn.q" || s === "attn.k" || s === "attn.v" || s === "attn.o" || s === "mlp.gate" || s === "mlp.up" || s === "mlp.down";
}

function linearOf(s: LayerTensorSuffix): LinearName {
  return s.slice(s.indexOf(".") + 1) as LinearName;
}

/** Zeros (either sign) among a tensor's stored values, f32 or 16-bit. */
function rawZeros(raw: RawTensor): { zeros: number; total: number } {
  const b = raw.bytes;
  let zeros = 0;
  if (raw.dtype === "f32") {
    const v = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    for (let i = 0; i < v.length; i++) if (v[i] === 0) zeros++;
    return { zeros, total: v.length };
  }
  const v = new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
  for (let i = 0; i < v.length; i++) if ((v[i] & 0x7fff) === 0) zeros++;
  return { zeros, total: v.length };
}
