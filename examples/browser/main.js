// Browser example: everything runs on the page's CPU; files never leave the machine.
// Plain ES module so it runs without a build step; served from the repository root.
import { Transformer, createRuntime, generate, loadTokenizer, openModel } from "/dist/src/index.js";

const $ = (id) => document.getElementById(id);
const rt = await createRuntime();
$("status").textContent = `runtime: ${rt.threads} thread(s), ${rt.variant} build` +
  (rt.downgradeReason ? ` — single thread: ${rt.downgradeReason}` : "");

$("go").onclick = async () => {
  const modelFile = $("model").files[0];
  if (!modelFile) { $("status").textContent = "pick a model file first"; return; }
  const bytes = new Uint8Array(await modelFile.arrayBuffer());
  const reader = await openModel({ files: { [modelFile.name]: bytes }, name: modelFile.name });
  const tokFile = $("tok").files[0];
  const tokenizer = await loadTokenizer(tokFile ? new Uint8Array(await tokFile.arrayBuffer()) : reader,
    { vocabSize: reader.config.vocabSize, name: tokFile?.name });
  const model = await Transformer.load(reader, rt);
  $("out").textContent = "";
  const res = await generate(model, tokenizer, $("prompt").value, {
    steps: Number($("steps").value),
    onPiece: (p) => { $("out").textContent += p.text; },
  });
  $("status").textContent = `${res.tokens.length} tokens, ${(res.tokens.length / Math.max(res.seconds, 1e-9)).toFixed(1)} tok/s`;
  model.close();
  await reader.close();
};

