/**
 * Causal grouped-query attention of a batch of query tokens against a head-major KV cache, and
 * the store of a batch's keys/values into that cache.
 *
 * Cache layout: per layer, K and V are each [nKvHeads, capacity, headDim] f32 (position p of kv
 * head h at (h * capacity + p) * headDim), so a query reads its head's keys contiguously.
 */
import { ArgumentError } from "../errors.js";
import type { WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import { checkCount, checkFinite, checkRef } from "./activations.js";

/** Arguments of attention(). */
export interface AttentionArgs {
  /** Queries [T, qStride] (heads packed at the start of each row, RoPE already applied). */
  Q: WasmRef<"f32">;
  /** The layer's key cache [nKvHeads, capacity, headDim], holding positions [0, pos0 + T). */
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
  /**
   * Rows per kv head in the cache; position j is in row j % capacity. At least pos0 + T (the whole
   * sequence), or with a window, window + T - 1 (a ring that still holds every key the batch sees).
   */
  capacity: number;
  /** Row stride of Q and Y in floats; default nHeads * headDim. */
  qStride?: number;
  /** Score multiplier; default 1 / sqrt(headDim). */
  scale?: number;
  /** Scores become softcap * tanh(score / softcap) before the softmax (Gemma 2); default none. */
  softcap?: number;
  /**
   * Sliding window: a query attends to the last `window` positions only (itself included), as HF's
   * `sliding_window` and llama.cpp's `n_swa`; default 0, every position up to the query's own.
   */
  window?: number;
}

/**
 * Y[t, head h] = sum_j softmax_j(cap(scale * Q[t, h] . K[kvh, j])) V[kvh, j] over the keys j <= pos0 + t
 * (and j > pos0 + t - window with a window), for every query token t < T and head h. Threaded over
 * (kv head, token) pairs, each serving its group of query heads. Each query's result depends only on
 * its own position, so a prefill and decode steps give identical bits.
 */
export function attention(rt: Runtime, a: AttentionArgs): Promise<void> {
  const { T, pos0, nHeads, nKvHeads, headDim, capacity } = a;
  checkCount("T", T);
  checkCount("pos0", pos0);
  checkCount("nHeads", nHeads, 1);
  checkCount("nKvHeads", nKvHeads, 1);
  checkCount("headDim", headDim, 1);
  if (nHeads % nKvHeads !== 0) throw new ArgumentError("nKvHeads", `nHeads (${nHeads}) must be a multiple of nKvHeads (${nKvHeads})`);
  const qStride = a.qStride ?? nHeads * headDim;
  checkCount("qStride", qStride, nHeads * headDim);
  const scale = a.scale ?? 1 / Math.sqrt(headDim);
  checkFinite("scale", scale);
  const softcap = a.softcap ?? 0;
  checkFinite("softcap", softcap);
  if (softcap < 0) throw new ArgumentError("softcap", `must be > 0 (or 0 for none), got ${softcap}`);
  const window = a.window ?? 0;
  checkCount("window", window);
  const n = pos0 + T;
  // The most keys one query attends to, which also bounds the rows the batch needs at once.
  const span = window > 0 ? Math.min(n, window + T - 1) : n;
  checkCount("capacity", capacity, span);
  if (T === 0) return Promise.resolve();
  const qLen = (T - 1) * qStride + nHeads * headDim;
  checkRef("Q", a.Q, "f32", qLen);
  checkRef("Y", a.Y, "f32", qLen);
  checkRef("K", a.K, "f32", nKvHeads * capacity * headDim);
  checkRef("V", a.V, "f32", nKvHeads * capacity * headDim);
  if (a.Y.ptr < a.Q.ptr + 4 * qLen && a.Q.ptr < a.Y.ptr + 4 * qLen) throw new ArgumentError("Y", "must not overlap Q");
  // One unit per (kv head, token): it serves the kv head's whole group of query heads.
  const units = nKvHeads * T;
  const group = nHeads / nKvHeads;
  // Work ~ queries * keys * headDim (scores, then the weighted sum of values).
  const keys = window > 0 ? Math.min(window, pos0 + (T + 1) / 2) : pos0 + (T + 1) / 2;
  const work = 2 * nHeads * T * keys * headDim;
  const scratch = rt.scratch(4 * (group * ((window > 0 ? Math.min(n, window) : n) + 3) + group) + 64);
  return rt.run(
    "attention_f32",
    [a.Q.ptr, a.K.ptr, a.V.ptr, a.Y.ptr, T, pos0, nHeads, nKvHeads, headDim, qStride, capacity, scale, softcap, window < n ? window : 0, scratch.ptr, scratch.stride],
    units, 1, work,
  );
}

/**
 * Copies a batch's keys or values, token-major src [T, nKvHeads * headDim], into a head-major
 * cache dst [nKvHeads, capacity, headDim] at positions pos0 .. pos0 + T - 1, position j in row
 * j % capacity (a ring when capacity < pos0 + T).
 */
export function kvStore(
  rt: Runtime, src: WasmRef<"f32">, dst: WasmRef<"f32">, T: number, pos0: number, nKvHeads: number, headDim: number, capacity: number,
): Promise<void> {
  checkCount("T", T);
  checkCount("pos0", pos0);
  checkCount("nKvHeads", nKvHeads, 1);
  checkCount("headDim", headDim, 1);
  checkCount("capacity", capacity, Math.max(1, T));
  checkRef("src", src, "f32", T * nKvHeads * headDim);
  checkRef("dst", dst, "f32", nKvHeads * capacity * headDim);
  return rt.run("kv_store_f32", [src.ptr, dst.ptr, pos0, nKvHeads, headDim, capacity], T, 1, T * nKvHeads * headDim);
}
