/** Classifier-side kernels: per-token negative log-likelihood and argmax over logit rows. */
import { ArgumentError } from "../errors.js";
import type { WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import { checkCount, checkRef } from "./activations.js";

/**
 * nll[r] = log(sum_v exp(L[r, v])) - L[r, target[r]] (natural log, the max subtracted first; sum and
 * log in f64) for `rows` rows of a row-major [rows, V] logit matrix. target[r] < 0 marks an
 * ignored row (nll 0); targets >= V are an ArgumentError.
 */
export function nll(
  rt: Runtime, L: WasmRef<"f32">, V: number, target: WasmRef<"i32">, out: WasmRef<"f64">, rows: number,
): Promise<void> {
  checkCount("V", V, 1);
  checkCount("rows", rows);
  checkRef("L", L, "f32", rows * V);
  checkRef("target", target, "i32", rows);
  checkRef("out", out, "f64", rows);
  const tv = target.view();
  for (let r = 0; r < rows; r++) {
    if (tv[r] >= V) throw new ArgumentError("target", `target ${tv[r]} (row ${r}) is outside the vocabulary [0, ${V})`);
  }
  return rt.run("nll_f32", [L.ptr, V, target.ptr, out.ptr], rows, 1, rows * V);
}

/** out[r] = first index of the largest logit of row r (NaNs skipped; all-NaN gives 0). */
export function argmax(rt: Runtime, L: WasmRef<"f32">, V: number, out: WasmRef<"i32">, rows: number): Promise<void> {
  checkCount("V", V, 1);
  checkCount("rows", rows);
  checkRef("L", L, "f32", rows * V);
  checkRef("out", out, "i32", rows);
  return rt.run("argmax_f32", [L.ptr, V, out.ptr], rows, 1, rows * V);
}
