/**
 * llama2.c `tokenizer.bin`: int32 max_token_length, then per token float32 score, int32 length, bytes.
 * The token count is not stored (it is the model's vocab size); without it we read to the end of the file.
 *
 * Vocabularies without byte tokens (e.g. babyllama105's tok105, trained with byte_fallback=False) cannot use
 * llama2.c's `byte + 3` fallback, which would produce wrong or out-of-range ids; such characters (including
 * "\n" there) encode to <unk> = 0 instead.
 */
import { ArgumentError, FormatError } from "../errors.js";
import { SentencePieceTokenizer } from "./sentencepiece.js";

/** Parsed contents of a tokenizer.bin. */
export interface Llama2cVocab {
  maxTokenLength: number;
  pieces: string[];
  scores: Float32Array;
}

/** Parses tokenizer.bin bytes. `vocabSize` (from the model header) is checked when given, else inferred. */
export function parseLlama2cTokenizer(bytes: Uint8Array, vocabSize?: number, fileName = "tokenizer.bin"): Llama2cVocab {
  const fail = (msg: string): never => { throw new FormatError(fileName, msg); };
  if (vocabSize !== undefined && (!Number.isInteger(vocabSize) || vocabSize < 1)) throw new ArgumentError("vocabSize", `must be a positive integer, got ${vocabSize}`);
  if (bytes.byteLength < 4) fail(`truncated: ${bytes.byteLength} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const maxTokenLength = dv.getInt32(0, true);
  if (maxTokenLength < 1 || maxTokenLength > 1 << 16) fail(`max_token_length ${maxTokenLength} is out of range: not a llama2.c tokenizer?`);
  const dec = new TextDecoder("utf-8", { fatal: false });
  const pieces: string[] = [];
  const scores: number[] = [];
  let p = 4;
  while (vocabSize === undefined ? p < bytes.byteLength : pieces.length < vocabSize) {
    const id = pieces.length;
    if (p + 8 > bytes.byteLength) fail(`truncated at token ${id}: need 8 bytes at offset ${p}, the file has ${bytes.byteLength}`);
    const score = dv.getFloat32(p, true);
    const len = dv.getInt32(p + 4, true);
    p += 8;
    if (len < 0 || len > maxTokenLength) fail(`token ${id} has length ${len} (max_token_length ${maxTokenLength})`);
    if (p + len > bytes.byteLength) fail(`truncated in token ${id}: need ${len} bytes at offset ${p}`);
    pieces.push(dec.decode(bytes.subarray(p, p + len)));
    scores.push(score);
    p += len;
  }
  if (pieces.length === 0) fail("no tokens");
  return { maxTokenLength, pieces, scores: Float32Array.from(scores) };
}

/** A llama2.c tokenizer: BOS 1, EOS 2, <unk> 0, as llama2.c assumes. */
export class Llama2cTokenizer extends SentencePieceTokenizer {
  readonly maxTokenLength: number;
  constructor(vocab: Llama2cVocab) {
    super(vocab.pieces, vocab.scores, { kind: "llama2c", bosId: 1, eosId: 2, unkId: 0 });
    this.maxTokenLength = vocab.maxTokenLength;
  }
}

/** Loads tokenizer.bin bytes. Pass the model's vocab size to check the file against it. */
export function loadLlama2cTokenizer(bytes: Uint8Array, vocabSize?: number, fileName?: string): Llama2cTokenizer {
  return new Llama2cTokenizer(parseLlama2cTokenizer(bytes, vocabSize, fileName));
}
