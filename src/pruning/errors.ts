/** Errors specific to pruning. */
import { DassError } from "../errors.js";

/**
 * A numerical procedure failed on the data: e.g. SparseGPT's damped Hessian stayed not positive
 * definite after every retry. The message names the block and matrix.
 */
export class NumericalError extends DassError {
  /** Which matrix failed, e.g. "block 3 mlp.down". */
  readonly matrix: string;
  constructor(matrix: string, message: string) {
    super("ERR_NUMERIC", `${matrix}: ${message}`);
    this.matrix = matrix;
  }
}
