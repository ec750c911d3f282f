/**
 * Chat templates: the Jinja template an instruction model's files carry, rendered as transformers'
 * `apply_chat_template(messages, add_generation_prompt=True, tokenize=False)` renders it (trimmed and
 * left-stripped blocks, the special tokens' texts as variables), through `@huggingface/jinja`, the
 * engine transformers.js uses for the same job.
 */
import { Template } from "@huggingface/jinja";
import { ArgumentError, FormatError } from "../errors.js";
import type { ModelReader } from "../formats/reader.js";

/** One turn of a conversation. */
export interface ChatMessage {
  /** "system", "user" or "assistant" (templates may know others). */
  role: string;
  content: string;
}

/** A model's chat template and the special-token texts it may refer to. */
export interface ChatTemplate {
  /** Jinja source. */
  source: string;
  /** Where it came from (file, or file and key), for error messages. */
  origin: string;
  /** Variables such as bos_token and eos_token, as transformers passes its special tokens map. */
  specialTokens: Record<string, string>;
}

/** Options of {@link renderChat}. */
export interface RenderChatOptions {
  /** End with the opening of the assistant's turn (default true: the model answers next). */
  addGenerationPrompt?: boolean;
}

const SPECIAL_KEYS = ["bos_token", "eos_token", "unk_token", "pad_token"] as const;

/** The GGUF keys naming those tokens' ids. */
const GGUF_SPECIAL_IDS: Record<(typeof SPECIAL_KEYS)[number], string> = {
  bos_token: "tokenizer.ggml.bos_token_id", eos_token: "tokenizer.ggml.eos_token_id",
  unk_token: "tokenizer.ggml.unknown_token_id", pad_token: "tokenizer.ggml.padding_token_id",
};

/**
 * The chat template of a model, or null when its files carry none (llama2.c checkpoints never do):
 * Hugging Face folders: `chat_template.jinja`, else tokenizer_config.json's `chat_template` (of a list of
 * named templates, the "default" one); GGUF: `tokenizer.chat_template`.
 */
export async function readChatTemplate(reader: ModelReader): Promise<ChatTemplate | null> {
  if (reader.format === "gguf") {
    const kv = reader.metadata.kv as Map<string, unknown> | undefined;
    const source = kv?.get("tokenizer.chat_template");
    if (typeof source !== "string") return null;
    const tokens = kv?.get("tokenizer.ggml.tokens");
    const specialTokens: Record<string, string> = {};
    for (const [name, key] of Object.entries(GGUF_SPECIAL_IDS)) {
      const id = kv?.get(key);
      if (Array.isArray(tokens) && typeof id === "number" && typeof tokens[id] === "string") specialTokens[name] = tokens[id] as string;
    }
    return { source, origin: `${reader.path} tokenizer.chat_template`, specialTokens };
  }
  if (reader.format !== "safetensors") return null;
  const configBytes = await reader.readAuxFile("tokenizer_config.json");
  let config: Record<string, unknown> = {};
  if (configBytes) {
    try {
      const v: unknown = JSON.parse(new TextDecoder().decode(configBytes));
      if (v && typeof v === "object" && !Array.isArray(v)) config = v as Record<string, unknown>;
    } catch (e) {
      throw new FormatError("tokenizer_config.json", `invalid JSON: ${(e as Error).message}`);
    }
  }
  const specialTokens: Record<string, string> = {};
  for (const k of SPECIAL_KEYS) {
    const v = config[k];
    // A special token is its text, or an AddedToken object carrying it.
    const content = typeof v === "string" ? v : v && typeof v === "object" ? (v as { content?: unknown }).content : undefined;
    if (typeof content === "string") specialTokens[k] = content;
  }
  const file = await reader.readAuxFile("chat_template.jinja");
  if (file) return { source: new TextDecoder().decode(file), origin: "chat_template.jinja", specialTokens };
  const t = config.chat_template;
  if (typeof t === "string") return { source: t, origin: "tokenizer_config.json chat_template", specialTokens };
  if (Array.isArray(t)) {
    const named = t.find((x) => x && typeof x === "object" && (x as { name?: unknown }).name === "default") as { template?: unknown } | undefined;
    if (typeof named?.template === "string") return { source: named.template, origin: "tokenizer_config.json chat_template (default)", specialTokens };
  }
  return null;
}

/**
 * The text of `messages` in the template's format. A template that fails on the conversation (e.g. one
 * whose roles do not alternate, through `raise_exception`) is an ArgumentError naming `messages`; a
 * template that does not parse is a FormatError naming where it came from.
 */
export function renderChat(template: ChatTemplate, messages: readonly ChatMessage[], opts: RenderChatOptions = {}): string {
  if (!Array.isArray(messages) || messages.length === 0) throw new ArgumentError("messages", "must be a non-empty array");
  messages.forEach((m, i) => {
    if (!m || typeof m.role !== "string" || typeof m.content !== "string") throw new ArgumentError(`messages[${i}]`, "must be { role: string, content: string }");
  });
  let parsed: Template;
  try {
    parsed = new Template(template.source);
  } catch (e) {
    throw new FormatError(template.origin, `chat template does not parse: ${(e as Error).message}`);
  }
  try {
    return parsed.render({
      ...template.specialTokens,
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: opts.addGenerationPrompt ?? true,
    });
  } catch (e) {
    throw new ArgumentError("messages", `chat template (${template.origin}): ${(e as Error).message}`);
  }
}
