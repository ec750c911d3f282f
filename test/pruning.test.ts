// Pruning methods: per-layer masks against a plain re-implementation of docs/methods.md, the
// sequential procedure against a plain driver over the same forward pass, reports, determinism,
// bad input, abort and restore.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { AbortError, ArgumentError, createRuntime, DassError, type Runtime } from "../src/index.js";
import { openModel } from "../src/formats/index.js";
import { FileSpill, tensorReader, Transformer, type LinearName, type ModelConfig } from "../src/model/index.js";
import { layerPlan, parsePattern, prune, pruneLinear, type Pattern, type PruneMethod, type PruneOptions } from "../src/pruning/index.js";
import { loadTokenizer } from "../src/tokenizers/index.js";
import { isBrowser } from "./util/env.js";
import { readSharedData, readSharedText, skipNote } from "./util/data.js";
import { mulberry32, randInt, randnF32, type Rng } from "./util/random.js";
import { syntheticModel } from "./util/synthetic-model.js";
import { makeTempDir } from "./util/temp-dir.js";
import { TempFile } from "../src/util/temp-file.js";

const rts = new Map<number, Runtime>();
async function expectError(f: () => unknown, cls: new (...a: never[]) => Error, what: string): Promise<Error> {
  let err: unknown;
  try { await f(); } catch (e) { err = e; }
  assert.instance(err, cls, `${what}: expected ${cls.name}, got ${String(err)}`);
  return err as Error;
}

async function rt(threads: number): Promise<Runtime> {
  let r = rts.get(threads);
  if (!r) {
    r = await createRuntime({ threads, minParallelWork: 0 });
    rts.set(threads, r);
  }
  return r;
}
function closeAll(): void {
  for (const r of rts.values()) r.close();
  rts.clear();
}

// ------------------------------------------------------------------ plain re-implementation

/** Scores exactly as the spec's table, as f32 products (|w| times a factor rounded to f32 once). */
function plainScores(method: PruneMethod, name: LinearName, W: Float32Array, rows: number, cols: number, input: Float64Array | null, inter: Float64Array | null, alpha: number): Float32Array {
  const S = new Float32Array(rows * cols);
  const root = (x: number, p: number) => (p === 0.5 ? Math.sqrt(x) : p === 0.25 ? Math.sqrt(Math.sqrt(x)) : Math.pow(x, p));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const w = Math.abs(W[r * cols + c]);
      let f = 1;
      if (method === "wanda" || (method === "dass" && !["gate", "up", "down"].includes(name))) f = Math.fround(Math.sqrt(input![c]));
      else if (method === "dass" && name === "down") f = Math.fround(Math.sqrt(inter![c]));
      else if (method === "dass") f = Math.fround(root(inter![r], alpha / 2));
      S[r * cols + c] = method === "magnitude" ? w : Math.fround(w * f);
    }
  }
  return S;
}

/** Groups as the spec's table; each group's k smallest pruned, ties to the lower position. */
function plainMask(method: PruneMethod, name: LinearName, S: Float32Array, rows: number, cols: number, pattern: Pattern): Uint8Array {
  const mask = new Uint8Array(rows * cols);
  const prune = (idx: number[], k: number) => {
    const order = idx.map((i, pos) => ({ i, pos })).sort((a, b) => S[a.i] - S[b.i] || a.pos - b.pos);
    for (let t = 0; t < k; t++) mask[order[t].i] = 1;
  };
  const dassGU = method === "dass" && (name === "gate" || name === "up");
  if (pattern.kind === "nm") {
    const { n, m } = pattern;
    const along = dassGU ? rows : cols, lines = dassGU ? cols : rows;
    for (let line = 0; line < lines; line++) {
      for (let s = 0; s < along; s += m) {
        const len = Math.min(m, along - s);
        const idx = Array.from({ length: len }, (_, t) => (dassGU ? (s + t) * cols + line : line * cols + s + t));
        prune(idx, len === m ? n : Math.floor((n * len) / m));
      }
    }
    return mask;
  }
  const sp = pattern.sparsity;
  if (method === "magnitude") prune(Array.from({ length: rows * cols }, (_, i) => i), Math.floor(sp * rows * cols));
  else if (dassGU) for (let c = 0; c < cols; c++) prune(Array.from({ length: rows }, (_, r) => r * cols + c), Math.floor(sp * rows));
  else for (let r = 0; r < rows; r++) prune(Array.from({ length: cols }, (_, c) => r * cols + c), Math.floor(sp * cols));
  return mask;
}

/** Weights with many exact ties (multiples of 1/8) or Gaussian ones. */
function weights(n: number, rng: Rng, ties: boolean): Float32Array {
  return ties ? Float32Array.from({ length: n }, () => randInt(rng, -8, 9) / 8) : randnF32(n, rng);
}
/** Non-negative statistics, with repeated values and zeros when `ties`. */
function stats(n: number, rng: Rng, ties: boolean): Float64Array {
  return Float64Array.from({ length: n }, () => (ties ? randInt(rng, 0, 4) / 2 : rng() * 3));
}

// ------------------------------------------------------------------ per-layer masks

const layer = suite("pruning: per-layer masks");

const SHAPES: [number, number][] = [[17, 172], [5, 45], [1, 7], [33, 20], [8, 8]];
const PATTERNS = ["0.5", "0.3", "0.77", "2:4", "4:8", "1:3", "3:7"];
const NAMES: LinearName[] = ["q", "o", "gate", "up", "down"];

layer("magnitude, wanda and dass masks equal the plain implementation (both N:M axes, tails, ties), threads 1 and 2", async () => {
  let cases = 0;
  for (const [rows, cols] of SHAPES) {
    for (const ties of [false, true]) {
      const rng = mulberry32(rows * 1000 + cols + (ties ? 7 : 0));
      const W = weights(rows * cols, rng, ties);
      const input = stats(cols, rng, ties);
      const interCols = stats(cols, rng, ties); // down: a_k along its input
      const interRows = stats(rows, rng, ties); // gate/up: a_k along their output
      for (const method of ["magnitude", "wanda", "dass"] as PruneMethod[]) {
        for (const name of NAMES) {
          if (method !== "dass" && name !== "q") continue;
          for (const p of PATTERNS) {
            const pattern = parsePattern(p);
            const inter = name === "down" ? interCols : interRows;
            const S = plainScores(method, name, W, rows, cols, input, inter, 0.5);
            const want = plainMask(method, name, S, rows, cols, pattern);
            for (const threads of [1, 2]) {
              const r = await rt(threads);
              const w = r.heap.from("f32", W);
              const mask = r.heap.alloc("u8", rows * cols);
              const res = await pruneLinear(r, w, rows, cols, { method, name, pattern, stats: { input, intermediate: inter }, mask });
              const got = mask.read(), Wp = w.read();
              w.free(); mask.free();
              const tag = `${method} ${name} ${rows}x${cols} ${p} ties=${ties} threads=${threads}`;
              assert.equal(Array.from(got), Array.from(want), tag);
              for (let i = 0; i < Wp.length; i++) assert.is(Wp[i], want[i] ? 0 : W[i], `${tag}: weight ${i}`);
              assert.equal(res.axis, layerPlan(method, name, pattern).axis);
              cases++;
            }
          }
        }
      }
    }
  }
  assert.ok(cases > 500);
});

layer("layer plans follow the spec's table", () => {
  const un = parsePattern("0.5"), nm = parsePattern("2:4");
  assert.equal(layerPlan("magnitude", "down", un), { metric: "magnitude", axis: "matrix", needs: "none" });
  assert.equal(layerPlan("wanda", "gate", nm), { metric: "wanda", axis: "input", needs: "input" });
  assert.equal(layerPlan("dass", "gate", un), { metric: "dass", axis: "column", needs: "intermediate" });
  assert.equal(layerPlan("dass", "up", nm), { metric: "dass", axis: "output", needs: "intermediate" });
  assert.equal(layerPlan("dass", "down", nm), { metric: "dass", axis: "input", needs: "intermediate" });
  assert.equal(layerPlan("dass", "o", un), { metric: "wanda", axis: "row", needs: "input" });
  assert.equal(layerPlan("sparsegpt", "v", nm), { metric: "sparsegpt", axis: "input", needs: "hessian" });
});

layer("missing or bad statistics are ArgumentErrors", async () => {
  const r = await rt(1);
  const w = r.heap.from("f32", randnF32(12, mulberry32(1)));
  const pattern = parsePattern("0.5");
  const bad = async (arg: string, f: () => Promise<unknown>) => {
    try { await f(); assert.unreachable(); } catch (e) { assert.instance(e, ArgumentError); assert.is((e as ArgumentError).arg, arg); }
  };
  await bad("stats", () => pruneLinear(r, w, 3, 4, { method: "wanda", name: "q", pattern }));
  await bad("stats", () => pruneLinear(r, w, 3, 4, { method: "dass", name: "gate", pattern, stats: { intermediate: [1, 2] } }));
  await bad("stats", () => pruneLinear(r, w, 3, 4, { method: "wanda", name: "q", pattern, stats: { input: [1, NaN, 1, 1] } }));
  await bad("alpha", () => pruneLinear(r, w, 3, 4, { method: "dass", name: "up", pattern, alpha: -1, stats: { intermediate: [1, 2, 3] } }));
  w.free();
});

layer.after(closeAll);

// ------------------------------------------------------------------ sequential procedure

/** A small llama with an MLP width that 4:8 does not divide (tails) and activations of O(1). */
function tinyModel(seed: number, overrides: Partial<ModelConfig> = {}): { config: ModelConfig; tensors: Map<string, Float32Array> } {
  const m = syntheticModel("llama", seed, { overrides: { hiddenDim: 44, nLayers: 2, seqLen: 32, vocabSize: 45, ...overrides } });
  for (const [name, t] of m.tensors) if (!/norm/.test(name)) for (let i = 0; i < t.length; i++) t[i] *= 0.5;
  return { config: m.config, tensors: m.tensors };
}

function tokenWindows(n: number, len: number, V: number, seed: number): number[][] {
  const rng = mulberry32(seed);
  return Array.from({ length: n }, () => Array.from({ length: len }, () => randInt(rng, 0, V)));
}

const TARGETS_MLP: LinearName[] = ["gate", "up", "down"];
const TARGETS_ALL: LinearName[] = ["q", "k", "v", "o", "gate", "up", "down"];
const SUFFIX: Record<LinearName, string> = { q: "attn.q", k: "attn.k", v: "attn.v", o: "attn.o", gate: "mlp.gate", up: "mlp.up", down: "mlp.down" };

/**
 * The sequential procedure written out plainly over the same forward pass: collect every linear's
 * inputs of the dense block on the JS heap, f64 statistics in token order, plain masks, install,
 * run the pruned block. Returns the pruned weights and each matrix's reconstruction error.
 */
async function plainSequential(model: Transformer, windows: number[][], method: PruneMethod, pattern: Pattern, targets: LinearName[], alpha = 0.5) {
  const hidden = windows.map((w) => model.embed(w));
  const out = new Map<string, Float32Array>();
  const recon = new Map<string, number>();
  for (let l = 0; l < model.config.nLayers; l++) {
    const X = new Map<LinearName, number[][]>();
    await model.runBlock(l, hidden, {
      writeBack: false,
      hook: (inp) => {
        const v = inp.X.view();
        const rows = X.get(inp.name) ?? [];
        for (let t = 0; t < inp.T; t++) rows.push(Array.from(v.subarray(t * inp.dIn, (t + 1) * inp.dIn)));
        X.set(inp.name, rows);
      },
    });
    const norms = (name: LinearName) => {
      const rows = X.get(name)!;
      const s = new Float64Array(rows[0].length);
      for (const x of rows) for (let j = 0; j < s.length; j++) s[j] += x[j] * x[j];
      return s.map((v) => v / windows.length);
    };
    for (const name of targets) {
      const [rows, cols] = model.linearShape(name);
      const W = await model.getLinearWeights(l, name);
      const S = plainScores(method, name, W, rows, cols, norms(name), norms("down"), alpha);
      const mask = plainMask(method, name, S, rows, cols, pattern);
      const Wp = W.map((w, i) => (mask[i] ? 0 : w));
      let num = 0, den = 0;
      for (const x of X.get(name)!) {
        for (let r = 0; r < rows; r++) {
          let y = 0, e = 0;
          for (let c = 0; c < cols; c++) { y += W[r * cols + c] * x[c]; e += (W[r * cols + c] - Wp[r * cols + c]) * x[c]; }
          num += e * e; den += y * y;
        }
      }
      recon.set(`${l}.${SUFFIX[name]}`, Math.sqrt(num / den));
      out.set(`layers.${l}.${SUFFIX[name]}`, Wp);
      await model.setLinear(l, name, Wp);
    }
    await model.runBlock(l, hidden);
  }
  return { weights: out, recon };
}

async function loadTiny(threads: number, seed = 3, overrides: Partial<ModelConfig> = {}): Promise<Transformer> {
  const m = tinyModel(seed, overrides);
  return Transformer.load(tensorReader(m.config, m.tensors), await rt(threads), { maxBatchTokens: 7 });
}

async function modelWeights(model: Transformer, names: readonly LinearName[] = TARGETS_ALL): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (let l = 0; l < model.config.nLayers; l++) for (const n of names) out.set(`layers.${l}.${SUFFIX[n]}`, await model.getLinearWeights(l, n));
  return out;
}

function sameWeights(a: Map<string, Float32Array>, b: Map<string, Float32Array>, tag: string): void {
  assert.equal([...a.keys()].sort(), [...b.keys()].sort(), tag);
  for (const [k, v] of a) {
    const w = b.get(k)!;
    for (let i = 0; i < v.length; i++) if (!Object.is(v[i], w[i])) assert.unreachable(`${tag}: ${k}[${i}] ${v[i]} vs ${w[i]}`);
  }
}

const seq = suite("pruning: sequential procedure");

seq("prune() equals the plain sequential procedure (magnitude, wanda, dass; mlp and all; 0.5, 2:4, 4:8)", async () => {
  const win = tokenWindows(4, 16, 45, 11);
  for (const method of ["magnitude", "wanda", "dass"] as PruneMethod[]) {
    for (const p of ["0.5", "2:4", "4:8"]) {
      for (const targets of ["mlp", "all"] as const) {
        if (targets === "all" && p === "4:8") continue;
        const pattern = parsePattern(p);
        const tnames = targets === "all" ? TARGETS_ALL : TARGETS_MLP;
        const a = await loadTiny(2);
        const { report, weights } = await prune(a, { method, pattern: p, calib: win, targets, returnWeights: true });
        const b = await loadTiny(2);
        const plain = await plainSequential(b, win, method, pattern, tnames);
        const tag = `${method} ${p} ${targets}`;
        sameWeights(weights!, plain.weights, tag);
        sameWeights(await modelWeights(a, tnames), plain.weights, `${tag} (model)`);
        assert.is(report.matrices.length, 2 * tnames.length);
        for (const m of report.matrices) {
          const want = plain.recon.get(`${m.block}.${m.name}`)!;
          assert.ok(Math.abs(m.reconError! - want) <= 1e-4 * want + 1e-7, `${tag} ${m.block}.${m.name}: recon ${m.reconError} vs ${want}`);
          if (pattern.kind === "nm") assert.is(m.nmValid, true);
        }
        a.close(); b.close();
      }
    }
  }
});

seq("reports: counts, sparsity totals, axes, calibration starts, options", async () => {
  // Zeros outside the block linears count over all parameters: two in a norm, three in the classifier.
  const tiny = tinyModel(3);
  tiny.tensors.get("layers.1.ffn_norm")!.fill(0, 0, 2);
  tiny.tensors.get("output")?.fill(0, 5, 8);
  const model = await Transformer.load(tensorReader(tiny.config, tiny.tensors), await rt(1), { maxBatchTokens: 7 });
  const c = model.config;
  const text = "abcdefghijklmnopqrstuvwxyz".repeat(8);
  const tokenizer = { encode: (s: string) => Array.from(s, (ch) => ch.charCodeAt(0) % 45) };
  const events: { done: number; total: number; phase: string; step: string }[] = [];
  const { report } = await prune(model, {
    method: "dass", pattern: "4:8", calib: text, tokenizer, nsamples: 3, seqlen: 20, seed: 9, calibName: "abc.txt",
    onProgress: (p) => events.push({ done: p.done, total: p.total, phase: p.phase, step: p.step }),
  });
  // Per block: statistics, three matrices, reconstruction; a pruned pass between blocks.
  assert.is(events[0].total, 2 * 5 + 1);
  assert.equal(events[events.length - 1], { done: 11, total: 11, phase: "prune", step: "done" });
  for (let i = 1; i < events.length; i++) assert.ok(events[i].done >= events[i - 1].done);
  assert.equal(report.options, { method: "dass", pattern: "4:8", targets: "mlp", alpha: 0.5, percdamp: 0.01, nsamples: 3, seqlen: 20, seed: 9, reconError: true });
  assert.equal(report.calibration!.starts, Array.from({ length: 3 }, ((u) => () => Math.floor(u() * (text.length - 20 + 1)))(mulberry32(9))));
  assert.is(report.calibration!.source, "abc.txt");
  assert.is(report.calibration!.streamLength, text.length);
  // 4:8 along d_ff = 44: five groups of 8 prune 4, the tail of 4 prunes 2.
  const perLine = 5 * 4 + 2;
  for (const m of report.matrices) {
    const [rows, cols] = m.shape;
    const zeros = m.name === "mlp.down" ? rows * perLine : cols * perLine;
    assert.ok(m.zeros >= zeros, `${m.name}: ${m.zeros} zeros < ${zeros}`);
    assert.is(m.axis, m.name === "mlp.down" ? "input" : "output");
    assert.is(m.method, "dass");
    assert.ok(m.reconError! > 0 && m.reconError! < 1.5);
    assert.ok(m.seconds >= 0);
  }
  assert.is(report.nmValid, true);
  const t = report.totals;
  assert.is(t.pruned.total, 2 * 3 * c.dim * c.hiddenDim);
  assert.is(t.blockLinears.total, 2 * (3 * c.dim * c.hiddenDim + 2 * c.dim * c.nHeads * c.headDim + 2 * c.nKvHeads * c.headDim * c.dim));
  assert.ok(t.parameters.total > t.blockLinears.total);
  let outside = 0; // zeros of the tensors that are not block linears, as loaded
  for (const [name, w] of tiny.tensors) if (!/\.(attn\.[qkvo]|mlp\.(gate|up|down))$/.test(name)) outside += w.filter((v) => v === 0).length;
  assert.ok(outside >= (c.tiedEmbeddings ? 2 : 5));
  assert.is(t.parameters.zeros, t.blockLinears.zeros + outside, "every parameter inspected");
  assert.is(t.parameters.uninspected, 0);
  // Each matrix holds 4:8 along its axis; DaSS's gate and up not along the input axis.
  for (const m of report.matrices) {
    assert.is(m.nmAxes![m.axis as "input" | "output"], true, `${m.name} along ${m.axis}`);
    if (m.name !== "mlp.down") assert.is(m.nmAxes!.input, false, `${m.name} is not input-axis 4:8`);
  }
  assert.ok(report.pruneSeconds >= 0 && report.forwardSeconds > 0 && report.totalSeconds >= report.pruneSeconds);
  model.close();
});

seq("magnitude without calibration: no forward pass, no reconstruction error", async () => {
  const model = await loadTiny(1);
  const before = await modelWeights(model, TARGETS_MLP);
  const { report } = await prune(model, { method: "magnitude", pattern: "0.5" });
  assert.is(report.calibration, null);
  assert.is(report.forwardSeconds, 0);
  for (const m of report.matrices) {
    assert.is(m.reconError, null);
    const [rows, cols] = m.shape;
    const W = before.get(`layers.${m.block}.${m.name}`)!;
    const want = plainMask("magnitude", "down", Float32Array.from(W, Math.abs), rows, cols, parsePattern("0.5"));
    const got = await model.getLinearWeights(m.block, m.name.split(".")[1] as LinearName);
    for (let i = 0; i < got.length; i++) assert.is(got[i], want[i] ? 0 : W[i]);
  }
  model.close();
});

seq("same options give identical weights for 1 and 2 threads (every method, incl. SparseGPT)", async () => {
  const win = tokenWindows(3, 12, 45, 5);
  for (const method of ["magnitude", "wanda", "dass", "sparsegpt"] as PruneMethod[]) {
    for (const p of ["0.5", "2:4"]) {
      const res: Map<string, Float32Array>[] = [];
      for (const threads of [1, 2]) {
        const model = await loadTiny(threads, 4);
        const { weights } = await prune(model, { method, pattern: p, calib: win, targets: "all", returnWeights: true });
        res.push(weights!);
        model.close();
      }
      sameWeights(res[0], res[1], `${method} ${p}`);
    }
  }
});

seq("SparseGPT end to end: exact block counts, valid N:M, lower error than Wanda", async () => {
  const win = tokenWindows(4, 16, 45, 21);
  for (const p of ["0.5", "2:4"]) {
    const model = await loadTiny(2, 6);
    const { report } = await prune(model, { method: "sparsegpt", pattern: p, calib: win, targets: "all" });
    const wanda = await loadTiny(2, 6);
    const { report: rw } = await prune(wanda, { method: "wanda", pattern: p, calib: win, targets: "all" });
    let sg = 0, wa = 0;
    for (const m of report.matrices) {
      const [rows, cols] = m.shape;
      let want = 0;
      if (p === "0.5") for (let i1 = 0; i1 < cols; i1 += 128) want += Math.floor(0.5 * rows * Math.min(128, cols - i1));
      else want = rows * cols / 2;
      assert.ok(m.zeros >= want && m.zeros <= want + rows, `${m.name}: ${m.zeros} zeros, want ${want}`);
      assert.is(m.method, "sparsegpt");
      assert.ok(m.loss! >= 0 && m.attempts! >= 1);
      if (p === "2:4") assert.is(m.nmValid, true);
      sg += m.reconError!;
    }
    for (const m of rw.matrices) wa += m.reconError!;
    assert.ok(sg < wa, `${p}: SparseGPT mean error ${sg} should be below Wanda's ${wa}`);
    model.close(); wanda.close();
  }
});

seq("large activation sets spill to a temporary file with identical results", async () => {
  const win = tokenWindows(3, 10, 45, 8);
  const a = await loadTiny(1);
  const ra = await prune(a, { method: "dass", pattern: "0.5", calib: win, returnWeights: true });
  const b = await loadTiny(1);
  const rb = await prune(b, { method: "dass", pattern: "0.5", calib: win, returnWeights: true, activations: { memoryLimitBytes: 0, chunkBytes: 1000 } });
  assert.is(rb.report.calibration!.activationStore, isBrowser ? "memory" : "file");
  sameWeights(ra.weights!, rb.weights!, "spill");
  a.close(); b.close();
});

seq("a streamed model keeps its pruned matrices in a FileSpill: same weights and logits, nothing left on disk", async () => {
  if (isBrowser) return; // no filesystem
  const win = tokenWindows(3, 10, 45, 8);
  const tmp = await makeTempDir("dass-spill-test-");
  try {
    for (const method of ["dass", "sparsegpt"] as PruneMethod[]) {
      const heap = await loadTiny(2);
      const rh = await prune(heap, { method, pattern: "2:4", calib: win, targets: "all", returnWeights: true });
      const m = tinyModel(3);
      const spill = new FileSpill(tmp.path);
      const streamed = await Transformer.load(tensorReader(m.config, m.tensors), await rt(2), { maxBatchTokens: 7, budgetBytes: 0, streamFrom: "reader", spill });
      assert.is(streamed.residency.mode, "streamed");
      const rs = await prune(streamed, { method, pattern: "2:4", calib: win, targets: "all", returnWeights: true });
      sameWeights(rh.weights!, rs.weights!, `${method}: returned`);
      sameWeights(await modelWeights(heap, TARGETS_ALL), await modelWeights(streamed, TARGETS_ALL), `${method}: model`);
      const c = m.config, q = c.nHeads * c.headDim, kv = c.nKvHeads * c.headDim;
      assert.is(spill.fileBytes, 4 * c.nLayers * (2 * q * c.dim + 2 * kv * c.dim + 3 * c.hiddenDim * c.dim), `${method}: one extent per pruned matrix`);
      const tokens = [1, 5, 9, 2, 44, 3];
      const [a, b] = [await heap.forward(tokens, 0, heap.newCache(), { logits: "all" }), await streamed.forward(tokens, 0, streamed.newCache(), { logits: "all" })];
      for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.unreachable(`${method}: logit ${i} ${a[i]} vs ${b[i]}`);
      // Setting a matrix again reuses its extent; a Linear in its place frees it for the next one.
      await streamed.setLinear(0, "gate", await streamed.getLinearWeights(0, "gate"));
      assert.is(spill.fileBytes, 4 * c.nLayers * (2 * q * c.dim + 2 * kv * c.dim + 3 * c.hiddenDim * c.dim));
      streamed.close();
      heap.close();
      spill.close();
      // POSIX unlinks the file once open; close() removes it elsewhere.
      assert.equal(await tmp.fs.readdir(tmp.path), [], `${method}: files left`);
      await expectError(() => spill.get("layers.0.mlp.gate"), DassError, "spill used after close");
    }
  } finally {
    await tmp.remove();
  }
});

seq("FileSpill: replace, delete, reuse; a folder that cannot hold it is a DassError", async () => {
  if (isBrowser) return;
  const tmp = await makeTempDir("dass-spill-test-");
  try {
    const spill = new FileSpill(tmp.path);
    assert.is(await spill.get("a"), undefined);
    await spill.put("a", Float32Array.of(1, 2, 3));
    await spill.put("b", Float32Array.of(4, 5));
    assert.equal(Array.from((await spill.get("a"))!), [1, 2, 3]);
    await spill.put("a", Float32Array.of(7, 8, 9)); // same size: in place
    assert.is(spill.fileBytes, 20);
    await spill.put("a", Float32Array.of(6)); // new size: a new extent, the old one freed
    assert.is(spill.fileBytes, 24);
    await spill.put("c", Float32Array.of(1, 1, 1)); // takes a's freed extent
    assert.is(spill.fileBytes, 24);
    spill.delete("b");
    await spill.put("d", Float32Array.of(NaN, -0));
    assert.is(spill.fileBytes, 24);
    assert.equal(Array.from((await spill.get("a"))!), [6]);
    assert.equal(Array.from((await spill.get("c"))!), [1, 1, 1]);
    const d = (await spill.get("d"))!;
    assert.ok(Number.isNaN(d[0]) && Object.is(d[1], -0));
    assert.is(await spill.get("b"), undefined);
    spill.close();
    assert.equal(await tmp.fs.readdir(tmp.path), []);
    await expectError(() => spill.put("a", Float32Array.of(1)), DassError, "put after close");
    // Reading past what was written is a DassError naming the file, never short data.
    const file = await TempFile.create("dass-test", tmp.path);
    file.write(Float32Array.of(1, 2), 0);
    const back = new Float32Array(2);
    file.read(back, 0);
    assert.equal(Array.from(back), [1, 2]);
    let err: unknown;
    try { file.read(new Float32Array(3), 0); } catch (e) { err = e; }
    assert.instance(err, DassError);
    assert.match((err as Error).message, /temporary file .*dass-test.*truncated: 12 bytes at 0 asked for, 8 read/);
    file.close();
    assert.equal(await tmp.fs.readdir(tmp.path), []);
    const nowhere = new FileSpill(tmp.join(tmp.path, "missing", "folder"));
    const e = await expectError(() => nowhere.put("a", Float32Array.of(1)), DassError, "missing folder");
    assert.match(e.message, /temporary file .*missing.*cannot create it/);
    nowhere.close();
  } finally {
    await tmp.remove();
  }
});

seq.after(closeAll);

// ------------------------------------------------------------------ bad input, abort, restore

const bad = suite("pruning: bad input, abort and restore");

async function expectArg(arg: string, f: () => Promise<unknown>, re?: RegExp): Promise<void> {
  try {
    await f();
    assert.unreachable(`expected ArgumentError(${arg})`);
  } catch (e) {
    if (!(e instanceof ArgumentError)) throw e;
    assert.is(e.arg, arg, e.message);
    if (re) assert.match(e.message, re);
  }
}

bad("patterns, methods, options and calibration are validated before anything changes", async () => {
  const model = await loadTiny(1);
  const before = await modelWeights(model);
  const win = tokenWindows(2, 8, 45, 1);
  const tokenizer = { encode: (s: string) => Array.from(s, () => 3) };
  const go = (o: Partial<PruneOptions>) => prune(model, { method: "wanda", pattern: "0.5", calib: win, ...o } as PruneOptions);
  await expectArg("pattern", () => go({ pattern: "4:4" }), /less than M/);
  await expectArg("pattern", () => go({ pattern: "5:4" }));
  await expectArg("pattern", () => go({ pattern: "2:x" }));
  await expectArg("pattern", () => go({ pattern: "half" }));
  await expectArg("pattern", () => go({ pattern: "0" }));
  await expectArg("pattern", () => go({ pattern: "1" }));
  await expectArg("pattern", () => go({ pattern: "1.5" }));
  await expectArg("pattern", () => go({ pattern: { kind: "unstructured", sparsity: -0.1 } }));
  await expectArg("pattern", () => go({ method: "sparsegpt", pattern: "3:6" }), /divide/);
  await expectArg("method", () => go({ method: "obs" as PruneMethod }));
  await expectArg("targets", () => go({ targets: "attn" as "all" }));
  await expectArg("alpha", () => go({ alpha: NaN }));
  await expectArg("calib", () => go({ calib: undefined }), /calibration/);
  await expectArg("tokenizer", () => go({ calib: "some text" }));
  await expectArg("calib", () => go({ calib: "short", tokenizer, nsamples: 2, seqlen: 16, calibName: "short.txt" }), /short\.txt/);
  await expectArg("seqlen", () => go({ calib: "x".repeat(100), tokenizer, seqlen: 33 }));
  await expectArg("calib", () => go({ calib: [[1, 2, 3], [1, 2]] }));
  await expectArg("calib", () => go({ calib: [[1, 2, 45]] }), /vocabulary/);
  await expectArg("nsamples", () => go({ calib: "x".repeat(100), tokenizer, nsamples: 0, seqlen: 8 }));
  sameWeights(await modelWeights(model), before, "unchanged");
  model.close();
});

bad("DaSS on a model without a GLU MLP is refused", async () => {
  const inner = await loadTiny(1);
  const noGlu = {
    config: inner.config, runtime: inner.runtime, contextLength: inner.contextLength,
    linearShape: (n: LinearName): [number, number] => { if (n === "gate" || n === "up") throw new ArgumentError("name", `no ${n}`); return inner.linearShape(n); },
    embed: (t: ArrayLike<number>) => inner.embed(t),
    runBlock: inner.runBlock.bind(inner), getLinearWeights: inner.getLinearWeights.bind(inner), setLinear: inner.setLinear.bind(inner),
  };
  await expectArg("method", () => prune(noGlu, { method: "dass", pattern: "2:4", calib: tokenWindows(2, 8, 45, 1) }), /GLU/);
  inner.close();
});

bad("NaN/Inf in weights or activations fail clearly and leave the model dense", async () => {
  const win = tokenWindows(2, 8, 45, 2);
  for (const where of ["layers.1.mlp.up", "tok_embeddings"]) {
    const m = tinyModel(3);
    const t = m.tensors.get(where)!;
    if (where === "tok_embeddings") for (const w of win) for (const tok of w) t[tok * m.config.dim + 1] = NaN;
    else t[5] = Infinity;
    const model = await Transformer.load(tensorReader(m.config, m.tensors), await rt(1), { maxBatchTokens: 7 });
    const before = await modelWeights(model);
    for (const method of ["wanda", "dass", "sparsegpt", "magnitude"] as PruneMethod[]) {
      if (method === "magnitude" && where === "tok_embeddings") continue;
      try {
        await prune(model, { method, pattern: "0.5", calib: win });
        assert.unreachable(`${where} ${method}`);
      } catch (e) {
        assert.instance(e, ArgumentError, `${where} ${method}: ${String(e)}`);
        const err = e as ArgumentError;
        if (where === "tok_embeddings") { assert.is(err.arg, "calib"); assert.match(err.message, /NaN or Inf/); }
        else { assert.is(err.arg, "model"); assert.match(err.message, /layers\.1\.mlp\.up/); }
        assert.match(err.message, /restored|unchanged/);
      }
      sameWeights(await modelWeights(model), before, `${where} ${method}: model restored`);
    }
    model.close();
  }
});

bad("AbortSignal: AbortError; restored by default, or reported as partially pruned", async () => {
  const win = tokenWindows(2, 8, 45, 3);
  const model = await loadTiny(2);
  const before = await modelWeights(model);
  const pre = new AbortController();
  pre.abort();
  try { await prune(model, { method: "wanda", pattern: "0.5", calib: win, signal: pre.signal }); assert.unreachable(); } catch (e) {
    assert.instance(e, AbortError);
    assert.match((e as Error).message, /unchanged/);
  }
  for (const restoreOnFailure of [true, false]) {
    const ac = new AbortController();
    try {
      await prune(model, {
        method: "dass", pattern: "2:4", calib: win, signal: ac.signal, restoreOnFailure,
        onProgress: (p) => { if (p.block === 1 && p.step === "matrix") ac.abort(); },
      });
      assert.unreachable();
    } catch (e) {
      assert.instance(e, AbortError);
      if (restoreOnFailure) {
        assert.match((e as Error).message, /restored/);
        sameWeights(await modelWeights(model), before, "restored after abort");
      } else {
        assert.match((e as Error).message, /partially pruned/);
      }
    }
  }
  model.close();
});

bad.after(closeAll);

// ------------------------------------------------------------------ stories260K

const bin = await readSharedData("models/stories260K.bin");
const tok512 = await readSharedData("models/tok512.bin");
const stories = await readSharedText("text/tinystories_valid_first1000.txt");
if (!bin || !tok512 || !stories) skipNote("models/stories260K.bin, models/tok512.bin, text/tinystories_valid_first1000.txt");
const real = suite("pruning: stories260K");

(bin && tok512 && stories ? real : real.skip)("every method on stories260K (4 × 64 windows): valid, deterministic reports; DaSS equals the plain procedure", async () => {
  const tokenizer = await loadTokenizer(tok512!, { vocabSize: 512 });
  const calib = stories!.slice(0, 40000);
  const load = async (threads: number) => Transformer.load(await openModel({ files: { "stories260K.bin": bin! } }), await rt(threads));
  for (const method of ["magnitude", "wanda", "dass", "sparsegpt"] as PruneMethod[]) {
    const pattern = method === "wanda" ? "0.5" : "2:4";
    const model = await load(2);
    const { report } = await prune(model, { method, pattern, calib, tokenizer, nsamples: 4, seqlen: 64, calibName: "tinystories" });
    assert.is(report.matrices.length, 5 * 3);
    assert.is(report.calibration!.starts!.length, 4);
    for (const m of report.matrices) {
      assert.ok(m.sparsity >= 0.5 && m.sparsity < 0.51, `${method} ${m.block}.${m.name}: sparsity ${m.sparsity}`);
      assert.ok(m.reconError! > 0 && m.reconError! < 1, `${method} ${m.block}.${m.name}: recon ${m.reconError}`);
    }
    if (pattern === "2:4") assert.is(report.nmValid, true);
    const cache = model.newCache();
    const logits = await model.forward(tokenizer.encode("Once upon a time", { bos: true }), 0, cache);
    assert.ok(logits.every(Number.isFinite));
    cache.free();
    if (method === "dass") {
      const stream = tokenizer.encode(calib, { bos: false, eos: false });
      const win = report.calibration!.starts!.map((s) => stream.slice(s, s + 64));
      const plainModel = await load(1);
      const plain = await plainSequential(plainModel, win, "dass", parsePattern("2:4"), TARGETS_MLP);
      sameWeights(await modelWeights(model, TARGETS_MLP), plain.weights, "stories260K dass");
      plainModel.close();
    }
    model.close();
  }
});

real.after(closeAll);

layer.run();
seq.run();
bad.run();
real.run();
