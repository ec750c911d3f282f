/**
 * ggml block-quantised weights to f32 on the Wasm kernels, for the types of the usual llama.cpp files
 * (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K). The same bits as src/formats/ggml-quants.ts, the reference, which
 * also dequantises every other type. Blocks are independent, so any thread split gives the same bits.
 */
import { ArgumentError } from "../errors.js";
import type { WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import { checkArray, checkDisjoint } from "./dense.js";
import { ggmlQuantTypeNamed } from "../formats/ggml-quants.js";

/** The ggml types with a Wasm dequantiser: kernel name, and the block geometry ggml-quants.ts defines. */
export const WASM_DEQUANT_TYPES: Readonly<Record<string, { kernel: string; blockElems: number; blockBytes: number }>> = Object.fromEntries(
  ["Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"].map((name) => {
    const { blockElems, blockBytes } = ggmlQuantTypeNamed(name)!;
    return [name, { kernel: `dequant_${name.toLowerCase()}_f32`, blockElems, blockBytes }];
  }),
);

/** Blocks per thread grain: about 64 KiB of f32 output. */
const GRAIN_ELEMS = 16384;

/**
 * dst[0, blocks * blockElems) = the `blocks` ggml blocks of `type` at src, dequantised. ArgumentError for a
 * type without a Wasm kernel (see WASM_DEQUANT_TYPES) or buffers too short.
 */
export function dequantizeGgml(rt: Runtime, type: string, src: WasmRef<"u8">, dst: WasmRef<"f32">, blocks: number): Promise<void> {
  const t = WASM_DEQUANT_TYPES[type];
  if (!t) throw new ArgumentError("type", `no Wasm dequantiser for ${JSON.stringify(type)} (${Object.keys(WASM_DEQUANT_TYPES).join(", ")})`);
  if (!Number.isInteger(blocks) || blocks < 0) throw new ArgumentError("blocks", `must be a non-negative integer, got ${blocks}`);
  checkArray("src", src, "u8", blocks * t.blockBytes, `${blocks} ${type} blocks`);
  checkArray("dst", dst, "f32", blocks * t.blockElems, `${blocks} ${type} blocks`);
  checkDisjoint("dst", dst, blocks * t.blockElems, "src", src, blocks * t.blockBytes);
  if (blocks === 0) return Promise.resolve();
  return rt.run(t.kernel, [src.ptr, dst.ptr], blocks, Math.max(1, GRAIN_ELEMS / t.blockElems), blocks * t.blockElems);
}
