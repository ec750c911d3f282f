/**
 * Tokenizers from GGUF `tokenizer.ggml.*` vocabularies: SentencePiece (`tokenizer.ggml.model` = "llama")
 * and byte-level BPE ("gpt2": Llama 3, Qwen2/3), and the reverse mapping used to embed a llama2.c
 * vocabulary in a GGUF file.
 */
import { ArgumentError } from "../errors.js";
import type { GGUFVocab } from "../formats/gguf.js";
import { HFTokenizer } from "./hf.js";
import { SentencePieceTokenizer } from "./sentencepiece.js";
import type { Tokenizer } from "./types.js";

/** llama.cpp token types. */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** A SentencePiece tokenizer over a GGUF vocabulary ("▁" read as space). */
export class GGUFTokenizer extends SentencePieceTokenizer {
  readonly tokenTypes: Int32Array;
  constructor(v: GGUFVocab) {
    const model = v.model ?? "llama";
    if (model !== "llama") throw new ArgumentError("vocab", `GGUF tokenizer model ${JSON.stringify(model)} is not SentencePiece ("llama"); ggufTokenizer() picks the right kind`);
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
      specialIds: Array.from(types).flatMap((t, i) => (t === TokenType.CONTROL || t === TokenType.USER_DEFINED ? [i] : [])),
      addSpacePrefix: v.addSpacePrefix ?? true,
    });
    this.tokenTypes = types;
  }
}

// Pre-tokenizer splits of the byte-level BPE vocabularies llama.cpp names in `tokenizer.ggml.pre`, as the
// models' own tokenizer.json files give them (GPT-2's is ByteLevel's built-in one).
const LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const BPE_PRE: Record<string, { split: string | null; ignoreMerges: boolean }> = {
  default: { split: null, ignoreMerges: false },
  "gpt-2": { split: null, ignoreMerges: false },
  "llama-bpe": { split: LLAMA3_SPLIT, ignoreMerges: true },
  "llama3": { split: LLAMA3_SPLIT, ignoreMerges: true },
  "llama-v3": { split: LLAMA3_SPLIT, ignoreMerges: true },
  qwen2: { split: QWEN2_SPLIT, ignoreMerges: false },
};

/**
 * The Hugging Face tokenizer.json of a GGUF byte-level BPE ("gpt2") vocabulary: GGUF stores its tokens and
 * merges in the byte-to-unicode form tokenizer.json uses, so they go over as they are; control and
 * user-defined tokens become added tokens.
 */
export function ggufBpeTokenizerJson(v: GGUFVocab): Record<string, unknown> {
  if (v.model !== "gpt2") throw new ArgumentError("vocab", `expected a "gpt2" (byte-level BPE) vocabulary, got ${JSON.stringify(v.model)}`);
  if (!v.merges) throw new ArgumentError("vocab", "the GGUF BPE vocabulary has no tokenizer.ggml.merges");
  const pre = BPE_PRE[v.pre ?? "default"];
  if (!pre) {
    throw new ArgumentError("vocab", `GGUF pre-tokenizer ${JSON.stringify(v.pre)} is not supported (supported: ${Object.keys(BPE_PRE).join(", ")}); use the model's tokenizer.json instead`);
  }
  const vocab: Record<string, number> = {};
  const added: Record<string, unknown>[] = [];
  v.tokens.forEach((t, id) => {
    vocab[t] = id;
    const type = v.tokenTypes[id];
    if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED) {
      added.push({ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type === TokenType.CONTROL });
    }
  });
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: pre.split === null };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: pre.split === null ? byteLevel : {
      type: "Sequence",
      pretokenizers: [{ type: "Split", pattern: { Regex: pre.split }, behavior: "Isolated", invert: false }, byteLevel],
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: pre.ignoreMerges, vocab, merges: v.merges,
    },
  };
}

/** tokenizer.json and tokenizer_config.json (naming BOS and EOS) for a GGUF byte-level BPE vocabulary. */
export function ggufBpeTokenizerFiles(v: GGUFVocab): Record<string, Uint8Array> {
  const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o, null, 1) + "\n");
  const name = (id: number) => (id >= 0 && id < v.tokens.length ? v.tokens[id] : null);
  return {
    "tokenizer.json": enc(ggufBpeTokenizerJson(v)),
    "tokenizer_config.json": enc({ bos_token: name(v.bosId), eos_token: name(v.eosId), tokenizer_class: "PreTrainedTokenizerFast" }),
  };
}

/** The tokenizer of a GGUF vocabulary, whichever kind it is. */
export function ggufTokenizer(v: GGUFVocab, name = "GGUF vocabulary"): Tokenizer {
  if ((v.model ?? "llama") === "llama") return new GGUFTokenizer(v);
  if (v.model === "gpt2") return new HFTokenizer(ggufBpeTokenizerJson(v), {}, { bosId: v.bosId, eosId: v.eosId, name });
  throw new ArgumentError("vocab", `GGUF tokenizer model ${JSON.stringify(v.model)} is not supported (only "llama" SentencePiece and "gpt2" byte-level BPE); use the model's tokenizer.json instead`);
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
  return {
    tokens, scores: Float32Array.from(tok.scores), tokenTypes: types, bosId: tok.bosId, eosId: tok.eosId, unkId: tok.unkId, model: "llama",
    ...(tok.addSpacePrefix ? {} : { addSpacePrefix: false }),
  };
}
