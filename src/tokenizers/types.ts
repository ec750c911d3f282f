/** The tokenizer interface every implementation (llama2.c, GGUF vocab, HF tokenizer.json) provides. */

/** Options of `Tokenizer.encode`. */
export interface EncodeOptions {
  /** Prepend the BOS token. Default false. */
  bos?: boolean;
  /** Append the EOS token. Default false. */
  eos?: boolean;
  /**
   * Read the texts of the vocabulary's control and user-defined tokens (`<s>`, `<|im_start|>`, ...) in the
   * text as those tokens, as a rendered chat template needs (llama.cpp's parse_special). HF tokenizers
   * always do for their added tokens; GGUF SentencePiece vocabularies only with this set. Default false.
   */
  parseSpecial?: boolean;
}

/** Text <-> token ids. */
export interface Tokenizer {
  /** Which implementation this is. */
  readonly kind: "llama2c" | "gguf" | "hf";
  readonly vocabSize: number;
  /** BOS id, or -1 when the vocabulary has none. */
  readonly bosId: number;
  /** EOS id, or -1 when the vocabulary has none. */
  readonly eosId: number;
  encode(text: string, opts?: EncodeOptions): number[];
  /**
   * The text a token adds when printed after `prevToken` (llama2.c semantics: a piece right after BOS loses
   * its leading space; `<0xXX>` byte tokens yield the raw byte). Control tokens (BOS/EOS) yield "". A byte
   * token that is part of a multi-byte UTF-8 character cannot be shown alone and yields U+FFFD; use
   * `decodePieceBytes` (where available) or `decode` to assemble such characters.
   */
  decodePiece(prevToken: number, token: number): string;
  /** Decodes a sequence (byte tokens assembled into UTF-8, control tokens dropped). */
  decode(ids: ArrayLike<number>): string;
}
