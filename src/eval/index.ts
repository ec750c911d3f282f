// Evaluation: perplexity (paper and BOS-per-window protocols).
export * from "./perplexity.js";
