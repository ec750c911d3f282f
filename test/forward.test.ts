// The forward pass: stories260K against REFERENCE.md (.bin, .gguf, and converted to a Hugging Face
// safetensors folder), the f64 reference forward on
// synthetic models of every arch, threads 1 vs 2, resident vs streamed, prefill vs decode, hooks,
// weight replacement, errors and abort.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { AbortError, ArgumentError, createRuntime, type Runtime } from "../src/index.js";
import { convertModel, MemoryFolder, openModel, writeSafetensors } from "../src/formats/index.js";
import {
  DenseLinear, KVCache, tensorReader, Transformer, type Linear, type LinearName, type TransformerOptions,
} from "../src/model/index.js";
import type { WasmRef } from "../src/runtime/heap.js";
import { referenceForward, rmsnorm as refRmsnorm } from "../src/reference/index.js";
import type { ModelConfig } from "../src/model/config.js";
import { readSharedData, skipNote } from "./util/data.js";
import { sourceOf, syntheticModel } from "./util/synthetic-model.js";
import { mulberry32, randInt } from "./util/random.js";

const rts: Runtime[] = [];
const rt = (threads: 1 | 2) => rts[threads - 1];
const startRuntimes = async () => { rts.push(await createRuntime({ threads: 1 }), await createRuntime({ threads: 2, minParallelWork: 0 })); };
const stopRuntimes = () => { for (const r of rts.splice(0)) r.close(); };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.is(a.length, b.length, what);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) assert.unreachable(`${what}: differ at ${i}: ${a[i]} vs ${b[i]}`);
}

async function expectError(f: () => unknown, cls: new (...a: never[]) => Error, what: string): Promise<void> {
  let err: unknown;
  try { await f(); } catch (e) { err = e; }
  assert.instance(err, cls, `${what}: expected ${cls.name}, got ${String(err)}`);
}

// ---------------------------------------------------------------- stories260K

const bin = await readSharedData("models/stories260K.bin");
const gguf = await readSharedData("models/stories260K.gguf");
if (!bin) skipNote("models/stories260K.bin");
if (!gguf) skipNote("models/stories260K.gguf");

const REF_STEP0 = [-6.22291136, 8.4043417, -6.22373724, -6.22254181, -6.22195101, -6.22287512, -6.22187996, -6.22341633];
const REF_STEP1 = [-9.58945847, 3.84127617, -9.5905323, -9.58919334, -9.58864212, -9.59014702, -9.58848286, -9.5900774];

const real = suite("forward: stories260K vs REFERENCE.md");
real.before(startRuntimes);
real.after(stopRuntimes);

async function loadReal(bytes: Uint8Array, name: string, r: Runtime, opts: TransformerOptions = {}): Promise<Transformer> {
  const reader = await openModel({ files: { [name]: bytes } });
  return Transformer.load(reader, r, opts);
}

// The safetensors route converts the llama2.c checkpoint (q/k rows permuted to the half-rotation
// RoPE layout of Hugging Face, config.json written) and reads the folder back.
async function loadConverted(bytes: Uint8Array, r: Runtime): Promise<Transformer> {
  const folder = new MemoryFolder();
  await convertModel(await openModel({ files: { "stories260K.bin": bytes } }), "safetensors", folder);
  const reader = await openModel({ files: folder.files });
  assert.is(reader.config.ropeLayout, "half");
  return Transformer.load(reader, r);
}

const routes: Array<[string, Uint8Array | null, (r: Runtime) => Promise<Transformer>]> = [
  ["stories260K.bin", bin, (r) => loadReal(bin!, "stories260K.bin", r)],
  ["stories260K.gguf", gguf, (r) => loadReal(gguf!, "stories260K.gguf", r)],
  ["stories260K.bin converted to safetensors", bin, (r) => loadConverted(bin!, r)],
];
for (const [name, bytes, load] of routes) {
  (bytes ? real : real.skip)(`${name}: first two steps match the reference logits within 1e-4`, async () => {
    const m = await load(rt(2));
    const cache = m.newCache();
    try {
      const l0 = await m.forward([1], 0, cache);
      assert.is(l0.length, 512);
      for (let i = 0; i < 8; i++) assert.ok(Math.abs(l0[i] - REF_STEP0[i]) < 1e-4, `step0 logits[${i}] = ${l0[i]}, want ${REF_STEP0[i]}`);
      let s = 0, s2 = 0, am = 0;
      for (let i = 0; i < l0.length; i++) { s += l0[i]; s2 += l0[i] * l0[i]; if (l0[i] > l0[am]) am = i; }
      // Sums over 512 logits: 1e-4 per logit would allow 0.05; hold them to 1e-6 relative.
      assert.ok(Math.abs(s - -1070.171674) < 1070 * 1e-6, `sum = ${s}`);
      assert.ok(Math.abs(s2 - 16412.036437) < 16412 * 1e-6, `sum of squares = ${s2}`);
      assert.is(am, 403);
      assert.ok(Math.abs(l0[403] - 17.0235157) < 1e-4, `max logit ${l0[403]}`);
      const l1 = await m.decode(403, 1, cache);
      for (let i = 0; i < 8; i++) assert.ok(Math.abs(l1[i] - REF_STEP1[i]) < 1e-4, `step1 logits[${i}] = ${l1[i]}, want ${REF_STEP1[i]}`);
      assert.is(cache.length, 2);
    } finally {
      cache.free();
      m.close();
    }
  });
}

(bin ? real : real.skip)("threads 1 and 2, resident and streamed (host and reader) give identical logits", async () => {
  const prompt = [1, 403, 407, 261, 378, 432, 383];
  const outs: Array<[string, Float32Array, Float32Array]> = [];
  for (const threads of [1, 2] as const) {
    for (const opts of [{}, { budgetBytes: 0 }, { budgetBytes: 0, streamFrom: "reader" as const }, { budgetBytes: 1_000_000 }]) {
      const m = await loadReal(bin!, "stories260K.bin", rt(threads), opts);
      if (opts.budgetBytes === 0) {
        assert.is(m.residency.mode, "streamed");
        assert.equal(m.residency.residentBlocks, []);
        assert.not.ok(m.residency.classifierResident);
      }
      const cache = m.newCache();
      const all = await m.forward(prompt, 0, cache, { logits: "all" });
      const next = await m.decode(286, prompt.length, cache);
      outs.push([`threads ${threads} ${JSON.stringify(opts)} ${m.residency.residentBlocks.length} resident`, all, next]);
      cache.free();
      m.close();
    }
  }
  for (const [what, all, next] of outs.slice(1)) {
    sameBits(all, outs[0][1], `${what}: prefill logits`);
    sameBits(next, outs[0][2], `${what}: decode logits`);
  }
});

(bin ? real : real.skip)("streaming keeps Wasm memory at the budget plus one block slot", async () => {
  const r = rt(1);
  const before = r.heap.bytesInUse;
  const probe = await loadReal(bin!, "stories260K.bin", r, { budgetBytes: 0 });
  const budget = Math.floor(probe.residency.fixedBytes + 2.5 * probe.residency.slotBytes);
  probe.close();
  r.heap.resetPeak();
  const m = await loadReal(bin!, "stories260K.bin", r, { budgetBytes: budget });
  const cache = m.newCache();
  await m.forward([1, 403, 407], 0, cache);
  const peak = r.heap.peakBytes - before;
  assert.is(m.residency.mode, "streamed");
  assert.equal(m.residency.residentBlocks, [0, 1]);
  // Runtime scratch (attention scores) is outside the model's plan: allow a few KiB.
  assert.ok(peak <= budget + m.residency.slotBytes + 16384, `peak ${peak} > budget ${budget} + slot ${m.residency.slotBytes}`);
  cache.free();
  m.close();
});

(bin ? real : real.skip)("prefill logits equal decode logits bit for bit; chunked prefill equals one batch", async () => {
  const tokens = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298];
  const m = await loadReal(bin!, "stories260K.bin", rt(2));
  const chunked = await loadReal(bin!, "stories260K.bin", rt(2), { maxBatchTokens: 4 });
  const c1 = m.newCache(), c2 = m.newCache(), c3 = chunked.newCache();
  try {
    const all = await m.forward(tokens, 0, c1, { logits: "all" });
    for (let t = 0; t < tokens.length; t++) {
      // Every kernel's per-token arithmetic is independent of the batch (GEMM rows equal GEMV,
      // attention depends only on the query's position), so the bits agree.
      const step = await m.decode(tokens[t], t, c2);
      sameBits(step, all.subarray(t * 512, (t + 1) * 512), `position ${t}: prefill vs decode`);
    }
    const ch = await chunked.forward(tokens, 0, c3, { logits: "all" });
    sameBits(ch, all, "chunked prefill");
    // Continue after a prefill, and rewind: pos0 < cache.length overwrites.
    const a = await m.forward([286, 261], tokens.length, c1);
    const b = await m.forward([286, 261], tokens.length, c2);
    sameBits(a, b, "continuation after prefill vs after decode steps (same KV contents)");
  } finally {
    c1.free(); c2.free(); c3.free();
    m.close(); chunked.close();
  }
});

real.run();

// ---------------------------------------------------------------- synthetic models vs the f64 reference

const synth = suite("forward: synthetic models vs the f64 reference forward");
synth.before(startRuntimes);
synth.after(stopRuntimes);

type Case = { label: string; config: ModelConfig; tensors: Map<string, Float32Array> };
const cases: Case[] = [];
for (const [arch, seeds, layouts] of [
  ["llama", [1, 2], ["adjacent", "half"]], ["mistral", [3], ["half"]], ["qwen2", [4, 5], ["half"]], ["qwen3", [10, 11], ["half"]], ["gemma", [6, 7], ["half"]], ["gemma2", [13, 14], ["half"]], ["gemma3", [17, 18], ["half"]],
] as const) {
  for (const seed of seeds) {
    for (const ropeLayout of layouts) {
      const m = syntheticModel(arch, seed, { ropeLayout, tied: arch === "gemma" || arch === "gemma2" ? true : seed % 2 === 0 });
      // Synthetic weights are k/256 in [-1, 1]; scale the matrices down so activations stay O(1)
      // and the comparison measures arithmetic, not overflow-prone amplification.
      for (const [name, t] of m.tensors) if (!/norm/.test(name)) for (let i = 0; i < t.length; i++) t[i] *= 0.5;
      cases.push({ label: `${arch} seed ${seed} ${ropeLayout}${m.config.tiedEmbeddings ? " tied" : ""}`, config: m.config, tensors: m.tensors });
    }
  }
}

// RoPE scaling (llama3 in all three frequency regimes, linear, GGUF's per-frequency factors) on llama-shaped models.
for (const [seed, ropeScaling] of [
  [8, { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 }],
  [9, { type: "linear", factor: 4 }],
  [12, { type: "factors", factors: [1, 2.5, 8, 8] }],
  // LongRoPE whose original context (8) the 13 tested positions exceed: the long factors run.
  [20, { type: "longrope", shortFactors: [1, 1.25, 1.5, 2], longFactors: [1, 3, 9, 27], originalContext: 8, attentionFactor: 1.2 }],
] as const) {
  const m = syntheticModel("llama", seed, { overrides: { headDim: 8, ropeScaling } });
  for (const [name, t] of m.tensors) if (!/norm/.test(name)) for (let i = 0; i < t.length; i++) t[i] *= 0.5;
  cases.push({ label: `llama seed ${seed} ${ropeScaling.type} RoPE scaling`, config: m.config, tensors: m.tensors });
}

// Sliding windows shorter than the 13 tested positions: every layer (Mistral), alternate layers (Gemma 2).
for (const [arch, seed, slidingWindow, alternate] of [["mistral", 15, 4, false], ["gemma2", 16, 3, true]] as const) {
  const base = syntheticModel(arch, seed, { tied: true });
  const slidingLayers = alternate ? Array.from({ length: base.config.nLayers }, (_, i) => i % 2 === 0) : undefined;
  const m = syntheticModel(arch, seed, { tied: true, overrides: { slidingWindow, ...(slidingLayers ? { slidingLayers } : {}) } });
  for (const [name, t] of m.tensors) if (!/norm/.test(name)) for (let i = 0; i < t.length; i++) t[i] *= 0.5;
  cases.push({ label: `${arch} seed ${seed} sliding window ${slidingWindow}${alternate ? " on even layers" : ""}`, config: m.config, tensors: m.tensors });
}

synth("sliding windows and Gemma 3's local RoPE change the reference's logits (so the cases that have them test them)", () => {
  for (const c of cases.filter((x) => x.config.slidingWindow)) {
    const rng = mulberry32(3);
    const tokens = Array.from({ length: 13 }, () => randInt(rng, 0, c.config.vocabSize));
    // A window longer than the text: full attention, with the same RoPE per layer (Gemma 3's local base stays).
    const full = { ...c.config, slidingWindow: 1 << 20 };
    const a = referenceForward(c.config, (n) => c.tensors.get(n)!, tokens), b = referenceForward(full, (n) => c.tensors.get(n)!, tokens);
    assert.ok(maxAbsDiff(a[12], b[12]) > 1e-3, c.label);
    assert.equal(Array.from(a[2]), Array.from(b[2]), `${c.label}: within the window nothing changes`);
    if (c.config.ropeLocalTheta !== undefined) {
      const global = referenceForward({ ...c.config, ropeLocalTheta: undefined }, (n) => c.tensors.get(n)!, tokens);
      assert.ok(maxAbsDiff(a[12], global[12]) > 1e-3, `${c.label}: the local RoPE base matters`);
    }
  }
});

synth("LongRoPE: a pass within the original context runs the short factors, one beyond it the long ones (transformers' rule)", async () => {
  const c = cases.find((x) => x.config.ropeScaling?.type === "longrope")!;
  const rng = mulberry32(21);
  const tokens = Array.from({ length: 13 }, () => randInt(rng, 0, c.config.vocabSize));
  const m = await Transformer.load(tensorReader(c.config, c.tensors), rt(1), { maxBatchTokens: 5 });
  const cache = m.newCache();
  try {
    const within = referenceForward(c.config, (n) => c.tensors.get(n)!, tokens.slice(0, 8));
    const beyond = referenceForward(c.config, (n) => c.tensors.get(n)!, tokens);
    assert.ok(maxAbsDiff(within[7], beyond[7]) > 1e-3, "the reference's factors follow the sequence length");
    const got = await m.forward(tokens.slice(0, 8), 0, cache, { logits: "all" });
    const scale = Math.max(1, ...within.flatMap((row) => Array.from(row, Math.abs)));
    for (let t = 0; t < 8; t++) assert.ok(maxAbsDiff(got.subarray(t * c.config.vocabSize, (t + 1) * c.config.vocabSize), within[t]) <= 1e-4 * scale, `position ${t}`);
    const nll = await m.sequenceNll(tokens, tokens.map((_, t) => tokens[t + 1] ?? -1));
    const want = beyond.slice(0, 12).map((row, t) => {
      const mx = Math.max(...row);
      return Math.log(row.reduce((z, v) => z + Math.exp(v - mx), 0)) + mx - row[tokens[t + 1]];
    });
    for (let t = 0; t < 12; t++) assert.ok(Math.abs(nll[t] - want[t]) <= 1e-4, `sequenceNll position ${t}: ${nll[t]} vs ${want[t]}`);
  } finally {
    cache.free();
    m.close();
  }
});

synth("sliding-window layers keep a ring of window + batch - 1 rows: the reference's logits, prefill = decode bits, no rewind past the ring", async () => {
  const c = cases.find((x) => x.config.arch === "gemma2" && x.config.slidingLayers)!; // window 3 on even layers
  const rng = mulberry32(22);
  const tokens = Array.from({ length: 13 }, () => randInt(rng, 0, c.config.vocabSize));
  const m = await Transformer.load(tensorReader(c.config, c.tensors), rt(2), { maxBatchTokens: 5, contextLength: 13 });
  const a = m.newCache(), b = m.newCache();
  try {
    assert.equal(a.rows, c.config.slidingLayers!.map((s) => (s ? 3 + 5 - 1 : 13)));
    const want = referenceForward(c.config, (n) => c.tensors.get(n)!, tokens);
    const all = await m.forward(tokens, 0, a, { logits: "all" });
    const V = c.config.vocabSize;
    let scale = 1;
    for (const row of want) for (const v of row) scale = Math.max(scale, Math.abs(v));
    for (let t = 0; t < 13; t++) {
      assert.ok(maxAbsDiff(all.subarray(t * V, (t + 1) * V), want[t]) <= 1e-4 * scale, `position ${t}`);
      sameBits(await m.decode(tokens[t], t, b), all.subarray(t * V, (t + 1) * V), `decode ${t}`);
    }
    // From 13 positions the rings hold 6..12: a pass from 10 needs 8 and 9 (window 3), one from 7 needs 5.
    await m.forward(tokens.slice(10), 10, a);
    let err: unknown;
    try { await m.forward(tokens.slice(7), 7, a); } catch (e) { err = e; }
    assert.ok(err instanceof ArgumentError && err.arg === "pos0" && /layer 0 keeps the last 7 positions .* needs position 5/.test(err.message), String(err));
  } finally {
    a.free(); b.free();
    m.close();
  }
});

synth("zerosOf the classifier: resident, held on the host, or streamed from an f16 file (counted as stored, -0 included)", async () => {
  const m = syntheticModel("llama", 23, { tied: false });
  const out = m.tensors.get("output")!;
  out.fill(0, 3, 7);
  out[9] = -0;
  const folder = new MemoryFolder("f16");
  await writeSafetensors(folder, m.config, sourceOf(m.tensors), { dtype: "f16" });
  const reader = await openModel({ files: folder.files, name: "f16" });
  const want = { zeros: out.filter((v) => v === 0).length, total: out.length };
  assert.is(want.zeros, 5);
  for (const opts of [{}, { budgetBytes: 0, streamFrom: "host" as const }, { budgetBytes: 0, streamFrom: "reader" as const }]) {
    const t = await Transformer.load(reader, rt(1), opts);
    try {
      assert.equal(await t.zerosOf("output"), want, JSON.stringify(opts));
    } finally {
      t.close();
    }
  }
});

synth("every arch matches the f64 reference (logits of every position)", async () => {
  for (const c of cases) {
    const rng = mulberry32(99);
    const T = Math.min(c.config.seqLen, 13);
    const tokens = Array.from({ length: T }, () => randInt(rng, 0, c.config.vocabSize));
    const want = referenceForward(c.config, (n) => c.tensors.get(n)!, tokens);
    for (const threads of [1, 2] as const) {
      const m = await Transformer.load(tensorReader(c.config, c.tensors), rt(threads), { maxBatchTokens: 5 });
      const cache = m.newCache();
      const got = await m.forward(tokens, 0, cache, { logits: "all" });
      let scale = 1;
      for (const row of want) for (const v of row) scale = Math.max(scale, Math.abs(v));
      for (let t = 0; t < T; t++) {
        const d = maxAbsDiff(got.subarray(t * c.config.vocabSize, (t + 1) * c.config.vocabSize), want[t]);
        assert.ok(d <= 1e-4 * scale, `${c.label}: position ${t} differs by ${d} (scale ${scale})`);
      }
      cache.free();
      m.close();
    }
  }
});

synth("layer-major runBlock + nll equals sequenceNll equals logits-based NLL (with and without sliding windows)", async () => {
  for (const c of [cases.find((x) => x.config.arch === "qwen2")!, cases.find((x) => x.config.arch === "gemma3" && x.config.slidingLayers)!]) {
    const m = await Transformer.load(tensorReader(c.config, c.tensors), rt(2), { maxBatchTokens: 4 });
    const V = c.config.vocabSize;
    const rng = mulberry32(5);
    const seqs = [9, 4, 11].map((T) => Array.from({ length: T }, () => randInt(rng, 0, V)));
    const targets = seqs.map((s) => [...s.slice(1), -1]);
    const hidden = seqs.map((s) => m.embed(s));
    for (let l = 0; l < c.config.nLayers; l++) await m.runBlock(l, hidden);
    for (let i = 0; i < seqs.length; i++) {
      const lm = await m.nll(hidden[i], targets[i]);
      const wm = await m.sequenceNll(seqs[i], targets[i]);
      assert.equal(Array.from(lm), Array.from(wm), `sequence ${i}: layer-major vs window-major`);
      assert.is(lm[lm.length - 1], 0, "ignored target");
      const cache = m.newCache();
      const logits = await m.forward(seqs[i], 0, cache, { logits: "all" });
      cache.free();
      for (let t = 0; t + 1 < seqs[i].length; t++) {
        const row = logits.subarray(t * V, (t + 1) * V);
        let mx = -Infinity;
        for (const v of row) mx = Math.max(mx, v);
        let s = 0;
        for (const v of row) s += Math.exp(v - mx);
        const want = Math.log(s) + mx - row[targets[i][t]];
        assert.ok(Math.abs(lm[t] - want) < 1e-5 * (1 + Math.abs(want)), `nll ${t}: ${lm[t]} vs ${want}`);
      }
    }
    m.close();
  }
});

synth("newCache(positions): a shorter cache gives the same logits within it, refuses positions past it, and is bounded by the context", async () => {
  const c = cases.find((x) => x.config.arch === "llama")!;
  const m = await Transformer.load(tensorReader(c.config, c.tensors), rt(1));
  const tokens = [3, 1, 4, 1, 5].map((t) => t % c.config.vocabSize);
  const full = m.newCache(), short = m.newCache(5);
  assert.is(short.positions, 5);
  assert.equal(Array.from(await m.forward(tokens, 0, short)), Array.from(await m.forward(tokens, 0, full)));
  let err: unknown;
  try { await m.forward([1], 5, short); } catch (e) { err = e; }
  assert.instance(err, ArgumentError);
  for (const bad of [0, 1.5, m.contextLength + 1]) {
    err = undefined;
    try { m.newCache(bad); } catch (e) { err = e; }
    assert.instance(err, ArgumentError, `positions ${bad}`);
  }
  full.free(); short.free();
  m.close();
});

synth("hooks see every linear's input; setLinear with dense weights and with a Linear object", async () => {
  const c = cases.find((x) => x.config.arch === "llama" && !x.config.tiedEmbeddings)!;
  const cfg = c.config;
  for (const budgetBytes of [undefined, 0]) {
    const m = await Transformer.load(tensorReader(cfg, c.tensors), rt(1), { budgetBytes });
    const tokens = [3, 1, 4, 1, 5];
    const seen: string[] = [];
    let firstQ: Float32Array | null = null;
    const cache = m.newCache();
    const before = await m.forward(tokens, 0, cache, {
      logits: "all",
      hook: ({ layer, name, X, T, dIn }) => {
        seen.push(`${layer}.${name}`);
        assert.is(T, tokens.length);
        assert.is(X.length, T * dIn);
        assert.is(dIn, m.linearShape(name)[1]);
        if (layer === 0 && name === "q") firstQ = X.view().slice();
      },
    });
    const expectNames: string[] = [];
    for (let l = 0; l < cfg.nLayers; l++) for (const n of ["q", "k", "v", "o", "gate", "up", "down"]) expectNames.push(`${l}.${n}`);
    assert.equal(seen, expectNames);
    // Layer 0's q input is RMSNorm of the embeddings.
    const emb = m.embed(tokens);
    const want = refRmsnorm(emb, c.tensors.get("layers.0.attn_norm")!, cfg.dim, tokens.length, cfg.normEps);
    assert.ok(maxAbsDiff(firstQ!, want) < 1e-5, "hook X of layers.0.q");

    // Dense replacement: zero the last block's down projection; compare to the reference.
    const L = cfg.nLayers - 1;
    const zeros = new Float32Array(cfg.dim * cfg.hiddenDim);
    await m.setLinear(L, "down", zeros);
    const tensors2 = new Map(c.tensors);
    tensors2.set(`layers.${L}.mlp.down`, zeros);
    const got = await m.forward(tokens, 0, cache, { logits: "all" });
    const ref = referenceForward(cfg, (n) => tensors2.get(n)!, tokens);
    const scale = Math.max(1, ...ref.flatMap((r) => Array.from(r, Math.abs)));
    for (let t = 0; t < tokens.length; t++) {
      assert.ok(maxAbsDiff(got.subarray(t * cfg.vocabSize, (t + 1) * cfg.vocabSize), ref[t]) <= 1e-4 * scale, `zeroed down, position ${t}`);
    }
    assert.equal(Array.from(await m.getLinearWeights(L, "down")), Array.from(zeros));
    // Restore the original weights: logits come back bit for bit.
    await m.setLinear(L, "down", c.tensors.get(`layers.${L}.mlp.down`)!);
    sameBits(await m.forward(tokens, 0, cache, { logits: "all" }), before, "restored weights");

    // A Linear object (a counting wrapper around a dense matrix) gives the same logits.
    const w = m.runtime.heap.from("f32", c.tensors.get("layers.0.mlp.gate")!);
    let calls = 0;
    const inner = new DenseLinear(m.runtime, w, cfg.hiddenDim, cfg.dim);
    const counting: Linear = {
      dOut: cfg.hiddenDim, dIn: cfg.dim,
      gemv: (x: WasmRef<"f32">, y: WasmRef<"f32">) => { calls++; return inner.gemv(x, y); },
      gemm: (X: WasmRef<"f32">, Y: WasmRef<"f32">, T: number) => { calls++; return inner.gemm(X, Y, T); },
    };
    await m.setLinear(0, "gate", counting);
    sameBits(await m.forward(tokens, 0, cache, { logits: "all" }), before, "Linear object");
    assert.is(calls, 1);
    assert.is(m.getCustomLinear(0, "gate"), counting);
    await expectError(() => m.getLinearWeights(0, "gate"), ArgumentError, "no dense weights");
    await expectError(() => m.setLinear(0, "down", counting), ArgumentError, "wrong shape Linear");
    await expectError(() => m.setLinear(0, "up", new Float32Array(3)), ArgumentError, "wrong size");
    await expectError(() => m.setLinear(cfg.nLayers, "up", zeros), ArgumentError, "bad layer");
    await expectError(() => m.setLinear(0, "w1" as LinearName, zeros), ArgumentError, "bad name");
    // zerosOf counts the tensors that are not block linears, and refuses the rest.
    const norm = c.tensors.get("layers.0.attn_norm")!;
    assert.equal(await m.zerosOf("layers.0.attn_norm"), { zeros: norm.filter((v) => v === 0).length, total: norm.length });
    assert.is((await m.zerosOf("norm")).total, cfg.dim);
    await expectError(() => m.zerosOf("layers.0.mlp.up"), ArgumentError, "zerosOf a block linear");
    await expectError(() => m.zerosOf("layers.0.nope"), ArgumentError, "zerosOf an unknown tensor");
    await expectError(() => m.zerosOf("tok_embeddings"), ArgumentError, "zerosOf the embedding");
    await expectError(() => m.zerosOf(`layers.${cfg.nLayers}.attn_norm`), ArgumentError, "zerosOf a bad layer");
    // A KVCache's rows must be one per layer, within its positions.
    for (const rows of [new Array(cfg.nLayers + 1).fill(1), new Array(cfg.nLayers).fill(0), new Array(cfg.nLayers).fill(cache.positions + 1)]) {
      await expectError(() => new KVCache(m.runtime, cfg.nLayers, cache.positions, 8, rows), ArgumentError, `KVCache rows ${rows}`);
    }
    cache.free();
    m.close();
    w.free();
  }
});

synth("bad arguments and abort", async () => {
  const c = cases[0];
  const m = await Transformer.load(tensorReader(c.config, c.tensors), rt(1));
  const cache = m.newCache();
  const V = c.config.vocabSize, ctx = m.contextLength;
  await expectError(() => m.forward([V], 0, cache), ArgumentError, "token out of range");
  await expectError(() => m.forward([0.5], 0, cache), ArgumentError, "non-integer token");
  await expectError(() => m.forward([], 0, cache), ArgumentError, "empty");
  await expectError(() => m.forward([1], 1, cache), ArgumentError, "pos0 beyond cache.length");
  await expectError(() => m.forward(new Array(ctx + 1).fill(1), 0, cache), ArgumentError, "beyond context");
  await expectError(() => m.runBlock(c.config.nLayers, []), ArgumentError, "bad layer");
  await expectError(() => m.runBlock(0, [new Float32Array(c.config.dim + 1)]), ArgumentError, "bad hidden");
  await expectError(() => m.nll(new Float32Array(c.config.dim), [V]), ArgumentError, "bad target");
  await expectError(() => Transformer.load(tensorReader(c.config, c.tensors), rt(1), { budgetBytes: -1 }), ArgumentError, "bad budget");
  await expectError(() => Transformer.load(tensorReader(c.config, c.tensors), rt(1), { maxBatchTokens: 0 }), ArgumentError, "bad batch");
  await expectError(() => Transformer.load(tensorReader(c.config, c.tensors), rt(1), { spill: {} as never }), ArgumentError, "bad spill");
  const ac = new AbortController();
  ac.abort();
  await expectError(() => m.forward([1, 2], 0, cache, { signal: ac.signal }), AbortError, "aborted forward");
  await expectError(() => Transformer.load(tensorReader(c.config, c.tensors), rt(1), { signal: ac.signal }), AbortError, "aborted load");
  // An abort from inside a hook stops at the next check.
  const ac2 = new AbortController();
  await expectError(() => m.forward([1, 2], 0, cache, { signal: ac2.signal, hook: () => ac2.abort() }), AbortError, "abort mid-pass");
  // The cache is still usable from position 0.
  assert.is(cache.length, 0);
  await m.forward([1, 2], 0, cache);
  cache.free();
  m.close();
  await expectError(() => m.forward([1], 0, cache), ArgumentError, "closed model");
});

synth.run();
