// Compressed N:M models: storage in safetensors and GGUF (round trips in every value dtype, both
// axes, tails, general N:M), writer refusals (llama2.c, unpruned matrices), malformed files (typed
// errors naming the file and tensor), SparseLinear placement, and inference on compressed weights
// against the dense-with-zeros model (synthetic models, and stories260K when the shared data is there).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArgumentError, createRuntime, FormatError, type Runtime } from "../src/index.js";
import {
  convertModel, encodeFromF32, MemoryFolder, openModel, parseGGUFHeader, MemoryFile, readAllTensors,
  writeGGUF, writeLlama2c, writeSafetensors, type ModelReader,
} from "../src/formats/index.js";
import { expectedTensors, tensorReader, Transformer, type ModelConfig, type TensorDType, type TransformerOptions } from "../src/model/index.js";
import { compressNM, type NMAxis } from "../src/sparse/format.js";
import { compressForSave, type NMPatternSpec } from "../src/sparse/storage.js";
import { SparseLinear } from "../src/sparse/linear.js";
import { generate } from "../src/generate/index.js";
import { evaluatePerplexity } from "../src/eval/index.js";
import { loadTokenizer } from "../src/tokenizers/index.js";
import { readSharedData, skipNote } from "./util/data.js";
import { mulberry32 } from "./util/random.js";
import { sourceOf } from "./util/synthetic-model.js";

const rts: Runtime[] = [];
const rt = (threads: 1 | 2): Runtime => rts[threads - 1];
const startRuntimes = async (): Promise<void> => {
  rts.push(await createRuntime({ threads: 1 }), await createRuntime({ threads: 2, minParallelWork: 0 }));
  // The pool's first job can race its start-up: give the workers a moment.
  await new Promise((r) => setTimeout(r, 50));
};
const stopRuntimes = (): void => { for (const r of rts.splice(0)) r.close(); };

// ---------------------------------------------------------------- helpers

/** Magnitude N:M: in every group of M along `axis` the N smallest |w| become 0 (lower index first on ties; tails prune floor(N r / M)). */
function pruneNM(W: Float32Array, rows: number, cols: number, n: number, m: number, axis: NMAxis): Float32Array {
  const out = W.slice();
  const groups = axis === "input" ? rows * Math.ceil(cols / m) : Math.ceil(rows / m) * cols;
  const perLine = axis === "input" ? Math.ceil(cols / m) : cols;
  for (let g = 0; g < groups; g++) {
    const a = Math.floor(g / perLine), b = g % perLine;
    const idx: number[] = [];
    if (axis === "input") for (let i = 0; i < m && b * m + i < cols; i++) idx.push(a * cols + b * m + i);
    else for (let i = 0; i < m && a * m + i < rows; i++) idx.push((a * m + i) * cols + b);
    const k = Math.floor((n * idx.length) / m);
    const order = idx.map((p, i) => [Math.abs(out[p]), i] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    for (let i = 0; i < k; i++) out[idx[order[i][1]]] = 0;
  }
  return out;
}

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.is(a.length, b.length, `${what}: length`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) assert.unreachable(`${what}: differ at ${i}: ${a[i]} vs ${b[i]}`);
}

/** max |a - b| / max |b|. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length);
  let d = 0, s = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(b[i])); }
  return d / Math.max(s, 1e-30);
}

async function throwsFormat(p: () => Promise<unknown>, pattern: RegExp, file?: string): Promise<void> {
  let err: unknown;
  try { await p(); } catch (e) { err = e; }
  if (!(err instanceof FormatError)) throw new Error(`expected FormatError matching ${pattern}, got ${(err as Error)?.stack ?? String(err)}`);
  assert.match(err.message, pattern);
  if (file !== undefined) assert.is(err.file, file);
}

async function throwsArg(p: () => Promise<unknown>, arg: string, pattern?: RegExp): Promise<void> {
  let err: unknown;
  try { await p(); } catch (e) { err = e; }
  if (!(err instanceof ArgumentError)) throw new Error(`expected ArgumentError(${arg}), got ${(err as Error)?.stack ?? String(err)}`);
  assert.is(err.arg, arg);
  if (pattern) assert.match(err.message, pattern);
}

// A llama-style config with sizes that leave tails: hidden 44 (44 = 5 x 8 + 4), kv rows 12.
const CONFIG: ModelConfig = {
  arch: "llama", dim: 24, hiddenDim: 44, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 6, vocabSize: 40, seqLen: 32,
  normEps: 1e-5, ropeTheta: 10000, ropeLayout: "adjacent", tiedEmbeddings: false, qkvBias: false, act: "silu", embedScale: 1,
  normPlusOne: false, bosId: 1, eosId: 2,
};

// Per matrix: both axes, 2:4 / 4:8 (fast layouts, with tails), 3:8 (general kernels); o of block 0 stays dense.
const SPEC = new Map<string, NMPatternSpec>([
  ["layers.0.attn.q", { n: 2, m: 4, axis: "input" }],
  ["layers.0.attn.k", { n: 4, m: 8, axis: "output" }],
  ["layers.0.attn.v", { n: 3, m: 8, axis: "input" }],
  ["layers.0.mlp.gate", { n: 2, m: 4, axis: "output" }],
  ["layers.0.mlp.up", { n: 2, m: 4, axis: "output" }],
  ["layers.0.mlp.down", { n: 4, m: 8, axis: "input" }],
  ["layers.1.attn.q", { n: 2, m: 4, axis: "input" }],
  ["layers.1.attn.k", { n: 2, m: 4, axis: "input" }],
  ["layers.1.attn.v", { n: 1, m: 4, axis: "output" }],
  ["layers.1.attn.o", { n: 2, m: 4, axis: "input" }],
  ["layers.1.mlp.gate", { n: 4, m: 8, axis: "output" }],
  ["layers.1.mlp.up", { n: 2, m: 4, axis: "output" }],
  ["layers.1.mlp.down", { n: 2, m: 4, axis: "input" }],
]);

/** Random weights k/256 (exact in f32, f16 and bf16), the SPEC matrices pruned. */
function prunedTensors(config: ModelConfig, spec: ReadonlyMap<string, NMPatternSpec>, seed: number): Map<string, Float32Array> {
  const r = mulberry32(seed);
  const out = new Map<string, Float32Array>();
  for (const t of expectedTensors(config)) {
    const a = new Float32Array(t.shape.reduce((x, y) => x * y, 1));
    const isNorm = /(^norm$|_norm$)/.test(t.name);
    for (let i = 0; i < a.length; i++) a[i] = isNorm ? 0.5 + Math.floor(r() * 128) / 128 : (Math.floor(r() * 511) - 255) / 256;
    const p = spec.get(t.name);
    out.set(t.name, p ? pruneNM(a, t.shape[0], t.shape[1], p.n, p.m, p.axis) : a);
  }
  return out;
}

const TENSORS = prunedTensors(CONFIG, SPEC, 7);

async function writeModel(format: "gguf" | "safetensors", dtype: TensorDType, spec: ReadonlyMap<string, NMPatternSpec> = SPEC,
  tensors = TENSORS, config = CONFIG): Promise<MemoryFolder> {
  const folder = new MemoryFolder("out");
  if (format === "gguf") await writeGGUF(folder, config, sourceOf(tensors), { dtype, compress: spec, fileName: "m.gguf" });
  else await writeSafetensors(folder, { ...config, ropeLayout: "half" }, sourceOf(tensors), { dtype, compress: spec });
  return folder;
}

const open = (folder: MemoryFolder): Promise<ModelReader> => openModel({ files: folder.files, name: folder.name });

// ---------------------------------------------------------------- storage

const storage = suite("sparse-runtime: storage");

storage("compressForSave maps a pruning report to canonical names; unstructured and failed matrices stay dense", () => {
  const spec = compressForSave({
    matrices: [
      { block: 0, name: "mlp.gate", pattern: "2:4", axis: "output", nmValid: true },
      { block: 0, name: "mlp.down", pattern: "2:4", axis: "input", nmValid: true },
      { block: 1, name: "mlp.up", pattern: "4:8", axis: "output", nmValid: false },
      { block: 1, name: "mlp.down", pattern: "0.5", axis: "row", nmValid: null },
    ],
  });
  assert.equal([...spec.entries()], [
    ["layers.0.mlp.gate", { n: 2, m: 4, axis: "output" }],
    ["layers.0.mlp.down", { n: 2, m: 4, axis: "input" }],
  ]);
  assert.throws(() => compressForSave({ matrices: [{ block: 0, name: "mlp.up", pattern: "4:2", axis: "input" }] }), (e: unknown) => e instanceof ArgumentError);
});

for (const format of ["safetensors", "gguf"] as const) {
  for (const dtype of ["f32", "f16", "bf16"] as const) {
    storage(`${format} ${dtype}: compressed matrices round trip (readTensor dense, readCompressed canonical, readRaw exact)`, async () => {
      const folder = await writeModel(format, dtype);
      const r = await open(folder);
      try {
        for (const [name, want] of TENSORS) {
          const info = r.tensors.get(name)!;
          const spec = SPEC.get(name);
          sameBits(await r.readTensor(name), want, name);
          if (!spec) { assert.not.ok(info.compressed, `${name} should be dense`); continue; }
          const c = info.compressed!;
          assert.ok(c, `${name} should be compressed`);
          assert.equal([c.n, c.m, c.axis, c.rows, c.cols, c.valueDType, c.version], [spec.n, spec.m, spec.axis, info.shape[0], info.shape[1], dtype, 1]);
          assert.is(info.dtype, dtype);
          assert.ok(c.storedBytes < info.byteLength, `${name}: ${c.storedBytes} stored bytes vs ${info.byteLength} dense`);
          const got = await r.readCompressed!(name);
          const ref = compressNM(want, info.shape[0], info.shape[1], spec.n, spec.m, spec.axis);
          sameBits(got.values, ref.values, `${name} values`);
          assert.equal([...got.masks], [...ref.masks], `${name} masks`);
          const raw = await r.readRaw(name);
          assert.is(raw.dtype, dtype);
          assert.equal([...raw.bytes], [...encodeFromF32(dtype, want)], `${name} raw`);
        }
      } finally {
        await r.close();
      }
    });
  }
}

storage("on-disk names and metadata: safetensors __metadata__ JSON, GGUF typed keys, U8 / I8 masks", async () => {
  const st = await writeModel("safetensors", "f16");
  const bytes = st.files.get("model.safetensors")!;
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
  const x = "model.layers.0.mlp.gate_proj.weight";
  assert.not.ok(x in header);
  assert.equal(header[`${x}.nm_values`].dtype, "F16");
  assert.equal(header[`${x}.nm_values`].shape, [22 * 24]);
  assert.equal(header[`${x}.nm_masks`].dtype, "U8");
  assert.equal(header[`${x}.nm_masks`].shape, [11 * 24 * 4 / 8]);
  assert.equal(JSON.parse(header.__metadata__[`dass.nm.${x}`]), { version: 1, pattern: "2:4", axis: "output", shape: [44, 24], dtype: "F16" });
  assert.ok("model.layers.0.self_attn.o_proj.weight" in header);

  const gg = await writeModel("gguf", "bf16");
  const h = await parseGGUFHeader(new MemoryFile(gg.files.get("m.gguf")!, "m.gguf"));
  const g = "blk.0.ffn_down.weight";
  const vals = h.tensors.find((t) => t.name === `${g}.nm_values`)!, masks = h.tensors.find((t) => t.name === `${g}.nm_masks`)!;
  assert.is(vals.type, 30);
  assert.is(masks.type, 24);
  assert.equal(masks.dims, [Math.ceil((24 * 6 * 8) / 8)]);
  assert.ok(!h.tensors.some((t) => t.name === g));
  assert.equal(
    ["version", "pattern", "axis", "rows", "cols", "dtype"].map((k) => h.kv.get(`dass.nm.${g}.${k}`)),
    [1, "4:8", "input", 24, 44, "BF16"],
  );
});

storage("convert keeps compression between GGUF and safetensors, or writes dense on request / to llama2.c", async () => {
  const r = await open(await writeModel("gguf", "f32"));
  try {
    // q/k are input-axis (or output-axis only in block 0's k, which is rows-permuted: written dense).
    const st = new MemoryFolder("st");
    await convertModel(r, "safetensors", st);
    const r2 = await open(st);
    for (const name of SPEC.keys()) {
      const permutedOutput = name === "layers.0.attn.k";
      assert.is(!!r2.tensors.get(name)!.compressed, !permutedOutput, name);
    }
    const back = new MemoryFolder("back");
    await convertModel(r2, "gguf", back, { fileName: "b.gguf" });
    const r3 = await open(back);
    for (const [name, want] of TENSORS) sameBits(await r3.readTensor(name), want, `gguf -> st -> gguf ${name}`);
    const dense = new MemoryFolder("dense");
    await convertModel(r3, "gguf", dense, { fileName: "d.gguf", compress: "none" });
    const r4 = await open(dense);
    assert.ok([...r4.tensors.values()].every((t) => !t.compressed));
    const l2c = new MemoryFolder("l2c");
    await convertModel(r3, "llama2c", l2c, { fileName: "m.bin" });
    const r5 = await open(l2c);
    for (const [name, want] of TENSORS) sameBits(await r5.readTensor(name), want, `llama2c ${name}`);
    await Promise.all([r2.close(), r3.close(), r4.close(), r5.close()]);
  } finally {
    await r.close();
  }
});

storage("writers refuse: llama2.c with compression, a matrix that does not follow its pattern, a non-linear tensor", async () => {
  const folder = new MemoryFolder("x");
  await throwsArg(() => writeLlama2c(folder, CONFIG, sourceOf(TENSORS), { compress: SPEC, fileName: "m.bin" }), "compress", /GGUF.*safetensors/);
  const unpruned = new Map(TENSORS);
  unpruned.set("layers.1.mlp.up", TENSORS.get("layers.1.mlp.up")!.map((v) => v === 0 ? 0.5 : v));
  await throwsArg(() => writeGGUF(folder, CONFIG, sourceOf(unpruned), { compress: SPEC, fileName: "m.gguf" }), "compress", /layers\.1\.mlp\.up does not follow 2:4 along the output axis/);
  await throwsArg(() => writeSafetensors(folder, { ...CONFIG, ropeLayout: "half" }, sourceOf(unpruned), { compress: SPEC }), "compress", /layers\.1\.mlp\.up/);
  await throwsArg(() => writeGGUF(folder, CONFIG, sourceOf(TENSORS), { compress: new Map([["tok_embeddings", { n: 2, m: 4, axis: "input" }]]), fileName: "m.gguf" }), "compress", /block linears/);
  await throwsArg(() => writeGGUF(folder, CONFIG, sourceOf(TENSORS), { compress: new Map([["layers.0.mlp.up", { n: 4, m: 4, axis: "input" }]]), fileName: "m.gguf" }), "compress(layers.0.mlp.up).n");
  assert.is(folder.files.size, 0, "nothing written");
});

// ---------------------------------------------------------------- malformed files

const bad = suite("sparse-runtime: malformed compressed files");

/** A safetensors file rebuilt with its header edited (data section unchanged unless `data` edits it). */
function patchSafetensors(bytes: Uint8Array, edit: (h: Record<string, any>) => void, data?: (d: Uint8Array, h: Record<string, any>) => void): Uint8Array {
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const h = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
  const d = bytes.slice(8 + len);
  data?.(d, h);
  edit(h);
  let json = JSON.stringify(h);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const body = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + body.length + d.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(body.length), true);
  out.set(body, 8);
  out.set(d, 8 + body.length);
  return out;
}

const ST = await writeModel("safetensors", "f32");
const ST_FILE = "out/model.safetensors";
const GATE = "model.layers.0.mlp.gate_proj.weight";
const DOWN = "model.layers.0.mlp.down_proj.weight";

async function openPatched(edit: (h: Record<string, any>) => void, data?: (d: Uint8Array, h: Record<string, any>) => void): Promise<ModelReader> {
  const files = new Map(ST.files);
  files.set("model.safetensors", patchSafetensors(ST.files.get("model.safetensors")!, edit, data));
  return openModel({ files, name: "out" });
}

/** Loads with both the dense path and the sparse path; each must fail with a FormatError. */
async function failsEverywhere(r: ModelReader, tensor: string, pattern: RegExp, file: string): Promise<void> {
  await throwsFormat(() => r.readTensor(tensor), pattern, file);
  await throwsFormat(() => r.readCompressed!(tensor), pattern, file);
  await throwsFormat(() => Transformer.load(r, rt(1)), pattern, file);
  await r.close();
}

bad.before(startRuntimes);
bad.after(stopRuntimes);

bad("safetensors: a mask bit beyond a tail group, a group keeping too many / too few values", async () => {
  // down: 44 columns at 4:8, so each row ends in a tail group of 4 (2 kept): set its bit 7.
  const setBit = (bit: number) => (d: Uint8Array, h: Record<string, any>) => {
    const off = h[`${DOWN}.nm_masks`].data_offsets[0];
    d[off + (bit >> 3)] ^= 1 << (bit & 7);
  };
  const tailGroupBit = 5 * 8 + 7; // row 0, group 5 (the tail), position 7
  await failsEverywhere(await openPatched(() => {}, setBit(tailGroupBit)), "layers.0.mlp.down", /compressed tensor layers\.0\.mlp\.down: .*bit set beyond its 4 elements/, ST_FILE);
  await failsEverywhere(await openPatched(() => {}, setBit(8 * 8 + 0)), "layers.0.mlp.down", /compressed tensor layers\.0\.mlp\.down: .*keeps [35] values, 4:8 needs 4/, ST_FILE);
});

bad("safetensors: lengths and metadata that contradict the pattern, the shape or the config", async () => {
  const cases: [string, (h: Record<string, any>) => void, RegExp][] = [
    ["values length", (h) => { h[`${GATE}.nm_values`].shape = [527]; h[`${GATE}.nm_values`].data_offsets[1] -= 4; h[`${GATE}.nm_masks`].data_offsets[0] -= 4; h[`${GATE}.nm_masks`].data_offsets[1] -= 4; },
      new RegExp(`compressed tensor ${GATE.replace(/\./g, "\\.")}: values tensor has shape \\[527\\].*keeps 528`)],
    ["masks length", (h) => { h[`${GATE}.nm_masks`].shape = [100]; h[`${GATE}.nm_masks`].data_offsets[1] = h[`${GATE}.nm_masks`].data_offsets[0] + 100; }, /masks tensor has shape \[100\].*needs 132 bytes/],
    ["transposed shape", (h) => { h.__metadata__[`dass.nm.${GATE}`] = JSON.stringify({ version: 1, pattern: "2:4", axis: "output", shape: [24, 44], dtype: "F32" }); },
      /compressed tensor layers\.0\.mlp\.gate has shape \[24,44\], the config implies \[44,24\]/],
    ["wider shape", (h) => { h.__metadata__[`dass.nm.${GATE}`] = JSON.stringify({ version: 1, pattern: "2:4", axis: "output", shape: [48, 24], dtype: "F32" }); }, /values tensor has shape \[528\].*keeps 576/],
    ["other pattern", (h) => { h.__metadata__[`dass.nm.${GATE}`] = JSON.stringify({ version: 1, pattern: "1:4", axis: "output", shape: [44, 24], dtype: "F32" }); }, /keeps 792/],
    ["other axis", (h) => { h.__metadata__[`dass.nm.${DOWN}`] = JSON.stringify({ version: 1, pattern: "4:8", axis: "output", shape: [24, 44], dtype: "F32" }); }, /masks tensor has shape \[144\].*needs 132/],
    ["bad axis", (h) => { h.__metadata__[`dass.nm.${GATE}`] = JSON.stringify({ version: 1, pattern: "2:4", axis: "diagonal", shape: [44, 24], dtype: "F32" }); }, /axis "diagonal"/],
    ["bad pattern", (h) => { h.__metadata__[`dass.nm.${GATE}`] = JSON.stringify({ version: 1, pattern: "4:4", axis: "output", shape: [44, 24], dtype: "F32" }); }, /pattern 4:4 is invalid/],
    ["version", (h) => { h.__metadata__[`dass.nm.${GATE}`] = JSON.stringify({ version: 2, pattern: "2:4", axis: "output", shape: [44, 24], dtype: "F32" }); }, /format version 2 is not supported/],
    ["dtype", (h) => { h.__metadata__[`dass.nm.${GATE}`] = JSON.stringify({ version: 1, pattern: "2:4", axis: "output", shape: [44, 24], dtype: "F16" }); }, /values are stored as F32 but the metadata says F16/],
    ["not JSON", (h) => { h.__metadata__[`dass.nm.${GATE}`] = "2:4 output"; }, /is not JSON/],
    ["no metadata", (h) => { delete h.__metadata__[`dass.nm.${GATE}`]; }, /no dass\.nm\.model\.layers\.0\.mlp\.gate_proj\.weight entry in __metadata__/],
    ["metadata without tensors", (h) => { h.__metadata__[`dass.nm.model.layers.1.self_attn.o_proj.weight.x`] = "{}"; }, /missing model\.layers\.1\.self_attn\.o_proj\.weight\.x\.nm_values/],
    ["no masks", (h) => { h[`${GATE}.nm_maskz`] = h[`${GATE}.nm_masks`]; delete h[`${GATE}.nm_masks`]; }, /U8 is only used for compressed N:M masks|missing .*nm_masks/],
    ["masks not U8", (h) => { h[`${GATE}.nm_masks`].dtype = "F16"; h[`${GATE}.nm_masks`].shape = [66]; }, /masks are F16, expected U8/],
    ["values U8", (h) => { h[`${GATE}.nm_values`].dtype = "U8"; h[`${GATE}.nm_values`].shape = [528 * 4]; }, /values are U8/],
    ["dense and compressed", (h) => { h[GATE] = { dtype: "F32", shape: [44, 24], data_offsets: [0, 4224] }; }, /stored both dense and compressed/],
  ];
  for (const [what, edit, pattern] of cases) {
    try {
      await throwsFormat(() => openPatched(edit), pattern, ST_FILE);
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`);
    }
  }
});

bad("GGUF: corrupt masks and metadata that contradicts the tensors", async () => {
  const folder = await writeModel("gguf", "f16");
  const bytes = folder.files.get("m.gguf")!;
  const h = await parseGGUFHeader(new MemoryFile(bytes, "m.gguf"));
  const masks = h.tensors.find((t) => t.name === "blk.1.ffn_up.weight.nm_masks")!;
  const flipped = bytes.slice();
  flipped[h.dataOffset + masks.offset + 3] ^= 0x01;
  await failsEverywhere(await openModel({ files: { "m.gguf": flipped }, name: "g" }), "layers.1.mlp.up", /m\.gguf: compressed tensor layers\.1\.mlp\.up: .*keeps [13] values, 2:4 needs 2/, "g/m.gguf");

  // The u32 value of a metadata key sits right after the key string and its type.
  const patchKey = (key: string, value: number): Uint8Array => {
    const out = bytes.slice();
    const k = new TextEncoder().encode(key);
    outer: for (let i = 0; i < out.length - k.length; i++) {
      for (let j = 0; j < k.length; j++) if (out[i + j] !== k[j]) continue outer;
      new DataView(out.buffer).setUint32(i + k.length + 4, value, true);
      return out;
    }
    throw new Error(`key ${key} not found`);
  };
  await throwsFormat(() => openModel({ name: "g", files: { "m.gguf": patchKey("dass.nm.blk.0.ffn_gate.weight.rows", 48) } }), /compressed tensor blk\.0\.ffn_gate\.weight: values tensor has shape \[528\].*keeps 576/, "g/m.gguf");
  await throwsFormat(() => openModel({ name: "g", files: { "m.gguf": patchKey("dass.nm.blk.0.ffn_gate.weight.version", 7) } }), /blk\.0\.ffn_gate\.weight: format version 7/, "g/m.gguf");
  await throwsFormat(() => openModel({ name: "g", files: { "m.gguf": patchKey("dass.nm.blk.1.attn_k.weight.cols", 12) } }), /blk\.1\.attn_k\.weight: values tensor has shape/, "g/m.gguf");
});

// ---------------------------------------------------------------- SparseLinear

const lin = suite("sparse-runtime: SparseLinear");
lin.before(startRuntimes);
lin.after(stopRuntimes);

lin("placement: runs only when placed, same results resident / in a slot / at 1 and 2 threads, host copy round trip", async () => {
  const W = pruneNM(TENSORS.get("layers.0.mlp.up")!.map((v, i) => v + (i % 3) / 1024), 44, 24, 2, 4, "output");
  const x = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i));
  const want = new Float32Array(44);
  for (let r = 0; r < 44; r++) { let s = 0; for (let j = 0; j < 24; j++) s += W[r * 24 + j] * x[j]; want[r] = s; }
  const outs: Float32Array[] = [];
  for (const threads of [1, 2] as const) {
    const r = rt(threads);
    const l = SparseLinear.fromDense(r, W, 44, 24, { n: 2, m: 4, axis: "output" });
    assert.is(l.placed, false);
    assert.is(l.placementBytes % 64, 0);
    const xa = r.heap.from("f32", x), ya = r.heap.alloc("f32", 44);
    await throwsArg(() => l.gemv(xa, ya), "matrix", /not placed/);
    const slot = r.heap.alloc("u8", l.placementBytes + 64);
    l.place(slot.ptr + 64);
    await l.gemv(xa, ya);
    outs.push(ya.read());
    l.unplace();
    slot.free();
    await throwsArg(() => l.gemv(xa, ya), "matrix", /not placed/);
    l.placeResident();
    await l.gemv(xa, ya);
    outs.push(ya.read());
    sameBits(l.denseWeights(), W, "denseWeights");
    l.free();
    xa.free(); ya.free();
  }
  for (const o of outs) {
    sameBits(o, outs[0], "placements and threads agree");
    assert.ok(relDiff(o, want) < 1e-6);
  }
});

// ---------------------------------------------------------------- inference

const inf = suite("sparse-runtime: inference on compressed weights");
inf.before(startRuntimes);
inf.after(stopRuntimes);

async function logitsOf(r: ModelReader, runtime: Runtime, tokens: number[], opts: TransformerOptions = {}): Promise<{ all: Float32Array; steps: Float32Array[]; greedy: number[]; m: Transformer }> {
  const m = await Transformer.load(r, runtime, opts);
  const cache = m.newCache();
  try {
    const all = await m.forward(tokens, 0, cache, { logits: "all" });
    const steps: Float32Array[] = [];
    const greedy: number[] = [];
    const V = m.config.vocabSize;
    let last = all.subarray((tokens.length - 1) * V);
    for (let pos = tokens.length; pos < tokens.length + 8; pos++) {
      let am = 0;
      for (let i = 1; i < V; i++) if (last[i] > last[am]) am = i;
      greedy.push(am);
      last = await m.decode(am, pos, cache);
      steps.push(last);
    }
    return { all, steps, greedy, m };
  } finally {
    cache.free();
  }
}

for (const format of ["gguf", "safetensors"] as const) {
  inf(`${format}: compressed model = dense-with-zeros model (rel. diff <= 1e-5, same greedy tokens); resident, streamed, 1 and 2 threads`, async () => {
    const folder = await writeModel(format, "f32");
    const denseCfg = format === "gguf" ? CONFIG : { ...CONFIG, ropeLayout: "half" as const };
    const denseTensors = format === "gguf" ? TENSORS : await readAllTensors(await open(folder));
    const tokens = [1, 5, 9, 33, 2, 17, 4];
    const ref = await logitsOf(tensorReader(denseCfg, denseTensors), rt(1), tokens);
    ref.m.close();
    const runs: [string, Awaited<ReturnType<typeof logitsOf>>][] = [];
    for (const threads of [1, 2] as const) {
      const probe = await Transformer.load(await open(folder), rt(threads), { budgetBytes: 0 });
      const oneBlock = probe.residency.fixedBytes + probe.residency.blockBytes[0] + 64;
      probe.close();
      for (const budgetBytes of [undefined, 0, oneBlock]) {
        const r = await open(folder);
        const before = rt(threads).heap.bytesInUse;
        rt(threads).heap.resetPeak();
        const out = await logitsOf(r, rt(threads), tokens, { budgetBytes });
        const res = out.m.residency;
        const what = `threads ${threads} budget ${budgetBytes}: ${res.mode}, ${res.residentBlocks.length} resident`;
        assert.is(res.sparseLinears, SPEC.size, what);
        assert.is(res.storedWeightBytes, res.blockBytes.reduce((a, b) => a + b, 0) + 64 * Math.ceil(4 * CONFIG.vocabSize * CONFIG.dim / 64) + 128, what);
        if (budgetBytes === 0) assert.is(res.mode, "streamed");
        if (budgetBytes === oneBlock) {
          assert.equal(res.residentBlocks, [0], what);
          const peak = rt(threads).heap.peakBytes - before;
          assert.ok(peak <= budgetBytes + res.slotBytes + 16384, `${what}: peak ${peak} > budget + slot ${res.slotBytes}`);
        }
        assert.ok(relDiff(out.all, ref.all) <= 1e-5, `${what}: prefill logits rel. diff ${relDiff(out.all, ref.all)}`);
        out.steps.forEach((s, i) => assert.ok(relDiff(s, ref.steps[i]) <= 1e-5, `${what}: decode step ${i} rel. diff ${relDiff(s, ref.steps[i])}`));
        assert.equal(out.greedy, ref.greedy, `${what}: greedy tokens`);
        out.m.close();
        await r.close();
        runs.push([what, out]);
      }
    }
    for (const [what, o] of runs.slice(1)) sameBits(o.all, runs[0][1].all, `${what} vs ${runs[0][0]}`);
  });
}

inf("compressed: \"dense\" decompresses; getLinearWeights decompresses a sparse linear; setLinear swaps sparse <-> dense, also in a streamed block", async () => {
  const folder = await writeModel("gguf", "f32");
  const tokens = [3, 1, 4, 1, 5];
  const ref = await logitsOf(tensorReader(CONFIG, TENSORS), rt(2), tokens);
  ref.m.close();
  const d = await logitsOf(await open(folder), rt(2), tokens, { compressed: "dense" });
  assert.is(d.m.residency.sparseLinears, 0);
  assert.ok(relDiff(d.all, ref.all) <= 1e-5);
  d.m.close();
  for (const budgetBytes of [undefined, 0]) {
    const r = await open(folder);
    const m = await Transformer.load(r, rt(2), { budgetBytes });
    sameBits(await m.getLinearWeights(1, "gate"), TENSORS.get("layers.1.mlp.gate")!, "getLinearWeights");
    assert.instance(m.getCustomLinear(1, "gate"), SparseLinear);
    // Sparse -> dense (the streamed slot grows), dense -> a caller's sparse linear, and back.
    await m.setLinear(1, "gate", TENSORS.get("layers.1.mlp.gate")!);
    assert.is(m.getCustomLinear(1, "gate"), undefined);
    const foreign = SparseLinear.fromDense(rt(1), TENSORS.get("layers.0.mlp.down")!, 24, 44, { n: 4, m: 8, axis: "input" });
    await throwsArg(() => m.setLinear(0, "down", foreign), "weights", /another runtime/);
    foreign.free();
    const mine = SparseLinear.fromDense(rt(2), TENSORS.get("layers.0.mlp.down")!, 24, 44, { n: 4, m: 8, axis: "input" });
    await m.setLinear(0, "down", mine);
    assert.ok(mine.placed);
    const cache = m.newCache();
    const all = await m.forward(tokens, 0, cache, { logits: "all" });
    assert.ok(relDiff(all, ref.all) <= 1e-5, `budget ${budgetBytes}: rel. diff ${relDiff(all, ref.all)}`);
    cache.free();
    m.close();
    // The caller's linear outlives the model: unplaced, weights kept.
    assert.is(mine.placed, false);
    sameBits(mine.denseWeights(), TENSORS.get("layers.0.mlp.down")!, "caller linear after close");
    mine.free();
    await r.close();
  }
});

// ---------------------------------------------------------------- stories260K

const bin = await readSharedData("models/stories260K.bin");
const tokBytes = await readSharedData("models/tok512.bin");
if (!bin || !tokBytes) skipNote("models/stories260K.bin, models/tok512.bin");
// The first 4 KiB of the TinyStories validation text (or a fixed sentence when it is absent).
const storyText = new TextDecoder().decode((await readSharedData("text/tinystories_valid_first1000.txt"))?.subarray(0, 4096)) ||
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. ".repeat(20);

const real = suite("sparse-runtime: stories260K pruned and compressed");
real.before(startRuntimes);
real.after(stopRuntimes);

const VARIANTS: Record<string, (name: string) => NMPatternSpec | undefined> = {
  "magnitude 2:4 input, all linears": (name) => (/\.(attn\.[qkvo]|mlp\.(gate|up|down))$/.test(name) ? { n: 2, m: 4, axis: "input" } : undefined),
  "DaSS-like 2:4: gate/up output axis, down input axis": (name) =>
    /mlp\.(gate|up)$/.test(name) ? { n: 2, m: 4, axis: "output" } : /mlp\.down$/.test(name) ? { n: 2, m: 4, axis: "input" } : undefined,
};

for (const [variant, specOf] of Object.entries(VARIANTS)) {
  (bin && tokBytes ? real : real.skip)(`${variant}: GGUF and safetensors give the dense-with-zeros logits (<= 1e-5), greedy text and perplexity`, async () => {
    const src = await openModel({ files: { "stories260K.bin": bin! } });
    const config = src.config;
    const dense = await readAllTensors(src);
    await src.close();
    const spec = new Map<string, NMPatternSpec>();
    for (const t of expectedTensors(config)) {
      const p = specOf(t.name);
      if (!p) continue;
      spec.set(t.name, p);
      dense.set(t.name, pruneNM(dense.get(t.name)!, t.shape[0], t.shape[1], p.n, p.m, p.axis));
    }
    const tok = await loadTokenizer(tokBytes!, { vocabSize: 512 });
    const tokens = [1, 403, 407, 261, 378, 432, 383];
    const ref = await logitsOf(tensorReader(config, dense), rt(2), tokens);
    const refText = (await generate(ref.m, tok, "Once upon a time", { steps: 64 })).text;
    const refPpl = (await evaluatePerplexity(ref.m, tok, storyText, { seqLen: 256 })).ppl;
    ref.m.close();
    const gg = new MemoryFolder("gg");
    await writeGGUF(gg, config, sourceOf(dense), { compress: spec, fileName: "p.gguf" });
    const st = new MemoryFolder("st");
    await convertModel(await open(gg), "safetensors", st);
    for (const [fmt, folder] of [["gguf", gg], ["safetensors", st]] as const) {
      for (const threads of [1, 2] as const) {
        const r = await open(folder);
        for (const name of spec.keys()) assert.ok(r.tensors.get(name)!.compressed, `${fmt}: ${name} compressed`);
        const out = await logitsOf(r, rt(threads), tokens);
        const what = `${fmt}, ${threads} threads`;
        const res = out.m.residency;
        assert.is(res.sparseLinears, spec.size);
        assert.ok(res.storedWeightBytes < res.weightBytes, `${what}: stored ${res.storedWeightBytes} < dense ${res.weightBytes}`);
        assert.ok(relDiff(out.all, ref.all) <= 1e-5, `${what}: prefill rel. diff ${relDiff(out.all, ref.all)}`);
        out.steps.forEach((s, i) => assert.ok(relDiff(s, ref.steps[i]) <= 1e-5, `${what}: step ${i} rel. diff ${relDiff(s, ref.steps[i])}`));
        const text = (await generate(out.m, tok, "Once upon a time", { steps: 64 })).text;
        assert.is(text, refText, `${what}: greedy text`);
        const ppl = (await evaluatePerplexity(out.m, tok, storyText, { seqLen: 256 })).ppl;
        assert.ok(Math.abs(ppl - refPpl) <= 1e-5 * refPpl, `${what}: perplexity ${ppl} vs dense-with-zeros ${refPpl}`);
        out.m.close();
        await r.close();
      }
    }
  });
}

storage.run();
bad.run();
lin.run();
inf.run();
real.run();
