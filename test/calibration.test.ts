// Calibration data: the spec's generator, window sampling, and text/JSON-lines reading.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArgumentError, FormatError } from "../src/errors.js";
import { calibrationWindows, mulberry32, parseCalibrationText, readCalibrationFile, sampleWindows, windowStarts } from "../src/calibration/index.js";
import { loadTokenizer } from "../src/tokenizers/index.js";
import { isBrowser } from "./util/env.js";
import { readSharedData, readSharedText, skipNote } from "./util/data.js";

const gen = suite("calibration: generator and windows");

gen("mulberry32 follows docs/methods.md (published values for seed 1; seed taken mod 2^32)", () => {
  const r = mulberry32(1);
  assert.equal([r(), r()].map((x) => Math.round(x * 1e9)), [627073941, 2735721]);
  const a = mulberry32(0), b = mulberry32(2 ** 32);
  for (let i = 0; i < 5; i++) assert.is(a(), b());
  // Written out from the spec's pseudo-code with explicit uint32 arithmetic.
  let state = 0;
  const next = () => {
    state = (state + 0x6d2b79f5) % 2 ** 32;
    let t = Number((BigInt(state ^ (state >>> 15)) * BigInt((state | 1) >>> 0)) % 2n ** 32n) >>> 0;
    t = ((t + (Number((BigInt((t ^ (t >>> 7)) >>> 0) * BigInt((t | 61) >>> 0)) % 2n ** 32n) >>> 0)) >>> 0 ^ t) >>> 0;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const c = mulberry32(0);
  for (let i = 0; i < 1000; i++) assert.is(c(), next());
});

gen("window starts are floor(u * (len - seqlen + 1)) with u from mulberry32(seed)", () => {
  for (const [len, seqlen, seed] of [[1000, 64, 0], [65, 64, 7], [64, 64, 3], [123457, 2048, 42]]) {
    const u = mulberry32(seed);
    const want = Array.from({ length: 20 }, () => Math.floor(u() * (len - seqlen + 1)));
    assert.equal(windowStarts(len, seqlen, 20, seed), want);
    for (const s of want) assert.ok(s >= 0 && s + seqlen <= len);
  }
  assert.equal(windowStarts(64, 64, 5, 9), [0, 0, 0, 0, 0]);
});

gen("sampleWindows slices the stream and reports the starts", () => {
  const stream = Array.from({ length: 500 }, (_, i) => (i * 7) % 311);
  const w = sampleWindows(stream, { nsamples: 6, seqlen: 33, seed: 5, source: "s.txt" });
  assert.is(w.tokens.length, 6 * 33);
  assert.equal(w.starts, windowStarts(500, 33, 6, 5));
  assert.is(w.streamLength, 500);
  for (let k = 0; k < 6; k++) {
    for (let t = 0; t < 33; t++) assert.is(w.tokens[k * 33 + t], stream[w.starts[k] + t]);
  }
  // Same options, same windows; another seed, other windows.
  assert.equal(Array.from(sampleWindows(stream, { nsamples: 6, seqlen: 33, seed: 5 }).tokens), Array.from(w.tokens));
  assert.not.equal(sampleWindows(stream, { nsamples: 6, seqlen: 33, seed: 6 }).starts, w.starts);
});

gen("a stream shorter than seqlen fails naming the source; bad counts fail", () => {
  try {
    sampleWindows([1, 2, 3], { nsamples: 2, seqlen: 4, source: "tiny.txt" });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ArgumentError);
    assert.is((e as ArgumentError).arg, "calib");
    assert.match((e as Error).message, /tiny\.txt/);
    assert.match((e as Error).message, /3 tokens/);
  }
  assert.throws(() => sampleWindows([1, 2, 3], { nsamples: 0, seqlen: 2 }), (e: unknown) => e instanceof ArgumentError && e.arg === "nsamples");
  assert.throws(() => sampleWindows([1, 2, 3], { nsamples: 1, seqlen: 1.5 }), (e: unknown) => e instanceof ArgumentError && e.arg === "seqlen");
});

gen("calibrationWindows encodes the whole text once, without BOS or EOS", () => {
  const calls: unknown[] = [];
  const tok = {
    encode(text: string, opts?: { bos?: boolean; eos?: boolean }): number[] {
      calls.push(opts);
      return Array.from(text, (ch) => ch.charCodeAt(0));
    },
  };
  const w = calibrationWindows("abcdefghij", tok, { nsamples: 3, seqlen: 4, seed: 1 });
  assert.equal(calls, [{ bos: false, eos: false }]);
  assert.is(w.streamLength, 10);
  for (let k = 0; k < 3; k++) assert.is(String.fromCharCode(...w.tokens.subarray(k * 4, k * 4 + 4)), "abcdefghij".slice(w.starts[k], w.starts[k] + 4));
});

const text = suite("calibration: text files");

text("plain text passes through; UTF-8 bytes are decoded; invalid UTF-8 fails", () => {
  assert.is(parseCalibrationText("Hello\n\nworld {x}", "a.txt"), "Hello\n\nworld {x}");
  assert.is(parseCalibrationText(new TextEncoder().encode("héllo 😀"), "b.txt"), "héllo 😀");
  assert.throws(() => parseCalibrationText(new Uint8Array([0x61, 0xff, 0x62]), "bad.txt"), (e: unknown) => e instanceof FormatError && e.file === "bad.txt");
});

text("JSON lines: the text fields joined with a blank line, empty records included", () => {
  const jsonl = '{"text":""}\n{"text":" = A = \\n"}\n\n{"text":"b","meta":1}\r\n';
  assert.is(parseCalibrationText(jsonl, "x.jsonl"), "\n\n = A = \n\n\nb");
  // Detected by content too, and a JSON array of records is accepted.
  assert.is(parseCalibrationText('{"text": "one"}\n{"text": "two"}', "data"), "one\n\ntwo");
  assert.is(parseCalibrationText('[{"text": "one"}, {"text": "two"}]', "d.json"), "one\n\ntwo");
  // A plain text that starts with a brace is not JSON lines.
  assert.is(parseCalibrationText("{not json} at all", "p.txt"), "{not json} at all");
  assert.is(parseCalibrationText('{"text":"x"}', "p.txt", "text"), '{"text":"x"}');
});

text("malformed JSON lines fail naming the file and line", () => {
  try {
    parseCalibrationText('{"text":"a"}\n{"txt":"b"}\n', "c4.jsonl");
    assert.unreachable();
  } catch (e) {
    assert.instance(e, FormatError);
    assert.is((e as FormatError).file, "c4.jsonl");
    assert.match((e as Error).message, /line 2/);
  }
  assert.throws(() => parseCalibrationText('{"text":"a"}\n{oops\n', "w.jsonl"), (e: unknown) => e instanceof FormatError && /line 2/.test((e as Error).message));
});

const wikiBytes = await readSharedData("text/wikitext2_raw_test.jsonl");
const stories = await readSharedText("text/tinystories_valid_first1000.txt");
const tok512 = await readSharedData("models/tok512.bin");
if (!wikiBytes) skipNote("text/wikitext2_raw_test.jsonl");
if (!stories || !tok512) skipNote("text/tinystories_valid_first1000.txt, models/tok512.bin");

(wikiBytes ? text : text.skip)("WikiText-2 raw JSON lines join like \"\\n\\n\".join(texts); readCalibrationFile reads it", async () => {
  const joined = parseCalibrationText(wikiBytes!, "wikitext2_raw_test.jsonl");
  const lines = new TextDecoder().decode(wikiBytes!).split("\n").filter((l) => l.trim() !== "");
  assert.is(joined, lines.map((l) => (JSON.parse(l) as { text: string }).text).join("\n\n"));
  assert.ok(joined.startsWith("\n\n = Robert Boulter = \n"));
  const where = isBrowser ? "/shared/data/text/wikitext2_raw_test.jsonl" : new URL("../../../shared/data/text/wikitext2_raw_test.jsonl", import.meta.url);
  const read = await readCalibrationFile(where);
  assert.is(read.text, joined);
});

(stories && tok512 ? gen : gen.skip)("TinyStories with tok512: the stream keeps the dummy-prefix token; windows are reproducible", async () => {
  const tok = await loadTokenizer(tok512!, { vocabSize: 512 });
  const head = stories!.slice(0, 20000);
  const stream = tok.encode(head, { bos: false, eos: false });
  assert.is.not(stream[0], 1, "no BOS");
  const w1 = calibrationWindows(head, tok, { nsamples: 4, seqlen: 64, seed: 0, source: "tinystories" });
  const w2 = calibrationWindows(head, tok, { nsamples: 4, seqlen: 64, seed: 0 });
  assert.equal(w1.starts, w2.starts);
  assert.equal(w1.starts, windowStarts(stream.length, 64, 4, 0));
  assert.equal(Array.from(w1.tokens.subarray(0, 64)), stream.slice(w1.starts[0], w1.starts[0] + 64));
  try {
    calibrationWindows("Once upon a time", tok, { nsamples: 1, seqlen: 64, source: "short.txt" });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ArgumentError);
    assert.match((e as Error).message, /short\.txt/);
  }
});

gen.run();
text.run();
