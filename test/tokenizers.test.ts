// Tokenizers: llama2.c encode() semantics and speed (heap merging, per-line shortcut) against a direct port of
// llama2.c's quadratic algorithm, GGUF vocabularies, HF tokenizer.json through @huggingface/tokenizers, loading.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArgumentError, FormatError } from "../src/errors.js";
import { convertModel, ggufVocab, MemoryFolder, openModel, writeGGUF, type GGUFVocab } from "../src/formats/index.js";
import {
  GGUFTokenizer, ggufTokenizer, HFTokenizer, Llama2cTokenizer, loadHFTokenizer, loadLlama2cTokenizer, loadTokenizer, SentencePieceTokenizer,
  toGGUFVocab, toHFTokenizerFiles, type Tokenizer,
} from "../src/tokenizers/index.js";
import { isBrowser } from "./util/env.js";
import { readSharedData, readSharedText, skipNote } from "./util/data.js";
import { mulberry32, type Rng } from "./util/random.js";
import { syntheticModel } from "./util/synthetic-model.js";
import { makeTempDir } from "./util/temp-dir.js";

/** llama2.c's encode(), ported literally (quadratic rescans), as the oracle. */
function naiveEncode(t: SentencePieceTokenizer, text: string, bos: boolean, eos: boolean): number[] {
  const lookup = new Map<string, number>();
  t.pieces.forEach((p, i) => { if (!lookup.has(p)) lookup.set(p, i); });
  const out: number[] = [];
  if (bos) out.push(t.bosId);
  const fallback = (ch: string): number[] =>
    t.byteIds ? Array.from(new TextEncoder().encode(ch), (b) => t.byteIds![b]) : [t.unkId];
  if (text.length) out.push(...(lookup.has(" ") ? [lookup.get(" ")!] : fallback(" ")));
  for (const ch of text) {
    const id = lookup.get(ch);
    if (id !== undefined) out.push(id);
    else out.push(...fallback(ch));
  }
  const start = bos ? 1 : 0;
  for (;;) {
    let best = -1e10, bestId = -1, bestIdx = -1;
    for (let i = start; i + 1 < out.length; i++) {
      const id = lookup.get(t.pieces[out[i]] + t.pieces[out[i + 1]]);
      if (id !== undefined && t.scores[id] > best) { best = t.scores[id]; bestId = id; bestIdx = i; }
    }
    if (bestIdx < 0) break;
    out.splice(bestIdx, 2, bestId);
  }
  if (eos) out.push(t.eosId);
  return out;
}

function randomText(r: Rng, alphabet: string[], maxLen: number): string {
  const n = Math.floor(r() * maxLen);
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(r() * alphabet.length)];
  return s;
}

const EXTRA_CHARS = ["\n", "\n", " ", " ", " ", "é", "😀", "ß", "\t", "Z", "q", "."];

const tok512Bytes = await readSharedData("models/tok512.bin");
const tok105Bytes = await readSharedData("models/babyllama105/tok105.bin");
const ggufBytes = await readSharedData("models/stories260K.gguf");
const reference = await readSharedText("REFERENCE.md");
if (!tok512Bytes) skipNote("models/tok512.bin");
if (!tok105Bytes) skipNote("models/babyllama105/tok105.bin");
const tok512 = tok512Bytes ? loadLlama2cTokenizer(tok512Bytes, 512, "tok512.bin") : null;
const tok105 = tok105Bytes ? loadLlama2cTokenizer(tok105Bytes, 105, "tok105.bin") : null;

// ---------------------------------------------------------------------------------------------------------
const l2 = suite("tokenizers: llama2.c");
const with512 = tok512 ? l2 : l2.skip;

with512("encode('Once upon a time', bos) = [1, 403, 407, 261, 378] with tok512", () => {
  const t = tok512!;
  assert.is(t.vocabSize, 512);
  assert.is(t.maxTokenLength, 7);
  assert.equal(t.encode("Once upon a time", { bos: true }), [1, 403, 407, 261, 378]);
  assert.equal(t.encode("Once upon a time", { bos: true, eos: true }), [1, 403, 407, 261, 378, 2]);
  assert.equal(t.encode(""), []);
  assert.equal(t.encode("", { bos: true }), [1]);
  assert.equal(t.encode("\n"), [410, 13]);
  assert.ok(t.lineSplitExact);
  assert.equal(t.encode("é"), [410, 485]); // é is a piece
  assert.equal(t.encode("ß"), [410, 0xc3 + 3, 0x9f + 3]); // ß is not: UTF-8 bytes + 3
});

with512("decodePiece follows llama2.c: no leading space after BOS, byte tokens print raw bytes, controls print nothing", () => {
  const t = tok512!;
  assert.is(t.decodePiece(1, 403), "Once");
  assert.is(t.decodePiece(403, 407), " upon");
  assert.is(t.decodePiece(407, 13), "\n");
  assert.is(t.decodePiece(0, 1), "");
  assert.equal(Array.from(t.decodePieceBytes(410, 0xc3 + 3)), [0xc3]);
  assert.is(t.decode(t.encode("Hi é 😀\nthere", { bos: true, eos: true })), "Hi é 😀\nthere");
  assert.is(t.decode([403, 407]), "Once upon");
  try {
    t.decodePiece(1, 512);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ArgumentError);
  }
});

const refIds = reference && /Emitted token ids for positions 0\.\.63:\s*`([\d ]+)`/.exec(reference);
const refText = reference && /is exactly:\n```\n([\s\S]*?)\n```/.exec(reference);
(tok512 && refIds && refText ? l2 : l2.skip)("printing the reference greedy generation piece by piece gives the reference text", () => {
  const ids = [1, ...refIds![1].trim().split(/\s+/).map(Number)];
  assert.is(ids.length, 65);
  let text = "";
  for (let i = 1; i < ids.length; i++) text += tok512!.decodePiece(ids[i - 1], ids[i]);
  assert.is(text + "\n", refText![1] + "\n");
  // And the prompt's tokens are the first four emitted ids.
  assert.equal(tok512!.encode("Once upon a time", { bos: true }), ids.slice(0, 5));
});

with512("heap + per-line merging equals llama2.c's quadratic encode on random strings", () => {
  const t = tok512!;
  const chars = t.pieces.filter((p) => [...p].length === 1);
  const r = mulberry32(2024);
  for (let trial = 0; trial < 300; trial++) {
    const text = randomText(r, [...chars, ...EXTRA_CHARS], 120);
    const bos = r() < 0.5;
    assert.equal(t.encode(text, { bos }), naiveEncode(t, text, bos, false), JSON.stringify(text));
  }
  // Real words merge deeply.
  const words = ["Once", " upon", " a", " time", " there", " was", " little", " girl", ".", ",", "\n", " Lily", " the", " and"];
  for (let trial = 0; trial < 100; trial++) {
    const text = randomText(r, words, 40);
    assert.equal(t.encode(text), naiveEncode(t, text, false, false), JSON.stringify(text));
  }
});

(tok105 ? l2 : l2.skip)("babyllama105 (no byte tokens): unknown characters and newlines become <unk> = 0, never out-of-range ids", () => {
  const t = tok105!;
  assert.is(t.vocabSize, 105);
  assert.is(t.byteIds, null);
  assert.ok(t.lineSplitExact);
  const ids = t.encode("Once upon a time", { bos: true });
  assert.is(ids[0], 1);
  assert.ok(ids.every((i) => i > 0 && i < 105), String(ids));
  assert.is(t.decode(ids), "Once upon a time");
  const odd = t.encode("a\nb😀c");
  assert.ok(odd.every((i) => i >= 0 && i < 105));
  assert.is(odd.filter((i) => i === 0).length, 2);
  const r = mulberry32(5);
  const chars = t.pieces.filter((p) => [...p].length === 1);
  for (let trial = 0; trial < 200; trial++) {
    const text = randomText(r, [...chars, ...EXTRA_CHARS], 80);
    assert.equal(t.encode(text), naiveEncode(t, text, false, false), JSON.stringify(text));
  }
});

l2("random vocabularies with tied scores, and one where newline merges (per-line shortcut disabled)", () => {
  const r = mulberry32(77);
  for (let v = 0; v < 30; v++) {
    const base = ["<unk>", "\n<s>\n", "\n</s>\n", ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`)];
    const letters = ["a", "b", "c", " ", "\n"].filter(() => r() < 0.9);
    const pieces = [...base, ...letters];
    const seen = new Set(pieces);
    for (let k = 0; k < 40; k++) {
      const a = pieces[258 + Math.floor(r() * (pieces.length - 258))] ?? "a";
      const b = pieces[258 + Math.floor(r() * (pieces.length - 258))] ?? "b";
      const p = a + b;
      if (!p.startsWith("<") && !seen.has(p) && p.length < 8) { seen.add(p); pieces.push(p); }
    }
    // Integer scores from a small range give many ties, exercising leftmost-wins.
    const scores = pieces.map((_, i) => (i < 259 ? 0 : -Math.floor(r() * 4)));
    const t = new SentencePieceTokenizer(pieces, scores, { kind: "llama2c", bosId: 1, eosId: 2 });
    const newlineMerges = pieces.some((p) => p.length > 1 && p.includes("\n") && !p.includes("<"));
    if (newlineMerges) assert.not.ok(t.lineSplitExact);
    for (let trial = 0; trial < 40; trial++) {
      const text = randomText(r, ["a", "b", "c", " ", "\n", "d"], 30);
      assert.equal(t.encode(text), naiveEncode(t, text, false, false), `${JSON.stringify(pieces.slice(259))} ${JSON.stringify(text)}`);
    }
  }
  // A hand-made vocabulary where "\n" is a piece that merges.
  const pieces = ["<unk>", "<s>", "</s>", "a", "b", "\n", "a\n", "\nb", " ", " a"];
  const t = new SentencePieceTokenizer(pieces, [0, 0, 0, 0, 0, 0, -1, -2, 0, -3], { kind: "llama2c", bosId: 1, eosId: 2 });
  assert.not.ok(t.lineSplitExact);
  assert.equal(t.encode("a\nb"), naiveEncode(t, "a\nb", false, false));
  assert.equal(t.encode(" a\nb a\n"), naiveEncode(t, " a\nb a\n", false, false));
});

const stories = await readSharedText("text/tinystories_valid_first1000.txt");
(tok512 && stories ? l2 : l2.skip)("~800 KB of TinyStories encodes fast, round-trips, and matches the oracle on a multi-line prefix", () => {
  const t = tok512!;
  const t0 = performance.now();
  const ids = t.encode(stories!);
  const ms = performance.now() - t0;
  console.log(`  [info] tok512 encoded ${stories!.length} chars into ${ids.length} tokens in ${ms.toFixed(0)} ms`);
  assert.ok(ms < 5000, `too slow: ${ms} ms`);
  assert.is(t.decode(ids), stories);
  const prefix = stories!.slice(0, 1500);
  assert.equal(t.encode(prefix), naiveEncode(t, prefix, false, false));
});

l2("malformed tokenizer.bin gives FormatError", () => {
  const bad = (b: Uint8Array, n?: number): string => {
    try {
      loadLlama2cTokenizer(b, n, "bad.bin");
    } catch (e) {
      assert.instance(e, FormatError);
      assert.is((e as FormatError).file, "bad.bin");
      return (e as FormatError).message;
    }
    assert.unreachable("no error");
    return "";
  };
  assert.match(bad(new Uint8Array(2)), /truncated/);
  assert.match(bad(new Uint8Array([0, 0, 0, 0])), /max_token_length 0/);
  const one = new Uint8Array([3, 0, 0, 0, 0, 0, 0x80, 0x3f, 2, 0, 0, 0, 0x61, 0x62]);
  assert.is(loadLlama2cTokenizer(one).vocabSize, 1);
  assert.match(bad(one, 2), /truncated at token 1/);
  assert.match(bad(one.subarray(0, 13)), /truncated in token 0/);
  const long = one.slice();
  long[8] = 9;
  assert.match(bad(long), /token 0 has length 9/);
  if (tok512Bytes) assert.match(bad(tok512Bytes, 600), /truncated at token 512/);
});

l2.run();

// ---------------------------------------------------------------------------------------------------------
const gg = suite("tokenizers: GGUF vocabulary");
const withGguf = tok512 && ggufBytes ? gg : gg.skip;

withGguf("stories260K.gguf's vocabulary equals tok512 (▁ -> space; ids 1, 2 are <s>/</s>) and encodes identically", async () => {
  const r = await openModel({ files: { "stories260K.gguf": ggufBytes! } });
  const v = ggufVocab(r)!;
  const g = new GGUFTokenizer(v);
  assert.is(g.vocabSize, 512);
  for (let i = 0; i < 512; i++) {
    if (i === 1 || i === 2) continue;
    if (g.pieces[i] !== tok512!.pieces[i]) assert.unreachable(`piece ${i}: ${g.pieces[i]} vs ${tok512!.pieces[i]}`);
  }
  assert.equal([g.pieces[1], g.pieces[2], tok512!.pieces[1], tok512!.pieces[2]], ["<s>", "</s>", "\n<s>\n", "\n</s>\n"]);
  assert.equal(Array.from(g.scores), Array.from(tok512!.scores));
  // The reverse mapping reproduces the GGUF arrays exactly.
  const back = toGGUFVocab(tok512!);
  assert.equal(back.tokens, v.tokens);
  assert.equal(Array.from(back.tokenTypes), Array.from(v.tokenTypes));
  const counts = [0, 0, 0, 0, 0, 0, 0];
  for (const t of Array.from(v.tokenTypes)) counts[t]++;
  assert.equal(counts, [0, 253, 1, 2, 0, 0, 256]);
  const text = (await readSharedText("text/tinystories_valid_first1000.txt"))?.slice(0, 20000) ?? "Once upon a time\nthere was é 😀";
  assert.equal(g.encode(text, { bos: true }), tok512!.encode(text, { bos: true }));
  assert.is(g.decodePiece(1, 403), "Once");
  assert.is(g.decode(g.encode("a <s> b", { bos: true })), "a <s> b");
  assert.equal((await loadTokenizer(r)).encode("Once upon a time", { bos: true }), [1, 403, 407, 261, 378]);
  assert.equal((await loadTokenizer(ggufBytes!)).encode("Once upon a time", { bos: true }), [1, 403, 407, 261, 378]);
});

(tok512 ? gg : gg.skip)("a GGUF written with a tokenizer's vocabulary loads the same tokenizer back", async () => {
  const m = syntheticModel("llama", 1, { ropeLayout: "adjacent", overrides: { vocabSize: 512 } });
  const out = new MemoryFolder();
  await writeGGUF(out, m.config, m.source, { vocab: toGGUFVocab(tok512!) });
  const t = await loadTokenizer(out.files.get("model.gguf")!);
  assert.is(t.kind, "gguf");
  assert.equal(t.encode("Once upon a time", { bos: true }), [1, 403, 407, 261, 378]);
});

gg("tokenizer.ggml.add_space_prefix = false (Gemma): no dummy-prefix space, nothing stripped when decoding; kept by GGUF writes", async () => {
  // A tiny SentencePiece vocabulary: control tokens, "▁" words, letters, and the 256 byte tokens.
  const words = ["<unk>", "<s>", "</s>", "\u2581", "h", "i", "\u2581hi", "hi", "\u2581h"];
  const tokens = [...words, ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`)];
  const types = tokens.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < words.length ? 1 : 6));
  const scores = tokens.map((_, i) => (i === 6 ? -1 : i === 7 ? -2 : i === 8 ? -3 : -10));
  const base: GGUFVocab = { tokens, scores, tokenTypes: types, bosId: 1, eosId: 2, unkId: 0 };
  const llama = new GGUFTokenizer(base), gemma = new GGUFTokenizer({ ...base, addSpacePrefix: false });
  assert.equal(llama.encode("hi hi"), [6, 6], "dummy prefix: ▁hi ▁hi");
  assert.equal(gemma.encode("hi hi"), [7, 6], "none: hi ▁hi");
  assert.is(llama.decode(llama.encode("hi hi", { bos: true })), "hi hi");
  assert.is(gemma.decode(gemma.encode(" hi", { bos: true })), " hi", "a leading space of the text itself survives");
  const m = syntheticModel("gemma", 1, { overrides: { vocabSize: tokens.length }, normPlusOne: false });
  const out = new MemoryFolder();
  await writeGGUF(out, m.config, m.source, { vocab: { ...base, addSpacePrefix: false } });
  const t = await loadTokenizer(out.files.get("model.gguf")!);
  assert.equal(t.encode("hi hi"), [7, 6]);
  // As tokenizer.json (GGUF -> safetensors): no Prepend normalizer, and @huggingface/tokenizers agrees.
  const files = toHFTokenizerFiles(gemma);
  const json = JSON.parse(new TextDecoder().decode(files["tokenizer.json"])) as { normalizer: { normalizers: { type: string }[] } };
  assert.equal(json.normalizer.normalizers.map((x) => x.type), ["Replace"]);
  assert.equal(toGGUFVocab(gemma).addSpacePrefix, false);
  const hf = await loadTokenizer(files["tokenizer.json"]);
  assert.equal(hf.encode("hi hi"), [7, 6]);
});

/** GPT-2's byte-to-unicode table: the character each byte is written as in byte-level BPE vocabularies. */
function byteChars(): string[] {
  const bs: number[] = [];
  for (const [a, b] of [[33, 126], [161, 172], [174, 255]]) for (let x = a; x <= b; x++) bs.push(x);
  const cs = bs.slice();
  let n = 0;
  for (let x = 0; x < 256; x++) if (!bs.includes(x)) { bs.push(x); cs.push(256 + n++); }
  const out = new Array<string>(256);
  bs.forEach((x, i) => (out[x] = String.fromCodePoint(cs[i])));
  return out;
}

/** A small byte-level BPE vocabulary as GGUF stores one ("gpt2"): bytes, a few merges, two control tokens. */
function bpeVocab(pre?: string): GGUFVocab {
  const tokens = byteChars();
  const merges = ["Ġ t", "h e", "Ġt he", "1 2", "12 3", "' S", "l l", "o w"];
  for (const m of merges) tokens.push(m.replace(" ", ""));
  tokens.push("<|begin_of_text|>", "<|end_of_text|>");
  const n = tokens.length;
  const tokenTypes = tokens.map((_, i) => (i >= n - 2 ? 3 : 1));
  return { tokens, scores: new Float32Array(n), tokenTypes, bosId: n - 2, eosId: n - 1, model: "gpt2", merges, ...(pre ? { pre } : {}) };
}

gg("byte-level BPE (\"gpt2\") vocabularies: exact round trips, merges, and each pre-tokenizer's splits", () => {
  const ids = (t: Tokenizer, s: string) => t.encode(s, { bos: false, eos: false });
  const text = "Hello, wörld! the 12345\n\n  tabs\there 🙂 'S end";
  const toks = Object.fromEntries(["default", "llama-bpe", "qwen2"].map((p) => [p, ggufTokenizer(bpeVocab(p === "default" ? undefined : p))]));
  for (const [pre, t] of Object.entries(toks)) {
    assert.is(t.decode(ids(t, text)), text, `${pre}: round trip`);
    assert.is(t.vocabSize, 256 + 8 + 2);
    const the = ids(t, "the the");
    assert.equal(the.map((i) => bpeVocab().tokens[i]), ["t", "he", "Ġthe"], `${pre}: merges`);
    const withBos = t.encode("the", { bos: true, eos: true });
    assert.equal([withBos[0], withBos[withBos.length - 1]], [264, 265]);
    assert.is(t.decode(withBos), "the", `${pre}: control tokens decode to nothing`);
  }
  // Digits: GPT-2 keeps a run of digits together, Llama 3 splits it in threes, Qwen2 one by one.
  assert.is(ids(toks.default, "123").length, 1);
  assert.is(ids(toks["llama-bpe"], "123").length, 1);
  assert.is(ids(toks.qwen2, "123").length, 3);
  // Contractions: Llama 3 and Qwen2 match them case-insensitively ("'S" stays one piece), GPT-2 does not.
  assert.is(ids(toks.default, "'S").length, 2);
  assert.is(ids(toks["llama-bpe"], "'S").length, 1);
  assert.is(ids(toks.qwen2, "'S").length, 1);
});

gg("a GGUF file carries a BPE vocabulary's merges and pre-tokenizer, and loadTokenizer reads it", async () => {
  const m = syntheticModel("qwen2", 4, { overrides: { vocabSize: 266, bosId: 264, eosId: 265 } });
  const out = new MemoryFolder();
  const vocab = bpeVocab("qwen2");
  await writeGGUF(out, m.config, m.source, { vocab });
  const r = await openModel({ files: out.files, name: "q.gguf" }, { format: "gguf" });
  const v = ggufVocab(r)!;
  assert.equal(v.merges, vocab.merges);
  assert.is(v.pre, "qwen2");
  const t = await loadTokenizer(r);
  const want = ggufTokenizer(vocab).encode("123 the 'S", { bos: true, eos: false });
  assert.equal(t.encode("123 the 'S", { bos: true, eos: false }), want);
  // GGUF -> safetensors writes it as tokenizer.json (+ tokenizer_config.json naming BOS/EOS).
  const hf = new MemoryFolder("hf");
  await convertModel(r, "safetensors", hf);
  const ht = loadHFTokenizer(hf.files.get("tokenizer.json")!, hf.files.get("tokenizer_config.json")!);
  assert.equal(ht.encode("123 the 'S", { bos: true, eos: false }), want);
  assert.is(ht.eosId, 265);
  await r.close();
});

gg("unsupported GGUF tokenizer models and pre-tokenizers are refused with what to do instead", () => {
  for (const [v, re] of [
    [{ ...bpeVocab("deepseek-llm") }, /pre-tokenizer "deepseek-llm" is not supported .* use the model's tokenizer\.json/],
    [{ ...bpeVocab(), merges: undefined }, /no tokenizer\.ggml\.merges/],
    [{ ...bpeVocab(), model: "bert" }, /tokenizer model "bert" is not supported/],
  ] as const) {
    try {
      ggufTokenizer(v as GGUFVocab);
      assert.unreachable();
    } catch (e) {
      assert.instance(e, ArgumentError);
      assert.match((e as Error).message, re);
    }
  }
});

gg("unsupported GGUF tokenizer models are refused", () => {
  try {
    new GGUFTokenizer({ tokens: ["a"], scores: [0], tokenTypes: [1], bosId: 0, eosId: 0, model: "gpt2" });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ArgumentError);
    assert.match((e as Error).message, /gpt2/);
  }
});

gg.run();

// ---------------------------------------------------------------------------------------------------------
const hf = suite("tokenizers: HF tokenizer.json");

/** The tokenizer.json toHFTokenizerFiles writes for `t`, parsed. */
function llamaTokenizerJson(t: SentencePieceTokenizer): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(toHFTokenizerFiles(t)["tokenizer.json"])) as Record<string, unknown>;
}

/** Texts that exercise the encoders: real text of three kinds, then edge cases. */
async function sampleTexts(): Promise<string[]> {
  const texts: string[] = [];
  const stories = await readSharedText("text/tinystories_valid_first1000.txt");
  if (stories) texts.push(...stories.split("\n").slice(0, 400), stories.slice(0, 30000));
  const c4 = await readSharedText("text/c4_sample_200docs.jsonl");
  if (c4) texts.push(...c4.split("\n").slice(0, 20).map((l) => (JSON.parse(l) as { text: string }).text));
  const wiki = await readSharedText("text/wikitext2_test.tokens.txt");
  if (wiki) texts.push(wiki.slice(0, 20000));
  texts.push("", " ", "  two leading", "trailing  ", "\n", "\n\nx\n", "a\tb", "héllo wörld 😀 日本語", "< s> <un k>");
  // Spelled-out control tokens (WikiText's "<unk>") are matched as those tokens by HF tokenizers, as
  // in every HF LLaMA tokenizer (see tokenizer-json.ts): compared separately below.
  return texts.map((t) => t.replace(/<\/?s>|<unk>/g, ""));
}

(tok512 && tok105 && ggufBytes ? hf : hf.skip)("toHFTokenizerFiles: tokenizer.json encodes and decodes as the SentencePiece original", async () => {
  const g = await loadTokenizer(ggufBytes!);
  const texts = await sampleTexts();
  for (const [name, t] of [["tok512", tok512!], ["tok105 (no byte tokens)", tok105!], ["stories260K.gguf", g as SentencePieceTokenizer]] as const) {
    const files = toHFTokenizerFiles(t);
    const h = loadHFTokenizer(files["tokenizer.json"], files["tokenizer_config.json"], { name });
    assert.is(h.vocabSize, t.vocabSize, name);
    assert.is(h.bosId, t.bosId, name);
    assert.is(h.eosId, t.eosId, name);
    for (const text of texts) {
      const want = t.encode(text, { bos: true });
      const got = h.encode(text, { bos: true });
      if (want.join() !== got.join()) assert.unreachable(`${name}: ${JSON.stringify(text.slice(0, 60))}: ${got.slice(0, 16)} vs ${want.slice(0, 16)}`);
      // <unk> is lossy either way: HF drops it as a special token, llama2.c prints its piece.
      if (!want.includes(t.unkId)) assert.is(h.decode(got), t.decode(want), `${name} decode`);
    }
  }
  const h512 = loadHFTokenizer(toHFTokenizerFiles(tok512!)["tokenizer.json"]);
  assert.ok(h512.encode("a <s> b").includes(1), "a spelled <s> is the control token");
  assert.not.ok(tok512!.encode("a <s> b").includes(1), "and text to llama2.c");
  const cfg = JSON.parse(new TextDecoder().decode(toHFTokenizerFiles(tok512!)["tokenizer_config.json"])) as Record<string, unknown>;
  assert.equal([cfg.bos_token, cfg.eos_token, cfg.unk_token, cfg.add_bos_token], ["<s>", "</s>", "<unk>", true]);
});

(tok512 ? hf : hf.skip)("a Llama-style tokenizer.json built from tok512 works behind the common interface", async () => {
  const json = llamaTokenizerJson(tok512!);
  const t: Tokenizer = new HFTokenizer(json, { bos_token: "<s>", eos_token: { content: "</s>" } });
  assert.is(t.kind, "hf");
  assert.is(t.vocabSize, 512);
  assert.is(t.bosId, 1);
  assert.is(t.eosId, 2);
  assert.equal(t.encode("Once upon a time", { bos: true }), [1, 403, 407, 261, 378]);
  assert.equal(t.encode("Once upon a time", { eos: true }), [403, 407, 261, 378, 2]);
  assert.equal(t.encode(""), []);
  assert.is(t.decode([1, 403, 407, 261, 378, 2]), "Once upon a time");
  assert.is(t.decodePiece(1, 403), "Once");
  assert.is(t.decodePiece(403, 407), " upon");
  assert.is(t.decodePiece(403, 2), "");
  const text = "One day, Lily saw a big red ball.";
  assert.equal(t.encode(text), tok512!.encode(text));
  assert.is(t.decode(t.encode("héllo 😀")), "héllo 😀");
  // Loaded from bytes: detection by content.
  const bytes = new TextEncoder().encode(JSON.stringify(json));
  const t2 = await loadTokenizer(bytes, { tokenizerConfig: new TextEncoder().encode('{"bos_token": "<s>"}') });
  assert.is(t2.kind, "hf");
  assert.equal(t2.encode("Once upon a time", { bos: true }), [1, 403, 407, 261, 378]);
  try {
    await loadTokenizer(new TextEncoder().encode("{ nope"));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, FormatError);
  }
});

(tok512 ? hf : hf.skip)("an HF model folder's tokenizer.json is found through its reader", async () => {
  const { writeSafetensors } = await import("../src/formats/index.js");
  const m = syntheticModel("llama", 2, { overrides: { vocabSize: 512 } });
  const out = new MemoryFolder();
  const tj = new TextEncoder().encode(JSON.stringify(llamaTokenizerJson(tok512!)));
  await writeSafetensors(out, m.config, m.source, { extraFiles: { "tokenizer.json": tj } });
  const r = await openModel({ files: out.files });
  const t = await loadTokenizer(r);
  assert.equal(t.encode("Once upon a time", { bos: true }), [1, 403, 407, 261, 378]);
  const noTok = new MemoryFolder();
  await writeSafetensors(noTok, m.config, m.source);
  try {
    await loadTokenizer(await openModel({ files: noTok.files }));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, FormatError);
    assert.match((e as Error).message, /no tokenizer\.json/);
  }
});

hf.run();

// ---------------------------------------------------------------------------------------------------------
const ld = suite("tokenizers: loadTokenizer");

(tok512Bytes && !isBrowser ? ld : ld.skip)("from paths: tokenizer.bin, .gguf, tokenizer.json and folders", async () => {
  const tmp = await makeTempDir("dass-tok-");
  const { fs, join, path: dir } = tmp;
  try {
    await fs.writeFile(join(dir, "tok512.bin"), tok512Bytes!);
    const t = await loadTokenizer(join(dir, "tok512.bin"), { vocabSize: 512 });
    assert.is(t.kind, "llama2c");
    assert.equal(t.encode("Once upon a time", { bos: true }), [1, 403, 407, 261, 378]);
    await fs.writeFile(join(dir, "tokenizer.json"), JSON.stringify(llamaTokenizerJson(tok512!)));
    await fs.writeFile(join(dir, "tokenizer_config.json"), '{"bos_token": "<s>", "eos_token": "</s>"}');
    for (const p of [join(dir, "tokenizer.json"), dir]) {
      const h = await loadTokenizer(p);
      assert.is(h.kind, "hf");
      assert.equal(h.encode("Once upon a time", { bos: true, eos: true }), [1, 403, 407, 261, 378, 2]);
    }
    if (ggufBytes) {
      await fs.writeFile(join(dir, "m.gguf"), ggufBytes);
      assert.is((await loadTokenizer(join(dir, "m.gguf"))).kind, "gguf");
    }
    try {
      await loadTokenizer(join(dir, "missing.bin"));
      assert.unreachable();
    } catch (e) {
      assert.instance(e, FormatError);
    }
  } finally {
    await tmp.remove();
  }
});

ld("a llama2.c model reader has no tokenizer: FormatError says where to get one", async () => {
  const m = syntheticModel("llama", 3, { ropeLayout: "adjacent" });
  const { writeLlama2c } = await import("../src/formats/index.js");
  const out = new MemoryFolder();
  await writeLlama2c(out, m.config, m.source);
  const r = await openModel({ files: out.files });
  try {
    await loadTokenizer(r);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, FormatError);
    assert.match((e as Error).message, /tokenizer\.bin/);
  }
});

ld.run();
