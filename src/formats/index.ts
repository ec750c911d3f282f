/** Model file formats: readers, writers, conversion. */
export * from "./file.js";
export * from "./half.js";
export * from "./reader.js";
export * from "./writer.js";
export * from "./llama2c.js";
export * from "./gguf.js";
export * from "./safetensors.js";
export * from "./rope-permute.js";
export * from "./convert.js";
export * from "./open.js";
