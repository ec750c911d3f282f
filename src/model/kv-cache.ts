/** Key/value caches in Wasm memory. */
import { ArgumentError } from "../errors.js";
import type { WasmArray, WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";

/**
 * One layer's cache: K and V, each head-major [nKvHeads, positions, headDim] f32 (a kv head's keys
 * are contiguous, which is what attention streams).
 */
export interface KVLayer {
  readonly K: WasmRef<"f32">;
  readonly V: WasmRef<"f32">;
  /** Positions per kv head. */
  readonly positions: number;
}

/**
 * A sequence's key/value cache for `nLayers` layers and up to `positions` positions: K and V are
 * each [nLayers, nKvHeads, positions, headDim] (llama2.c keeps [nLayers, positions, kvDim]; head-major
 * makes each head's keys contiguous). `kvDim` = nKvHeads * headDim. `length` is the number of
 * positions filled so far; a forward pass at pos0 <= length overwrites from pos0 on.
 */
export class KVCache {
  readonly nLayers: number;
  readonly positions: number;
  readonly kvDim: number;
  /** Positions filled so far. */
  length = 0;
  private readonly key: WasmArray<"f32">;
  private readonly value: WasmArray<"f32">;

  constructor(rt: Runtime, nLayers: number, positions: number, kvDim: number) {
    for (const [k, v] of [["nLayers", nLayers], ["positions", positions], ["kvDim", kvDim]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ArgumentError(k, `must be a positive integer, got ${v}`);
    }
    this.nLayers = nLayers; this.positions = positions; this.kvDim = kvDim;
    this.key = rt.heap.alloc("f32", nLayers * positions * kvDim);
    try {
      this.value = rt.heap.alloc("f32", nLayers * positions * kvDim);
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
    const n = this.positions * this.kvDim;
    return { K: this.key.sub(i * n, (i + 1) * n), V: this.value.sub(i * n, (i + 1) * n), positions: this.positions };
  }

  /** Forgets the contents (length 0). */
  reset(): void { this.length = 0; }

  free(): void { this.key.free(); this.value.free(); }
}
