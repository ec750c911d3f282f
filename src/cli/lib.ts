/**
 * The library entry points the CLI commands call, in one place. Commands import this module
 * lazily, so `dass --help` and `dass pull` start without loading the numeric core.
 */
import { ArgumentError } from "../errors.js";
import { readCalibrationFile } from "../calibration/text.js";

export { openModel } from "../formats/open.js";
export { convertModel, convertedContext } from "../formats/convert.js";
export type { ModelFormat, ModelReader } from "../formats/reader.js";
export { loadTokenizer } from "../tokenizers/index.js";
export { toGGUFVocab } from "../tokenizers/gguf.js";
export { toHFTokenizerFiles } from "../tokenizers/tokenizer-json.js";
export { SentencePieceTokenizer } from "../tokenizers/sentencepiece.js";
export type { Tokenizer } from "../tokenizers/types.js";
export { createRuntime } from "../runtime/runtime.js";
export { DEFAULT_BUDGET_BYTES, Transformer } from "../model/transformer.js";
export { hostHeldBytes } from "../model/tensor-read.js";
export { FileSpill, type WeightSpill } from "../model/spill.js";
export type { Runtime } from "../runtime/runtime.js";
export { prune, parsePattern, targetLinears, type Pattern, type PruneMethod, type PruneReport, type PruneProgress, type MatrixReport } from "../pruning/index.js";
export { blockLinearOf } from "../model/linear.js";
export { checkSaveTarget, savePrunedModel, type SavedModel } from "../pruning/save.js";
export { dequantisedNote } from "../formats/ggml-quantize.js";
export { calibrationWindows, type CalibrationWindows } from "../calibration/sampler.js";

export { evaluatePerplexity } from "../eval/perplexity.js";
export { generate } from "../generate/generate.js";
export { readChatTemplate, renderChat } from "../generate/chat-template.js";
export { compressForSave } from "../sparse/storage.js";

/**
 * Reads an evaluation or calibration text file as the library does (plain UTF-8, or JSON lines whose
 * `"text"` fields are joined with "\n\n"); a file that cannot be read is an error about `--arg`.
 */
export async function readTextFile(path: string, arg: string): Promise<string> {
  try {
    return (await readCalibrationFile(path)).text;
  } catch (e) {
    if (e instanceof ArgumentError && e.arg !== arg) throw new ArgumentError(arg, e.message.slice(e.arg.length + 2));
    throw e;
  }
}
