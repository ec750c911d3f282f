// Public API of dass-wasm.
export { createRuntime } from "./runtime/runtime.js";
export type { Runtime, RuntimeOptions } from "./runtime/runtime.js";
export { WasmArray, WasmHeap, Scope, MAX_WASM_BYTES } from "./runtime/heap.js";
export type { DType, ArrayFor, WasmRef } from "./runtime/heap.js";
export type { WasmOption, WasmSource, WasmVariant } from "./runtime/wasm-source.js";
export { detectHost } from "./runtime/detect.js";
export type { HostInfo, HostKind } from "./runtime/detect.js";
export * from "./errors.js";
