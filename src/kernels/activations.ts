/**
 * Element-wise kernels: exp, SiLU, GELU (tanh form), the GLU product, residual and bias adds,
 * row softmax. Each wrapper validates its arguments, then runs the Wasm kernel; small jobs stay on
 * the calling thread (a dispatch costs more than they do), larger ones are split across threads in
 * chunks that never change any element's result.
 */
import { ArgumentError } from "../errors.js";
import type { DType, WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";

/** Gate activation of a GLU MLP. */
export type GluActivation = "silu" | "gelu_tanh";

/** Chunk alignment of element-wise jobs (a multiple of the vector width, and cache-line friendly). */
const ELEMENT_GRAIN = 4096;

/** @internal Throws ArgumentError unless `n` is a non-negative (or positive) integer. */
export function checkCount(arg: string, n: number, min = 0): void {
  if (!Number.isInteger(n) || n < min) throw new ArgumentError(arg, `must be an integer >= ${min}, got ${n}`);
}

/** @internal Throws ArgumentError unless `ref` is a WasmRef of `kind` with at least `n` elements. */
export function checkRef(arg: string, ref: WasmRef, kind: DType, n: number): void {
  if (!ref || typeof ref.ptr !== "number" || typeof ref.length !== "number") {
    throw new ArgumentError(arg, "must be a WasmArray or WasmRef");
  }
  if (ref.kind !== kind) throw new ArgumentError(arg, `must hold ${kind}, got ${ref.kind}`);
  if (ref.length < n) throw new ArgumentError(arg, `needs ${n} elements, has ${ref.length}`);
}

/** @internal Throws ArgumentError unless `v` is a finite number. */
export function checkFinite(arg: string, v: number): void {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ArgumentError(arg, `must be finite, got ${v}`);
}

function elementwise(rt: Runtime, name: string, x: WasmRef<"f32">, y: WasmRef<"f32">, n: number): Promise<void> {
  checkCount("n", n);
  checkRef("x", x, "f32", n);
  checkRef("y", y, "f32", n);
  return rt.run(name, [x.ptr, y.ptr], n, ELEMENT_GRAIN, n);
}

/** y[i] = exp(x[i]) for i < n (about 1-2 ulp; y may be x). */
export function exp(rt: Runtime, x: WasmRef<"f32">, y: WasmRef<"f32">, n: number): Promise<void> {
  return elementwise(rt, "exp_f32", x, y, n);
}

/** y[i] = x[i] / (1 + exp(-x[i])) for i < n (y may be x). */
export function silu(rt: Runtime, x: WasmRef<"f32">, y: WasmRef<"f32">, n: number): Promise<void> {
  return elementwise(rt, "silu_f32", x, y, n);
}

/** y[i] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) for i < n (y may be x). */
export function geluTanh(rt: Runtime, x: WasmRef<"f32">, y: WasmRef<"f32">, n: number): Promise<void> {
  return elementwise(rt, "gelu_tanh_f32", x, y, n);
}

/** x[i] = cap * tanh(x[i] / cap) for i < n, in place (Gemma 2's soft-capping; error a few ulp of cap). */
export function softcap(rt: Runtime, x: WasmRef<"f32">, n: number, cap: number): Promise<void> {
  checkCount("n", n);
  checkRef("x", x, "f32", n);
  checkFinite("cap", cap);
  if (!(cap > 0)) throw new ArgumentError("cap", `must be > 0, got ${cap}`);
  return rt.run("softcap_f32", [x.ptr, cap], n, ELEMENT_GRAIN, n);
}

/** GLU product h[i] = act(g[i]) * u[i] for i < n; h may be g or u. */
export function glu(
  rt: Runtime, g: WasmRef<"f32">, u: WasmRef<"f32">, h: WasmRef<"f32">, n: number, act: GluActivation,
): Promise<void> {
  checkCount("n", n);
  checkRef("g", g, "f32", n);
  checkRef("u", u, "f32", n);
  checkRef("h", h, "f32", n);
  if (act !== "silu" && act !== "gelu_tanh") throw new ArgumentError("act", `must be "silu" or "gelu_tanh", got ${String(act)}`);
  return rt.run("glu_f32", [g.ptr, u.ptr, h.ptr, act === "gelu_tanh" ? 1 : 0], n, ELEMENT_GRAIN, n);
}

/** y[i] += x[i] for i < n (the residual connection). */
export function addInPlace(rt: Runtime, x: WasmRef<"f32">, y: WasmRef<"f32">, n: number): Promise<void> {
  return elementwise(rt, "add_f32", x, y, n);
}

/** Y[r, :] += b for each of `rows` rows of a row-major [rows, d] matrix. */
export function addBias(rt: Runtime, Y: WasmRef<"f32">, b: WasmRef<"f32">, d: number, rows: number): Promise<void> {
  checkCount("d", d, 1);
  checkCount("rows", rows);
  checkRef("Y", Y, "f32", rows * d);
  checkRef("b", b, "f32", d);
  return rt.run("add_bias_f32", [Y.ptr, b.ptr, d], rows, 1, rows * d);
}

/** In-place softmax of each row of a row-major [rows, n] matrix. */
export function softmax(rt: Runtime, X: WasmRef<"f32">, n: number, rows: number): Promise<void> {
  checkCount("n", n, 1);
  checkCount("rows", rows);
  checkRef("X", X, "f32", rows * n);
  return rt.run("softmax_f32", [X.ptr, n], rows, 1, rows * n);
}
