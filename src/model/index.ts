// The forward pass: model loading, prefill/decode, layer-major block runs, pruning hooks.
export * from "./config.js";
export * from "./linear.js";
export * from "./kv-cache.js";
export * from "./transformer.js";
export * from "./memory-reader.js";
export * from "./spill.js";
