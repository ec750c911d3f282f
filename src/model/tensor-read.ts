/**
 * Reading a model tensor as f32 for a runtime: block-quantised GGUF tensors of the common types are
 * dequantised on the Wasm kernels (src/kernels/dequant.ts, 10-25x faster than the reader's JavaScript, with
 * the same bits), in chunks so that the temporary Wasm memory stays small; everything else comes from the
 * reader's readTensor. A model can also hold such a tensor's stored blocks (a quarter to an eighth of its
 * f32 bytes) and dequantise them each time it uploads them.
 */
import type { ModelReader, TensorInfo } from "../formats/reader.js";
import { dequantizeGgml, WASM_DEQUANT_TYPES } from "../kernels/dequant.js";
import type { WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";

/** A tensor's stored ggml blocks, of a type the Wasm kernels dequantise. */
export interface GgmlBlocks {
  type: string;
  bytes: Uint8Array;
}

/** Elements dequantised per chunk: 16 MiB of f32. */
const CHUNK_ELEMS = 1 << 22;

/** The stored blocks of tensor `name` when the Wasm kernels dequantise its type, else null. */
export async function readWasmBlocks(reader: ModelReader, name: string): Promise<GgmlBlocks | null> {
  const q = reader.tensors.get(name)?.quantized;
  if (!q || !WASM_DEQUANT_TYPES[q.type] || !reader.readBlocks) return null;
  return reader.readBlocks(name);
}

/** Bytes a model holds on the JS heap for a tensor it streams from host memory (see Transformer's host mode). */
export function hostHeldBytes(info: TensorInfo): number {
  const q = info.quantized;
  return q && WASM_DEQUANT_TYPES[q.type] ? q.storedBytes : 4 * info.shape.reduce((a, b) => a * b, 1);
}

/** f32 elements of a tensor held as blocks. */
export function blocksLength(b: GgmlBlocks): number {
  const t = WASM_DEQUANT_TYPES[b.type];
  return (b.bytes.byteLength / t.blockBytes) * t.blockElems;
}

/** The blocks dequantised: into `dst` (Wasm memory, at least blocksLength long) when given, else a new Float32Array. */
export async function dequantBlocks(rt: Runtime, b: GgmlBlocks): Promise<Float32Array>;
export async function dequantBlocks(rt: Runtime, b: GgmlBlocks, dst: WasmRef<"f32">): Promise<void>;
export async function dequantBlocks(rt: Runtime, b: GgmlBlocks, dst?: WasmRef<"f32">): Promise<Float32Array | void> {
  const t = WASM_DEQUANT_TYPES[b.type];
  const blocks = b.bytes.byteLength / t.blockBytes;
  const out = dst ? null : new Float32Array(blocks * t.blockElems);
  const per = Math.max(1, Math.floor(CHUNK_ELEMS / t.blockElems));
  const s = rt.heap.scope();
  try {
    const src = s.alloc("u8", Math.min(blocks, per) * t.blockBytes);
    const tmp = dst ? null : s.alloc("f32", Math.min(blocks, per) * t.blockElems);
    for (let k = 0; k < blocks; k += per) {
      const nb = Math.min(per, blocks - k), n = nb * t.blockElems, at = k * t.blockElems;
      src.view().set(b.bytes.subarray(k * t.blockBytes, (k + nb) * t.blockBytes));
      const into: WasmRef<"f32"> = dst ? { ptr: dst.ptr + 4 * at, length: n, kind: "f32", view: () => dst.view().subarray(at, at + n) } : tmp!.sub(0, n);
      await dequantizeGgml(rt, b.type, src.sub(0, nb * t.blockBytes), into, nb);
      if (out) out.set(tmp!.view().subarray(0, n), at);
    }
  } finally {
    s.release();
  }
  return out ?? undefined;
}

/** Tensor `name` as f32: into `dst` (Wasm memory, at least its length) when given, else a new Float32Array. */
export async function readTensorF32(rt: Runtime, reader: ModelReader, name: string): Promise<Float32Array>;
export async function readTensorF32<D extends WasmRef<"f32"> & { set(a: ArrayLike<number>): D }>(rt: Runtime, reader: ModelReader, name: string, dst: D): Promise<D>;
export async function readTensorF32(
  rt: Runtime, reader: ModelReader, name: string, dst?: WasmRef<"f32"> & { set(a: ArrayLike<number>): unknown },
): Promise<unknown> {
  const b = await readWasmBlocks(reader, name);
  if (!b) {
    const data = await reader.readTensor(name);
    return dst ? dst.set(data) : data;
  }
  if (!dst) return dequantBlocks(rt, b);
  await dequantBlocks(rt, b, dst);
  return dst;
}
