// Public API of dass-wasm: runtime, kernels as SparseMatrix/wrappers, model formats, tokenizers,
// the forward pass, evaluation, generation, pruning and model downloads.

// Runtime: Wasm module, memory arena, threads.
export { createRuntime, DEFAULT_MIN_PARALLEL_WORK } from "./runtime/runtime.js";
export type { Runtime, RuntimeOptions } from "./runtime/runtime.js";
export { WasmArray, WasmHeap, Scope, MAX_WASM_BYTES } from "./runtime/heap.js";
export type { DType, ArrayFor, WasmRef } from "./runtime/heap.js";
export type { WasmOption, WasmSource, WasmVariant } from "./runtime/wasm-source.js";
export { detectHost } from "./runtime/detect.js";
export type { HostInfo, HostKind } from "./runtime/detect.js";
export * from "./errors.js";

// Model files and tokenizers.
export * from "./formats/index.js";
export * from "./tokenizers/index.js";

// Forward pass, evaluation, generation.
export * from "./model/index.js";
export * from "./eval/index.js";
export { evaluatePerplexity as evaluate } from "./eval/index.js";
export * from "./generate/index.js";

// Pruning.
export * from "./calibration/index.js";
export * from "./pruning/index.js";

// Compressed N:M matrices.
export * from "./sparse/index.js";

// Model downloads and the shared progress shape.
export * from "./pull/index.js";
export type { Progress, OnProgress } from "./util/progress.js";

// Kernel wrappers (typed, validated) for callers who manage Wasm memory themselves.
export * as kernels from "./kernels/index.js";
