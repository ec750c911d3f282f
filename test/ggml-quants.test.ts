// Quantised GGUF tensors: every ggml block type dass reads, dequantised and checked element by element
// against the block layout written out as "element e comes from these bits" (the reader walks blocks
// in ggml's loop order instead), then read through a GGUF file and converted.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { FormatError } from "../src/errors.js";
import { createRuntime } from "../src/runtime/runtime.js";
import { Transformer } from "../src/model/index.js";
import { readTensorF32 } from "../src/model/tensor-read.js";
import { evaluatePerplexity } from "../src/eval/index.js";
import { loadTokenizer } from "../src/tokenizers/index.js";
import { readSharedData, readSharedText, skipNote } from "./util/data.js";
import {
  convertingSource, convertModel, f16ToF32, f32ToF16, ggufVocab, MemoryFile, MemoryFolder, openModel, parseGGUFHeader, readGGUF, targetConfig, writeGGUF,
} from "../src/formats/index.js";
import { dequantize, GGML_QUANT_TYPES, type GgmlQuantType } from "../src/formats/ggml-quants.js";
import { dequantisedNote, GGML_WRITE_TYPES, ggmlWriteBlock, quantizeGgml } from "../src/formats/ggml-quantize.js";
import { dequantizeGgml } from "../src/kernels/dequant.js";
import { mulberry32 } from "./util/random.js";
import { syntheticModel } from "./util/synthetic-model.js";

const f = Math.fround;
const IQ4NL = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
const quant = (name: string): GgmlQuantType => GGML_QUANT_TYPES.find((t) => t.name === name)!;
const s8 = (v: number) => (v << 24) >> 24;

/** Element e of one block of `type` at b[0..], from the layout alone. */
function element(type: string, b: Uint8Array, e: number): number {
  const h = (o: number) => f16ToF32(b[o] | (b[o + 1] << 8));
  const bit = (o: number, k: number) => (b[o + (k >> 3)] >> (k & 7)) & 1;
  const nib = (o: number, k: number) => (k < 16 ? b[o + k] & 15 : b[o + k - 16] >> 4); // 32-element legacy blocks
  // The 6-bit scale/min pairs of Q4_K/Q5_K, group g: the low 6 bits of bytes 0..7 for g < 4; for g >= 4,
  // the nibbles of byte g + 4 and the top 2 bits of bytes g - 4 (scale) and g (min).
  const kScale = (g: number) => (g < 4 ? b[4 + g] & 63 : (b[4 + g + 4] & 15) | ((b[4 + g - 4] >> 6) << 4));
  const kMin = (g: number) => (g < 4 ? b[4 + g + 4] & 63 : (b[4 + g + 4] >> 4) | ((b[4 + g] >> 6) << 4));
  switch (type) {
    case "Q4_0": return f((nib(2, e) - 8) * h(0));
    case "Q4_1": return f(f(nib(4, e) * h(0)) + h(2));
    case "Q5_0": return f(((nib(6, e) | (bit(2, e) << 4)) - 16) * h(0));
    case "Q5_1": return f(f((nib(8, e) | (bit(4, e) << 4)) * h(0)) + h(2));
    case "Q8_0": return f(s8(b[2 + e]) * h(0));
    case "Q2_K": {
      // 2-bit quant: byte 16 + 32 (e / 128) + e % 32, bits 2 ((e % 128) / 32); scale byte e / 16.
      const q = (b[16 + 32 * (e >> 7) + (e & 31)] >> (2 * ((e & 127) >> 5))) & 3, sc = b[e >> 4];
      return f(f(f(h(80) * (sc & 15)) * q) - f(h(82) * (sc >> 4)));
    }
    case "Q3_K": {
      const q = (b[32 + 32 * (e >> 7) + (e & 31)] >> (2 * ((e & 127) >> 5))) & 3;
      const hi = (b[e & 31] >> (e >> 5)) & 1; // hmask: bit (e / 32) of byte e % 32
      const i = e >> 4;
      const sc = ((i < 8 ? b[96 + i] & 15 : b[96 + i - 8] >> 4) | (((b[104 + (i & 3)] >> (2 * (i >> 2))) & 3) << 4)) - 32;
      return f(f(h(108) * sc) * (q - (hi ? 0 : 4)));
    }
    case "Q4_K": {
      const g = e >> 5, q = (b[16 + 32 * (g >> 1) + (e & 31)] >> (4 * (g & 1))) & 15;
      return f(f(f(h(0) * kScale(g)) * q) - f(h(2) * kMin(g)));
    }
    case "Q5_K": {
      const g = e >> 5, q = ((b[48 + 32 * (g >> 1) + (e & 31)] >> (4 * (g & 1))) & 15) | (((b[16 + (e & 31)] >> g) & 1) << 4);
      return f(f(f(h(0) * kScale(g)) * q) - f(h(2) * kMin(g)));
    }
    case "IQ4_NL": return f(h(0) * IQ4NL[nib(2, e)]);
    case "IQ4_XS": {
      // Group g = e / 32: scale nibble g of bytes 4..7, high bits 2g of the u16 at 2; codes as IQ4_NL's.
      const g = e >> 5, ls = ((b[4 + (g >> 1)] >> (4 * (g & 1))) & 15) | ((((b[2] | (b[3] << 8)) >> (2 * g)) & 3) << 4);
      return f(f(h(0) * (ls - 32)) * IQ4NL[nib(8 + 16 * g, e & 31)]);
    }
    case "Q6_K": {
      // Per 128-element half, run r = (e % 128) / 32: low nibbles of ql for runs 0, 1, high for 2, 3;
      // 2 high bits at 2r of qh; a signed scale per 16 elements.
      const n = e >> 7, r = (e & 127) >> 5, l = e & 31;
      const lo = (b[64 * n + 32 * (r & 1) + l] >> (4 * (r >> 1))) & 15;
      const hi = (b[128 + 32 * n + l] >> (2 * r)) & 3;
      const sc = s8(b[192 + 8 * n + (l >> 4) + 2 * r]);
      return f(f(h(208) * sc) * ((lo | (hi << 4)) - 32));
    }
  }
  throw new Error(type);
}

/** Random blocks of `type` whose f16 scales are finite and modest (so every value is finite). */
function randomBlocks(type: string, blocks: number, seed: number): Uint8Array {
  const t = quant(type);
  const rng = mulberry32(seed);
  const b = new Uint8Array(blocks * t.blockBytes);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rng() * 256);
  const halves: Record<string, number[]> = {
    Q4_0: [0], Q4_1: [0, 2], Q5_0: [0], Q5_1: [0, 2], Q8_0: [0], Q2_K: [80, 82], Q3_K: [108], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208],
    IQ4_NL: [0], IQ4_XS: [0],
  };
  for (let k = 0; k < blocks; k++) {
    for (const o of halves[type]) {
      const v = f32ToF16((rng() - 0.3) * 0.05);
      b[k * t.blockBytes + o] = v & 255;
      b[k * t.blockBytes + o + 1] = v >> 8;
    }
  }
  return b;
}

const q = suite("formats: quantised GGUF (ggml block types)");

q("every block type dequantises as its layout says, element by element", () => {
  assert.equal(GGML_QUANT_TYPES.map((t) => `${t.id}:${t.name}`), ["2:Q4_0", "3:Q4_1", "6:Q5_0", "7:Q5_1", "8:Q8_0", "10:Q2_K", "11:Q3_K", "12:Q4_K", "13:Q5_K", "14:Q6_K", "20:IQ4_NL", "23:IQ4_XS"]);
  for (const [i, t] of GGML_QUANT_TYPES.entries()) {
    const type = t.name;
    const blocks = 3;
    const bytes = randomBlocks(type, blocks, 40 + i);
    const got = dequantize(type, bytes, blocks * t.blockElems);
    for (let k = 0; k < blocks; k++) {
      const blk = bytes.subarray(k * t.blockBytes, (k + 1) * t.blockBytes);
      for (let e = 0; e < t.blockElems; e++) {
        const want = element(type, blk, e);
        const v = got[k * t.blockElems + e];
        assert.ok(Math.abs(v - want) <= 1e-6 * Math.abs(want) + 1e-12, `${type} block ${k} element ${e}: ${v} vs ${want}`);
      }
    }
    assert.ok(got.some((v) => v !== 0) && got.every(Number.isFinite), `${type}: finite, not all zero`);
  }
  // Known values: Q8_0 with d = 0.5 is q / 2; Q4_0 with d = 1 is nibble - 8.
  const q8 = new Uint8Array(34);
  q8.set([0x00, 0x38]); // f16 0.5
  for (let j = 0; j < 32; j++) q8[2 + j] = (j - 16) & 255;
  assert.equal(Array.from(dequantize("Q8_0", q8, 32)), Array.from({ length: 32 }, (_, j) => (j - 16) / 2));
  const q4 = new Uint8Array(18);
  q4.set([0x00, 0x3c]); // f16 1
  for (let j = 0; j < 16; j++) q4[2 + j] = j | ((15 - j) << 4);
  assert.equal(Array.from(dequantize("Q4_0", q4, 32)), [...Array.from({ length: 16 }, (_, j) => j - 8), ...Array.from({ length: 16 }, (_, j) => 7 - j)]);
});

/** A GGUF (f32) of a one-block synthetic llama with rows `dim` wide. */
async function ggufOf(dim: number, hiddenDim: number, seed: number): Promise<Uint8Array> {
  const m = syntheticModel("llama", seed, { ropeLayout: "adjacent", overrides: { dim, nHeads: 2, nKvHeads: 1, headDim: dim / 2, hiddenDim, nLayers: 1, vocabSize: 32 } });
  const out = new MemoryFolder("g");
  await writeGGUF(out, m.config, m.source, { fileName: "m.gguf" });
  return out.files.get("m.gguf")!.slice();
}

/**
 * Rewrites the type of tensor `name` in place; returns where its data starts and its element count. A
 * tensor info is: name, u32 dimension count, u64 dims, u32 type, u64 offset.
 */
async function retype(bytes: Uint8Array, name: string, id: number): Promise<{ at: number; n: number }> {
  const h = await parseGGUFHeader(new MemoryFile(bytes, "m.gguf"));
  const t = h.tensors.find((x) => x.name === name)!;
  const infoAt = new TextDecoder("latin1").decode(bytes.subarray(0, h.dataOffset)).indexOf(name);
  assert.ok(infoAt > 0, name);
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(infoAt + name.length + 4 + 8 * t.dims.length, id, true);
  return { at: h.dataOffset + t.offset, n: t.dims.reduce((a, b) => a * b, 1) };
}

/** A GGUF whose matrices have 256-wide rows, with some tensors retyped and filled with random blocks. */
async function quantisedGGUF(types: Record<string, string>): Promise<{ bytes: Uint8Array; blocks: Map<string, Uint8Array> }> {
  const bytes = await ggufOf(256, 512, 3);
  const blocks = new Map<string, Uint8Array>();
  for (const [name, type] of Object.entries(types)) {
    const qt = quant(type);
    const { at, n } = await retype(bytes, name, qt.id);
    const data = randomBlocks(type, n / qt.blockElems, qt.id);
    bytes.set(data, at); // the f32 region is larger than the quantised data
    blocks.set(name, data);
  }
  return { bytes, blocks };
}

q("a GGUF with quantised tensors reads them dequantised (f32), reports their stored bytes, and converts", async () => {
  const retype = {
    "blk.0.ffn_gate.weight": "Q4_K", "blk.0.ffn_down.weight": "Q6_K", "blk.0.attn_q.weight": "Q8_0", "blk.0.attn_v.weight": "Q5_0", "blk.0.ffn_up.weight": "Q3_K",
    "blk.0.attn_output.weight": "IQ4_XS",
  };
  const canon: Record<string, string> = {
    "blk.0.ffn_gate.weight": "layers.0.mlp.gate", "blk.0.ffn_down.weight": "layers.0.mlp.down", "blk.0.attn_q.weight": "layers.0.attn.q",
    "blk.0.attn_v.weight": "layers.0.attn.v", "blk.0.ffn_up.weight": "layers.0.mlp.up", "blk.0.attn_output.weight": "layers.0.attn.o",
  };
  const { bytes, blocks } = await quantisedGGUF(retype);
  const r = await readGGUF(new MemoryFile(bytes, "q.gguf"));
  for (const [g, type] of Object.entries(retype)) {
    const info = r.tensors.get(canon[g])!;
    const qt = quant(type);
    const n = info.shape[0] * info.shape[1];
    assert.equal([info.dtype, info.quantized], ["f32", { type, storedBytes: (n / qt.blockElems) * qt.blockBytes }], g);
    const want = dequantize(type, blocks.get(g)!, n);
    assert.equal(Array.from(await r.readTensor(canon[g])), Array.from(want), `${g} read`);
    const raw = await r.readRaw(canon[g]);
    assert.equal([raw.dtype, Array.from(new Float32Array(raw.bytes.buffer, raw.bytes.byteOffset, n))], ["f32", Array.from(want)], `${g} raw`);
  }
  assert.is(r.tensors.get("layers.0.attn.k")!.quantized, undefined, "untouched tensors stay f32");
  // Converted to safetensors (f32): the dequantised values, exactly.
  const out = new MemoryFolder("hf");
  await convertModel(r, "safetensors", out);
  const hf = await openModel({ files: out.files, name: "hf" });
  assert.equal(Array.from(await hf.readTensor("layers.0.mlp.gate")), Array.from(await r.readTensor("layers.0.mlp.gate")));
  await r.close();
});

q("the model loader dequantises Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K on the Wasm kernels: the reader's values and the same logits", async () => {
  const retype = {
    "blk.0.ffn_gate.weight": "Q4_K", "blk.0.ffn_down.weight": "Q6_K", "blk.0.attn_q.weight": "Q8_0", "blk.0.attn_v.weight": "Q4_0",
    "blk.0.ffn_up.weight": "Q5_K", "blk.0.attn_output.weight": "Q3_K", "token_embd.weight": "Q6_K",
  };
  const { bytes } = await quantisedGGUF(retype);
  const r = await readGGUF(new MemoryFile(bytes, "q.gguf"));
  // The same reader without readBlocks: everything dequantised in JavaScript.
  const js = { ...r, readBlocks: undefined };
  for (const threads of [1, 2]) {
    const rt = await createRuntime({ threads });
    try {
      for (const name of r.tensors.keys()) {
        const got = await readTensorF32(rt, r, name), want = await r.readTensor(name);
        for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) assert.unreachable(`${name}[${i}]: ${got[i]} vs ${want[i]}`);
      }
      // Resident, streamed from host memory (held as stored blocks) and from the reader (a tiny budget):
      // the logits of the JavaScript path, bit for bit.
      for (const opts of [{}, { budgetBytes: 1, streamFrom: "host" as const }, { budgetBytes: 1, streamFrom: "reader" as const }]) {
        const logits = async (reader: typeof r) => {
          const m = await Transformer.load(reader, rt, opts);
          try {
            const cache = m.newCache(8);
            try { return await m.forward([1, 5, 9, 2], 0, cache, { logits: "all" }); } finally { cache.free(); }
          } finally { m.close(); }
        };
        const a = await logits(r), b = await logits(js);
        for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.unreachable(`${threads} threads ${JSON.stringify(opts)}: logit ${i}: ${a[i]} vs ${b[i]}`);
      }
      // A host-held quantised matrix reads back dequantised, and replacing it replaces the blocks.
      const m = await Transformer.load(r, rt, { budgetBytes: 1, streamFrom: "host" });
      try {
        assert.equal(await m.getLinearWeights(0, "gate"), await r.readTensor("layers.0.mlp.gate"));
        const w = new Float32Array(m.linearShape("gate").reduce((x, y) => x * y, 1)).fill(0.5);
        await m.setLinear(0, "gate", w);
        assert.equal(await m.getLinearWeights(0, "gate"), w);
      } finally {
        m.close();
      }
    } finally {
      rt.close();
    }
  }
  await r.close();
});

q("quantised tensors: rows that are not whole blocks, and unsupported types, are FormatErrors", async () => {
  // A type dass does not read (IQ2_XXS), and a k-quant on rows 48 wide, are refused.
  const { bytes } = await quantisedGGUF({ "blk.0.attn_k.weight": "Q4_K" });
  await readGGUF(new MemoryFile(bytes, "ok.gguf"));
  const expectFormat = async (b: Uint8Array, pattern: RegExp) => {
    let err: unknown;
    try { await readGGUF(new MemoryFile(b, "bad.gguf")); } catch (e) { err = e; }
    assert.instance(err, FormatError);
    assert.match((err as Error).message, pattern);
  };
  const iq = bytes.slice();
  await retype(iq, "blk.0.attn_q.weight", 16);
  await expectFormat(iq, /type IQ2_XXS: only F32, F16, BF16 and Q4_0, .*IQ4_XS are read/);
  const narrow = await ggufOf(48, 64, 4);
  await retype(narrow, "blk.0.ffn_gate.weight", quant("Q4_K").id);
  await expectFormat(narrow, /blk\.0\.ffn_gate\.weight \(Q4_K\) has rows of 48, not a multiple of its 256-element blocks/);
});

// ---------------------------------------------------------------- writing Q8_0 / Q4_0

/** The 32-element types dass writes (Q6_K, with its 256-element blocks, is tested on its own below). */
const LEGACY_WRITE_TYPES = ["Q8_0", "Q4_0"] as const;

q("quantizeGgml: ggml's reference rounding (within half a step, Q4_0's clamped top within one), zeros exact, idempotent", () => {
  const r = mulberry32(41);
  const n = 32 * 300;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = r() < 0.4 ? 0 : f((r() - 0.5) * (1 + 30 * (Math.floor(i / 32) % 5)));
  x.fill(0, 64, 96); // an all-zero block: scale 0, every value 0
  x[100] = -1e-30; // a denormal-sized value among normal ones
  assert.equal(GGML_WRITE_TYPES, ["Q8_0", "Q6_K", "Q4_0"]);
  assert.equal(GGML_WRITE_TYPES.map(ggmlWriteBlock), [32, 256, 32]);
  for (const type of LEGACY_WRITE_TYPES) {
    const b = quantizeGgml(type, x);
    const t = quant(type);
    assert.is(b.byteLength, (n / 32) * t.blockBytes);
    const y = dequantize(type, b, n);
    for (let k = 0; k < n / 32; k++) {
      const d = Math.abs(f16ToF32(b[k * t.blockBytes] | (b[k * t.blockBytes + 1] << 8)));
      for (let j = 32 * k; j < 32 * k + 32; j++) {
        if (x[j] === 0) assert.is(y[j], 0, `${type}: zero at ${j}`);
        // f16 rounding of the scale moves each step by at most 2^-11 relative.
        const bound = (type === "Q8_0" ? 0.5 : 1) * d + Math.abs(x[j]) * 2 ** -10 + 1e-30;
        assert.ok(Math.abs(y[j] - x[j]) <= bound, `${type}[${j}]: ${x[j]} -> ${y[j]} (step ${d})`);
      }
    }
    // As this test file's own quantiser (f64 arithmetic: the same but for exact halves), block by block.
    const mine = quantiseRow(type, x);
    let differ = 0;
    for (let i = 0; i < b.length; i++) if (b[i] !== mine[i]) differ++;
    assert.ok(differ <= 2, `${type}: ${differ} bytes differ from the reference quantiser`);
    assert.equal(quantizeGgml(type, y), b, `${type}: requantising its own output changes nothing`);
  }
  assert.throws(() => quantizeGgml("Q8_0", new Float32Array(33)), /not whole 32-element blocks/);
  assert.throws(() => quantizeGgml("Q8_0", new Float32Array(32).fill(1e10)), /block scale .* does not fit in f16/);
});

q("writeGGUF quantize: matrices with 32-multiple rows stored as Q8_0 / Q4_0 (fused phi3 ones too), the rest as dtype; file_type; NaN refused", async () => {
  const m = syntheticModel("llama", 18, { ropeLayout: "adjacent", overrides: { dim: 32, hiddenDim: 48, nHeads: 4, nKvHeads: 2, headDim: 8, vocabSize: 40 } });
  for (const type of LEGACY_WRITE_TYPES) {
    for (const config of [m.config, { ...m.config, ropeLayout: "half" as const }]) {
      const out = new MemoryFolder("q");
      await writeGGUF(out, config, m.source, { dtype: "f16", quantize: (n) => (n.endsWith("attn.o") ? undefined : type) });
      const bytes = out.files.get("model.gguf")!;
      const h = await parseGGUFHeader(new MemoryFile(bytes));
      assert.is(h.kv.get("general.file_type"), type === "Q8_0" ? 7 : 2);
      const r = await readGGUF(new MemoryFile(bytes, "q.gguf"));
      for (const [name, info] of r.tensors) {
        // down has rows of 48 (not whole blocks), attn.o was asked to stay f16, 1-D tensors are f32.
        const want = info.shape.length === 1 ? "f32" : /down|attn\.o/.test(name) ? "f16" : type;
        assert.is(info.quantized?.type ?? info.dtype, want, `${name} (${h.kv.get("general.architecture")})`);
        if (info.quantized) {
          const x = m.tensors.get(name)!;
          assert.equal(await r.readTensor(name), dequantize(type, quantizeGgml(type, x), x.length), name);
        }
      }
    }
  }
  // convertModel keeps a GGUF's Q8_0 / Q4_0 matrices unless given a dtype; the types it cannot write are
  // named by the CLI's note.
  const q8 = new MemoryFolder("q8");
  await writeGGUF(q8, m.config, m.source, { quantize: "Q8_0" });
  const q8r = await readGGUF(new MemoryFile(q8.files.get("model.gguf")!, "q8.gguf"));
  for (const [to, opts, want] of [["gguf", {}, "Q8_0"], ["gguf", { dtype: "f16" }, "f16"], ["gguf", { quantize: "Q4_0" }, "Q4_0"], ["safetensors", {}, "f32"]] as const) {
    const out = new MemoryFolder("c");
    await convertModel(q8r, to, out, opts);
    const back = await openModel({ files: out.files, name: "c" });
    assert.is(back.tensors.get("layers.0.attn.q")!.quantized?.type ?? back.tensors.get("layers.0.attn.q")!.dtype, want, `${to} ${JSON.stringify(opts)}`);
    if (want === "Q8_0") assert.equal(await back.readTensor("layers.0.attn.q"), await q8r.readTensor("layers.0.attn.q"), "requantised rows unchanged");
  }
  // Only GGUF holds quantised matrices.
  try {
    await convertModel(q8r, "safetensors", new MemoryFolder(), { quantize: "Q8_0" });
    assert.unreachable("quantised safetensors");
  } catch (e) {
    assert.match((e as Error).message, /only GGUF holds quantised matrices, not safetensors/);
  }
  const fake = (types: string[]) => ({ tensors: new Map(types.map((t, i) => [`t${i}`, { name: `t${i}`, quantized: { type: t } }])) }) as never;
  assert.is(dequantisedNote(fake(["Q8_0", "Q4_K", "Q4_0", "Q6_K", "Q5_K", "Q4_K"])), "note: the input's Q4_K, Q5_K matrices are written as f32 where they change (exact, larger; the others keep their blocks); --dtype q8_0, q6_k or q4_0 stores every matrix in that type");
  assert.is(dequantisedNote(fake(["Q8_0", "Q4_K", "Q5_K"]), (n) => n !== "t1"), "note: the input's Q5_K matrices are written as f32 where they change (exact, larger; the others keep their blocks); --dtype q8_0, q6_k or q4_0 stores every matrix in that type");
  assert.is(dequantisedNote(fake(["Q8_0", "Q6_K", "Q4_0"])), null);
  const nan = new Map(m.tensors);
  nan.set("layers.1.mlp.up", nan.get("layers.1.mlp.up")!.slice().fill(NaN, 3, 4));
  const src = async (n: string) => nan.get(n)!.slice();
  try {
    await writeGGUF(new MemoryFolder(), m.config, src, { quantize: "Q8_0" });
    assert.unreachable("NaN was quantised");
  } catch (e) {
    assert.match((e as Error).message, /layers\.1\.mlp\.up\[3\] = NaN cannot be quantised to Q8_0/);
  }
  try {
    await writeGGUF(new MemoryFolder(), m.config, m.source, { quantize: "Q4_K" as never });
    assert.unreachable("Q4_K written");
  } catch (e) {
    assert.match((e as Error).message, /"Q4_K" is not one of Q8_0, Q6_K, Q4_0/);
  }
});

// ---------------------------------------------------------------- writing Q6_K

/**
 * One Q6_K block from its parts, placing each element's level by the layout alone (as `element` reads
 * it): low nibble in ql at 64 n + 32 (r & 1) + l (high nibble for runs 2, 3), high 2 bits at 2r of
 * qh[32 n + l], where e = 128 n + 32 r + l; one i8 scale per 16 elements; f16 d last.
 */
function q6kBlock(levels: ArrayLike<number>, scales: ArrayLike<number>, d: number): Uint8Array {
  const b = new Uint8Array(210);
  for (let e = 0; e < 256; e++) {
    const n = e >> 7, r = (e & 127) >> 5, l = e & 31;
    b[64 * n + 32 * (r & 1) + l] |= (levels[e] & 15) << (4 * (r >> 1));
    b[128 + 32 * n + l] |= (levels[e] >> 4) << (2 * r);
  }
  for (let i = 0; i < 16; i++) b[192 + i] = scales[i] & 255;
  const h = f32ToF16(d);
  b[208] = h & 255;
  b[209] = h >> 8;
  return b;
}

const hexBytes = (h: string) => Uint8Array.from(h.match(/../g)!, (v) => parseInt(v, 16));

/** FNV-1a of bytes: a short fingerprint of a long golden output. */
function fnv1a(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const v of b) h = Math.imul(h ^ v, 0x01000193) >>> 0;
  return h;
}

/**
 * Inputs for the golden Q6_K outputs below, from exact arithmetic on mulberry32 draws only (no Math.log
 * or cos, whose last bits may differ between engines). "mixed" gives each 16-element sub-block a
 * power-of-two scale (2^-20 to 2^3) and a 10% chance of being all zero, so blocks span stored sub-block
 * scales from 0 to 127.
 */
function goldenInput(kind: string, seed: number, blocks: number): Float32Array {
  const r = mulberry32(seed), x = new Float32Array(256 * blocks);
  for (let s = 0; s < x.length / 16; s++) {
    const scale = 2 ** (Math.floor(r() * 24) - 20), zeroSub = r() < 0.1;
    for (let i = 0; i < 16; i++) {
      const u = r() - 0.5, at = 16 * s + i;
      switch (kind) {
        case "normal": x[at] = f((u + r() + r() - 1) * 0.02); break; // a sum of three uniforms
        case "mixed": x[at] = zeroSub || r() < 0.3 ? 0 : f(u * scale); break;
        // Each sub-block's largest value is +-1 and its scale exactly -+1/32 (every try ties, as in the hand-worked
        // blocks), so d = +-2^-12 and the scales -128 (or 128, stored as 127, on the other sign), and x / (d scale)
        // = +-0.5 for x = +-1/64: halves, which ggml rounds to even (0); and ties in every comparison of the search.
        case "ties": x[at] = i === 0 ? (s % 3 === 1 ? -1 : 1) : i < 4 && r() < 0.7 ? (r() < 0.5 ? -1 : 1) / 64 : 0; break;
        case "negative": x[at] = f(-Math.abs(u) + (r() < 0.05 ? 0.25 : 0)); break;
        case "2:4": x[at] = f(u * 0.1); break;
        // Per block: every sub-block below GROUP_MAX_EPS; d rounding to f16 0; d an f16 subnormal; sub-blocks
        // above GROUP_MAX_EPS whose scales are all below it (the block is cleared). Some sub-blocks below it.
        case "tiny": x[at] = f(u * (zeroSub ? 2 ** -50 : [2 ** -50, 2 ** -30, 2 ** -8, 2 ** -47][(s >> 4) % 4])); break;
      }
    }
  }
  if (kind === "2:4") {
    for (let g = 0; g < x.length; g += 4) {
      const a = Math.floor(r() * 4), b = (a + 1 + Math.floor(r() * 3)) % 4;
      x[g + a] = 0;
      x[g + b] = 0;
    }
  }
  return x;
}

q("quantizeGgml Q6_K: ggml's quantize_row_q6_K_ref bit for bit (hand-worked blocks, golden outputs of ggml itself)", async () => {
  // All zero: ggml clears the block (d = 0, every scale and level 0).
  assert.equal(quantizeGgml("Q6_K", new Float32Array(256)), new Uint8Array(210));
  // One 1 at element 37 (sub-block 2). Its sub-block's search starts at iscale = -32, l = -32, scale
  // -1/32; the other tries (l = -31) explain 31^2 / 961 = 1 as much, a tie, so -1/32 stays. The block
  // scale iscale = -128 / (-1/32) = 4096 gives d = 2^-12 and scales[2] = -128; requantised with
  // d * -128 = -1/32, x = 1 is level 0 (q - 32 = -32), its zeros level 32. All-zero sub-blocks keep
  // make_qx_quants' levels 0 under their scale 0. With -1 instead, iscale and d change sign.
  for (const v of [1, -1]) {
    const x = new Float32Array(256);
    x[37] = v;
    const levels = new Array<number>(256).fill(0).fill(32, 32, 48);
    levels[37] = 0;
    const scales = new Array<number>(16).fill(0);
    scales[2] = -128;
    const b = quantizeGgml("Q6_K", x);
    assert.equal(b, q6kBlock(levels, scales, v / 4096), `one ${v}`);
    assert.equal(dequantize("Q6_K", b, 256), x, `one ${v} reads back exactly`);
  }
  // One value (k + 1) / 16 at the start of sub-block k: each sub-block's scale is -(k + 1) / 512 (every
  // try ties, as above, and these dyadic sums are exact), the largest -1/32, so d = 2^-12 again and
  // the stored scales -8 (k + 1): all 16 scale bytes, -8 to -128, and every value exact.
  {
    const x = new Float32Array(256);
    for (let k = 0; k < 16; k++) x[16 * k] = (k + 1) / 16;
    const levels = Array.from({ length: 256 }, (_, e) => (e % 16 === 0 ? 0 : 32));
    const b = quantizeGgml("Q6_K", x);
    assert.equal(b, q6kBlock(levels, Array.from({ length: 16 }, (_, k) => -8 * (k + 1)), 1 / 4096));
    assert.equal(dequantize("Q6_K", b, 256), x);
  }
  // Two blocks of "mixed" rows as ggml's own quantize_row_q6_K_ref wrote them (libggml-base.so of
  // llama.cpp built for x86-64, the library behind llama-quantize), byte for byte.
  const mixed = goldenInput("mixed", 7, 2);
  const golden = hexBytes(
    "0030b0602000400000c000700090b0a00ee00084c1b42d2970c8c0f2b67e5f04e48500341d051af681ca00803f010f8c3fc00000e017e01005a71a0f98" +
    "05060510a02235c0748bd842502970681084b000000000c0d000400000000010700070f00050f0b070b558040bbfa20c1db73b3ff7574dc0d533644000" +
    "d101110030cc80bc8834e4a42ce4e0346078e4e480c4a05aaa82482676ee26142ea4dd8da28580ae201b2908c59cbdae6826ab327826a4e87ce4c8a864" +
    "5428944c8c20a8281c00000000047df80080000000b700b7b891830f1096b3cadd00c0110fe7885bc086ae000005030d000a010305000e03000006000000" +
    "700040c0f000d0b010401000f010e051a0fda4080000d9030f02e0002904ce0714050fd801981200072ce368b0f48c12921509005770c6d0015989abc8" +
    "030a004620d046c82071f06872050e0b2908ae05c2e11a1060189d0e040e306ea0b28000a2b062e2b140f181c30282700a0a4a0a02ca8088894986858" +
    "488828b85a9ab61aa2bda289335eaa19f9e3d862e80c8725a696a79ba2ac6a3a480e8b9fe00000000000e00000100fe00be1f80f613",
  );
  assert.equal(quantizeGgml("Q6_K", mixed), golden);
  // And the FNV-1a of ggml's output for 128 blocks of each kind of input: ties in every rounding, zeros,
  // 2:4 sparsity, negative-dominant blocks, sub-blocks below GROUP_MAX_EPS and a d that rounds to f16 0.
  const digests: Record<string, number> = {
    normal: 0x8ce476fe, mixed: 0xcd42bfc6, ties: 0x6ff5aeca, negative: 0x414cab75, "2:4": 0xf671c162, tiny: 0xdd575224,
  };
  for (const [i, kind] of Object.keys(digests).entries()) {
    assert.is(fnv1a(quantizeGgml("Q6_K", goldenInput(kind, 100 + i, 128))).toString(16), digests[kind].toString(16), kind);
  }
  // The Wasm dequantiser the model loader uses reads these blocks as the JavaScript one does.
  const rt = await createRuntime({ threads: 1 });
  const s = rt.heap.scope();
  try {
    const dst = s.alloc("f32", 512);
    await dequantizeGgml(rt, "Q6_K", s.from("u8", golden), dst, 2);
    assert.equal(dst.read(), dequantize("Q6_K", golden, 512));
  } finally {
    s.release();
    rt.close();
  }
});

q("quantizeGgml Q6_K: within a step of every value, zeros exact (50% and 2:4 sparse rows), tiny blocks zero, rows of 256 and 512; errors", () => {
  const r = mulberry32(43);
  for (const width of [256, 512]) {
    const rows = 24, n = rows * width;
    const kinds = ["uniform", "half zeros", "2:4", "negative", "one nonzero", "tiny", "mixed scales"] as const;
    for (const kind of kinds) {
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const u = r() - 0.5;
        if (kind === "uniform") x[i] = f(u);
        else if (kind === "half zeros") x[i] = r() < 0.5 ? 0 : f(u * 0.04);
        else if (kind === "2:4") x[i] = i % 4 < 2 ? 0 : f(u * 0.04);
        else if (kind === "negative") x[i] = f(-Math.abs(u) + (r() < 0.03 ? 0.3 : 0));
        else if (kind === "tiny") x[i] = f(u * 1e-15); // every sub-block below GROUP_MAX_EPS (1e-15)
        else if (kind === "mixed scales") x[i] = f(u * 2 ** -(Math.floor(i / 16) % 12)); // sub-block scales 1 to 2^-11
      }
      if (kind === "2:4") for (let i = 0; i < n; i += 4) if (r() < 0.5) [x[i], x[i + 2]] = [x[i + 2], x[i]]; // zeros in either half
      if (kind === "one nonzero") for (let b = 0; b < n / 256; b++) x[256 * b + Math.floor(r() * 256)] = f(r() - 0.5);
      const b = quantizeGgml("Q6_K", x);
      assert.is(b.byteLength, (n / 256) * 210, kind);
      const y = dequantize("Q6_K", b, n);
      for (let k = 0; k < n / 256; k++) {
        const blk = b.subarray(210 * k, 210 * k + 210);
        const d = f16ToF32(blk[208] | (blk[209] << 8));
        let amax = 0;
        for (let i = 256 * k; i < 256 * k + 256; i++) amax = Math.max(amax, Math.abs(x[i]));
        if (kind === "tiny") assert.equal(blk, new Uint8Array(210), `${kind} block ${k}: cleared`);
        for (let i = 256 * k; i < 256 * k + 256; i++) {
          if (x[i] === 0) assert.is(y[i], 0, `${kind}: zero at ${i} stays zero`);
          // The largest sub-block's step is about amax / 32; a value can be a step off when the int8
          // scale rounds its sub-block's step down and the value clamps at level 31 (or -32). A sub-block
          // (or block) whose largest value is below GROUP_MAX_EPS = 1e-15 is stored as zeros.
          const err = Math.abs(y[i] - x[i]);
          assert.ok(err <= amax / 16 + 1e-15, `${kind} ${width}[${i}]: ${x[i]} -> ${y[i]} (block amax ${amax})`);
          // Random data never clamps in practice: within one step of its own sub-block.
          const step = Math.abs(f(d * s8(blk[192 + ((i - 256 * k) >> 4)])));
          if (kind === "uniform" || kind === "half zeros") assert.ok(err <= step, `${kind} ${width}[${i}]: ${x[i]} -> ${y[i]} (step ${step})`);
        }
      }
      // A lone value is level -32 times scale -128 times d = f16(x / 4096): x up to d's f16 rounding,
      // half an ulp (2^-11 relative, or 2^-25 absolute where d is an f16 subnormal) times 4096.
      if (kind === "one nonzero") {
        for (let i = 0; i < n; i++) assert.ok(Math.abs(y[i] - x[i]) <= Math.max(Math.abs(x[i]) * 2 ** -11, 2 ** -13), `lone ${x[i]} -> ${y[i]}`);
      }
    }
  }
  assert.throws(() => quantizeGgml("Q6_K", new Float32Array(288)), /288 values are not whole 256-element blocks/);
  assert.throws(() => quantizeGgml("Q6_K", new Float32Array(256).fill(3e9)), /block scale .* does not fit in f16/);
});

q("writeGGUF quantize Q6_K: 256-multiple rows stored as Q6_K (fused phi3 too), the rest as dtype; file_type 18; kept by convertModel; NaN refused", async () => {
  // Rows of 256 everywhere but mlp.down (rows of hiddenDim = 384: not whole 256-element blocks).
  const m = syntheticModel("llama", 19, { ropeLayout: "adjacent", overrides: { dim: 256, hiddenDim: 384, nHeads: 4, nKvHeads: 2, headDim: 64, vocabSize: 40, nLayers: 1 } });
  for (const config of [m.config, { ...m.config, ropeLayout: "half" as const }]) {
    const out = new MemoryFolder("q6");
    await writeGGUF(out, config, m.source, { dtype: "f16", quantize: "Q6_K" });
    const bytes = out.files.get("model.gguf")!;
    const h = await parseGGUFHeader(new MemoryFile(bytes));
    assert.is(h.kv.get("general.file_type"), 18);
    const r = await readGGUF(new MemoryFile(bytes, "q6.gguf"));
    for (const [name, info] of r.tensors) {
      const want = info.shape.length === 1 ? "f32" : /down/.test(name) ? "f16" : "Q6_K";
      assert.is(info.quantized?.type ?? info.dtype, want, `${name} (${h.kv.get("general.architecture")})`);
      if (info.quantized) {
        const x = m.tensors.get(name)!;
        assert.equal(await r.readTensor(name), dequantize("Q6_K", quantizeGgml("Q6_K", x), x.length), name);
      }
    }
    await r.close();
  }
  // A Q6_K GGUF converted to GGUF keeps its Q6_K matrices by default (requantised from the values read:
  // close to, though not always bit-identical with, the input's blocks), and a dtype or another type
  // replaces them.
  const q6 = new MemoryFolder("q6");
  await writeGGUF(q6, m.config, m.source, { quantize: "Q6_K" });
  const q6r = await readGGUF(new MemoryFile(q6.files.get("model.gguf")!, "q6.gguf"));
  for (const [opts, want] of [[{}, "Q6_K"], [{ dtype: "f16" }, "f16"], [{ quantize: "Q8_0" }, "Q8_0"], [{ quantize: null }, "f32"]] as const) {
    const out = new MemoryFolder("c");
    await convertModel(q6r, "gguf", out, opts);
    const back = await openModel({ files: out.files, name: "c" });
    const info = back.tensors.get("layers.0.mlp.gate")!;
    assert.is(info.quantized?.type ?? info.dtype, want, JSON.stringify(opts));
    if (want === "Q6_K") {
      // Weights in [-1, 1): steps of about 1/32, and a requantised value moves by well under half of one.
      const a = await back.readTensor("layers.0.mlp.gate"), b = await q6r.readTensor("layers.0.mlp.gate");
      let moved = 0;
      for (let i = 0; i < a.length; i++) {
        assert.ok(Math.abs(a[i] - b[i]) <= 2 ** -7, `requantised gate[${i}]: ${a[i]} vs ${b[i]}`);
        if (a[i] !== b[i]) moved++;
      }
      assert.ok(moved < a.length / 100, `${moved} of ${a.length} values moved`);
      assert.is(back.tensors.get("layers.0.mlp.down")!.dtype, "f32", "down was f32 in the input");
    }
    await back.close();
  }
  await q6r.close();
  const nan = new Map(m.tensors);
  nan.set("layers.0.mlp.gate", nan.get("layers.0.mlp.gate")!.slice().fill(Infinity, 300, 301));
  try {
    await writeGGUF(new MemoryFolder(), m.config, async (n) => nan.get(n)!.slice(), { quantize: "Q6_K" });
    assert.unreachable("Infinity was quantised");
  } catch (e) {
    assert.match((e as Error).message, /layers\.0\.mlp\.gate\[300\] = Infinity cannot be quantised to Q6_K/);
  }
});

// ---------------------------------------------------------------- a real model, requantised

/** One row of blocks, quantised as ggml's reference quantisers do (round to nearest). */
function quantiseRow(type: "Q8_0" | "Q4_0", x: Float32Array): Uint8Array {
  const t = quant(type), out = new Uint8Array((x.length / 32) * t.blockBytes);
  for (let b = 0; b < x.length / 32; b++) {
    const blk = x.subarray(32 * b, 32 * b + 32), o = b * t.blockBytes;
    let amax = 0, max = 0;
    for (const v of blk) if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
    // Q8_0: d = amax / 127, q = round(x / d); Q4_0: d = max / -8, q = clamp(trunc(x / d + 8.5), 0, 15).
    const d = type === "Q8_0" ? amax / 127 : max / -8;
    const h = f32ToF16(d);
    out[o] = h & 255; out[o + 1] = h >> 8;
    const id = d ? 1 / d : 0;
    for (let j = 0; j < 32; j++) {
      if (type === "Q8_0") out[o + 2 + j] = Math.round(blk[j] * id) & 255;
      else {
        const qv = Math.min(15, Math.trunc(blk[j] * id + 8.5));
        out[o + 2 + (j & 15)] |= j < 16 ? qv : qv << 4;
      }
    }
  }
  return out;
}

const storiesGguf = await readSharedData("models/stories260K.gguf");
const storiesText = await readSharedText("text/tinystories_valid_first1000.txt");
if (!storiesGguf || !storiesText) skipNote("models/stories260K.gguf, text/tinystories_valid_first1000.txt");

/** Perplexity of a GGUF's bytes on the first 8000 characters of the TinyStories text. */
async function storiesPpl(rt: Awaited<ReturnType<typeof createRuntime>>, bytes: Uint8Array): Promise<number> {
  const r = await readGGUF(new MemoryFile(bytes, "s.gguf"));
  const m = await Transformer.load(r, rt);
  const tok = await loadTokenizer(r);
  const res = await evaluatePerplexity(m, tok, storiesText!.slice(0, 8000), { protocol: "paper", seqLen: 256 });
  m.close();
  await r.close();
  return res.ppl;
}

(storiesGguf && storiesText ? q : q.skip)("stories260K written by dass as GGUF phi3 (HF RoPE layout, fused q/k/v and gate/up) and as Q8_0: perplexity as the llama GGUF / within 1%", async () => {
  const rt = await createRuntime({ threads: 1 });
  try {
    const src = await readGGUF(new MemoryFile(storiesGguf!, "s.gguf"));
    const base = await storiesPpl(rt, storiesGguf!);
    const phi3 = new MemoryFolder("p");
    const half = targetConfig(src.config, "safetensors");
    await writeGGUF(phi3, half, convertingSource(src, half), { vocab: ggufVocab(src)! });
    const pb = phi3.files.get("model.gguf")!;
    assert.is((await parseGGUFHeader(new MemoryFile(pb))).kv.get("general.architecture"), "phi3");
    const p = await storiesPpl(rt, pb);
    // The same model with q/k rows in the other RoPE layout: the same logits up to rounding.
    assert.ok(Math.abs(p / base - 1) < 1e-6, `phi3 ${p} vs llama ${base}`);
    const q8 = new MemoryFolder("q8");
    await convertModel(src, "gguf", q8, { quantize: "Q8_0" });
    const q8p = await storiesPpl(rt, q8.files.get("model.gguf")!);
    assert.ok(Math.abs(q8p / base - 1) < 0.01 && q8p !== base, `Q8_0 ${q8p} vs f32 ${base}`);
    await src.close();
  } finally {
    rt.close();
  }
});

(storiesGguf && storiesText ? q : q.skip)("stories260K with its 64-wide matrices requantised to Q8_0 / Q4_0: perplexity within 1% / 15% of f32", async () => {
  const rt = await createRuntime({ threads: 1 });
  try {
    const ppl = (bytes: Uint8Array) => storiesPpl(rt, bytes);
    const base = await ppl(storiesGguf!);
    const h = await parseGGUFHeader(new MemoryFile(storiesGguf!, "s.gguf"));
    for (const [type, tol] of [["Q8_0", 0.01], ["Q4_0", 0.15]] as const) {
      const bytes = storiesGguf!.slice();
      let n = 0;
      for (const t of h.tensors) {
        if (t.dims.length !== 2 || t.dims[0] % 32 !== 0 || !/^blk\./.test(t.name) || t.type !== 0) continue;
        const w = new Float32Array(bytes.slice(h.dataOffset + t.offset, h.dataOffset + t.offset + 4 * t.dims[0] * t.dims[1]).buffer);
        const { at } = await retype(bytes, t.name, quant(type).id);
        bytes.set(quantiseRow(type, w), at);
        n++;
      }
      assert.ok(n >= 20, `${n} matrices requantised`);
      const got = await ppl(bytes);
      assert.ok(Math.abs(got / base - 1) < tol, `${type}: perplexity ${got} vs f32 ${base}`);
      assert.ok(got !== base, `${type} changed the model`);
    }
  } finally {
    rt.close();
  }
});

q.run();
