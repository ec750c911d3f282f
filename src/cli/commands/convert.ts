/** `dass convert --model M --to gguf|safetensors|llama2c --out PATH`. */
import { str, UsageError, type CommandSpec } from "../args.js";
import { DTYPE_OPTION, dtypeArgs, JSON_OPTION, MODEL_OPTION, TOKENIZER_OPTION, openModelArgs } from "../common.js";
import type { ModelFormat } from "../lib.js";

export const convertCommand: CommandSpec = {
  name: "convert",
  summary: "Convert a model between llama2.c, GGUF and Hugging Face safetensors (RoPE q/k layouts permuted as needed).",
  usage: "--model M --to gguf|safetensors|llama2c --out PATH [--tokenizer T] [--dtype f32|f16|bf16|q8_0|q6_k|q4_0] [--json]",
  description:
    "The output is written atomically (nothing appears under PATH until it is complete) and never over the\n" +
    "input. For --to safetensors, PATH is a folder. --tokenizer embeds a vocabulary into a GGUF output; into a\n" +
    "safetensors folder it copies a tokenizer.json, or writes one (and tokenizer_config.json) converted from a\n" +
    "llama2.c or GGUF vocabulary. A GGUF input's own vocabulary goes along the same way.",
  options: [
    MODEL_OPTION,
    { name: "to", type: "string", value: "FORMAT", required: true, choices: ["gguf", "safetensors", "llama2c"], help: "output format" },
    { name: "out", type: "string", value: "PATH", required: true, help: "output file (gguf, llama2c) or folder (safetensors)" },
    TOKENIZER_OPTION,
    DTYPE_OPTION,
    JSON_OPTION,
  ],
  examples: [
    "dass convert --model stories260K.bin --tokenizer tok512.bin --to gguf --out stories260K.gguf",
    "dass convert --model stories260K.gguf --to safetensors --out ./stories260K-hf",
  ],
  async run(ctx, args) {
    const to = str(args, "to") as ModelFormat;
    const out = str(args, "out")!;
    const { dtype, quantize } = dtypeArgs(args);
    if (quantize && to !== "gguf") throw new UsageError(`--dtype ${str(args, "dtype")} quantises GGUF matrices; --to ${to} cannot hold them`, "convert");
    const { convertModel, convertedContext, loadTokenizer, SentencePieceTokenizer, toGGUFVocab, toHFTokenizerFiles } = await import("../lib.js");
    const { reader, modelPath } = await openModelArgs(ctx, args, false);
    try {
      const tokPath = str(args, "tokenizer");
      let vocab;
      let extraFiles: Record<string, Uint8Array> | undefined;
      if (tokPath && to === "llama2c") {
        ctx.note("note: llama2.c checkpoints carry no tokenizer; keep using your tokenizer.bin beside the output");
      } else if (tokPath) {
        // Loaded first: a missing or malformed tokenizer is a clear error before anything is written.
        const tok = await loadTokenizer(tokPath, { vocabSize: reader.config.vocabSize });
        if (tok instanceof SentencePieceTokenizer) {
          if (to === "gguf") vocab = toGGUFVocab(tok);
          else extraFiles = toHFTokenizerFiles(tok);
        } else if (to === "safetensors") {
          // An HF tokenizer: its own tokenizer.json, copied as it is.
          const fs = await import("node:fs/promises");
          const path = await import("node:path");
          const file = (await fs.stat(tokPath)).isDirectory() ? path.join(tokPath, "tokenizer.json") : tokPath;
          extraFiles = { "tokenizer.json": new Uint8Array(await fs.readFile(file)) };
        } else {
          ctx.note(`note: ${tokPath} is not a SentencePiece-style vocabulary; the GGUF gets no tokenizer`);
        }
      }
      const written = await convertModel(reader, to, out, { dtype, ...(quantize ? { quantize } : {}), vocab, extraFiles, signal: ctx.signal });
      const c = reader.config;
      const kept = convertedContext(reader, to);
      if (kept < c.seqLen) {
        ctx.note(`note: the ${to} output has no sliding window; its context is cut to the window (${kept} of ${c.seqLen} positions), where it is exact`);
      }
      if (ctx.json) ctx.printJson({ input: modelPath, from: reader.format, to, out: written });
      else ctx.io.stdout(`${written}\n`);
      return 0;
    } finally {
      await reader.close();
    }
  },
};
