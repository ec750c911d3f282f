/** Key/value caches in Wasm memory. */
import { ArgumentError } from "../errors.js";
import type { WasmArray, WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import { layerWindow, type ModelConfig } from "./config.js";

/**
 * One layer's cache: K and V, each head-major [nKvHeads, rows, headDim] f32 (a kv head's keys are
 * contiguous, which is what attention streams). Position j is in row j % rows: a layer that attends
 * to the whole sequence has a row per position; a sliding-window layer may hold a ring of the last
 * positions only (window + batch - 1 rows are enough, see `kvRows`).
 */
export interface KVLayer {
  readonly K: WasmRef<"f32">;
  readonly V: WasmRef<"f32">;
  /** Positions the sequence may reach. */
  readonly positions: number;
  /** Rows per kv head (positions, or fewer for a ring). */
  readonly rows: number;
}

/**
 * Rows per kv head each layer needs for sequences of up to `positions` positions run in batches of at
 * most `maxBatchTokens`: every position for full-attention layers; for a sliding layer of window w, a
 * ring of w + maxBatchTokens - 1 rows (the keys a batch's queries see), when that is fewer. A
 * Mistral 7B at its 32k context then needs 4.6k rows per layer, not 32k.
 */
export function kvRows(config: ModelConfig, positions: number, maxBatchTokens: number): number[] {
  return Array.from({ length: config.nLayers }, (_, l) => {
    const w = layerWindow(config, l);
    return w > 0 ? Math.min(positions, w + maxBatchTokens - 1) : positions;
  });
}

/**
 * A sequence's key/value cache for `nLayers` layers and up to `positions` positions: layer l's K and
 * V are each [nKvHeads, rows[l], headDim] (default rows: `positions` for every layer; llama2.c keeps
 * [nLayers, positions, kvDim]; head-major makes each head's keys contiguous). `kvDim` = nKvHeads *
 * headDim. `length` is the number of positions filled so far; a forward pass at pos0 <= length
 * overwrites from pos0 on (a ring layer only as far back as it still holds).
 */
export class KVCache {
  readonly nLayers: number;
  readonly positions: number;
  readonly kvDim: number;
  /** Rows per kv head of each layer. */
  readonly rows: readonly number[];
  /** Positions filled so far. */
  length = 0;
  private readonly key: WasmArray<"f32">;
  private readonly value: WasmArray<"f32">;
  private readonly offsets: number[];

  constructor(rt: Runtime, nLayers: number, positions: number, kvDim: number, rows?: readonly number[]) {
    for (const [k, v] of [["nLayers", nLayers], ["positions", positions], ["kvDim", kvDim]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ArgumentError(k, `must be a positive integer, got ${v}`);
    }
    const r = rows ?? new Array<number>(nLayers).fill(positions);
    if (r.length !== nLayers || r.some((x) => !Number.isInteger(x) || x < 1 || x > positions)) {
      throw new ArgumentError("rows", `must be ${nLayers} integers in [1, ${positions}]`);
    }
    this.nLayers = nLayers; this.positions = positions; this.kvDim = kvDim; this.rows = [...r];
    this.offsets = [0];
    for (const x of r) this.offsets.push(this.offsets[this.offsets.length - 1] + x * kvDim);
    const total = this.offsets[nLayers];
    this.key = rt.heap.alloc("f32", total);
    try {
      this.value = rt.heap.alloc("f32", total);
    } catch (e) {
      this.key.free();
      throw e;
    }
  }

  /** Bytes of Wasm memory held. */
  get byteLength(): number { return this.key.byteLength + this.value.byteLength; }

  /** Layer `i`'s K and V. */
  layer(i: number): KVLayer {
    if (!Number.isInteger(i) || i < 0 || i >= this.nLayers) throw new ArgumentError("layer", `${i} is outside [0, ${this.nLayers})`);
    const [a, b] = [this.offsets[i], this.offsets[i + 1]];
    return { K: this.key.sub(a, b), V: this.value.sub(a, b), positions: this.positions, rows: this.rows[i] };
  }

  /** Forgets the contents (length 0). */
  reset(): void { this.length = 0; }

  free(): void { this.key.free(); this.value.free(); }
}
