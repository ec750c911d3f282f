/** `dass generate --model M --prompt P --steps N`: text generation, streamed to stdout. */
import { flag, int, num, str, UsageError, type CommandSpec } from "../args.js";
import { JSON_OPTION, loadTransformer, MODEL_OPTION, openModelArgs, THREADS_OPTION, TOKENIZER_OPTION, withRuntime } from "../common.js";
import type { ModelReader } from "../lib.js";

export const generateCommand: CommandSpec = {
  name: "generate",
  summary: "Generate text from a prompt (greedy at temperature 0, else seeded sampling).",
  usage: "--model M [--tokenizer T] --prompt P --steps N [--chat [--system S]] [--temperature 0] [--top-p P] [--seed S] [--threads N] [--json]",
  description:
    "--steps counts positions, prompt included, as llama2.c's run does. A llama2.c checkpoint stops at BOS\n" +
    "(as run.c does); GGUF and Hugging Face models also stop at their EOS and end-of-turn tokens. stdout\n" +
    "receives exactly the generated text (streamed) and a final newline; tok/s goes to stderr. --json prints\n" +
    "{ text, tokens, promptTokens, stop, tokensPerSecond }.\n" +
    "--chat sends the prompt as a user message (after --system's, if given) through the model's own chat\n" +
    "template, as transformers' apply_chat_template does, and prints only the reply.",
  options: [
    MODEL_OPTION,
    TOKENIZER_OPTION,
    { name: "prompt", type: "string", value: "P", help: "prompt text (may be empty) (required)" },
    { name: "steps", type: "string", value: "N", required: true, help: "positions to run, prompt included" },
    { name: "chat", type: "boolean", help: "wrap the prompt in the model's chat template (instruction models)" },
    { name: "system", type: "string", value: "S", help: "with --chat: a system message before the prompt" },
    { name: "temperature", type: "string", value: "T", default: "0", help: "sampling temperature; 0 = greedy" },
    { name: "top-p", type: "string", value: "P", default: "1", help: "nucleus sampling: sample among the likeliest tokens holding P of the mass; 1 = off" },
    { name: "seed", type: "string", value: "S", default: "1", help: "random seed for sampling (a positive integer)" },
    THREADS_OPTION,
    JSON_OPTION,
  ],
  examples: ['dass generate --model stories260K --prompt "Once upon a time" --steps 64'],
  async run(ctx, args) {
    const prompt = str(args, "prompt");
    if (prompt === undefined) throw new UsageError("missing --prompt P", "generate");
    const steps = int(args, "steps", 0, 1);
    const temperature = num(args, "temperature", 0, 0);
    const topP = num(args, "top-p", 1, 0, 1);
    const seed = int(args, "seed", 1, 1);
    const chat = flag(args, "chat");
    const system = str(args, "system");
    if (system !== undefined && !chat) throw new UsageError("--system needs --chat", "generate");
    const api = await import("../lib.js");
    const { reader, tokenizer } = await openModelArgs(ctx, args, true);
    try {
      let text = prompt;
      if (chat) {
        const template = await api.readChatTemplate(reader);
        if (!template) throw new UsageError(`${reader.path} has no chat template (tokenizer_config.json chat_template, chat_template.jinja or GGUF tokenizer.chat_template)`, "generate");
        text = api.renderChat(template, [...(system !== undefined ? [{ role: "system", content: system }] : []), { role: "user", content: prompt }]);
      }
      let streamed = false;
      const reply: number[] = []; // with --chat: the bytes of the reply, the only text shown
      const r = await withRuntime(ctx, args, async (runtime) => {
        // Positions never pass --steps (llama2.c runs a longer prompt up to --steps positions): RoPE tables
        // and buffers for that many, not the model's whole context.
        const model = await loadTransformer(ctx, reader, runtime, Math.min(steps, reader.config.seqLen));
        try {
          return await api.generate(model, tokenizer!, text, {
            steps,
            stopTokens: await endTokens(reader),
            temperature,
            topP,
            seed,
            // A rendered template holds its own BOS and turn markers, as transformers tokenizes it.
            ...(chat ? { addBos: false, parseSpecial: true } : {}),
            signal: ctx.signal,
            onPiece: (piece) => {
              if (chat && piece.fromPrompt) return;
              if (chat) reply.push(...piece.bytes);
              if (ctx.json) return;
              streamed = true;
              // Raw bytes: a byte token that is not valid UTF-8 on its own prints exactly as llama2.c does.
              ctx.io.stdout(piece.bytes);
            },
          });
        } finally {
          model.close();
        }
      });
      const tokensPerSecond = r.seconds > 0 && r.tokens.length > 1 ? (r.tokens.length - 1) / r.seconds : undefined;
      const shown = chat ? new TextDecoder().decode(Uint8Array.from(reply)) + "\n" : r.text;
      if (ctx.json) {
        ctx.printJson({ text: shown, tokens: r.tokens, promptTokens: r.promptTokens, stop: r.stop, tokensPerSecond });
      } else {
        // The text ends with llama2.c's newline; the streamed pieces do not include it.
        ctx.io.stdout(streamed ? "\n" : shown);
        if (tokensPerSecond !== undefined) ctx.note(`achieved tok/s: ${tokensPerSecond.toFixed(1)}`);
      }
      return 0;
    } finally {
      await reader.close();
    }
  },
};

/**
 * The tokens a model ends a text with: none for llama2.c (its stories are delimited by BOS, as run.c
 * stops); else its EOS, plus every id that `eos_token_id` lists in config.json and generation_config.json
 * (instruction models end a turn with another token: Llama 3's <|eot_id|>, Gemma's <end_of_turn>) or
 * that GGUF names as end of turn.
 */
export async function endTokens(reader: ModelReader): Promise<number[]> {
  if (reader.format === "llama2c") return [];
  const ids = new Set<number>();
  const add = (v: unknown) => {
    for (const x of Array.isArray(v) ? v : [v]) if (Number.isInteger(x) && x >= 0 && x < reader.config.vocabSize) ids.add(x as number);
  };
  add(reader.config.eosId);
  add((reader.metadata.hfConfig as Record<string, unknown> | undefined)?.eos_token_id);
  const gen = await reader.readAuxFile("generation_config.json");
  if (gen) {
    try {
      add((JSON.parse(new TextDecoder().decode(gen)) as Record<string, unknown>).eos_token_id);
    } catch {
      // A malformed generation_config.json only loses its extra stop tokens.
    }
  }
  const kv = reader.metadata.kv as Map<string, unknown> | undefined;
  for (const k of ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"]) add(kv?.get(k));
  return [...ids];
}
