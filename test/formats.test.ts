// Model formats: f16/bf16 conversion, RoPE permutation, readers and writers of llama2.c, GGUF and HF folders
// (round trips of synthetic models of every arch, the real stories260K files), conversion, and malformed files.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArgumentError, FormatError } from "../src/errors.js";
import {
  bf16ToF32, convertModel, decodeToF32, encodeFromF32, f16ToF32, f32ToBf16, f32ToF16, ggufVocab, MemoryFile, MemoryFolder,
  openModel, parseGGUFHeader, permuteQK, convertedContext, readAllTensors, readGGUF, readHfFolder, readLlama2c, MemorySource, ropeRowOrder,
  safetensorsHeader, writeGGUF, writeLlama2c, writeSafetensors, hfConfigToModelConfig, hfToCanonical, canonicalToHf, type ModelReader,
} from "../src/formats/index.js";
import { ARCHS, expectedTensors, type Arch, type ModelConfig } from "../src/model/config.js";
import * as K from "../src/kernels/rope.js";
import { loadTokenizer } from "../src/tokenizers/index.js";
import { isBrowser } from "./util/env.js";
import { readSharedData, skipNote } from "./util/data.js";
import { mulberry32 } from "./util/random.js";
import { DTYPES, syntheticModel } from "./util/synthetic-model.js";
import { makeTempDir } from "./util/temp-dir.js";

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

async function assertSameTensors(r: ModelReader, want: Map<string, Float32Array>, what: string): Promise<void> {
  assert.equal([...r.tensors.keys()], [...want.keys()], `${what}: tensor names`);
  for (const [name, w] of want) assert.ok(sameBits(await r.readTensor(name), w), `${what}: ${name} differs`);
}

async function throwsFormat(p: () => Promise<unknown>, pattern: RegExp, file?: string): Promise<FormatError> {
  try {
    await p();
  } catch (e) {
    if (!(e instanceof FormatError)) throw new Error(`expected FormatError matching ${pattern}, got ${(e as Error)?.stack ?? String(e)}`);
    assert.match(e.message, pattern);
    if (file !== undefined) assert.is(e.file, file);
    return e;
  }
  throw new Error(`expected FormatError matching ${pattern}, nothing thrown`);
}

async function throwsArg(p: () => Promise<unknown>, arg: string, pattern?: RegExp): Promise<void> {
  try {
    await p();
  } catch (e) {
    if (!(e instanceof ArgumentError)) throw new Error(`expected ArgumentError(${arg}), got ${(e as Error)?.stack ?? String(e)}`);
    assert.is(e.arg, arg);
    if (pattern) assert.match(e.message, pattern);
    return;
  }
  throw new Error(`expected ArgumentError(${arg}), nothing thrown`);
}

const mem = (bytes: Uint8Array, name = "m") => new MemoryFile(bytes, name);

/**
 * A GGUF split as llama.cpp's gguf-split writes it: the first part keeps all metadata, every part gets
 * split.no / split.count / split.tensors.count and its own tensors (`sizes` of them per part, in file order)
 * and data section (alignment 32). Returns the parts' bytes keyed by `stem-0000k-of-0000n.gguf`.
 */
async function splitGGUF(bytes: Uint8Array, stem: string, sizes: number[], tweak: (no: number) => { no?: number; total?: number } = () => ({})): Promise<Map<string, Uint8Array>> {
  const h = await parseGGUFHeader(mem(bytes));
  const enc = new TextEncoder();
  // The metadata section is raw bytes from offset 24 up to the first tensor info (its name's u64 length).
  const first = h.tensors[0].name;
  const kvEnd = new TextDecoder("latin1").decode(bytes.subarray(0, h.dataOffset)).indexOf(first) - 8;
  const byOffset = [...h.tensors].sort((a, b) => a.offset - b.offset);
  const dataOf = (i: number) => {
    const t = byOffset[i], end = i + 1 < byOffset.length ? byOffset[i + 1].offset : bytes.byteLength - h.dataOffset;
    return bytes.subarray(h.dataOffset + t.offset, h.dataOffset + end);
  };
  const out = new Map<string, Uint8Array>();
  let at = 0;
  for (let no = 0; no < sizes.length; no++) {
    const chunks: Uint8Array[] = [];
    const u = (n: number, v: number | bigint) => { const b = new Uint8Array(n); const d = new DataView(b.buffer); if (n === 2) d.setUint16(0, Number(v), true); else if (n === 4) d.setUint32(0, Number(v), true); else d.setBigUint64(0, BigInt(v), true); chunks.push(b); };
    const str = (x: string) => { const b = enc.encode(x); u(8, b.byteLength); chunks.push(b); };
    const { no: writtenNo = no, total = h.tensors.length } = tweak(no);
    u(4, 0x46554747); u(4, 3); u(8, sizes[no]); u(8, (no === 0 ? h.kv.size : 0) + 3);
    if (no === 0) chunks.push(bytes.subarray(24, kvEnd));
    str("split.no"); u(4, 2); u(2, writtenNo);
    str("split.count"); u(4, 2); u(2, sizes.length);
    str("split.tensors.count"); u(4, 5); u(4, total);
    let off = 0;
    const datas: Uint8Array[] = [];
    for (let i = at; i < at + sizes[no]; i++) {
      const t = byOffset[i];
      str(t.name); u(4, t.dims.length); for (const d of t.dims) u(8, d); u(4, t.type); u(8, off);
      const d = dataOf(i);
      datas.push(d);
      off += d.byteLength;
    }
    at += sizes[no];
    const head = chunks.reduce((n, c) => n + c.byteLength, 0), pad = Math.ceil(head / 32) * 32 - head;
    const part = new Uint8Array(head + pad + off);
    let p = 0;
    for (const c of [...chunks, new Uint8Array(pad), ...datas]) { part.set(c, p); p += c.byteLength; }
    out.set(`${stem}-${String(no + 1).padStart(5, "0")}-of-${String(sizes.length).padStart(5, "0")}.gguf`, part);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
const half = suite("formats: f16/bf16");

half("f16 known values and rounding to nearest even", () => {
  assert.is(f32ToF16(1), 0x3c00);
  assert.is(f32ToF16(-2), 0xc000);
  assert.is(f32ToF16(65504), 0x7bff);
  assert.is(f32ToF16(65520), 0x7c00); // rounds up to infinity
  assert.is(f32ToF16(2 ** -24), 0x0001);
  assert.is(f32ToF16(2 ** -25), 0x0000); // tie to even (zero)
  assert.is(f32ToF16(1.5 * 2 ** -25), 0x0001);
  assert.is(f32ToF16(1 + 2 ** -11), 0x3c00); // tie, even stays
  assert.is(f32ToF16(1 + 3 * 2 ** -11), 0x3c02); // tie, odd rounds up
  assert.is(f32ToF16(Infinity), 0x7c00);
  assert.ok(Number.isNaN(f16ToF32(f32ToF16(NaN))));
  assert.is(f16ToF32(0x0001), 2 ** -24);
  assert.is(f16ToF32(0x3555), 0.333251953125);
  assert.is(Object.is(f16ToF32(0x8000), -0), true);
});

half("every f16 and bf16 pattern round-trips through f32", () => {
  for (let h = 0; h < 65536; h++) {
    const f = f16ToF32(h);
    if (Number.isNaN(f)) continue;
    if (f32ToF16(f) !== h) assert.unreachable(`f16 0x${h.toString(16)}`);
    const b = bf16ToF32(h);
    if (Number.isNaN(b)) continue;
    if (f32ToBf16(b) !== h) assert.unreachable(`bf16 0x${h.toString(16)}`);
  }
});

half("bf16 rounds to nearest even; array codecs agree with scalars", () => {
  assert.is(f32ToBf16(1), 0x3f80);
  assert.is(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie, even
  assert.is(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82);
  const r = mulberry32(7);
  const v = Float32Array.from({ length: 1001 }, () => (r() - 0.5) * 1000);
  for (const dt of DTYPES) {
    const back = decodeToF32(dt, encodeFromF32(dt, v));
    for (let i = 0; i < v.length; i++) {
      const want = dt === "f32" ? v[i] : dt === "f16" ? f16ToF32(f32ToF16(v[i])) : bf16ToF32(f32ToBf16(v[i]));
      if (!Object.is(back[i], want)) assert.unreachable(`${dt}[${i}]`);
    }
  }
  // Odd byte offset (unaligned view) still decodes.
  const bytes = encodeFromF32("f16", Float32Array.of(1, 2, 3));
  const shifted = new Uint8Array(bytes.byteLength + 1);
  shifted.set(bytes, 1);
  assert.equal(Array.from(decodeToF32("f16", shifted.subarray(1))), [1, 2, 3]);
});

half.run();

// ---------------------------------------------------------------------------------------------------------
const perm = suite("formats: RoPE permutation");

perm("row order matches HF's permute and its inverse", () => {
  assert.equal(Array.from(ropeRowOrder(8, "adjacent-to-half")), [0, 2, 4, 6, 1, 3, 5, 7]);
  assert.equal(Array.from(ropeRowOrder(8, "half-to-adjacent")), [0, 4, 1, 5, 2, 6, 3, 7]);
});

perm("permute then inverse is the identity; heads are permuted independently; 16-bit storage works", () => {
  const r = mulberry32(3);
  for (const [heads, hd, cols] of [[1, 2, 1], [3, 4, 5], [2, 8, 3], [4, 16, 1]]) {
    const w = Float32Array.from({ length: heads * hd * cols }, () => r());
    const h = permuteQK(w, heads, hd, "adjacent-to-half");
    assert.ok(!sameBits(h, w) || hd === 2);
    assert.ok(sameBits(permuteQK(h, heads, hd, "half-to-adjacent"), w));
    // Row 1 of head 1 in the half layout is adjacent row 2 of head 1.
    if (heads > 1 && hd >= 4) assert.equal(Array.from(h.subarray((hd + 1) * cols, (hd + 2) * cols)), Array.from(w.subarray((hd + 2) * cols, (hd + 3) * cols)));
    const u = Uint16Array.from(w, (x) => f32ToF16(x));
    const uh = permuteQK(u, heads, hd, "adjacent-to-half");
    assert.ok(uh instanceof Uint16Array);
    assert.equal(Array.from(uh, f16ToF32), Array.from(h, (x) => f16ToF32(f32ToF16(x))));
  }
});

perm("a permuted model computes the same attention scores under the other layout", () => {
  // q·k after RoPE must be identical: rotate adjacent pairs of (Wq x, Wk x) vs half pairs of the permuted rows.
  const hd = 8, dim = 8, r = mulberry32(11);
  const wq = Float32Array.from({ length: hd * dim }, () => r() - 0.5), wk = Float32Array.from({ length: hd * dim }, () => r() - 0.5);
  const x = Float32Array.from({ length: dim }, () => r() - 0.5), y = Float32Array.from({ length: dim }, () => r() - 0.5);
  const mv = (w: Float32Array, v: Float32Array) => Array.from({ length: hd }, (_, i) => v.reduce((s, vj, j) => s + w[i * dim + j] * vj, 0));
  const rope = (v: number[], pos: number, layout: "adjacent" | "half") => {
    const out = v.slice();
    for (let i = 0; i < hd / 2; i++) {
      const th = pos * Math.pow(10000, (-2 * i) / hd), c = Math.cos(th), s = Math.sin(th);
      const [a, b] = layout === "adjacent" ? [2 * i, 2 * i + 1] : [i, i + hd / 2];
      out[a] = v[a] * c - v[b] * s;
      out[b] = v[a] * s + v[b] * c;
    }
    return out;
  };
  const dot = (a: number[], b: number[]) => a.reduce((s, ai, i) => s + ai * b[i], 0);
  const s1 = dot(rope(mv(wq, x), 5, "adjacent"), rope(mv(wk, y), 2, "adjacent"));
  const s2 = dot(rope(mv(permuteQK(wq, 1, hd, "adjacent-to-half"), x), 5, "half"), rope(mv(permuteQK(wk, 1, hd, "adjacent-to-half"), y), 2, "half"));
  assert.ok(Math.abs(s1 - s2) < 1e-12, `${s1} vs ${s2}`);
});

perm("bad arguments", async () => {
  await throwsArg(async () => permuteQK(new Float32Array(10), 1, 4, "adjacent-to-half"), "w");
  await throwsArg(async () => permuteQK(new Float32Array(12), 1, 3, "adjacent-to-half"), "headDim");
  await throwsArg(async () => permuteQK(new Float32Array(8), 0, 4, "adjacent-to-half"), "nHeads");
});

perm.run();

// ---------------------------------------------------------------------------------------------------------
const real = suite("formats: stories260K");

const bin = await readSharedData("models/stories260K.bin");
const gguf = await readSharedData("models/stories260K.gguf");
if (!bin || !gguf) skipNote("models/stories260K.bin/.gguf");
const realTest = bin && gguf ? real : real.skip;

realTest(".bin and .gguf have the documented configs and bit-identical tensors", async () => {
  const a = await openModel({ files: { "stories260K.bin": bin! } });
  const b = await openModel({ files: { "stories260K.gguf": gguf! } });
  assert.is(a.format, "llama2c");
  assert.is(b.format, "gguf");
  const want = { dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, headDim: 8, vocabSize: 512 };
  for (const [k, v] of Object.entries(want)) {
    assert.is(a.config[k as keyof ModelConfig], v, k);
    assert.is(b.config[k as keyof ModelConfig], v, k);
  }
  assert.is(a.config.seqLen, 512);
  assert.is(b.config.seqLen, 2048);
  assert.is(a.config.normEps, 1e-5);
  assert.is(b.config.normEps, 1e-5); // stored as f32, read back as the short decimal
  assert.is(a.config.tiedEmbeddings, true);
  assert.is(b.config.tiedEmbeddings, false);
  assert.is(b.metadata.dataOffset, 14176);
  assert.is(a.tensors.size, 47);
  assert.is(b.tensors.size, 48);
  for (const [name, info] of a.tensors) {
    assert.equal(b.tensors.get(name)!.shape, info.shape, name);
    assert.ok(sameBits(await a.readTensor(name), await b.readTensor(name)), name);
  }
  assert.ok(sameBits(await b.readTensor("output"), await a.readTensor("tok_embeddings")));
  // Documented offsets: wq of layer 1 at 132380 + 64*64*4.
  const raw = await a.readRaw("layers.1.attn.q");
  assert.equal(raw.bytes, bin!.subarray(132380 + 16384, 132380 + 2 * 16384));
  await a.close();
  await b.close();
});

realTest("converting the .bin to GGUF with the tok512 vocabulary reproduces the reference GGUF's tensors and vocab", async () => {
  const a = await openModel({ files: { "stories260K.bin": bin! } });
  const b = await openModel({ files: { "stories260K.gguf": gguf! } });
  const out = new MemoryFolder();
  await convertModel(a, "gguf", out, { vocab: ggufVocab(b)! });
  const c = await readGGUF(mem(out.files.get("model.gguf")!, "converted.gguf"));
  assert.equal({ ...c.config, seqLen: 0 }, { ...a.config, seqLen: 0 });
  for (const name of a.tensors.keys()) assert.ok(sameBits(await c.readTensor(name), await b.readTensor(name)), name);
  assert.equal(ggufVocab(c)!.tokens, ggufVocab(b)!.tokens);
  // And back to llama2.c: byte-identical apart from the legacy freq_cis tables.
  const back = new MemoryFolder();
  await convertModel(c, "llama2c", back);
  const bytes = back.files.get("model.bin")!;
  assert.is(bytes.byteLength, bin!.byteLength);
  assert.equal(bytes.subarray(0, 1040156), bin!.subarray(0, 1040156));
  const fc = new Float32Array(bytes.slice(1040156).buffer), fo = new Float32Array(bin!.slice(1040156).buffer);
  let maxErr = 0;
  for (let i = 0; i < fc.length; i++) maxErr = Math.max(maxErr, Math.abs(fc[i] - fo[i]));
  assert.ok(maxErr < 1e-3, `freq_cis max error ${maxErr}`);
});

realTest("GGUF -> safetensors carries the GGUF's vocabulary as tokenizer.json", async () => {
  const g = await openModel({ files: { "stories260K.gguf": gguf! } });
  const out = new MemoryFolder();
  await convertModel(g, "safetensors", out);
  assert.ok(out.files.has("tokenizer.json") && out.files.has("tokenizer_config.json"));
  const hf = await openModel({ files: Object.fromEntries(out.files), name: "hf" });
  const t = await loadTokenizer(hf);
  assert.is(t.kind, "hf");
  assert.equal(t.encode("Once upon a time", { bos: true }), [1, 403, 407, 261, 378]);
  await hf.close();
  await g.close();
});

const baby = await readSharedData("models/babyllama105/model5000.bin");
(baby ? real : real.skip)("babyllama105 checkpoint reads with the documented shape", async () => {
  const r = await openModel({ files: { "model5000.bin": baby! } });
  assert.equal([r.config.dim, r.config.hiddenDim, r.config.nLayers, r.config.nHeads, r.config.nKvHeads, r.config.vocabSize, r.config.seqLen], [128, 352, 5, 8, 4, 105, 256]);
  const w1 = await r.readRaw("layers.0.mlp.gate");
  assert.equal(w1.bytes.subarray(0, 64), baby!.subarray(1041948, 1041948 + 64));
});

real.run();

// ---------------------------------------------------------------------------------------------------------
const rt = suite("formats: synthetic round trips");

async function writeHf(arch: Arch, seed: number, dtype: "f32" | "f16" | "bf16", adjust: (c: ModelConfig) => ModelConfig = (c) => c) {
  const m = syntheticModel(arch, seed);
  m.config = adjust(m.config); // config-only changes: the tensors stay valid
  const out = new MemoryFolder("hf");
  await writeSafetensors(out, m.config, m.source, { dtype, metadata: { note: "synthetic" }, extraFiles: { "tokenizer.json": new TextEncoder().encode("{}") } });
  return { m, out };
}

for (const arch of ARCHS) {
  rt(`${arch}: HF folder round trip in f32/f16/bf16, config and tensors identical`, async () => {
    for (const dtype of DTYPES) {
      const { m, out } = await writeHf(arch, 100 + ARCHS.indexOf(arch), dtype);
      const r = await openModel({ files: out.files, name: "hf" });
      assert.is(r.format, "safetensors");
      assert.equal(r.config, m.config);
      for (const info of r.tensors.values()) assert.is(info.dtype, dtype);
      await assertSameTensors(r, m.tensors, `${arch} ${dtype}`);
      assert.equal((r.metadata.safetensors as Record<string, string>), { note: "synthetic", format: "pt" });
      assert.equal(await r.readAuxFile("tokenizer.json"), new TextEncoder().encode("{}"));
      assert.is(await r.readAuxFile("nope.json"), null);
      await r.close();
    }
  });

  rt(`${arch}: HF -> GGUF -> HF is exact; q/k are permuted as llama.cpp does`, async () => {
    const gemma23 = arch === "gemma2" || arch === "gemma3";
    for (const seed of [1, 2, 3]) {
      if (gemma23) {
        // llama.cpp infers Gemma's attention scale from the shape: the synthetic models' 1/sqrt(2 headDim) has no GGUF form.
        const odd = await openModel({ files: (await writeHf(arch, seed, "f32")).out.files, name: "hf" });
        await throwsArg(() => convertModel(odd, "gguf", new MemoryFolder("g")), "to", /llama\.cpp infers the attention scale 1\/sqrt\(\d+\)/);
      }
      // llama.cpp's scale, and its layer pattern (gemma3: five in six, so all of these few layers slide).
      const { m, out } = await writeHf(arch, seed, "f32", (c) => {
        if (!gemma23) return c;
        const { slidingLayers: _synthetic, ...rest } = c;
        const g2 = arch === "gemma2" ? { slidingWindow: 3, ...(c.nLayers > 1 ? { slidingLayers: Array.from({ length: c.nLayers }, (_, i) => i % 2 === 0) } : {}) } : {};
        return { ...rest, attnScale: 1 / Math.sqrt(c.headDim), ...g2 };
      });
      const hf = await openModel({ files: out.files, name: "hf" });
      const g = new MemoryFolder("g");
      await convertModel(hf, "gguf", g);
      const gr = await readGGUF(mem(g.files.get("model.gguf")!, "g.gguf"));
      const c = m.config;
      const wantArch = arch === "mistral" ? "llama" : arch;
      assert.is(gr.config.arch, wantArch);
      assert.is(gr.config.ropeLayout, arch === "llama" || arch === "mistral" ? "adjacent" : "half");
      const q = await gr.readTensor("layers.0.attn.q");
      const q0 = m.tensors.get("layers.0.attn.q")!;
      assert.ok(sameBits(q, gr.config.ropeLayout === "adjacent" ? permuteQK(q0, c.nHeads, c.headDim, "half-to-adjacent") : q0));
      if (c.qkvBias) {
        const kb = await gr.readTensor("layers.0.attn.k_bias");
        const kb0 = m.tensors.get("layers.0.attn.k_bias")!;
        assert.ok(sameBits(kb, gr.config.ropeLayout === "adjacent" ? permuteQK(kb0, c.nKvHeads, c.headDim, "half-to-adjacent") : kb0));
      }
      if (arch === "gemma" || gemma23) {
        assert.is(gr.config.normPlusOne, false);
        for (const n of ["norm", "layers.0.attn_norm", ...(gemma23 ? ["layers.0.attn_post_norm", "layers.0.ffn_post_norm"] : []), ...(arch === "gemma3" ? ["layers.0.attn.q_norm"] : [])]) {
          assert.ok(sameBits(await gr.readTensor(n), m.tensors.get(n)!.map((x) => x + 1)), `${n} has its +1 baked in`);
        }
      }
      const back = new MemoryFolder("back");
      await convertModel(gr, "safetensors", back);
      const br = await readHfFolder(new MemorySource(back.files, "back"));
      assert.equal(br.config, { ...c, arch: wantArch as Arch });
      await assertSameTensors(br, m.tensors, `${arch} seed ${seed}`);
    }
  });
}

rt("GGUF gemma2/gemma3: llama.cpp's attention-scale rule (27B by layer count), layer patterns and local RoPE; what it cannot express is refused", async () => {
  const g2 = syntheticModel("gemma2", 5, { overrides: { nLayers: 46, dim: 40, nHeads: 2, nKvHeads: 1, headDim: 8, embedScale: Math.sqrt(40) } });
  // 46 layers: llama.cpp takes it for the 27B and scales by 1/sqrt(dim / nHeads) = 1/sqrt(20).
  const ok = { ...g2.config, attnScale: 1 / Math.sqrt(20), slidingWindow: 4, slidingLayers: Array.from({ length: 46 }, (_, i) => i % 2 === 0) };
  const out = new MemoryFolder("g");
  await writeGGUF(out, { ...ok, ropeLayout: "half", normPlusOne: false }, g2.source);
  const r = await readGGUF(mem(out.files.get("model.gguf")!, "g.gguf"));
  assert.equal([r.config.attnScale, r.config.slidingWindow, r.config.slidingLayers, r.config.attnSoftcap, r.config.logitSoftcap], [ok.attnScale, 4, ok.slidingLayers, 2, 3]);
  const bad = async (c: ModelConfig, re: RegExp) => throwsArg(() => writeGGUF(new MemoryFolder(), { ...c, normPlusOne: false }, g2.source), "config", re);
  await bad({ ...ok, attnScale: 1 / Math.sqrt(8) }, /llama\.cpp infers the attention scale 1\/sqrt\(20\)/);
  await bad({ ...ok, slidingLayers: ok.slidingLayers.map((v) => !v) }, /slides every second layer, not these/);
  await bad({ ...ok, ropeLocalTheta: 10000 }, /gemma2 has no separate RoPE base/);
  const g3 = syntheticModel("gemma3", 6, { overrides: { nLayers: 7 } });
  const ok3 = { ...g3.config, attnScale: 1 / Math.sqrt(g3.config.headDim), slidingLayers: [true, true, true, true, true, false, true], normPlusOne: false };
  const out3 = new MemoryFolder("g3");
  await writeGGUF(out3, ok3, g3.source);
  const r3 = await readGGUF(mem(out3.files.get("model.gguf")!, "g3.gguf"));
  assert.equal([r3.config.slidingLayers, r3.config.ropeLocalTheta, r3.config.qkNorm], [ok3.slidingLayers, 10000, true]);
  // A stated pattern (newer converters) wins over the convention.
  const stated = new MemoryFolder("g3p");
  await writeGGUF(stated, ok3, g3.source, { extra: { "gemma3.attention.sliding_window_pattern": 2 } });
  const rp = await readGGUF(mem(stated.files.get("model.gguf")!, "g3p.gguf"));
  assert.equal(rp.config.slidingLayers, [true, false, true, false, true, false, true]);
  // A stated pattern that is neither a period nor one flag per layer, and a RoPE scaling GGUF has no form for here.
  const badPattern = new MemoryFolder("g3b");
  await writeGGUF(badPattern, ok3, g3.source, { extra: { "gemma3.attention.sliding_window_pattern": "x" } });
  await throwsFormat(() => readGGUF(mem(badPattern.files.get("model.gguf")!, "g3b.gguf")), /sliding_window_pattern must be a period or 7 flags/);
  const yarn = new MemoryFolder("g3y");
  await writeGGUF(yarn, ok3, g3.source, { extra: { "gemma3.rope.scaling.type": "yarn" } });
  await throwsFormat(() => readGGUF(mem(yarn.files.get("model.gguf")!, "g3y.gguf")), /RoPE scaling yarn is not supported \(only linear\)/);
  await bad({ ...ok3, attnSoftcap: 5 }, /no attention-score soft-capping for gemma3/);
  await bad({ ...ok3, ropeLocalTheta: 20000 }, /sliding layers take RoPE base 10000, not 20000/);
  await bad({ ...ok3, sandwichNorms: false }, /sandwich norms are implied/);
});

rt("GGUF round trip in each dtype keeps matrices in that dtype and norms in f32", async () => {
  for (const dtype of DTYPES) {
    const m = syntheticModel("qwen2", 9);
    const out = new MemoryFolder();
    await writeGGUF(out, m.config, m.source, { dtype, name: "tiny", extra: { "dass.note": "x", "dass.n": 3 } });
    const r = await readGGUF(mem(out.files.get("model.gguf")!, "t.gguf"));
    assert.is(r.tensors.get("layers.0.attn.q")!.dtype, dtype);
    assert.is(r.tensors.get("layers.0.attn.q_bias")!.dtype, "f32");
    assert.is(r.tensors.get("norm")!.dtype, "f32");
    const kv = r.metadata.kv as Map<string, unknown>;
    assert.is(kv.get("general.name"), "tiny");
    assert.is(kv.get("dass.note"), "x");
    assert.is(kv.get("dass.n"), 3);
    assert.equal(r.config, m.config);
    await assertSameTensors(r, m.tensors, dtype);
  }
});

rt("llama2.c round trip: tied and untied, and HF -> llama2.c -> HF", async () => {
  for (const tied of [true, false]) {
    const m = syntheticModel("llama", 21, { ropeLayout: "adjacent", tied });
    const out = new MemoryFolder();
    await writeLlama2c(out, m.config, m.source);
    const bytes = out.files.get("model.bin")!;
    const h = new DataView(bytes.buffer, bytes.byteOffset);
    assert.is(h.getInt32(20, true), tied ? m.config.vocabSize : -m.config.vocabSize);
    const r = await readLlama2c(mem(bytes, "t.bin"));
    assert.equal(r.config, { ...m.config, bosId: 1, eosId: 2 });
    await assertSameTensors(r, m.tensors, `tied=${tied}`);
  }
  const { m, out } = await writeHf("mistral", 5, "bf16");
  const hf = await openModel({ files: out.files });
  const l = new MemoryFolder();
  await convertModel(hf, "llama2c", l);
  const lr = await openModel({ files: l.files });
  assert.is(lr.config.ropeLayout, "adjacent");
  const back = new MemoryFolder();
  await convertModel(lr, "safetensors", back, { dtype: "bf16" });
  const br = await openModel({ files: back.files });
  await assertSameTensors(br, m.tensors, "mistral via llama2c");
  assert.is(br.tensors.get("norm")!.dtype, "bf16");
});

rt("sharded HF folders (model.safetensors.index.json) read like single files", async () => {
  const m = syntheticModel("llama", 33, { tied: false });
  const specs = expectedTensors(m.config);
  const names = specs.map((s) => s.name);
  const hfName = (n: string) => n === "tok_embeddings" ? "model.embed_tokens.weight" : n === "norm" ? "model.norm.weight" : n === "output" ? "lm_head.weight"
    : n.replace(/^layers\.(\d+)\./, "model.layers.$1.").replace("attn_norm", "input_layernorm.weight").replace("ffn_norm", "post_attention_layernorm.weight")
      .replace(/attn\.(q|k|v|o)$/, "self_attn.$1_proj.weight").replace(/mlp\.(gate|up|down)$/, "mlp.$1_proj.weight");
  const files: Record<string, Uint8Array> = {};
  const weightMap: Record<string, string> = {};
  const halves = [names.slice(0, 5), names.slice(5)];
  halves.forEach((part, i) => {
    const shard = `model-0000${i + 1}-of-00002.safetensors`;
    const entries = part.map((n) => ({ name: hfName(n), dtype: "f32" as const, shape: specs.find((s) => s.name === n)!.shape }));
    const { bytes } = safetensorsHeader(entries, { format: "pt" });
    const data = part.map((n) => new Uint8Array(m.tensors.get(n)!.buffer));
    const total = bytes.byteLength + data.reduce((s, d) => s + d.byteLength, 0);
    const f = new Uint8Array(total);
    f.set(bytes);
    let p = bytes.byteLength;
    for (const d of data) { f.set(d, p); p += d.byteLength; }
    files[shard] = f;
    for (const e of entries) weightMap[e.name] = shard;
  });
  const cfgOut = new MemoryFolder();
  await writeSafetensors(cfgOut, m.config, m.source);
  files["config.json"] = cfgOut.files.get("config.json")!;
  files["model.safetensors.index.json"] = new TextEncoder().encode(JSON.stringify({ metadata: {}, weight_map: weightMap }));
  const r = await openModel({ files });
  await assertSameTensors(r, m.tensors, "sharded");
  assert.equal(r.metadata.shards, ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
});

rt("RoPE scaling (llama3, linear; rope_scaling or rope_parameters) survives an HF round trip, linear a GGUF one; llama2.c refuses it", async () => {
  const llama3 = { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 } as const;
  for (const ropeScaling of [llama3, { type: "linear", factor: 2 } as const]) {
    const m = syntheticModel("llama", 11, { overrides: { ropeScaling, ropeTheta: 500000 } });
    const out = new MemoryFolder("hf");
    await writeSafetensors(out, m.config, m.source);
    const cfg = JSON.parse(new TextDecoder().decode(out.files.get("config.json")!)) as Record<string, unknown>;
    assert.is((cfg.rope_scaling as { rope_type: string }).rope_type, ropeScaling.type);
    const r = await openModel({ files: out.files, name: "hf" });
    assert.equal(r.config.ropeScaling, ropeScaling);
    // transformers 5 puts the scaling (and theta) in rope_parameters.
    const { rope_scaling: rs, rope_theta: theta, ...rest } = cfg;
    const v5 = { ...rest, rope_parameters: { ...(rs as object), rope_theta: theta } };
    const r5 = await openModel({ files: new Map([...out.files, ["config.json", new TextEncoder().encode(JSON.stringify(v5))]]), name: "hf" });
    assert.equal(r5.config.ropeScaling, ropeScaling);
    assert.is(r5.config.ropeTheta, 500000);
    const adj = syntheticModel("llama", 11, { ropeLayout: "adjacent", overrides: { ropeScaling } });
    if (ropeScaling.type === "linear") {
      // GGUF: rope.scaling.type "linear" and rope.scaling.factor, as llama.cpp reads them.
      const g = new MemoryFolder();
      await writeGGUF(g, adj.config, adj.source);
      const gr = await readGGUF(mem(g.files.get("model.gguf")!, "g.gguf"));
      assert.equal([(gr.metadata.kv as Map<string, unknown>).get("llama.rope.scaling.type"), gr.config.ropeScaling], ["linear", ropeScaling]);
    }
    await throwsArg(() => writeLlama2c(new MemoryFolder(), adj.config, adj.source), "config", /cannot hold RoPE scaling/);
  }
  const none = await openModel({ files: (await writeHf("llama", 12, "f32")).out.files });
  assert.is(none.config.ropeScaling ?? null, null);
});

rt("Llama 3.1 scaling in GGUF: rope_freqs divisors as llama.cpp writes them; GGUF round trip exact; HF refuses the divisors", async () => {
  const ropeScaling = { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 } as const;
  const m = syntheticModel("llama", 14, { overrides: { headDim: 8, ropeScaling } });
  const out = new MemoryFolder("hf");
  await writeSafetensors(out, m.config, m.source);
  const hf = await openModel({ files: out.files, name: "hf" });
  const g = new MemoryFolder("g");
  await convertModel(hf, "gguf", g);
  const gr = await readGGUF(mem(g.files.get("model.gguf")!, "g.gguf"));
  const rs = gr.config.ropeScaling!;
  assert.is(rs.type, "factors");
  // headDim 8, theta 10000, original context 64: pair 0 kept, 1 blended, 2 and 3 divided by 8.
  const factors = (rs as { factors: readonly number[] }).factors;
  assert.equal([factors[0], factors[2], factors[3]], [1, 8, 8]);
  assert.ok(factors[1] > 1 && factors[1] < 8);
  // Same frequencies (to f32 rounding) as the HF parameters give.
  const a = K.ropeFrequencies(8, 10000, ropeScaling), b = K.ropeFrequencies(8, 10000, rs);
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-6 * a[i], `pair ${i}: ${a[i]} vs ${b[i]}`);
  const again = new MemoryFolder("g2");
  await convertModel(gr, "gguf", again);
  assert.equal((await readGGUF(mem(again.files.get("model.gguf")!, "g2.gguf"))).config, gr.config);
  await throwsArg(() => convertModel(gr, "safetensors", new MemoryFolder()), "to", /rope_freqs\) have no Hugging Face rope_scaling form/);
  // A rope_freqs of the wrong length or with a zero is a FormatError.
  const bytes = g.files.get("model.gguf")!;
  const h = await parseGGUFHeader(mem(bytes));
  const t = h.tensors.find((x) => x.name === "rope_freqs.weight")!;
  const zero = bytes.slice();
  new DataView(zero.buffer).setFloat32(h.dataOffset + t.offset + 4, 0, true);
  await throwsFormat(() => readGGUF(mem(zero, "z.gguf")), /rope_freqs\.weight\[1\] = 0: RoPE frequency factors must be finite and > 0/);
  // Its tensor info: name, u32 dim count, u64 dims; a wrong length is refused before any data is read.
  const nameAt = new TextDecoder("latin1").decode(bytes.subarray(0, h.dataOffset)).lastIndexOf("rope_freqs.weight");
  const long = bytes.slice();
  new DataView(long.buffer).setBigUint64(nameAt + "rope_freqs.weight".length + 4, 5n, true);
  await throwsFormat(() => readGGUF(mem(long, "l.gguf")), /rope_freqs\.weight must be F32 \[4\] \(headDim \/ 2\), got F32 \[5\]/);
});

rt("Gemma 3: configs as Google ships them (1B text, 4B multimodal); its language model read, written as Gemma3ForCausalLM", () => {
  // gemma-3-1b-it's config.json (the fields that matter).
  const oneB = hfConfigToModelConfig({
    architectures: ["Gemma3ForCausalLM"], model_type: "gemma3_text", attention_bias: false, attn_logit_softcapping: null,
    final_logit_softcapping: null, head_dim: 256, hidden_activation: "gelu_pytorch_tanh", hidden_size: 1152, intermediate_size: 6912,
    max_position_embeddings: 32768, num_attention_heads: 4, num_hidden_layers: 26, num_key_value_heads: 1, query_pre_attn_scalar: 256,
    rms_norm_eps: 1e-6, rope_local_base_freq: 10000, rope_scaling: null, rope_theta: 1000000, sliding_window: 512,
    sliding_window_pattern: 6, vocab_size: 262144, bos_token_id: 2, eos_token_id: [1, 106],
  }, "config.json");
  const full = [5, 11, 17, 23];
  assert.equal(
    [oneB.arch, oneB.dim, oneB.nHeads, oneB.nKvHeads, oneB.headDim, oneB.seqLen, oneB.slidingWindow, oneB.ropeTheta, oneB.ropeLocalTheta, oneB.ropeScaling],
    ["gemma3", 1152, 4, 1, 256, 32768, 512, 1000000, 10000, undefined],
  );
  assert.equal(oneB.slidingLayers, Array.from({ length: 26 }, (_, i) => !full.includes(i)), "every 6th layer is global");
  assert.equal([oneB.qkNorm, oneB.sandwichNorms, oneB.attnScale, oneB.attnSoftcap, oneB.normPlusOne, oneB.tiedEmbeddings, oneB.act], [true, true, 1 / 16, undefined, true, true, "gelu_tanh"]);
  assert.is(oneB.embedScale, Math.sqrt(1152));
  // gemma-3-4b-it: a multimodal wrapper whose text_config leaves most fields to transformers' defaults.
  const fourB = hfConfigToModelConfig({
    architectures: ["Gemma3ForConditionalGeneration"], model_type: "gemma3", mm_tokens_per_image: 256, eos_token_id: [106, 1],
    text_config: { hidden_size: 2560, intermediate_size: 10240, model_type: "gemma3_text", num_hidden_layers: 34, rope_scaling: { factor: 8.0, rope_type: "linear" }, sliding_window: 1024 },
    vision_config: { hidden_size: 1152, model_type: "siglip_vision_model" },
  }, "config.json");
  assert.equal(
    [fourB.nHeads, fourB.nKvHeads, fourB.headDim, fourB.vocabSize, fourB.seqLen, fourB.slidingWindow, fourB.ropeScaling, fourB.attnScale, fourB.ropeLocalTheta],
    [8, 4, 256, 262208, 131072, 1024, { type: "linear", factor: 8 }, 1 / 16, 10000],
  );
  assert.equal([fourB.bosId, fourB.eosId], [2, 106], "token ids from the wrapper, else transformers' defaults");
  assert.equal(fourB.slidingLayers, Array.from({ length: 34 }, (_, i) => ![5, 11, 17, 23, 29].includes(i)));
  // Tensor names of the wrapper, old and new layouts; the vision tower is ignored.
  assert.is(hfToCanonical("language_model.model.layers.3.self_attn.q_norm.weight", "gemma3"), "layers.3.attn.q_norm");
  assert.is(hfToCanonical("model.language_model.layers.3.pre_feedforward_layernorm.weight", "gemma3"), "layers.3.ffn_norm");
  assert.is(hfToCanonical("model.language_model.embed_tokens.weight", "gemma3"), "tok_embeddings");
  assert.is(hfToCanonical("vision_tower.vision_model.embeddings.patch_embedding.weight", "gemma3"), null);
  assert.is(hfToCanonical("model.multi_modal_projector.mm_input_projection_weight", "gemma3"), null);
  assert.is(hfToCanonical("language_model.model.layers.3.self_attn.q_norm.weight", "gemma2"), undefined, "only Gemma 3 is unwrapped");
});

rt("Gemma 3: a multimodal folder (prefixed names, vision tensors, transformers 5 rope_parameters) reads as its language model", async () => {
  const m = syntheticModel("gemma3", 21, { overrides: { nLayers: 2, slidingLayers: [true, false] } });
  const written = new MemoryFolder("hf");
  await writeSafetensors(written, m.config, m.source);
  const text = JSON.parse(new TextDecoder().decode(written.files.get("config.json")!)) as Record<string, unknown>;
  assert.equal([text.architectures, text.model_type, text.rope_local_base_freq, text.sliding_window_pattern], [["Gemma3ForCausalLM"], "gemma3_text", 10000, 2]);
  for (const k of ["architectures", "rope_theta", "rope_local_base_freq", "rms_norm_eps", "tie_word_embeddings"]) delete text[k];
  text.rope_parameters = { full_attention: { rope_type: "default", rope_theta: 1000000 }, sliding_attention: { rope_type: "default", rope_theta: 10000 } };
  const cfg = { architectures: ["Gemma3ForConditionalGeneration"], model_type: "gemma3", text_config: text, vision_config: { hidden_size: 4 }, image_token_index: 5 };
  const shapes = new Map(expectedTensors(m.config).map((t) => [t.name, t.shape]));
  const entries = [...m.tensors].map(([n, data]) => ({ name: "language_model." + canonicalToHf(n, "gemma3"), shape: shapes.get(n)!, data }));
  entries.push({ name: "vision_tower.vision_model.post_layernorm.weight", shape: [4], data: new Float32Array([1, 2, 3, 4]) });
  const { bytes: head, dataBytes } = safetensorsHeader(entries.map((e) => ({ name: e.name, dtype: "f32", shape: e.shape })), {});
  const st = new Uint8Array(head.byteLength + dataBytes);
  st.set(head);
  let at = head.byteLength;
  for (const e of entries) { st.set(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength), at); at += e.data.byteLength; }
  const files = new Map([["config.json", new TextEncoder().encode(JSON.stringify(cfg))], ["model.safetensors", st]]);
  const r = await openModel({ files, name: "gemma3-mm" });
  assert.equal(r.config, m.config);
  await assertSameTensors(r, m.tensors, "gemma3 language model");
  const out = new MemoryFolder("out");
  await convertModel(r, "safetensors", out);
  const back = JSON.parse(new TextDecoder().decode(out.files.get("config.json")!)) as Record<string, unknown>;
  assert.equal([back.architectures, back.model_type, back.text_config, back.vision_config], [["Gemma3ForCausalLM"], "gemma3_text", undefined, undefined]);
  await assertSameTensors(await openModel({ files: out.files, name: "out" }), m.tensors, "written as Gemma3ForCausalLM");
});

rt("Phi-3: fused qkv_proj and gate_up_proj read as the Llama they are; written back as LlamaForCausalLM", async () => {
  const m = syntheticModel("llama", 15, { overrides: { seqLen: 64 } });
  const c = m.config;
  // The Phi-3 form of the same weights: q/k/v rows fused in one matrix, gate then up in another.
  const names: { name: string; data: Float32Array }[] = [{ name: "model.embed_tokens.weight", data: m.tensors.get("tok_embeddings")! }];
  const cat = (...xs: Float32Array[]) => { const o = new Float32Array(xs.reduce((s, x) => s + x.length, 0)); let p = 0; for (const x of xs) { o.set(x, p); p += x.length; } return o; };
  for (let l = 0; l < c.nLayers; l++) {
    const t = (s: string) => m.tensors.get(`layers.${l}.${s}`)!;
    const L = `model.layers.${l}.`;
    names.push(
      { name: L + "input_layernorm.weight", data: t("attn_norm") },
      { name: L + "self_attn.qkv_proj.weight", data: cat(t("attn.q"), t("attn.k"), t("attn.v")) },
      { name: L + "self_attn.o_proj.weight", data: t("attn.o") },
      { name: L + "post_attention_layernorm.weight", data: t("ffn_norm") },
      { name: L + "mlp.gate_up_proj.weight", data: cat(t("mlp.gate"), t("mlp.up")) },
      { name: L + "mlp.down_proj.weight", data: t("mlp.down") },
    );
  }
  names.push({ name: "model.norm.weight", data: m.tensors.get("norm")! }, { name: "lm_head.weight", data: m.tensors.get("output")! });
  const q = c.nHeads * c.headDim;
  const shapeOf = (n: string, len: number) => (/norm/.test(n) ? [len] : [len / (/down_proj/.test(n) ? c.hiddenDim : /o_proj/.test(n) ? q : c.dim), /down_proj/.test(n) ? c.hiddenDim : /o_proj/.test(n) ? q : c.dim]);
  const { bytes: head, dataBytes } = safetensorsHeader(names.map((n) => ({ name: n.name, dtype: "f32", shape: shapeOf(n.name, n.data.length) })), {});
  const st = new Uint8Array(head.byteLength + dataBytes);
  st.set(head);
  let at = head.byteLength;
  for (const n of names) { st.set(new Uint8Array(n.data.buffer, n.data.byteOffset, n.data.byteLength), at); at += n.data.byteLength; }
  const cfg = {
    architectures: ["Phi3ForCausalLM"], model_type: "phi3", auto_map: { AutoModelForCausalLM: "modeling_phi3.Phi3ForCausalLM" },
    hidden_size: c.dim, intermediate_size: c.hiddenDim, num_hidden_layers: c.nLayers, num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads, vocab_size: c.vocabSize, max_position_embeddings: 64, sliding_window: 47, rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta, rope_scaling: null, tie_word_embeddings: false, hidden_act: "silu", bos_token_id: 1, eos_token_id: 2,
  };
  const files = new Map([["config.json", new TextEncoder().encode(JSON.stringify(cfg))], ["model.safetensors", st]]);
  const r = await openModel({ files, name: "phi3" });
  assert.equal(r.config, { ...c, arch: "mistral", seqLen: 64, slidingWindow: 47 }, "a Llama with a sliding window: a Mistral");
  await assertSameTensors(r, m.tensors, "phi3");
  const out = new MemoryFolder("out");
  await convertModel(r, "safetensors", out);
  const written = JSON.parse(new TextDecoder().decode(out.files.get("config.json")!)) as Record<string, unknown>;
  assert.equal([written.architectures, written.sliding_window], [["MistralForCausalLM"], 47]);
  assert.is(written.auto_map, undefined, "no pointer to Phi-3's remote code");
  await assertSameTensors(await openModel({ files: out.files, name: "out" }), m.tensors, "written as mistral");
  // To GGUF it goes as llama.cpp's phi3: HF's RoPE layout, fused projections, the window kept.
  const g = new MemoryFolder("g");
  assert.is(convertedContext(r, "gguf"), 64);
  assert.is(convertedContext(r, "llama2c"), 47);
  await convertModel(r, "gguf", g);
  const gr = await readGGUF(mem(g.files.get("model.gguf")!, "phi3.gguf"));
  assert.is(gr.metadata.ggufArch, "phi3");
  assert.equal(gr.config, r.config);
  await assertSameTensors(gr, m.tensors, "phi3 GGUF");
  const unwindowed = new Map(files);
  unwindowed.set("config.json", new TextEncoder().encode(JSON.stringify({ ...cfg, sliding_window: null })));
  const u = await openModel({ files: unwindowed, name: "phi3" });
  assert.equal(u.config, { ...c, seqLen: 64 }, "without a window, a Llama");
  const outU = new MemoryFolder("outU");
  await convertModel(u, "safetensors", outU);
  assert.equal((JSON.parse(new TextDecoder().decode(outU.files.get("config.json")!)) as Record<string, unknown>).architectures, ["LlamaForCausalLM"]);
  // A fused tensor of the wrong height, and a partial rotary factor, are refused.
  const short = new Map(files);
  short.set("config.json", new TextEncoder().encode(JSON.stringify({ ...cfg, intermediate_size: c.hiddenDim + 1 })));
  await throwsFormat(() => openModel({ files: short, name: "phi3" }), /gate_up_proj\.weight has shape .* the config implies/);
  const partial = new Map(files);
  partial.set("config.json", new TextEncoder().encode(JSON.stringify({ ...cfg, partial_rotary_factor: 0.75 })));
  await throwsFormat(() => openModel({ files: partial, name: "phi3" }), /partial_rotary_factor = 0\.75/);
});

rt("GGUF phi3: fused attn_qkv and ffn_up read in place (also quantised); a Llama in HF's RoPE layout is written as phi3", async () => {
  const m = syntheticModel("llama", 16, { overrides: { seqLen: 64 } });
  const c: ModelConfig = { ...m.config, ropeLayout: "half" };
  const q = c.nHeads * c.headDim, kv = c.nKvHeads * c.headDim;
  for (const config of [c, { ...c, arch: "mistral", slidingWindow: 47 } as ModelConfig]) {
    const out = new MemoryFolder("p");
    await writeGGUF(out, config, m.source, { dtype: "f16" });
    const bytes = out.files.get("model.gguf")!;
    const h = await parseGGUFHeader(mem(bytes));
    assert.is(h.kv.get("general.architecture"), "phi3");
    assert.is(h.kv.get("phi3.context_length"), 64, "the window is kept, not the context cut");
    assert.is(h.kv.get("phi3.attention.sliding_window"), config.slidingWindow);
    const dims = (n: string) => h.tensors.find((t) => t.name === n)?.dims;
    assert.equal([dims("blk.0.attn_qkv.weight"), dims("blk.0.ffn_up.weight")], [[c.dim, q + 2 * kv], [c.dim, 2 * c.hiddenDim]]);
    assert.equal([dims("blk.0.attn_q.weight"), dims("blk.0.ffn_gate.weight")], [undefined, undefined]);
    const r = await readGGUF(mem(bytes, "phi3.gguf"));
    assert.equal(r.config, config);
    for (const [name, want] of m.tensors) {
      const got = await r.readTensor(name);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-3 * Math.abs(want[i]) + 1e-7, `${name}[${i}]`);
    }
  }
  // The fused tensors quantised (Q8_0, 32-wide blocks along rows): each part is its rows, dequantised.
  const wide = syntheticModel("llama", 17, { overrides: { seqLen: 64, dim: 64, hiddenDim: 96, nHeads: 4, nKvHeads: 2, headDim: 16 } });
  const wc: ModelConfig = { ...wide.config, ropeLayout: "half" };
  const wo = new MemoryFolder("w");
  await writeGGUF(wo, wc, wide.source);
  const qb = wo.files.get("model.gguf")!.slice();
  const qh = await parseGGUFHeader(mem(qb));
  const fused = qh.tensors.find((t) => t.name === "blk.0.ffn_up.weight")!;
  // Rewrite it as Q8_0 in place (34 bytes per 32 values, where f32 took 128): scale 2^-7, q = i % 127 - 63.
  const rows = 2 * wc.hiddenDim, blocksPerRow = wc.dim / 32;
  const nameAt = new TextDecoder("latin1").decode(qb.subarray(0, qh.dataOffset)).indexOf("blk.0.ffn_up.weight");
  const dv = new DataView(qb.buffer);
  dv.setUint32(nameAt + "blk.0.ffn_up.weight".length + 4 + 16, 8, true);
  const base = qh.dataOffset + fused.offset;
  const expect = new Float32Array(rows * wc.dim);
  for (let b = 0; b < rows * blocksPerRow; b++) {
    dv.setUint16(base + 34 * b, 0x2000, true); // f16 2^-7
    for (let i = 0; i < 32; i++) { const v = ((b * 32 + i) % 127) - 63; dv.setInt8(base + 34 * b + 2 + i, v); expect[b * 32 + i] = v * 0.0078125; }
  }
  const qr = await readGGUF(mem(qb, "q.gguf"));
  assert.equal(qr.tensors.get("layers.0.mlp.up")!.quantized, { type: "Q8_0", storedBytes: wc.hiddenDim * blocksPerRow * 34 });
  assert.equal(await qr.readTensor("layers.0.mlp.gate"), expect.subarray(0, wc.hiddenDim * wc.dim));
  assert.equal(await qr.readTensor("layers.0.mlp.up"), expect.subarray(wc.hiddenDim * wc.dim));
  // Refused: compressing a fused matrix, per-layer windows, LongRoPE, a fused tensor of the wrong height, a part stored twice.
  const nm = { n: 2, m: 4, axis: "input" } as const;
  await throwsArg(() => writeGGUF(new MemoryFolder(), c, m.source, { compress: (n: string) => (n.endsWith("mlp.up") ? nm : undefined) }), "compress", /GGUF phi3 fuses layers\.0\.mlp\.gate, layers\.0\.mlp\.up into ffn_up\.weight: compress all of them or none/);
  // Compressed, a fused group is stored apart (attn_q/k/v, ffn_gate/ffn_up compressed; only dass reads those).
  const pruned = new Map(m.tensors);
  for (const [name, w] of m.tensors) if (/mlp\.(gate|up)$/.test(name)) pruned.set(name, w.map((v, i) => (i % 4 < 2 ? 0 : v)));
  const packed = new MemoryFolder("c");
  await writeGGUF(packed, c, async (n) => pruned.get(n)!.slice(), { compress: (n: string) => (/mlp\.(gate|up)$/.test(n) ? nm : undefined) });
  const cb = packed.files.get("model.gguf")!;
  const names = (await parseGGUFHeader(mem(cb))).tensors.map((t) => t.name);
  assert.ok(names.includes("blk.0.attn_qkv.weight") && names.includes("blk.0.ffn_gate.weight.nm_values") && names.includes("blk.0.ffn_up.weight.nm_masks"));
  const cr = await readGGUF(mem(cb, "c.gguf"));
  assert.is(cr.tensors.get("layers.0.mlp.up")!.compressed?.axis, "input");
  for (const [name, want] of pruned) assert.equal(await cr.readTensor(name), want, name);
  await throwsArg(() => writeGGUF(new MemoryFolder(), { ...c, arch: "mistral", slidingWindow: 8, slidingLayers: Array.from({ length: c.nLayers }, (_, i) => i % 2 === 0) }, m.source), "config", /phi3 slides every layer or none/);
  const src = new MemoryFolder("s");
  await writeGGUF(src, c, m.source);
  const good = src.files.get("model.gguf")!;
  const rename = (from: string, to: string) => {
    const b = good.slice();
    const at = new TextDecoder("latin1").decode(b).indexOf(from);
    b.set(new TextEncoder().encode(to), at);
    return b;
  };
  await throwsFormat(() => readGGUF(mem(rename("blk.0.attn_output.weight", "rope_factors_long.weight"), "l.gguf")), /LongRoPE needs both rope_factors_long\.weight and rope_factors_short\.weight; the file has only one/);
  await throwsFormat(() => readGGUF(mem(rename("blk.0.ffn_down.weight", "blk.0.ffn_gate.weight"), "d.gguf")), /tensor layers\.0\.mlp\.gate is stored twice \(blk\.0\.ffn_gate\.weight holds it too\)/);
  const short = good.slice();
  const gh = await parseGGUFHeader(mem(good));
  const qkvAt = new TextDecoder("latin1").decode(good.subarray(0, gh.dataOffset)).indexOf("blk.1.attn_qkv.weight");
  new DataView(short.buffer).setBigUint64(qkvAt + "blk.1.attn_qkv.weight".length + 4 + 8, BigInt(q + kv), true);
  await throwsFormat(() => readGGUF(mem(short, "s.gguf")), new RegExp(`blk\\.1\\.attn_qkv\\.weight has shape \\[${q + kv},${c.dim}\\], expected \\[${q + 2 * kv}, ${c.dim}\\] \\(attn\\.q \\+ attn\\.k \\+ attn\\.v\\)`));
});

rt("LongRoPE (Phi-3 128k): HF longrope/su read as transformers does; HF and GGUF phi3 round trips; GGUF llama, half a pair and bad factors refused", async () => {
  const longrope = { type: "longrope", shortFactors: [1, 1.25, 1.5, 2], longFactors: [1, 3, 9, 27], originalContext: 16, attentionFactor: 1.2 } as const;
  const m = syntheticModel("llama", 21, { overrides: { headDim: 8, seqLen: 64, ropeScaling: longrope } });
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  // HF: a Llama with rope_type longrope, its attention factor, and Phi-3's top-level original context.
  const out = new MemoryFolder("hf");
  await writeSafetensors(out, m.config, m.source);
  const cfg = JSON.parse(new TextDecoder().decode(out.files.get("config.json")!)) as Record<string, unknown>;
  const factors = { short_factor: [...longrope.shortFactors], long_factor: [...longrope.longFactors] };
  assert.equal(cfg.rope_scaling, { rope_type: "longrope", ...factors, attention_factor: 1.2 });
  assert.is(cfg.original_max_position_embeddings, 16);
  assert.equal((await openModel({ files: out.files, name: "hf" })).config, m.config);
  const withConfig = (c: Record<string, unknown>) => openModel({ files: new Map([...out.files, ["config.json", enc(c)]]), name: "hf" });
  // Phi-3-mini-128k's own form states no attention factor: sqrt(1 + ln(64 / 16) / ln 16) = sqrt(1.5).
  for (const type of ["su", "longrope"]) {
    const r = await withConfig({ ...cfg, rope_scaling: { type, ...factors } });
    assert.equal(r.config.ropeScaling, { ...longrope, attentionFactor: Math.sqrt(1.5) }, type);
  }
  // Without it the original context is max_position_embeddings and the extension rope_scaling.factor.
  const { original_max_position_embeddings: _, ...noOriginal } = cfg;
  const r2 = await withConfig({ ...noOriginal, rope_scaling: { rope_type: "longrope", ...factors, factor: 4 } });
  assert.equal(r2.config.ropeScaling, { ...longrope, originalContext: 64, attentionFactor: Math.sqrt(1 + Math.log(4) / Math.log(64)) });
  await throwsFormat(() => withConfig({ ...cfg, rope_scaling: { type: "su", ...factors, short_factor: [1, 0, 1, 1] } }), /ropeScaling\.shortFactors\[1\] must be finite and > 0/);
  await throwsFormat(() => withConfig({ ...cfg, rope_scaling: { type: "su", short_factor: [1, 1, 1], long_factor: [1, 1, 1] } }), /have 3 entries, headDim \/ 2 = 4/);
  // GGUF: phi3 with rope_factors_long/short and the two keys llama.cpp's converter writes; exact round trip.
  const g = new MemoryFolder("g");
  await writeGGUF(g, m.config, m.source);
  const bytes = g.files.get("model.gguf")!;
  const h = await parseGGUFHeader(mem(bytes));
  assert.is(h.kv.get("general.architecture"), "phi3");
  assert.equal([h.kv.get("phi3.rope.scaling.attn_factor"), h.kv.get("phi3.rope.scaling.original_context_length")], [Math.fround(1.2), 16]);
  assert.equal(["rope_factors_long.weight", "rope_factors_short.weight"].map((n) => h.tensors.find((t) => t.name === n)?.dims), [[4], [4]]);
  const gr = await readGGUF(mem(bytes, "g.gguf"));
  assert.equal(gr.config, m.config);
  await assertSameTensors(gr, m.tensors, "LongRoPE GGUF");
  const renamed = (from: string, to: string) => {
    const b = bytes.slice();
    b.set(new TextEncoder().encode(to), new TextDecoder("latin1").decode(b.subarray(0, h.dataOffset)).indexOf(from));
    return mem(b, "r.gguf");
  };
  // Without the attention-factor key, the factor comes from context / original context, as the converter derives it.
  const derived = await readGGUF(renamed("phi3.rope.scaling.attn_factor", "phi3.rope.scaling.attn_factoX"));
  assert.is((derived.config.ropeScaling as typeof longrope | undefined)?.attentionFactor, Math.sqrt(1.5));
  await throwsFormat(() => readGGUF(renamed("rope_factors_short.weight", "rope_factors_shorX.weight")), /LongRoPE needs both/);
  await throwsArg(() => writeGGUF(new MemoryFolder(), { ...m.config, ropeLayout: "adjacent" }, m.source), "config", /GGUF llama has no LongRoPE/);
});

rt("split GGUF (gguf-split parts): read as one model from the first part; wrong or missing parts are clear errors", async () => {
  const m = syntheticModel("llama", 19, { ropeLayout: "adjacent" });
  const out = new MemoryFolder("s");
  await writeGGUF(out, m.config, m.source, { dtype: "bf16" });
  const whole = out.files.get("model.gguf")!;
  const n = (await parseGGUFHeader(mem(whole))).tensors.length;
  const parts = await splitGGUF(whole, "tiny", [5, 7, n - 12]);
  const r = await openModel({ files: parts, name: "split" });
  assert.equal(r.config, (await readGGUF(mem(whole, "whole.gguf"))).config);
  await assertSameTensors(r, m.tensors, "split");
  await r.close();
  // Only part 2 given: it says which file to open; the first without the others: which part is missing.
  await throwsFormat(() => openModel({ files: { "tiny-00002-of-00003.gguf": parts.get("tiny-00002-of-00003.gguf")! } }), /is part 2 of a model split into 3 files; open the first part \(tiny-00001-of-00003\.gguf\)/);
  const two = new Map(parts);
  two.delete("tiny-00003-of-00003.gguf");
  await throwsFormat(() => openModel({ files: two }), /part 3 of 3 \(tiny-00003-of-00003\.gguf\) cannot be opened: not among the files given/);
  await throwsFormat(() => readGGUF(mem(parts.get("tiny-00001-of-00003.gguf")!, "tiny-00001-of-00003.gguf")), /is split into 3 files; open it by path/);
  const swapped = await splitGGUF(whole, "tiny", [5, 7, n - 12], (no) => ({ no: no === 1 ? 2 : no === 2 ? 1 : 0 }));
  await throwsFormat(() => openModel({ files: swapped }), /tiny-00002-of-00003\.gguf: is not part 2 of 3 \(its split\.no is 2/);
  // Part 3 replaced by a copy of part 2 (split.no patched): its tensors appear twice.
  const dup = await splitGGUF(whole, "tiny", [5, 7, n - 12], () => ({ total: 19 }));
  const copy = dup.get("tiny-00002-of-00003.gguf")!.slice();
  new DataView(copy.buffer).setUint16(new TextDecoder("latin1").decode(copy).indexOf("split.no") + 8 + 4, 2, true);
  dup.set("tiny-00003-of-00003.gguf", copy);
  await throwsFormat(() => openModel({ files: dup }), /tensor blk\.\S+ appears twice among the parts/);
  // A first part renamed out of the NAME-00001-of-0000N pattern, and a split.count of 0.
  const firstPart = parts.get("tiny-00001-of-00003.gguf")!;
  await throwsFormat(() => readGGUF(mem(firstPart, "renamed.gguf"), { openPart: async () => mem(firstPart) }), /renamed\.gguf: is split into 3 files but is not named like one \(NAME-00001-of-00003\.gguf\)/);
  const zero = firstPart.slice();
  new DataView(zero.buffer).setUint16(new TextDecoder("latin1").decode(zero).indexOf("split.count") + 11 + 4, 0, true);
  await throwsFormat(() => readGGUF(mem(zero, "tiny-00001-of-00003.gguf")), /metadata split\.count = 0 is invalid/);
  // readBlocks is for block-quantised tensors only.
  const whole2 = await readGGUF(mem(whole, "whole.gguf"));
  await throwsFormat(() => whole2.readBlocks!("norm"), /tensor norm is not block-quantised/);
  await whole2.close();
  const miscounted = await splitGGUF(whole, "tiny", [5, 7, n - 12], () => ({ total: n + 1 }));
  await throwsFormat(() => openModel({ files: miscounted }), new RegExp(`split\\.tensors\\.count is ${n + 1} but the 3 parts hold ${n} tensors`));
});

rt("sliding windows are read per layer as transformers runs them, written back, and cut the context in GGUF", async () => {
  const L = (...v: boolean[]) => v;
  for (const [arch, extra, window, layers] of [
    ["mistral", { sliding_window: 8 }, 8, undefined], ["mistral", { sliding_window: null }, undefined, undefined],
    ["mistral", { sliding_window: undefined, max_position_embeddings: 8192 }, 4096, undefined],
    ["llama", { sliding_window: 8 }, undefined, undefined],
    ["qwen2", { sliding_window: 8, use_sliding_window: false }, undefined, undefined],
    ["qwen2", { sliding_window: 8, use_sliding_window: true, max_window_layers: 0 }, 8, undefined],
    ["qwen2", { sliding_window: 8, use_sliding_window: true, max_window_layers: 1, num_hidden_layers: 3 }, 8, L(false, true, true)],
    ["qwen2", { sliding_window: 8, use_sliding_window: true, max_window_layers: 3, num_hidden_layers: 3 }, undefined, undefined],
    ["qwen3", { sliding_window: 5, use_sliding_window: true, num_hidden_layers: 3, layer_types: ["full_attention", "sliding_attention", "full_attention"] }, 5, L(false, true, false)],
    ["gemma2", { sliding_window: 6, num_hidden_layers: 3 }, 6, L(true, false, true)],
  ] as const) {
    const nLayers = "num_hidden_layers" in extra ? extra.num_hidden_layers : undefined;
    const m = syntheticModel(arch, 13, { overrides: { seqLen: 64, ...(nLayers ? { nLayers } : {}) } });
    const out = new MemoryFolder("hf");
    await writeSafetensors(out, m.config, m.source);
    const cfg = JSON.parse(new TextDecoder().decode(out.files.get("config.json")!)) as Record<string, unknown>;
    const files = new Map([...out.files, ["config.json", new TextEncoder().encode(JSON.stringify({ ...cfg, ...extra }))]]);
    const what = `${arch} ${JSON.stringify(extra)}`;
    const read = (await openModel({ files, name: "hf" })).config;
    const ctx = "max_position_embeddings" in extra ? extra.max_position_embeddings : 64;
    assert.is(read.seqLen, ctx, `${what}: the context stays`);
    assert.is(read.slidingWindow, window, what);
    assert.equal(read.slidingLayers, layers, what);
    // Written back, the window reads the same.
    const again = new MemoryFolder("again");
    await writeSafetensors(again, read, m.source);
    const back = (await openModel({ files: again.files, name: "again" })).config;
    assert.equal([back.slidingWindow, back.slidingLayers, back.seqLen], [window, layers, ctx], `${what} written back`);
    if (arch === "mistral" || arch === "qwen2" || arch === "qwen3") {
      const g = new MemoryFolder("gguf");
      await convertModel(await openModel({ files, name: "hf" }), "gguf", g);
      const gg = await openModel({ files: g.files, name: "gguf" });
      assert.is(gg.config.seqLen, Math.min(window ?? ctx, ctx), `${what}: GGUF holds the model exactly up to the window`);
      assert.is(gg.config.slidingWindow, undefined);
    }
  }
  for (const [arch, extra, msg] of [
    ["mistral", { sliding_window: -2 }, /sliding_window = -2 is invalid/],
    ["gemma2", { sliding_window: 4, layer_types: ["sliding_attention"] }, /layer_types must list \d+ of/],
    ["qwen2", { sliding_window: 8, use_sliding_window: true, max_window_layers: "x" }, /max_window_layers = "x" is invalid/],
    ["gemma3", { sliding_window: 8, sliding_window_pattern: 0, layer_types: undefined }, /sliding_window_pattern = 0 is invalid/],
    ["gemma3", { rope_parameters: { full_attention: { rope_type: "default", rope_theta: 1e6 }, sliding_attention: { rope_type: "yarn", rope_theta: 1e4 } } }, /scaled RoPE on Gemma 3's sliding layers \("yarn"\) is not supported/],
  ] as const) {
    const m = syntheticModel(arch, 13, { overrides: { seqLen: 64, nLayers: 2 } });
    const out = new MemoryFolder("hf");
    await writeSafetensors(out, m.config, m.source);
    const cfg = JSON.parse(new TextDecoder().decode(out.files.get("config.json")!)) as Record<string, unknown>;
    const files = new Map([...out.files, ["config.json", new TextEncoder().encode(JSON.stringify({ ...cfg, ...extra }))]]);
    await throwsFormat(() => openModel({ files, name: "hf" }), msg);
  }
});

rt("writers refuse unsupported combinations and bad tensor data with ArgumentError", async () => {
  const out = new MemoryFolder();
  const q = syntheticModel("qwen2", 1, { ropeLayout: "adjacent" });
  await throwsArg(() => writeLlama2c(out, q.config, q.source), "config", /arch qwen2 cannot be stored in llama2\.c/);
  const g = syntheticModel("gemma", 1, { ropeLayout: "adjacent" });
  await throwsArg(() => writeLlama2c(out, g.config, g.source), "config", /gemma/);
  const l = syntheticModel("llama", 1, { ropeLayout: "adjacent", overrides: { ropeTheta: 500000 } });
  await throwsArg(() => writeLlama2c(out, l.config, l.source), "config", /theta/);
  const half = syntheticModel("llama", 1);
  await throwsArg(() => writeLlama2c(out, half.config, half.source), "config", /adjacent-pair RoPE/);
  await throwsArg(() => writeGGUF(out, q.config, q.source), "config", /GGUF qwen2 stores half-layout RoPE .* permute q\/k/);
  const adj = syntheticModel("llama", 1, { ropeLayout: "adjacent" });
  await throwsArg(() => writeSafetensors(out, adj.config, adj.source), "config", /half-rotation/);
  const gem = syntheticModel("gemma", 1);
  await throwsArg(() => writeGGUF(out, gem.config, gem.source), "config", /\+1 baked in/);
  const q3 = syntheticModel("qwen3", 1);
  await throwsArg(() => writeSafetensors(out, { ...q3.config, qkNorm: false }, q3.source), "config", /Qwen3 normalises q and k per head/);
  await throwsArg(() => writeGGUF(out, { ...q3.config, qkNorm: false }, q3.source), "config", /qwen3 models normalise q and k/);
  await throwsArg(() => writeSafetensors(out, { ...half.config, qkNorm: true }, half.source), "config", /HF llama has no q\/k norms/);
  await throwsArg(() => writeSafetensors(out, { ...half.config, slidingWindow: 0 }, half.source), "config", /slidingWindow must be an integer >= 1/);
  await throwsArg(() => writeSafetensors(out, { ...half.config, slidingWindow: 4 }, half.source), "config", /HF llama has no sliding window/);
  const mis = syntheticModel("mistral", 2, { overrides: { nLayers: 2 } });
  await throwsArg(() => writeSafetensors(out, { ...mis.config, slidingWindow: 4, slidingLayers: [true, false] }, mis.source), "config", /HF Mistral slides on every layer or none/);
  await throwsArg(() => writeSafetensors(out, { ...mis.config, ropeLocalTheta: 10000 }, mis.source), "config", /HF mistral has no separate RoPE base for its sliding layers/);
  await throwsArg(() => writeSafetensors(out, { ...half.config, slidingLayers: [true] }, half.source), "config", /slidingLayers needs a slidingWindow/);
  await throwsArg(() => writeGGUF(out, { ...half.config, slidingWindow: 4, slidingLayers: [] }, half.source), "config", /slidingLayers must be \d+ booleans/);
  const g2 = syntheticModel("gemma2", 1);
  await throwsArg(() => writeSafetensors(out, { ...g2.config, attnScale: undefined }, g2.source), "config", /HF Gemma 2 and 3 have sandwich norms and a query_pre_attn_scalar/);
  await throwsArg(() => writeSafetensors(out, { ...half.config, attnSoftcap: 50 }, half.source), "config", /HF llama has no sandwich norms, attention scale or soft-capping/);
  const q3a = syntheticModel("qwen3", 1, { ropeLayout: "adjacent" });
  await throwsArg(() => writeLlama2c(out, q3a.config, q3a.source), "config", /arch qwen3 cannot be stored in llama2\.c/);
  await throwsArg(() => writeSafetensors(out, { ...half.config, dim: -3 }, half.source), "config", /dim/);
  await throwsArg(() => writeSafetensors(out, half.config, async () => new Float32Array(3)), "tensors", /tok_embeddings: got 3 values/);
  await throwsArg(() => writeSafetensors(out, half.config, async () => ({ dtype: "f16", bytes: new Uint8Array(5) })), "tensors", /bytes of f16/);
  await throwsArg(() => writeSafetensors(out, half.config, half.source, { extraFiles: { "../x": new Uint8Array(1) } }), "extraFiles");
  const qr = await openModel({ files: (await writeHf("qwen2", 2, "f32")).out.files });
  await throwsArg(() => convertModel(qr, "llama2c", out), "to", /cannot convert this qwen2 model to llama2c/);
  assert.is(out.files.size, 0, "nothing was committed");
});

rt.run();

// ---------------------------------------------------------------------------------------------------------
const disk = suite("formats: files on disk");
const diskTest = isBrowser ? disk.skip : disk;

diskTest("paths: write, reopen, atomic rename, no temp files left, input never overwritten", async () => {
  const tmp = await makeTempDir("dass-formats-");
  const { fs, join, path: dir } = tmp;
  try {
    const m = syntheticModel("llama", 4, { ropeLayout: "adjacent" });
    const binPath = join(dir, "m.bin");
    assert.is(await writeLlama2c(binPath, m.config, m.source), binPath);
    const r = await openModel(binPath);
    await assertSameTensors(r, m.tensors, "disk bin");
    // Converting to the input path itself, or into a folder that is the input, is refused.
    await throwsArg(() => convertModel(r, "llama2c", binPath), "out", /would overwrite the input/);
    const hfDir = join(dir, "hf");
    await convertModel(r, "safetensors", hfDir);
    const hr = await openModel(hfDir);
    await throwsArg(() => convertModel(hr, "safetensors", hfDir), "out", /would overwrite/);
    await throwsArg(() => convertModel(hr, "gguf", join(hfDir, "x.gguf")), "out", /would overwrite/);
    const ggufPath = join(dir, "m.gguf");
    await convertModel(hr, "gguf", ggufPath);
    const gr = await openModel(ggufPath);
    await assertSameTensors(gr, m.tensors, "disk gguf");
    // A split GGUF on disk opens from its first part's path.
    const ggufBytes = new Uint8Array(await fs.readFile(ggufPath));
    const count = (await parseGGUFHeader(mem(ggufBytes))).tensors.length;
    await fs.mkdir(join(dir, "split"));
    for (const [file, bytes] of await splitGGUF(ggufBytes, "big", [3, 9, count - 12])) await fs.writeFile(join(dir, "split", file), bytes);
    const sr = await openModel(join(dir, "split", "big-00001-of-00003.gguf"));
    await assertSameTensors(sr, m.tensors, "disk split gguf");
    // Every part is an input: none may be written over.
    await throwsArg(() => convertModel(sr, "gguf", join(dir, "split", "big-00003-of-00003.gguf")), "out", /would overwrite the input/);
    const { checkSaveTarget } = await import("../src/pruning/save.js");
    await throwsArg(() => checkSaveTarget(sr, join(dir, "split", "big-00002-of-00003.gguf")), "out", /is the input/);
    await sr.close();
    const viaConfig = await openModel(join(hfDir, "config.json"));
    assert.equal(viaConfig.config, hr.config);
    await viaConfig.close();
    // A source that fails mid-stream leaves neither the output nor a temp file behind.
    const failing = join(dir, "fail.gguf");
    let n = 0;
    try {
      await writeGGUF(failing, gr.config, async (name) => { if (++n > 3) throw new Error("boom"); return gr.readTensor(name); });
      assert.unreachable("should fail");
    } catch (e) {
      assert.is((e as Error).message, "boom");
    }
    const left = await fs.readdir(dir);
    assert.equal(left.sort(), ["hf", "m.bin", "m.gguf", "split"]);
    assert.equal((await fs.readdir(hfDir)).sort(), ["config.json", "model.safetensors"]);
    await Promise.all([r.close(), hr.close(), gr.close()]);
    await throwsFormat(() => r.readTensor("norm"), /closed/);
    await throwsFormat(() => openModel(join(dir, "missing.bin")), /cannot open/);
    await throwsFormat(() => openModel(dir), /no config\.json/);
  } finally {
    await tmp.remove();
  }
});

diskTest("reads are streamed: only the requested tensor's bytes are read", async () => {
  const m = syntheticModel("llama", 8, { ropeLayout: "adjacent" });
  const out = new MemoryFolder();
  await writeGGUF(out, m.config, m.source);
  const bytes = out.files.get("model.gguf")!;
  const reads: [number, number][] = [];
  const file = new MemoryFile(bytes, "spy.gguf");
  const spy = { name: file.name, size: file.size, close: () => file.close(), read: (o: number, l: number) => { reads.push([o, l]); return file.read(o, l); } };
  const r = await readGGUF(spy);
  const headerReads = reads.length;
  await r.readTensor("layers.0.mlp.up");
  assert.is(reads.length, headerReads + 1);
  assert.is(reads[reads.length - 1][1], r.tensors.get("layers.0.mlp.up")!.byteLength);
});

disk.run();

// ---------------------------------------------------------------------------------------------------------
const bad = suite("formats: malformed files");

async function tinyFiles() {
  const m = syntheticModel("llama", 12, { ropeLayout: "adjacent" });
  const a = new MemoryFolder(), b = new MemoryFolder();
  await writeLlama2c(a, m.config, m.source);
  await writeGGUF(b, m.config, m.source);
  const hm = syntheticModel("qwen2", 12);
  const c = new MemoryFolder();
  await writeSafetensors(c, hm.config, hm.source);
  return { bin: a.files.get("model.bin")!, gguf: b.files.get("model.gguf")!, st: c.files.get("model.safetensors")!, cfg: c.files.get("config.json")! };
}
const T = await tinyFiles();

function i32(bytes: Uint8Array, at: number, v: number): Uint8Array {
  const c = bytes.slice();
  new DataView(c.buffer).setInt32(at, v, true);
  return c;
}

bad("llama2.c: truncated, trailing bytes, bad dims, v1 magic", async () => {
  await throwsFormat(() => readLlama2c(mem(T.bin.subarray(0, 10), "x.bin")), /truncated/, "x.bin");
  await throwsFormat(() => readLlama2c(mem(T.bin.subarray(0, T.bin.length - 4), "x.bin")), /truncated: the header implies/, "x.bin");
  const longer = new Uint8Array(T.bin.length + 4);
  longer.set(T.bin);
  await throwsFormat(() => readLlama2c(mem(longer, "x.bin")), /trailing bytes/);
  await throwsFormat(() => readLlama2c(mem(i32(T.bin, 0, -64), "x.bin")), /dim = -64 is out of range/);
  await throwsFormat(() => readLlama2c(mem(i32(T.bin, 8, 1 << 30), "x.bin")), /nLayers = 1073741824 is out of range/);
  await throwsFormat(() => readLlama2c(mem(i32(T.bin, 12, 3), "x.bin")), /not divisible by n_heads/);
  await throwsFormat(() => readLlama2c(mem(i32(T.bin, 0, 0x616b3432), "x.bin")), /version .* export/);
  await throwsFormat(() => openModel({ files: { "x.bin": new Uint8Array(3) } }), /truncated/);
});

bad("GGUF: bad magic, version, truncation anywhere, absurd counts, unknown arch and dtype, offsets", async () => {
  await throwsFormat(() => readGGUF(mem(i32(T.gguf, 0, 0x46554746), "x.gguf")), /bad magic/, "x.gguf");
  await throwsFormat(() => readGGUF(mem(i32(T.gguf, 4, 1), "x.gguf")), /unsupported GGUF version 1/);
  // Every truncation point gives a FormatError (never a RangeError or a hang).
  for (let len = 0; len < T.gguf.length; len += len < 600 ? 1 : 97) {
    await throwsFormat(() => openModel({ files: { "x.gguf": T.gguf.subarray(0, len) } }, { format: "gguf" }), /./);
  }
  const big = T.gguf.slice();
  new DataView(big.buffer).setBigUint64(8, 1n << 40n, true);
  await throwsFormat(() => readGGUF(mem(big)), /tensor count .* is absurd/);
  const kvs = T.gguf.slice();
  new DataView(kvs.buffer).setBigUint64(16, 0xffffffffffffn, true);
  await throwsFormat(() => readGGUF(mem(kvs)), /metadata count .* is absurd/);
  // The first key's length (at byte 24) pointing past the end.
  const longKey = T.gguf.slice();
  new DataView(longKey.buffer).setBigUint64(24, 1n << 33n, true);
  await throwsFormat(() => readGGUF(mem(longKey)), /truncated: metadata key needs/);
  // Re-write a header with edited metadata and tensor types.
  const h = await parseGGUFHeader(mem(T.gguf));
  const text = new TextDecoder("latin1").decode(T.gguf.subarray(0, h.dataOffset));
  const archAt = text.indexOf("general.architecture") + "general.architecture".length + 4 + 8;
  assert.is(text.slice(archAt, archAt + 5), "llama");
  const arch = T.gguf.slice();
  arch.set(new TextEncoder().encode("gpt2x"), archAt);
  await throwsFormat(() => readGGUF(mem(arch, "x.gguf")), /unsupported GGUF architecture "gpt2x"/);
  // Tensor type of the last tensor info -> IQ2_XXS (16, not read), and an offset past the end.
  const last = h.tensors[h.tensors.length - 1];
  const lastInfo = text.lastIndexOf(last.name);
  assert.ok(lastInfo > 0);
  const typeAt = lastInfo + last.name.length + 4 + 8 * last.dims.length;
  await throwsFormat(() => readGGUF(mem(i32(T.gguf, typeAt, 16))), /type IQ2_XXS: only F32, F16, BF16 and Q4_0, /);
  await throwsFormat(() => readGGUF(mem(i32(T.gguf, typeAt, 999))), /type #999/);
  const past = T.gguf.slice();
  new DataView(past.buffer).setBigUint64(typeAt + 4, BigInt(T.gguf.length), true);
  await throwsFormat(() => readGGUF(mem(past)), /runs past the end of the file/);
  const misaligned = T.gguf.slice();
  new DataView(misaligned.buffer).setBigUint64(typeAt + 4, BigInt(last.offset + 4), true);
  await throwsFormat(() => readGGUF(mem(misaligned)), /not aligned/);
  const dims = T.gguf.slice();
  new DataView(dims.buffer).setUint32(lastInfo + last.name.length, 9, true);
  await throwsFormat(() => readGGUF(mem(dims)), /9 dimensions/);
});

bad("safetensors: header larger than file, invalid JSON, dtype, shape x dtype != bytes, offsets past end", async () => {
  const folder = (st: Uint8Array, cfg: Uint8Array = T.cfg) => readHfFolder(new MemorySource({ "config.json": cfg, "model.safetensors": st }, "hf"));
  const withHeader = (json: string, data = 64) => {
    const body = new TextEncoder().encode(json);
    const b = new Uint8Array(8 + body.length + data);
    new DataView(b.buffer).setBigUint64(0, BigInt(body.length), true);
    b.set(body, 8);
    return b;
  };
  const huge = T.st.slice();
  new DataView(huge.buffer).setBigUint64(0, BigInt(T.st.length), true);
  await throwsFormat(() => folder(huge), /JSON header length .* is larger than the file/, "hf/model.safetensors");
  await throwsFormat(() => folder(T.st.subarray(0, 5)), /truncated/);
  await throwsFormat(() => folder(withHeader("{not json")), /not valid JSON/);
  await throwsFormat(() => folder(withHeader('["a"]')), /not a JSON object/);
  await throwsFormat(() => folder(withHeader('{"x":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}}')), /unsupported dtype "I8"/);
  await throwsFormat(() => folder(withHeader('{"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}')), /is 24 bytes but data_offsets span 20/);
  await throwsFormat(() => folder(withHeader('{"x":{"dtype":"F32","shape":[-2,3],"data_offsets":[0,24]}}')), /invalid shape/);
  await throwsFormat(() => folder(withHeader('{"x":{"dtype":"F32","shape":[16],"data_offsets":[32,96]}}')), /run past the end of the data/);
  await throwsFormat(() => folder(T.st.subarray(0, T.st.length - 1)), /run past the end/);
  await throwsFormat(() => folder(withHeader('{"model.layers.0.foo.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')), /unexpected tensor model\.layers\.0\.foo\.weight/);
  await throwsFormat(() => folder(withHeader("{}")), /config implies \d+ parameters, more than the \d+ bytes/);
  const cfg = JSON.parse(new TextDecoder().decode(T.cfg));
  const enc = (o: object) => new TextEncoder().encode(JSON.stringify(o));
  await throwsFormat(() => folder(T.st, enc({ ...cfg, architectures: ["GPT2LMHeadModel"] })), /unsupported architecture "GPT2LMHeadModel"/, "hf/config.json");
  await throwsFormat(() => folder(T.st, enc({ ...cfg, hidden_size: -5 })), /hidden_size = -5 is out of range/);
  // Tied per config: a stored lm_head is ignored (as transformers ties it); untied without lm_head is an error.
  assert.is(cfg.tie_word_embeddings, false);
  const tiedReader = await folder(T.st, enc({ ...cfg, tie_word_embeddings: true }));
  assert.not.ok(tiedReader.tensors.has("output"));
  assert.equal(tiedReader.metadata.ignoredTensors, ["lm_head.weight"]);
  const gm = syntheticModel("gemma", 3);
  const gOut = new MemoryFolder();
  await writeSafetensors(gOut, gm.config, gm.source);
  const gcfg = JSON.parse(new TextDecoder().decode(gOut.files.get("config.json")!));
  await throwsFormat(() => folder(gOut.files.get("model.safetensors")!, enc({ ...gcfg, tie_word_embeddings: false })), /missing tensor output/);
  await throwsFormat(() => folder(T.st, enc({ ...cfg, hidden_size: cfg.hidden_size * 2 })), /has shape .* the config implies/);
  await throwsFormat(() => folder(T.st, enc({ ...cfg, rope_scaling: { rope_type: "yarn", factor: 4 } })), /rope_scaling "yarn" is not supported \(only linear, llama3 and longrope\)/);
  await throwsFormat(() => folder(T.st, enc({ ...cfg, rope_scaling: { rope_type: "llama3" } })), /rope_scaling: ropeScaling\.factor must be finite and > 0/);
  await throwsFormat(() => folder(T.st, enc({ ...cfg, rope_scaling: "llama3" })), /rope_scaling = "llama3" is not an object/);
  await throwsFormat(() => folder(T.st, enc({ ...cfg, rope_scaling: { factor: 8 } })), /rope_scaling has no rope_type/);
  await throwsFormat(
    () => folder(T.st, enc({ ...cfg, rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 8192 } })),
    /highFreqFactor \(1\) must exceed lowFreqFactor \(4\)/,
  );
  await throwsFormat(() => folder(T.st, new TextEncoder().encode("{")), /invalid JSON/);
  await throwsFormat(() => readHfFolder(new MemorySource({ "model.safetensors": T.st }, "hf")), /no config\.json/);
  await throwsFormat(() => readHfFolder(new MemorySource({ "config.json": T.cfg }, "hf")), /missing weights file model\.safetensors/);
  await throwsFormat(() => openModel({ files: { "a.safetensors": T.st } }, { format: "gguf" }), /bad magic/);
});

bad("random corruption never escapes as anything but FormatError", async () => {
  const r = mulberry32(99);
  const cases: [string, Uint8Array][] = [["x.bin", T.bin], ["x.gguf", T.gguf]];
  for (const [name, orig] of cases) {
    const headerLen = name.endsWith(".gguf") ? (await parseGGUFHeader(mem(orig))).dataOffset : 28;
    for (let trial = 0; trial < 150; trial++) {
      const c = orig.slice();
      const flips = 1 + Math.floor(r() * 4);
      for (let f = 0; f < flips; f++) c[Math.floor(r() * headerLen)] ^= 1 << Math.floor(r() * 8);
      try {
        const m = await openModel({ files: { [name]: c } });
        for (const t of m.tensors.keys()) await m.readTensor(t);
      } catch (e) {
        if (!(e instanceof FormatError)) throw new Error(`trial ${trial} of ${name}: ${(e as Error).stack}`);
      }
    }
  }
  for (let trial = 0; trial < 100; trial++) {
    const c = T.st.slice();
    const hl = Number(new DataView(c.buffer).getBigUint64(0, true)) + 8;
    c[Math.floor(r() * hl)] = Math.floor(r() * 256);
    try {
      const m = await readHfFolder(new MemorySource({ "config.json": T.cfg, "model.safetensors": c }));
      for (const t of m.tensors.keys()) await m.readTensor(t);
    } catch (e) {
      if (!(e instanceof FormatError)) throw new Error(`safetensors trial ${trial}: ${(e as Error).stack}`);
    }
  }
});

bad("openModel: in-memory detection and argument errors", async () => {
  await throwsArg(() => openModel({ files: { "a.bin": T.bin, "b.bin": T.bin } }), "source", /cannot tell/);
  await throwsArg(() => openModel({ files: {} }), "source");
  await throwsArg(() => openModel({ files: { "x.bin": T.bin } }, { format: "onnx" as never }), "format");
  await throwsFormat(() => openModel({ files: { "model.safetensors": T.st } }), /needs its config\.json/);
  const r = await openModel({ files: { "model.gguf": T.gguf, "tokenizer.json": new Uint8Array(2) } });
  assert.is(r.format, "gguf");
  await throwsFormat(() => r.readTensor("nope"), /no tensor named "nope"/);
});

bad.run();
