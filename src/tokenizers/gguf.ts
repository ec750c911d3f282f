/**
 * Tokenizers from GGUF `tokenizer.ggml.*` SentencePiece vocabularies (`tokenizer.ggml.model` = "llama"), and
 * the reverse mapping used to embed a llama2.c vocabulary in a GGUF file.
 */
import { ArgumentError } from "../errors.js";
import type { GGUFVocab } from "../formats/gguf.js";
import { SentencePieceTokenizer } from "./sentencepiece.js";

/** llama.cpp token types. */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** A SentencePiece tokenizer over a GGUF vocabulary ("▁" read as space). */
export class GGUFTokenizer extends SentencePieceTokenizer {
  readonly tokenTypes: Int32Array;
  constructor(v: GGUFVocab) {
    const model = v.model ?? "llama";
    if (model !== "llama") throw new ArgumentError("vocab", `GGUF tokenizer model ${JSON.stringify(model)} is not supported (only "llama" SentencePiece)`);
    const types = Int32Array.from(v.tokenTypes);
    const pieces = v.tokens.map((t, i) => (types[i] === TokenType.BYTE ? t : t.replace(/\u2581/g, " ")));
    const control: number[] = [];
    types.forEach((t, i) => { if (t === TokenType.CONTROL) control.push(i); });
    super(pieces, v.scores, {
      kind: "gguf",
      bosId: v.bosId,
      eosId: v.eosId,
      unkId: v.unkId ?? 0,
      controlIds: control,
      matchable: (i) => types[i] === TokenType.NORMAL || types[i] === TokenType.USER_DEFINED,
    });
    this.tokenTypes = types;
  }
}

/**
 * The GGUF form of a SentencePiece vocabulary (llama2.c or GGUF tokenizer): spaces as "▁", BOS/EOS as
 * `<s>`/`</s>`, types inferred (unknown, control, byte, normal) as llama.cpp's converter assigns them.
 */
export function toGGUFVocab(tok: SentencePieceTokenizer): GGUFVocab {
  const n = tok.vocabSize;
  const tokens: string[] = [];
  const types: number[] = [];
  const given = tok instanceof GGUFTokenizer ? tok.tokenTypes : null;
  for (let i = 0; i < n; i++) {
    const p = tok.pieces[i];
    let type: number;
    if (given) type = given[i];
    else if (i === tok.unkId && p === "<unk>") type = TokenType.UNKNOWN;
    else if (i === tok.bosId || i === tok.eosId) type = TokenType.CONTROL;
    else if (/^<0x[0-9A-Fa-f]{2}>$/.test(p)) type = TokenType.BYTE;
    else type = TokenType.NORMAL;
    let text = type === TokenType.BYTE ? p : p.replace(/ /g, "\u2581");
    if (!given && i === tok.bosId) text = "<s>";
    if (!given && i === tok.eosId) text = "</s>";
    tokens.push(text);
    types.push(type);
  }
  return { tokens, scores: Float32Array.from(tok.scores), tokenTypes: types, bosId: tok.bosId, eosId: tok.eosId, unkId: tok.unkId, model: "llama" };
}
