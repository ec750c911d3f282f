/**
 * Quantising matrices for a GGUF output, as ggml's reference quantisers do (`quantize_row_q8_0_ref`,
 * `quantize_row_q4_0_ref`), in f32 arithmetic. Only the symmetric 32-element types are written: their
 * zero is exact (Q8_0 stores q = 0, Q4_0 stores 8 for (8 - 8) d), so a pruned weight stays 0 and the
 * sparsity survives, which the k-quants' block minimums would not guarantee.
 */
import { f32ToF16 } from "./half.js";
import { ggmlQuantTypeNamed, type GgmlQuantType } from "./ggml-quants.js";
import type { ModelReader } from "./reader.js";

/** The quantised types dass writes. */
export type GgmlWriteType = "Q8_0" | "Q4_0";

/** Every type of {@link GgmlWriteType}, for validation and help texts. */
export const GGML_WRITE_TYPES: readonly GgmlWriteType[] = ["Q8_0", "Q4_0"];

/** Elements per block of the written types: a matrix is quantised when its rows are a multiple of it. */
export const GGML_WRITE_BLOCK = 32;

const f = Math.fround;

/** The ggml geometry (id, block bytes) of a written type. */
export function ggmlWriteType(type: GgmlWriteType): GgmlQuantType {
  return ggmlQuantTypeNamed(type)!;
}

/** The input's quantised type of a tensor, when dass writes that type back (Q8_0, Q4_0). */
export function keptQuantType(reader: ModelReader, name: string): GgmlWriteType | undefined {
  const t = reader.tensors.get(name)?.quantized?.type;
  return GGML_WRITE_TYPES.find((w) => w === t);
}

/** The quantised types of a reader's tensors that dass cannot write back (they are written dequantised). */
export function unwrittenQuantTypes(reader: ModelReader): string[] {
  return [...new Set([...reader.tensors.values()].flatMap((t) => (t.quantized && !keptQuantType(reader, t.name) ? [t.quantized.type] : [])))];
}

/** The note the CLI prints when a model's quantised matrices are written as f32 (null when none are). */
export function dequantisedNote(reader: ModelReader): string | null {
  const lost = unwrittenQuantTypes(reader);
  return lost.length ? `note: the input's ${lost.join(", ")} matrices are written as f32 (exact, larger); --dtype q8_0 or q4_0 writes them quantised` : null;
}

/** C's roundf: halves away from zero. */
const roundf = (v: number) => (v < 0 ? -Math.round(-v) : Math.round(v));

function putHalf(out: Uint8Array, o: number, d: number): void {
  if (!(Math.abs(d) <= 65504)) throw new RangeError(`block scale ${d} does not fit in f16`);
  const h = f32ToF16(d);
  out[o] = h & 255;
  out[o + 1] = h >> 8;
}

/**
 * Quantises `x` (a multiple of 32 finite values, e.g. whole rows of a matrix whose width is a multiple of
 * 32) to ggml blocks of `type`.
 */
export function quantizeGgml(type: GgmlWriteType, x: Float32Array): Uint8Array {
  const { blockBytes } = ggmlWriteType(type);
  const blocks = x.length / GGML_WRITE_BLOCK;
  if (!Number.isInteger(blocks)) throw new RangeError(`${x.length} values are not whole ${GGML_WRITE_BLOCK}-element blocks`);
  const out = new Uint8Array(blocks * blockBytes);
  for (let b = 0; b < blocks; b++) {
    const at = b * GGML_WRITE_BLOCK, o = b * blockBytes;
    // Q8_0 scales by the largest magnitude; Q4_0 by the signed value of largest magnitude (the first
    // one), so that it maps to q = 0 and the other side gets the extra level.
    let amax = 0, max = 0;
    for (let j = 0; j < GGML_WRITE_BLOCK; j++) {
      const v = x[at + j];
      if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
    }
    if (type === "Q8_0") {
      const d = f(amax / 127), id = d ? f(1 / d) : 0;
      putHalf(out, o, d);
      for (let j = 0; j < GGML_WRITE_BLOCK; j++) out[o + 2 + j] = roundf(f(x[at + j] * id)) & 255;
    } else {
      const d = f(max / -8), id = d ? f(1 / d) : 0;
      putHalf(out, o, d);
      for (let j = 0; j < 16; j++) {
        const lo = Math.min(15, Math.trunc(f(f(x[at + j] * id) + 8.5)));
        const hi = Math.min(15, Math.trunc(f(f(x[at + 16 + j] * id) + 8.5)));
        out[o + 2 + j] = lo | (hi << 4);
      }
    }
  }
  return out;
}
