// Deno quickstart: the same library, unchanged. Run from the repository root after `npm ci`:
//   npx deno run -A examples/deno/quickstart.ts MODEL TOKENIZER
// Deno gets threads (shared memory and workers) and relaxed SIMD without flags.
import { Transformer, createRuntime, generate, loadTokenizer, openModel } from "../../dist/src/index.js";

const [modelPath, tokenizerPath] = Deno.args;
if (!modelPath) {
  console.error("usage: quickstart.ts MODEL [TOKENIZER]");
  Deno.exit(2);
}
const rt = await createRuntime();
console.log(`runtime: ${rt.host}, ${rt.threads} thread(s), ${rt.variant} build`);
const reader = await openModel(modelPath);
const tokenizer = await loadTokenizer(tokenizerPath ?? reader, { vocabSize: reader.config.vocabSize });
const model = await Transformer.load(reader, rt);
const out = await generate(model, tokenizer, "Once upon a time", { steps: 64 });
await Deno.stdout.write(out.bytes);
model.close();
await reader.close();
rt.close();
