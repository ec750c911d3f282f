/**
 * A SentencePiece-BPE vocabulary (llama2.c tokenizer.bin or GGUF) as Hugging Face `tokenizer.json` and
 * `tokenizer_config.json`, the files a safetensors model folder carries, in the form Hugging Face gives
 * LLaMA's own tokenizer: a BPE model with byte fallback, "▁" for spaces, a prepended "▁" (the dummy
 * prefix, unless the vocabulary has none, as Gemma's), and merges derived from the scores as
 * transformers' SentencePiece converter derives them.
 *
 * Merges: every split of a piece into two pieces that text can match, ranked by the piece's score
 * (highest first). Applying the lowest-ranked adjacent merge is then llama2.c's "merge the adjacent pair
 * whose concatenation scores highest", so both encode alike (tests check it on whole texts). Two known
 * differences, shared with every HF LLaMA tokenizer: text that spells a control token (`<s>`) encodes to
 * that token, and a split tie between two merges of equal score follows merge order, not leftmost.
 */
import { TokenType, toGGUFVocab } from "./gguf.js";
import type { SentencePieceTokenizer } from "./sentencepiece.js";

const SPACE = "\u2581";

/** `tokenizer.json` and `tokenizer_config.json` (UTF-8 bytes) equivalent to `tok`. */
export function toHFTokenizerFiles(tok: SentencePieceTokenizer): Record<"tokenizer.json" | "tokenizer_config.json", Uint8Array> {
  const v = toGGUFVocab(tok);
  const n = v.tokens.length;
  const vocab: Record<string, number> = {};
  for (let i = 0; i < n; i++) if (!Object.hasOwn(vocab, v.tokens[i])) vocab[v.tokens[i]] = i;
  const matchable = (i: number | undefined): i is number =>
    i !== undefined && (v.tokenTypes[i] === TokenType.NORMAL || v.tokenTypes[i] === TokenType.USER_DEFINED);

  const merges: { l: string; r: string; score: number; id: number; li: number; ri: number }[] = [];
  for (let id = 0; id < n; id++) {
    if (!matchable(id) || vocab[v.tokens[id]] !== id) continue;
    const cps = [...v.tokens[id]];
    for (let k = 1; k < cps.length; k++) {
      const l = cps.slice(0, k).join(""), r = cps.slice(k).join("");
      const li = vocab[l], ri = vocab[r];
      if (matchable(li) && matchable(ri)) merges.push({ l, r, score: v.scores[id], id, li, ri });
    }
  }
  merges.sort((a, b) => b.score - a.score || a.id - b.id || a.li - b.li || a.ri - b.ri);

  const special = (id: number): boolean => v.tokenTypes[id] === TokenType.CONTROL || v.tokenTypes[id] === TokenType.UNKNOWN;
  const added = [];
  for (let id = 0; id < n; id++) {
    if (special(id)) added.push({ id, content: v.tokens[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  }
  const name = (id: number | undefined): string | null => (id !== undefined && id >= 0 && id < n ? v.tokens[id] : null);
  const bos = name(v.bosId), eos = name(v.eosId), unk = name(v.unkId);
  const seq = (id: "A" | "B", typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const bosStep = (typeId: number) => (bos === null ? [] : [{ SpecialToken: { id: bos, type_id: typeId } }]);
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: "Sequence",
      normalizers: [...(tok.addSpacePrefix ? [{ type: "Prepend", prepend: SPACE }] : []), { type: "Replace", pattern: { String: " " }, content: SPACE }],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [...bosStep(0), seq("A", 0)],
      pair: [...bosStep(0), seq("A", 0), ...bosStep(1), seq("B", 1)],
      special_tokens: bos === null ? {} : { [bos]: { id: bos, ids: [v.bosId], tokens: [bos] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: SPACE }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        ...(tok.addSpacePrefix ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      // One <unk> per unknown character, as the SentencePiece encoder emits them.
      fuse_unk: false,
      byte_fallback: tok.byteIds !== null,
      ignore_merges: false,
      vocab,
      merges: merges.map((m) => [m.l, m.r]),
    },
  };
  const config = {
    tokenizer_class: "LlamaTokenizerFast",
    add_bos_token: true,
    add_eos_token: false,
    bos_token: bos,
    eos_token: eos,
    unk_token: unk,
    clean_up_tokenization_spaces: false,
    legacy: true,
  };
  const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o, null, 2) + "\n");
  return { "tokenizer.json": enc(tokenizer), "tokenizer_config.json": enc(config) };
}
