// Typed kernel wrappers, one module per kernel family.
export * from "./activations.js";
export * from "./norms.js";
export * from "./rope.js";
export * from "./attention.js";
export * from "./logits.js";
export * from "./scores.js";
export * from "./masks.js";
export * from "./dense.js";
export * from "./convert.js";
export * from "./stats.js";
export * from "./dequant.js";
