/**
 * Hugging Face `tokenizer.json` tokenizers through `@huggingface/tokenizers` (pure JS, runs everywhere).
 * BOS/EOS are added by this wrapper (never by the tokenizer's own post-processor) so `encode` options mean
 * the same thing for every tokenizer kind.
 */
import { Tokenizer as HfTokenizerImpl } from "@huggingface/tokenizers";
import { ArgumentError, FormatError } from "../errors.js";
import type { EncodeOptions, Tokenizer } from "./types.js";

/** Options of the HF tokenizer wrapper. */
export interface HFTokenizerOptions {
  /** Override BOS id (e.g. from the model config). */
  bosId?: number;
  /** Override EOS id. */
  eosId?: number;
  /** Name for error messages. */
  name?: string;
}

const BOS_NAMES = ["<s>", "<bos>", "<|begin_of_text|>"];
const EOS_NAMES = ["</s>", "<eos>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>"];

function tokenName(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") return (v as { content: string }).content;
  return undefined;
}

/** A tokenizer.json tokenizer behind the common interface. */
export class HFTokenizer implements Tokenizer {
  readonly kind = "hf" as const;
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  private readonly impl: HfTokenizerImpl;
  private readonly special: Set<number>;

  constructor(tokenizerJson: Record<string, unknown>, tokenizerConfig: Record<string, unknown> = {}, opts: HFTokenizerOptions = {}) {
    const name = opts.name ?? "tokenizer.json";
    try {
      this.impl = new HfTokenizerImpl(tokenizerJson, tokenizerConfig);
    } catch (e) {
      throw new FormatError(name, `cannot build tokenizer: ${(e as Error).message}`);
    }
    let max = -1;
    for (const id of this.impl.get_vocab(true).values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    this.special = new Set<number>();
    for (const [id, t] of this.impl.get_added_tokens_decoder()) if ((t as { special?: boolean }).special) this.special.add(id as number);
    const find = (override: number | undefined, cfgKey: string, names: string[]): number => {
      if (override !== undefined) {
        if (!Number.isInteger(override) || override < -1 || override >= this.vocabSize) throw new ArgumentError(cfgKey, `id ${override} out of range`);
        return override;
      }
      const fromCfg = tokenName(tokenizerConfig[cfgKey]);
      if (fromCfg !== undefined) {
        const id = this.impl.token_to_id(fromCfg);
        if (id !== undefined) return id;
      }
      for (const n of names) {
        const id = this.impl.token_to_id(n);
        if (id !== undefined) return id;
      }
      return -1;
    };
    this.bosId = find(opts.bosId, "bos_token", BOS_NAMES);
    this.eosId = find(opts.eosId, "eos_token", EOS_NAMES);
    if (this.bosId >= 0) this.special.add(this.bosId);
    if (this.eosId >= 0) this.special.add(this.eosId);
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== "string") throw new ArgumentError("text", "expected a string");
    const ids = text.length ? this.impl.encode(text, { add_special_tokens: false }).ids : [];
    if (opts.bos && this.bosId >= 0) ids.unshift(this.bosId);
    if (opts.eos && this.eosId >= 0) ids.push(this.eosId);
    return ids;
  }

  decodePiece(prevToken: number, token: number): string {
    if (!Number.isInteger(token) || token < 0 || token >= this.vocabSize) throw new ArgumentError("token", `id ${token} out of range [0, ${this.vocabSize})`);
    if (this.special.has(token)) return "";
    // Decoders strip or merge across token boundaries (leading-space removal, byte fusion), so a piece's text
    // is the difference between decoding with and without it.
    if (prevToken < 0 || prevToken >= this.vocabSize || this.special.has(prevToken)) return this.impl.decode([token]);
    const both = this.impl.decode([prevToken, token]);
    const before = this.impl.decode([prevToken]);
    return both.startsWith(before) ? both.slice(before.length) : this.impl.decode([token]);
  }

  decode(ids: ArrayLike<number>): string {
    return this.impl.decode(Array.from(ids), { skip_special_tokens: true });
  }
}

/** Builds an HF tokenizer from tokenizer.json bytes (and optionally tokenizer_config.json bytes). */
export function loadHFTokenizer(json: Uint8Array, config?: Uint8Array | null, opts: HFTokenizerOptions = {}): HFTokenizer {
  const parse = (b: Uint8Array, name: string): Record<string, unknown> => {
    try {
      const v: unknown = JSON.parse(new TextDecoder().decode(b));
      if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not a JSON object");
      return v as Record<string, unknown>;
    } catch (e) {
      throw new FormatError(name, `invalid JSON: ${(e as Error).message}`);
    }
  };
  return new HFTokenizer(parse(json, opts.name ?? "tokenizer.json"), config ? parse(config, "tokenizer_config.json") : {}, opts);
}
