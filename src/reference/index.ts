// Plain-TypeScript references of the kernels and the forward pass, for tests and for checking.
export * from "./activations.js";
export * from "./norms.js";
export * from "./rope.js";
export * from "./attention.js";
export * from "./logits.js";
export * from "./forward.js";
export * from "./scores.js";
export * from "./masks.js";
export * from "./dense.js";
export * from "./convert.js";
export * from "./stats.js";
export * from "./sparse.js";
export * from "./sparsegpt.js";
