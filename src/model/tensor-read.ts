/**
 * Reading a model tensor as f32 for a runtime: block-quantised GGUF tensors of the common types are
 * dequantised on the Wasm kernels (src/kernels/dequant.ts, 8-20x faster than the reader's JavaScript, with
 * the same bits), in chunks so that the temporary Wasm memory stays small; everything else comes from the
 * reader's readTensor.
 */
import type { ModelReader } from "../formats/reader.js";
import { dequantizeGgml, WASM_DEQUANT_TYPES } from "../kernels/dequant.js";
import type { WasmArray } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";

/** Elements dequantised per chunk: 16 MiB of f32. */
const CHUNK_ELEMS = 1 << 22;

/** Tensor `name` as f32: into `dst` (Wasm memory, at least its length) when given, else a new Float32Array. */
export async function readTensorF32(rt: Runtime, reader: ModelReader, name: string): Promise<Float32Array>;
export async function readTensorF32(rt: Runtime, reader: ModelReader, name: string, dst: WasmArray<"f32">): Promise<WasmArray<"f32">>;
export async function readTensorF32(rt: Runtime, reader: ModelReader, name: string, dst?: WasmArray<"f32">): Promise<Float32Array | WasmArray<"f32">> {
  const q = reader.tensors.get(name)?.quantized;
  const t = q ? WASM_DEQUANT_TYPES[q.type] : undefined;
  if (!t || !reader.readBlocks) {
    const data = await reader.readTensor(name);
    return dst ? dst.set(data) : data;
  }
  const { bytes } = await reader.readBlocks(name);
  const blocks = bytes.byteLength / t.blockBytes;
  const out = dst ? null : new Float32Array(blocks * t.blockElems);
  const per = Math.max(1, Math.floor(CHUNK_ELEMS / t.blockElems));
  const s = rt.heap.scope();
  try {
    const src = s.alloc("u8", Math.min(blocks, per) * t.blockBytes);
    const tmp = dst ? null : s.alloc("f32", Math.min(blocks, per) * t.blockElems);
    for (let b = 0; b < blocks; b += per) {
      const nb = Math.min(per, blocks - b), n = nb * t.blockElems;
      src.view().set(bytes.subarray(b * t.blockBytes, (b + nb) * t.blockBytes));
      await dequantizeGgml(rt, q!.type, src.sub(0, nb * t.blockBytes), dst ? dst.sub(b * t.blockElems, b * t.blockElems + n) : tmp!.sub(0, n), nb);
      if (out) out.set(tmp!.view().subarray(0, n), b * t.blockElems);
    }
  } finally {
    s.release();
  }
  return dst ?? out!;
}
