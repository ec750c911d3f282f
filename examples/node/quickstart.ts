// Node quickstart: load a llama2.c checkpoint (or GGUF / HF folder), generate, measure perplexity,
// prune the MLPs with DaSS 2:4 and measure again.
//   node dist/examples/node/quickstart.js MODEL [TOKENIZER] [TEXT]
// e.g. node dist/examples/node/quickstart.js ../shared/data/models/stories260K.bin ../shared/data/models/tok512.bin
import { readFile } from "node:fs/promises";
import {
  Transformer, createRuntime, evaluate, generate, loadTokenizer, openModel, prune,
} from "../../src/index.js";

const [modelPath, tokenizerPath, textPath] = process.argv.slice(2);
if (!modelPath) {
  console.error("usage: quickstart.js MODEL [TOKENIZER] [TEXT]");
  process.exit(2);
}

const rt = await createRuntime();
console.log(`runtime: ${rt.threads} thread(s), ${rt.variant} build${rt.downgradeReason ? ` (${rt.downgradeReason})` : ""}`);
const reader = await openModel(modelPath);
const tokenizer = await loadTokenizer(tokenizerPath ?? reader, { vocabSize: reader.config.vocabSize });
const model = await Transformer.load(reader, rt);

const out = await generate(model, tokenizer, "Once upon a time", { steps: 64 });
process.stdout.write(out.text);

const text = textPath ? await readFile(textPath, "utf8") : out.text.repeat(8);
const seqLen = Math.min(128, model.contextLength);
const before = await evaluate(model, tokenizer, text, { seqLen, maxTokens: 4096 });
const { report } = await prune(model, { method: "dass", pattern: "2:4", calib: text, tokenizer, nsamples: 16, seqlen: seqLen });
const after = await evaluate(model, tokenizer, text, { seqLen, maxTokens: 4096 });
console.log(`perplexity ${before.ppl.toFixed(3)} dense -> ${after.ppl.toFixed(3)} DaSS 2:4 ` +
  `(MLP sparsity ${(report.totals.pruned.sparsity * 100).toFixed(1)}%, pruned in ${report.pruneSeconds.toFixed(2)} s)`);

model.close();
await reader.close();
rt.close();
