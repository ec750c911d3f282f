// N:M sparse matrices: the canonical compressed format, runtime layouts and the resident matrix.
export * from "./format.js";
export { SparseMatrix, packSparse } from "./matrix.js";
export type { SparseMatrixOptions, SparseUploadOptions, SparseLayoutKind, PackedSparse, LayoutArray } from "./matrix.js";
export {
  packTab8, unpackTab8, packSwz, unpackSwz, packCls, unpackCls, swzLut, octetCode, octetMask, tab8Applies, swzApplies, clsApplies,
  TAB8_PANEL, TAB8_ENTRIES, CLS_ROWS, CLS_CLASSES, CLS_PANEL,
} from "./layout.js";
export type { Tab8Layout, SwzLayout, ClsLayout } from "./layout.js";
// Compressed matrices on disk (safetensors / GGUF) and as model-placed forward-pass linears.
export * from "./storage.js";
export { SparseLinear, type SparseLinearOptions } from "./linear.js";
