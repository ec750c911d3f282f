// Perplexity: both protocols on stories260K (small text), window-major vs layer-major, the f64
// reference forward on a tiny synthetic model, maxTokens, progress, errors and abort.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { AbortError, ArgumentError, createRuntime, type Runtime } from "../src/index.js";
import { openModel } from "../src/formats/index.js";
import { loadTokenizer } from "../src/tokenizers/index.js";
import { tensorReader, Transformer } from "../src/model/index.js";
import { evaluatePerplexity, perplexityOfTokens, type PerplexityProgress } from "../src/eval/index.js";
import { referenceWindowNll } from "../src/reference/index.js";
import { readSharedData, readSharedText, skipNote } from "./util/data.js";
import { syntheticModel } from "./util/synthetic-model.js";
import { mulberry32, randInt } from "./util/random.js";


async function expectError(f: () => unknown, cls: new (...a: never[]) => Error, what: string): Promise<void> {
  let err: unknown;
  try { await f(); } catch (e) { err = e; }
  assert.instance(err, cls, `${what}: expected ${cls.name}, got ${String(err)}`);
}

// ---------------------------------------------------------------- synthetic

const synth = suite("eval: perplexity protocols on a synthetic model");
// Each suite owns its runtime: suites may overlap, and a shared variable let one close the other's.
let rt: Runtime;
synth.before(async () => { rt = await createRuntime({ threads: 2, minParallelWork: 0 }); });
synth.after(() => rt.close());

const sm = syntheticModel("llama", 11, { ropeLayout: "adjacent" });
for (const [name, t] of sm.tensors) if (!/norm/.test(name)) for (let i = 0; i < t.length; i++) t[i] *= 0.5;
const cfg = { ...sm.config, seqLen: 16 };
const rng = mulberry32(3);
const textTokens = Array.from({ length: 53 }, () => randInt(rng, 3, cfg.vocabSize));

synth("both protocols match the f64 reference forward and their definitions", async () => {
  const m = await Transformer.load(tensorReader(cfg, sm.tensors), rt);
  const get = (n: string) => sm.tensors.get(n)!;
  const L = 8, bos = cfg.bosId;
  // paper: [BOS, text...] in windows of L; each window predicts its tokens 1..L-1; mean of window means.
  const paper = await perplexityOfTokens(m, textTokens, { protocol: "paper", seqLen: L });
  const stream = [bos, ...textTokens];
  let sum = 0;
  const nWin = Math.floor(stream.length / L);
  for (let w = 0; w < nWin; w++) {
    const win = stream.slice(w * L, (w + 1) * L);
    const nll = referenceWindowNll(cfg, get, win, [...win.slice(1), 0]);
    let s = 0;
    for (let i = 0; i < L - 1; i++) s += nll[i];
    sum += s / (L - 1);
  }
  assert.is(paper.windows, nWin);
  assert.is(paper.tokens, nWin * (L - 1));
  assert.is(paper.streamTokens, stream.length);
  assert.ok(Math.abs(paper.meanNll - sum / nWin) < 1e-5, `paper ${paper.meanNll} vs reference ${sum / nWin}`);
  assert.ok(Math.abs(paper.ppl - Math.exp(paper.meanNll)) < 1e-12);
  // bos: text in windows of L, each fed as [BOS, s0..s(L-2)] predicting s0..s(L-1).
  const bosR = await perplexityOfTokens(m, textTokens, { protocol: "bos", seqLen: L });
  const nWinB = Math.floor(textTokens.length / L);
  let tot = 0;
  for (let w = 0; w < nWinB; w++) {
    const s = textTokens.slice(w * L, (w + 1) * L);
    const nll = referenceWindowNll(cfg, get, [bos, ...s.slice(0, L - 1)], s);
    for (const v of nll) tot += v;
  }
  assert.is(bosR.windows, nWinB);
  assert.is(bosR.tokens, nWinB * L);
  assert.ok(Math.abs(bosR.meanNll - tot / (nWinB * L)) < 1e-5, `bos ${bosR.meanNll} vs reference ${tot / (nWinB * L)}`);
  // maxTokens keeps the first N tokens of the stream (BOS included for "paper").
  const cut = await perplexityOfTokens(m, textTokens, { protocol: "paper", seqLen: L, maxTokens: 2 * L + 3 });
  assert.is(cut.windows, 2);
  assert.is(cut.streamTokens, 2 * L + 3);
  m.close();
});

synth("window-major and layer-major (streamed, small groups) agree exactly; progress; errors; abort", async () => {
  const resident = await Transformer.load(tensorReader(cfg, sm.tensors), rt, { maxBatchTokens: 5 });
  const streamed = await Transformer.load(tensorReader(cfg, sm.tensors), rt, { maxBatchTokens: 5, budgetBytes: 0 });
  const seen: PerplexityProgress[] = [];
  const a = await perplexityOfTokens(resident, textTokens, { protocol: "bos", seqLen: 12, strategy: "window-major" });
  const b = await perplexityOfTokens(streamed, textTokens, {
    protocol: "bos", seqLen: 12, windowsPerGroup: 3, onProgress: (p) => seen.push(p),
  });
  const c = await perplexityOfTokens(resident, textTokens, { protocol: "bos", seqLen: 12, strategy: "layer-major", windowsPerGroup: 2 });
  assert.is(a.meanNll, b.meanNll);
  assert.is(a.meanNll, c.meanNll);
  assert.ok(Number.isFinite(a.ppl) && a.ppl > 1);
  assert.ok(seen.length > 0);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i].done > seen[i - 1].done);
  assert.is(seen[seen.length - 1].done, seen[0].total);
  assert.is(seen[0].total, b.windows * cfg.nLayers);

  await expectError(() => perplexityOfTokens(resident, textTokens, { seqLen: cfg.seqLen + 1 }), ArgumentError, "seqLen > context");
  await expectError(() => perplexityOfTokens(resident, textTokens, { seqLen: 1 }), ArgumentError, "seqLen 1");
  await expectError(() => perplexityOfTokens(resident, textTokens.slice(0, 5), { seqLen: 8, protocol: "bos" }), ArgumentError, "too short");
  await expectError(() => perplexityOfTokens(resident, textTokens, { protocol: "x" as never }), ArgumentError, "protocol");
  await expectError(() => perplexityOfTokens(resident, textTokens, { maxTokens: 0 }), ArgumentError, "maxTokens");
  await expectError(() => perplexityOfTokens(resident, [cfg.vocabSize, 1, 2, 3], { seqLen: 2 }), ArgumentError, "bad token");
  for (const model of [resident, streamed]) {
    const ac = new AbortController();
    await expectError(
      () => perplexityOfTokens(model, textTokens, { seqLen: 8, onProgress: () => ac.abort(), signal: ac.signal }),
      AbortError, "abort after first progress",
    );
  }
  resident.close();
  streamed.close();
});

synth.run();

// ---------------------------------------------------------------- stories260K

const bin = await readSharedData("models/stories260K.bin");
const tokBytes = await readSharedData("models/tok512.bin");
const text = await readSharedText("text/tinystories_valid_first1000.txt");
const haveReal = !!(bin && tokBytes && text);
if (!haveReal) skipNote("models/stories260K.bin, models/tok512.bin, text/tinystories_valid_first1000.txt");

const real = suite("eval: stories260K perplexity");
let realRt: Runtime;
real.before(async () => { realRt = await createRuntime({ threads: 2, minParallelWork: 0 }); });
real.after(() => realRt.close());

(haveReal ? real : real.skip)("both protocols give a finite, plausible perplexity on a slice of TinyStories", async () => {
  const m = await Transformer.load(await openModel({ files: { "stories260K.bin": bin! } }), realRt);
  const tok = await loadTokenizer(tokBytes!, { vocabSize: 512 });
  const slice = text!.slice(0, 12000);
  const paper = await evaluatePerplexity(m, tok, slice, { protocol: "paper", seqLen: 256 });
  const bos = await evaluatePerplexity(m, tok, slice, { protocol: "bos", seqLen: 256 });
  for (const r of [paper, bos]) {
    assert.ok(r.windows >= 8, `windows ${r.windows}`);
    // stories260K is a real (tiny) TinyStories model: single-digit perplexity on TinyStories.
    assert.ok(Number.isFinite(r.ppl) && r.ppl > 1.5 && r.ppl < 12, `${r.protocol} ppl ${r.ppl}`);
  }
  // Same stream, same windows (up to the one BOS) => close but not identical.
  assert.ok(Math.abs(paper.meanNll - bos.meanNll) < 0.2);
  m.close();
});

real.run();
