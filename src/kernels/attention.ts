/** Causal grouped-query attention of a batch of query tokens against a KV cache. */
import { ArgumentError } from "../errors.js";
import type { WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import { checkCount, checkFinite, checkRef, PARALLEL_MIN_ELEMENTS } from "./activations.js";

/** Arguments of attention(). */
export interface AttentionArgs {
  /** Queries [T, qStride] (heads packed at the start of each row, RoPE already applied). */
  Q: WasmRef<"f32">;
  /** The layer's key cache [>= pos0 + T, kvStride], row p = position p, holding rows [0, pos0 + T). */
  K: WasmRef<"f32">;
  /** The layer's value cache, same layout as K. */
  V: WasmRef<"f32">;
  /** Output [T, qStride]; must not overlap Q. */
  Y: WasmRef<"f32">;
  /** Query tokens in the batch, at positions pos0 .. pos0 + T - 1. */
  T: number;
  pos0: number;
  nHeads: number;
  /** Key/value heads; nHeads must be a multiple. Query head h reads kv head h / (nHeads / nKvHeads). */
  nKvHeads: number;
  headDim: number;
  /** Row stride of Q and Y in floats; default nHeads * headDim. */
  qStride?: number;
  /** Row stride of K and V in floats; default nKvHeads * headDim. */
  kvStride?: number;
  /** Score multiplier; default 1 / sqrt(headDim). */
  scale?: number;
}

/**
 * Y[t, head h] = sum_{j <= pos0 + t} softmax_j(scale * Q[t, h] . K[j, kvh]) V[j, kvh], for every
 * query token t < T and head h. Threaded over (head, token) pairs.
 */
export function attention(rt: Runtime, a: AttentionArgs): Promise<void> {
  const { T, pos0, nHeads, nKvHeads, headDim } = a;
  checkCount("T", T);
  checkCount("pos0", pos0);
  checkCount("nHeads", nHeads, 1);
  checkCount("nKvHeads", nKvHeads, 1);
  checkCount("headDim", headDim, 1);
  if (nHeads % nKvHeads !== 0) throw new ArgumentError("nKvHeads", `nHeads (${nHeads}) must be a multiple of nKvHeads (${nKvHeads})`);
  const qStride = a.qStride ?? nHeads * headDim;
  const kvStride = a.kvStride ?? nKvHeads * headDim;
  checkCount("qStride", qStride, nHeads * headDim);
  checkCount("kvStride", kvStride, nKvHeads * headDim);
  const scale = a.scale ?? 1 / Math.sqrt(headDim);
  checkFinite("scale", scale);
  if (T === 0) return Promise.resolve();
  const n = pos0 + T;
  checkRef("Q", a.Q, "f32", (T - 1) * qStride + nHeads * headDim);
  checkRef("Y", a.Y, "f32", (T - 1) * qStride + nHeads * headDim);
  checkRef("K", a.K, "f32", (n - 1) * kvStride + nKvHeads * headDim);
  checkRef("V", a.V, "f32", (n - 1) * kvStride + nKvHeads * headDim);
  const qBytes = ((T - 1) * qStride + nHeads * headDim) * 4;
  if (a.Y.ptr < a.Q.ptr + qBytes && a.Q.ptr < a.Y.ptr + qBytes) throw new ArgumentError("Y", "must not overlap Q");
  const units = nHeads * T;
  // Work ~ units * keys * headDim; small jobs stay on the calling thread.
  const work = nHeads * T * (pos0 + (T + 1) / 2) * headDim;
  const grain = work < PARALLEL_MIN_ELEMENTS ? units : 1;
  const scratch = rt.scratch(n * 4);
  return rt.run(
    "attention_f32",
    [a.Q.ptr, a.K.ptr, a.V.ptr, a.Y.ptr, T, pos0, nHeads, nKvHeads, headDim, qStride, kvStride, scale, scratch.ptr, scratch.stride],
    units, grain,
  );
}
