// Pruning: per-layer methods, SparseGPT, and the end-to-end sequential procedure.
export * from "./pattern.js";
export { NumericalError } from "./errors.js";
export {
  layerPlan, maskSpec, pruneLinear, PRUNE_METHODS,
  type PruneMethod, type PruneAxis, type LayerPlan, type LayerStats, type PruneLinearOptions, type PruneLinearResult,
} from "./methods.js";
export {
  prune, targetLinears,
  type PrunableModel, type PruneTargets, type CalibrationInput, type PruneProgress, type PruneOptions,
  type MatrixReport, type SparsityTotal, type PruneReport, type PruneResult,
} from "./prune.js";
export { createActivationStore, type ActivationStore, type ActivationStoreOptions } from "./activations.js";
