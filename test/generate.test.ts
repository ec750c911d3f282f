// Generation: the REFERENCE.md greedy text byte for byte (from .bin and from .gguf), streaming
// pieces, llama2.c step semantics, raw byte tokens, seeded sampling, errors and abort.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { AbortError, ArgumentError, createRuntime, type Runtime } from "../src/index.js";
import { openModel } from "../src/formats/index.js";
import { loadTokenizer, type Tokenizer } from "../src/tokenizers/index.js";
import { Transformer } from "../src/model/index.js";
import { generate, Sampler, XorShiftRng, type GeneratedPiece } from "../src/generate/index.js";
import { readSharedData, skipNote } from "./util/data.js";
import { REF_IDS, REF_TEXT } from "./util/reference.js";

async function expectError(f: () => unknown, cls: new (...a: never[]) => Error, what: string): Promise<void> {
  let err: unknown;
  try { await f(); } catch (e) { err = e; }
  assert.instance(err, cls, `${what}: expected ${cls.name}, got ${String(err)}`);
}

const unit = suite("generate: sampler");

unit("xorshift64* matches llama2.c's random_u32 / random_f32", () => {
  const r = new XorShiftRng(1);
  assert.equal([r.nextU32(), r.nextU32(), r.nextU32()], [1206177355, 2882512552, 3117485455]);
  assert.is(new XorShiftRng(42).nextF32(), (1456360119 >>> 8) / 16777216);
  for (const bad of [0, -1, 1.5, NaN]) assert.throws(() => new XorShiftRng(bad), (e: unknown) => e instanceof ArgumentError);
});

unit("sampler: greedy, temperature (seeded, valid ids), top-p keeps the nucleus", () => {
  const logits = Float32Array.from([0, 3, 1, 3, -2]);
  assert.is(new Sampler().sample(logits), 1, "greedy picks the first maximum");
  const draw = (seed: number, opts = {}) => { const s = new Sampler({ temperature: 1, seed, ...opts }); return Array.from({ length: 50 }, () => s.sample(logits)); };
  assert.equal(draw(7), draw(7));
  assert.not.equal(draw(7), draw(8));
  for (const t of draw(9)) assert.ok(t >= 0 && t < 5);
  // top-p 0.5: only the two tokens at logit 3 (together ~0.8 of the mass; either alone ~0.4 < 0.5).
  for (const t of draw(10, { topP: 0.5 })) assert.ok(t === 1 || t === 3, `top-p drew ${t}`);
  assert.throws(() => new Sampler({ temperature: -1 }), (e: unknown) => e instanceof ArgumentError);
});

unit.run();

// ---------------------------------------------------------------- stories260K

const bin = await readSharedData("models/stories260K.bin");
const gguf = await readSharedData("models/stories260K.gguf");
const tokBytes = await readSharedData("models/tok512.bin");
if (!bin || !tokBytes) skipNote("models/stories260K.bin, models/tok512.bin");
if (!gguf) skipNote("models/stories260K.gguf");

const real = suite("generate: stories260K");
let rt: Runtime;
real.before(async () => { rt = await createRuntime({ threads: 2, minParallelWork: 0 }); });
real.after(() => rt.close());

async function binModel(opts = {}): Promise<{ m: Transformer; tok: Tokenizer }> {
  const m = await Transformer.load(await openModel({ files: { "stories260K.bin": bin! } }), rt, opts);
  return { m, tok: await loadTokenizer(tokBytes!, { vocabSize: 512 }) };
}

(bin && tokBytes ? real : real.skip)("greedy 64 steps: the reference text byte for byte, token ids, streamed pieces", async () => {
  const { m, tok } = await binModel();
  const pieces: GeneratedPiece[] = [];
  const r = await generate(m, tok, "Once upon a time", { steps: 64, onPiece: (p) => pieces.push(p) });
  assert.is(r.text, REF_TEXT);
  assert.equal(r.tokens, REF_IDS);
  assert.is(r.promptTokens, 5);
  assert.is(r.stop, "steps");
  assert.is(pieces.map((p) => p.text).join("") + "\n", REF_TEXT);
  assert.equal(pieces.map((p) => p.token), REF_IDS);
  assert.equal(pieces.map((p) => p.fromPrompt).slice(0, 5), [true, true, true, true, false]);
  assert.is(new TextDecoder().decode(r.bytes), REF_TEXT);
  m.close();
});

(gguf ? real : real.skip)("the same text through stories260K.gguf and its own vocabulary", async () => {
  const reader = await openModel({ files: { "stories260K.gguf": gguf! } });
  const tok = await loadTokenizer(reader);
  const m = await Transformer.load(reader, rt);
  const r = await generate(m, tok, "Once upon a time", { steps: 64 });
  assert.is(r.text, REF_TEXT);
  assert.equal(r.tokens, REF_IDS);
  m.close();
});

(bin && tokBytes ? real : real.skip)("stopTokens end generation at the first sampled one, unprinted; prompt tokens do not stop it", async () => {
  const { m, tok } = await binModel();
  // REF_IDS: 4 prompt tokens after BOS, then the greedy story. Stop at the second generated token's id.
  const stopAt = REF_IDS[5];
  const first = REF_IDS.findIndex((t, i) => i >= 4 && t === stopAt);
  const r = await generate(m, tok, "Once upon a time", { steps: 64, stopTokens: [stopAt] });
  assert.equal([r.stop, r.tokens], ["stop-token", REF_IDS.slice(0, first)]);
  assert.is(r.text, tok.decode(REF_IDS.slice(0, first)) + "\n");
  // A prompt token that is also a stop token is printed as usual.
  const p = await generate(m, tok, "Once upon a time", { steps: 6, stopTokens: [REF_IDS[1]] });
  assert.equal([p.stop, p.tokens.slice(0, 4)], ["steps", REF_IDS.slice(0, 4)]);
  await expectError(() => generate(m, tok, "x", { stopTokens: [512] }), ArgumentError, "stop token out of range");
  m.close();
});

(bin && tokBytes ? real : real.skip)("llama2.c step semantics, raw byte tokens, context limits, sampling, abort", async () => {
  const { m, tok } = await binModel({ contextLength: 24 });
  // Fewer steps than prompt tokens: only the prompt's pieces, as llama2.c prints them.
  const short = await generate(m, tok, "Once upon a time", { steps: 3 });
  assert.is(short.text, "Once upon a\n");
  assert.equal(short.tokens, [403, 407, 261]);
  // steps 0 or beyond the context run to the context length.
  assert.is((await generate(m, tok, "Once upon a time", { steps: 0 })).tokens.length, 24);
  assert.is((await generate(m, tok, "Once upon a time", { steps: 1000 })).tokens.length, 24);
  // Byte-fallback tokens print as raw bytes: "中" (E4 B8 AD) is three byte tokens and reassembles.
  const ids = tok.encode("A中", { bos: true });
  assert.equal(ids.slice(-3), [0xe4 + 3, 0xb8 + 3, 0xad + 3]);
  const pieces: GeneratedPiece[] = [];
  const out = await generate(m, tok, "A中", { steps: ids.length - 1, onPiece: (p) => pieces.push(p) });
  assert.is(out.text, "A中\n");
  assert.equal(pieces.slice(-3).map((p) => Array.from(p.bytes)), [[0xe4], [0xb8], [0xad]]);
  assert.equal(pieces.slice(-3).map((p) => p.text), ["", "", "中"]);
  // Prompt longer than the context.
  await expectError(() => generate(m, tok, "Once upon a time ".repeat(10)), ArgumentError, "prompt longer than context");
  await expectError(() => generate(m, tok, "x", { steps: -1 }), ArgumentError, "negative steps");
  // Seeded sampling is reproducible and stays in the vocabulary.
  const a = await generate(m, tok, "Once", { steps: 24, temperature: 1, seed: 5 });
  const b = await generate(m, tok, "Once", { steps: 24, temperature: 1, seed: 5 });
  assert.is(a.text, b.text);
  for (const t of a.tokens) assert.ok(t >= 0 && t < 512);
  // Abort from the streaming callback.
  const ac = new AbortController();
  await expectError(() => generate(m, tok, "Once upon a time", { steps: 20, signal: ac.signal, onPiece: (p) => { if (p.pos === 6) ac.abort(); } }), AbortError, "abort");
  m.close();
});

real.run();
