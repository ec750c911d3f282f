// Text generation (llama2.c run semantics) and sampling.
export * from "./sampler.js";
export * from "./generate.js";
export * from "./chat-template.js";
