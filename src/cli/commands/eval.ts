/** `dass eval --model M --text FILE`: perplexity (paper or BOS protocol). */
import { int, str, type CommandSpec } from "../args.js";
import { fmt, JSON_OPTION, loadTransformer, MODEL_OPTION, openModelArgs, THREADS_OPTION, TOKENIZER_OPTION, withRuntime } from "../common.js";

export const evalCommand: CommandSpec = {
  name: "eval",
  summary: "Measure perplexity on a text file (plain text, or JSON lines with a \"text\" field).",
  usage: "--model M [--tokenizer T] --text FILE [--seqlen L] [--max-tokens N] [--protocol paper|bos] [--threads N] [--json]",
  description:
    "paper: one token stream with a single BOS, cut into non-overlapping windows of --seqlen tokens (the\n" +
    "tail is dropped); bos: each window starts with BOS. --json prints { ppl, meanNll, tokens, windows }.",
  options: [
    MODEL_OPTION,
    TOKENIZER_OPTION,
    { name: "text", type: "string", value: "FILE", required: true, help: "evaluation text (.txt, or .jsonl rows joined with blank lines)" },
    { name: "seqlen", type: "string", value: "L", help: "window length in tokens [default: min(2048, the model's context length)]" },
    { name: "max-tokens", type: "string", value: "N", help: "keep only the first N tokens of the stream" },
    { name: "protocol", type: "string", value: "P", choices: ["paper", "bos"], default: "paper", help: "windowing protocol" },
    THREADS_OPTION,
    JSON_OPTION,
  ],
  examples: ["dass eval --model stories260K --text tinystories_valid.txt --seqlen 512"],
  async run(ctx, args) {
    const seqLen = int(args, "seqlen", undefined, 2);
    const maxTokens = int(args, "max-tokens", undefined, 2);
    const protocol = (str(args, "protocol") ?? "paper") as "paper" | "bos";
    const api = await import("../lib.js");
    const text = await api.readTextFile(str(args, "text")!, "text");
    const { reader, tokenizer } = await openModelArgs(ctx, args, true);
    try {
      const r = await withRuntime(ctx, args, async (runtime) => {
        const model = await loadTransformer(ctx, reader, runtime, seqLen);
        try {
          return await ctx.withProgress((p) =>
            api.evaluatePerplexity(model, tokenizer!, text, {
              seqLen,
              maxTokens,
              protocol,
              signal: ctx.signal,
              onProgress: (e) => p.onProgress({ phase: "eval", done: e.done, total: e.total, message: `${e.windows} windows` }),
            }),
          );
        } finally {
          model.close();
        }
      });
      const result = { ppl: r.ppl, meanNll: r.meanNll, tokens: r.tokens, windows: r.windows };
      if (ctx.json) ctx.printJson(result);
      else ctx.io.stdout(`perplexity ${fmt(r.ppl, 4)}  (mean NLL ${fmt(r.meanNll, 5)} over ${r.tokens} tokens, ${r.windows} windows, ${protocol} protocol)\n`);
      return 0;
    } finally {
      await reader.close();
    }
  },
};
