/**
 * The `Linear` interface: what the forward pass needs from a block's projection, whatever stores
 * it (a dense f32 matrix in Wasm memory, an N:M sparse matrix, ...). A dense implementation lives
 * here; sparse matrices plug in by satisfying the same structural interface.
 */
import { ArgumentError } from "../errors.js";
import type { WasmRef } from "../runtime/heap.js";
import type { Runtime } from "../runtime/runtime.js";
import { checkCount, checkRef } from "../kernels/activations.js";
import { gemm, gemv } from "../kernels/dense.js";

/** Names of a block's linear layers (the canonical tensors `layers.{i}.attn.q` ... `layers.{i}.mlp.down`). */
export type LinearName = "q" | "k" | "v" | "o" | "gate" | "up" | "down";

/** Every block linear, in the order the forward pass runs them. */
export const LINEAR_NAMES: readonly LinearName[] = ["q", "k", "v", "o", "gate", "up", "down"];

/** Canonical tensor suffix of a block linear: `attn.q`, ..., `mlp.down`. */
export function linearTensorSuffix(name: LinearName): string {
  return name === "q" || name === "k" || name === "v" || name === "o" ? `attn.${name}` : `mlp.${name}`;
}

const LINEAR_OF_SUFFIX = new Map<string, LinearName>(LINEAR_NAMES.map((n) => [linearTensorSuffix(n), n]));

/** The block linear of a tensor suffix (`mlp.down`: "down"), or null. */
export function linearOfSuffix(suffix: string): LinearName | null {
  return LINEAR_OF_SUFFIX.get(suffix) ?? null;
}

/** The block linear a canonical tensor name holds (`layers.3.mlp.down`: "down"), or null. */
export function blockLinearOf(tensor: string): LinearName | null {
  const m = /^layers\.\d+\.(.+)$/.exec(tensor);
  return m ? linearOfSuffix(m[1]) : null;
}

/**
 * A linear map y = W x, W of shape [dOut, dIn], applied to activations in Wasm memory of the
 * runtime the model runs on. Implementations must not keep references to x / X after returning.
 */
export interface Linear {
  readonly dOut: number;
  readonly dIn: number;
  /** y = W x for one token (x [dIn], y [dOut]). */
  gemv(x: WasmRef<"f32">, y: WasmRef<"f32">): Promise<void>;
  /** Y[t] = W X[t] for t < T; X [T, dIn] and Y [T, dOut], token-major. */
  gemm(X: WasmRef<"f32">, Y: WasmRef<"f32">, T: number): Promise<void>;
}

/** True for objects that satisfy the Linear interface (used to tell a Linear from a Float32Array). */
export function isLinear(x: unknown): x is Linear {
  const l = x as Partial<Linear> | null;
  return !!l && typeof l === "object" && typeof l.dOut === "number" && typeof l.dIn === "number" &&
    typeof l.gemv === "function" && typeof l.gemm === "function";
}

/** A dense row-major f32 matrix in Wasm memory (which it does not own), on the dense kernels. */
export class DenseLinear implements Linear {
  readonly rt: Runtime;
  readonly W: WasmRef<"f32">;
  readonly dOut: number;
  readonly dIn: number;

  constructor(rt: Runtime, W: WasmRef<"f32">, dOut: number, dIn: number) {
    checkCount("dOut", dOut, 1);
    checkCount("dIn", dIn, 1);
    checkRef("W", W, "f32", dOut * dIn);
    this.rt = rt; this.W = W; this.dOut = dOut; this.dIn = dIn;
  }

  gemv(x: WasmRef<"f32">, y: WasmRef<"f32">): Promise<void> {
    return gemv(this.rt, this.W, x, y, this.dOut, this.dIn);
  }

  gemm(X: WasmRef<"f32">, Y: WasmRef<"f32">, T: number): Promise<void> {
    return gemm(this.rt, this.W, X, Y, this.dOut, this.dIn, T);
  }
}

/** Throws ArgumentError unless `l` has the given shape. */
export function checkLinearShape(arg: string, l: Linear, dOut: number, dIn: number): void {
  if (l.dOut !== dOut || l.dIn !== dIn) {
    throw new ArgumentError(arg, `shape [${l.dOut}, ${l.dIn}] does not match the expected [${dOut}, ${dIn}]`);
  }
}
