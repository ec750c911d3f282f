// The one Wasm module: every kernel family, re-exported. Each kernel takes raw pointers into
// host-managed memory and a work range [r0, r1) (plus the thread id, where it needs scratch).
export * from "./gemv_dense";
