/** `dass generate --model M --prompt P --steps N`: text generation, streamed to stdout. */
import { int, num, str, UsageError, type CommandSpec } from "../args.js";
import { JSON_OPTION, MODEL_OPTION, openModelArgs, THREADS_OPTION, TOKENIZER_OPTION, withRuntime } from "../common.js";

export const generateCommand: CommandSpec = {
  name: "generate",
  summary: "Generate text from a prompt (greedy at temperature 0, else seeded sampling).",
  usage: "--model M [--tokenizer T] --prompt P --steps N [--temperature 0] [--seed S] [--threads N] [--json]",
  description:
    "--steps counts positions, prompt included, as llama2.c's run does. stdout receives exactly the\n" +
    "generated text (streamed); statistics go to stderr. --json prints { text, tokens, tokensPerSecond }.",
  options: [
    MODEL_OPTION,
    TOKENIZER_OPTION,
    { name: "prompt", type: "string", value: "P", help: "prompt text (may be empty) (required)" },
    { name: "steps", type: "string", value: "N", required: true, help: "positions to run, prompt included" },
    { name: "temperature", type: "string", value: "T", default: "0", help: "sampling temperature; 0 = greedy" },
    { name: "seed", type: "string", value: "S", default: "0", help: "random seed for sampling" },
    THREADS_OPTION,
    JSON_OPTION,
  ],
  examples: ['dass generate --model stories260K --prompt "Once upon a time" --steps 64'],
  async run(ctx, args) {
    const prompt = str(args, "prompt");
    if (prompt === undefined) throw new UsageError("missing --prompt P", "generate");
    const steps = int(args, "steps", 0, 1);
    const temperature = num(args, "temperature", 0, 0);
    const seed = int(args, "seed", 0, 0, 2 ** 32 - 1);
    const { loadGenerate } = await import("../lib.js");
    const api = await loadGenerate();
    const { reader, tokenizer } = await openModelArgs(ctx, args, true);
    try {
      const started = Date.now();
      let streamed = false;
      const r = await withRuntime(ctx, args, (runtime) =>
        api.generate({
          runtime,
          model: reader,
          tokenizer: tokenizer!,
          prompt,
          steps,
          temperature,
          seed,
          signal: ctx.signal,
          onText: ctx.json
            ? undefined
            : (piece) => {
                streamed = true;
                ctx.io.stdout(piece);
              },
        }),
      );
      if (ctx.json) {
        ctx.printJson({ text: r.text, tokens: r.tokens, tokensPerSecond: r.tokensPerSecond });
      } else {
        // llama2.c's run ends the text with a newline; REFERENCE.md's expected output includes it.
        ctx.io.stdout(streamed ? "\n" : r.text + "\n");
        const tps = r.tokensPerSecond ?? r.tokens.length / Math.max(1e-3, (Date.now() - started) / 1000);
        ctx.note(`\n${r.tokens.length} tokens, ${tps.toFixed(1)} tok/s`);
      }
      return 0;
    } finally {
      await reader.close();
    }
  },
};
