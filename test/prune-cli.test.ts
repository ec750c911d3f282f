// `dass prune` end to end: synthetic models written to a temporary folder in each input format
// (llama2.c, GGUF with an embedded vocabulary, Hugging Face folder), every method, the pruned model
// read back and checked against the report and the input; determinism across runs and thread
// counts (byte-identical files); bad input and interruption (clear error, exit code, nothing left
// behind, input untouched); stories260K from ../shared/data when present.
//
// The CLI reads and writes files, so everything here needs Node; elsewhere the suite is skipped.
//
// "A model without a GLU MLP asked for DaSS" cannot be expressed as a model file this build reads:
// every supported architecture (LLaMA, Mistral, Qwen2, Gemma) has gate/up/down, and a non-GLU
// checkpoint (e.g. GPT-2) is refused when opened. The test below checks that refusal; prune()'s own
// check for a PrunableModel without gate/up/down is covered by the pruning suite.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArgumentError } from "../src/errors.js";
import { openModel, writeGGUF, writeLlama2c, writeSafetensors, type ModelReader } from "../src/formats/index.js";
import type { ModelConfig } from "../src/model/index.js";
import { loadLlama2cTokenizer, loadTokenizer, toGGUFVocab } from "../src/tokenizers/index.js";
import { isNode } from "./util/env.js";
import { readSharedData, skipNote } from "./util/data.js";
import { mulberry32 } from "./util/random.js";
import { syntheticModel, type SyntheticModel } from "./util/synthetic-model.js";
import { makeTempDir, type TempDir } from "./util/temp-dir.js";

type Run = typeof import("../src/cli/run.js");
type Fs = TempDir["fs"];

const t = suite("prune cli");
const test = isNode ? t : t.skip;

let R: Run;
let fs: Fs;
let join: (...p: string[]) => string;
let rootDir: TempDir | undefined;
let root: string;
let n = 0;

interface Result {
  code: number;
  out: string;
  err: string;
}

/** Runs `dass ...` in this process. `onProgress` sees every progress line (lines mode). */
async function dass(argv: string[], opts: { signal?: AbortSignal; onProgress?: (line: string) => void } = {}): Promise<Result> {
  let out = "";
  let err = "";
  const code = await R.runCli(argv, {
    io: {
      stdout: (s) => void (out += typeof s === "string" ? s : new TextDecoder().decode(s)),
      stderr: (s) => void (err += s),
      env: {},
      ...(opts.onProgress ? { progressStream: { write: (s: string) => void opts.onProgress!(s), isTTY: false } } : {}),
    },
    signal: opts.signal,
  });
  return { code, out, err };
}

async function dir(): Promise<string> {
  const d = join(root, `d${++n}`);
  await fs.mkdir(d, { recursive: true });
  return d;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Every file under `d` (relative paths), sorted: used to prove nothing was left behind. */
async function listTree(d: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string, rel: string) => {
    for (const e of await fs.readdir(p, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(join(p, e.name), r);
      else out.push(r);
    }
  };
  await walk(d, "");
  return out.sort();
}

async function bytesOf(p: string): Promise<Uint8Array> {
  const st = await fs.stat(p);
  if (!st.isDirectory()) return new Uint8Array(await fs.readFile(p));
  // A folder: its files concatenated in name order, with their names, so any difference shows.
  const parts: Uint8Array[] = [];
  for (const f of (await fs.readdir(p)).sort()) {
    parts.push(new TextEncoder().encode(`\0${f}\0`), new Uint8Array(await fs.readFile(join(p, f))));
  }
  const all = new Uint8Array(parts.reduce((s, x) => s + x.byteLength, 0));
  let o = 0;
  for (const x of parts) { all.set(x, o); o += x.byteLength; }
  return all;
}

function sameBytes(a: Uint8Array, b: Uint8Array, what: string): void {
  assert.is(a.byteLength, b.byteLength, `${what}: sizes`);
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) assert.unreachable(`${what}: first difference at byte ${i}`);
}

// ------------------------------------------------------------------ synthetic inputs

/** A 64-piece llama2.c vocabulary: specials, letters and punctuation, then common merges. */
const PIECES = [
  "<unk>", "\n<s>\n", "\n</s>\n", " ", "\n", ".", ",",
  ..."abcdefghijklmnopqrstuvwxyz",
  " t", " a", "th", "he", "in", "er", "an", " s", "on", "re", " th", "the", " the", "nd", "at", "en", "ou", "ed", "is",
  "it", "es", "or", "ar", " w", " h", " b", " m", " o", "ll", "ly", "ing",
];

function tokenizerBin(): Uint8Array {
  const enc = new TextEncoder();
  const parts = PIECES.map((p) => enc.encode(p));
  const size = 4 + parts.reduce((s, b) => s + 8 + b.byteLength, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setInt32(0, Math.max(...parts.map((b) => b.byteLength)), true);
  let o = 4;
  parts.forEach((b, i) => {
    dv.setFloat32(o, i < 33 ? 0 : -(i - 33), true);
    dv.setInt32(o + 4, b.byteLength, true);
    out.set(b, o + 8);
    o += 8 + b.byteLength;
  });
  return out;
}

/** Seeded pseudo-English, so calibration windows see varied tokens. */
function calibText(chars: number, seed = 1): string {
  const words = ["the", "a", "cat", "sat", "on", "mat", "and", "she", "was", "happy", "to", "see", "her", "friend", "in", "park",
    "they", "played", "with", "ball", "all", "day", "long", "it", "is", "red", "big", "little", "bird", "flew", "over", "tree"];
  const r = mulberry32(seed);
  let s = "";
  while (s.length < chars) {
    const len = 4 + Math.floor(r() * 8);
    const w = Array.from({ length: len }, () => words[Math.floor(r() * words.length)]);
    s += w.join(" ") + (r() < 0.2 ? ",\n" : ". ");
  }
  return s;
}

// dim 16, 2 blocks, d_ff 44 (4:8 along d_ff leaves a tail of 4), GQA 2/1, vocab 64.
const OVERRIDES: Partial<ModelConfig> = { dim: 16, nHeads: 2, nKvHeads: 1, headDim: 8, hiddenDim: 44, nLayers: 2, vocabSize: 64, seqLen: 64 };

function model(layout: "adjacent" | "half", seed = 7): SyntheticModel {
  return syntheticModel("llama", seed, { ropeLayout: layout, tied: false, overrides: OVERRIDES });
}

interface Inputs {
  d: string;
  bin: string;
  gguf: string;
  hf: string;
  tok: string;
  calib: string;
  shortCalib: string;
}

let inputs: Inputs;

async function makeInputs(): Promise<Inputs> {
  const d = await dir();
  const tok = join(d, "tok64.bin");
  await fs.writeFile(tok, tokenizerBin());
  const bin = join(d, "model.bin");
  const a = model("adjacent");
  await writeLlama2c(bin, a.config, a.source);
  const gguf = join(d, "model.gguf");
  const vocab = toGGUFVocab(loadLlama2cTokenizer(tokenizerBin(), 64));
  await writeGGUF(gguf, a.config, a.source, { dtype: "f16", vocab });
  const hf = join(d, "hf");
  const h = model("half", 11);
  await writeSafetensors(hf, h.config, h.source, { dtype: "bf16" });
  const calib = join(d, "calib.txt");
  await fs.writeFile(calib, calibText(6000));
  const shortCalib = join(d, "short.txt");
  await fs.writeFile(shortCalib, "the cat sat");
  return { d, bin, gguf, hf, tok, calib, shortCalib };
}

t.before(async () => {
  if (!isNode) return;
  R = await import("../src/cli/run.js");
  rootDir = await makeTempDir("dass-prune-cli-");
  ({ fs, join, path: root } = rootDir);
  inputs = await makeInputs();
});

t.after(() => rootDir?.remove());

// ------------------------------------------------------------------ checks on outputs

/** Zeros in every trailing-tail-aware N:M group along `axis` are at least the pattern's count. */
function nmHolds(W: Float32Array, rows: number, cols: number, nn: number, m: number, axis: string): boolean {
  const along = axis === "output" ? rows : cols, lines = axis === "output" ? cols : rows;
  for (let line = 0; line < lines; line++) {
    for (let s = 0; s < along; s += m) {
      const len = Math.min(m, along - s);
      let z = 0;
      for (let k = 0; k < len; k++) {
        const i = axis === "output" ? (s + k) * cols + line : line * cols + s + k;
        if (W[i] === 0) z++;
      }
      if (z < Math.floor((nn * len) / m)) return false;
    }
  }
  return true;
}

interface ReportJson {
  model: string;
  format: string;
  out: string;
  options: { method: string; pattern: string; targets: string; nsamples: number | null; seqlen: number | null };
  matrices: { block: number; name: string; shape: [number, number]; axis: string; sparsity: number; zeros: number; nmValid: boolean | null; reconError: number | null }[];
  totals: { pruned: { sparsity: number } };
  nmValid: boolean | null;
  pruneSeconds: number;
  calibration: { nsamples: number; seqlen: number; starts: number[] } | null;
  memory: { wasmPeakBytes: number; rssPeakBytes: number; spillBytes: number };
}

/**
 * Reads the output back: every pruned matrix has the zeros the report counts and holds its
 * pattern along the report's axis; every other tensor is byte-identical to the input's.
 */
async function checkOutput(input: string, out: string, rep: ReportJson, dtype?: string): Promise<void> {
  const a: ModelReader = await openModel(input);
  const b: ModelReader = await openModel(out);
  try {
    assert.is(b.format, a.format);
    assert.equal([...b.tensors.keys()], [...a.tensors.keys()]);
    const pruned = new Map(rep.matrices.map((m) => [`layers.${m.block}.${m.name}`, m]));
    const p = /^(\d+):(\d+)$/.exec(rep.options.pattern);
    for (const [name, info] of a.tensors) {
      assert.is(b.tensors.get(name)!.dtype, info.dtype, `${name} dtype`);
      if (dtype && info.shape.length === 2) assert.is(info.dtype, dtype, `${name} input dtype`);
      const m = pruned.get(name);
      if (!m) {
        sameBytes((await b.readRaw(name)).bytes, (await a.readRaw(name)).bytes, `${name} (not pruned)`);
        continue;
      }
      const W = await b.readTensor(name);
      let zeros = 0;
      for (const x of W) if (x === 0) zeros++;
      assert.is(zeros, m.zeros, `${name} zeros`);
      if (p) {
        assert.ok(m.nmValid, `${name} nmValid`);
        assert.ok(nmHolds(W, m.shape[0], m.shape[1], Number(p[1]), Number(p[2]), m.axis), `${name} holds ${rep.options.pattern} along ${m.axis}`);
      }
      if (rep.options.method !== "sparsegpt") {
        // Masking methods only zero weights: every kept weight is the input's.
        const W0 = await a.readTensor(name);
        for (let i = 0; i < W.length; i++) if (W[i] !== 0 && W[i] !== W0[i]) assert.unreachable(`${name}[${i}] changed`);
      }
    }
  } finally {
    await a.close();
    await b.close();
  }
}

function pruneArgs(model: string, out: string, method: string, pattern: string, extra: string[] = []): string[] {
  const calib = method === "magnitude" ? [] : ["--calib", inputs.calib, "--tokenizer", inputs.tok, "--nsamples", "4", "--seqlen", "32"];
  return ["prune", "--model", model, "--method", method, "--pattern", pattern, ...calib, "--out", out, ...extra];
}

const METHODS = ["magnitude", "wanda", "dass", "sparsegpt"];

// ------------------------------------------------------------------ end to end

test("llama2.c: every method at 2:4, 4:8 and 0.5 writes a valid model, the report matches it, the rest is byte-identical", async () => {
  const d = await dir();
  for (const method of METHODS) {
    for (const pattern of ["2:4", "4:8", "0.5"]) {
      const out = join(d, `${method}-${pattern.replace(":", "_")}.bin`);
      const report = join(d, `${method}-${pattern.replace(":", "_")}.json`);
      const r = await dass(pruneArgs(inputs.bin, out, method, pattern, ["--threads", "1", "--json", "--report", report]));
      assert.is(r.code, 0, `${method} ${pattern}: ${r.err}`);
      const rep = JSON.parse(r.out) as ReportJson;
      assert.equal(JSON.parse(await fs.readFile(report, "utf8")), rep, "report file = stdout JSON");
      assert.is(rep.format, "llama2c");
      assert.is(rep.options.method, method);
      assert.is(rep.matrices.length, 2 * 3, "gate, up, down of 2 blocks");
      assert.is(rep.nmValid, pattern === "0.5" ? null : true);
      assert.ok(rep.totals.pruned.sparsity >= 0.5 - 1e-9 && rep.totals.pruned.sparsity < 0.52, `${method} ${pattern} sparsity ${rep.totals.pruned.sparsity}`);
      if (method === "dass" && pattern !== "0.5") {
        assert.equal(rep.matrices.map((m) => m.axis), ["output", "output", "input", "output", "output", "input"]);
      }
      assert.is(rep.calibration === null, method === "magnitude");
      if (rep.calibration) assert.is(rep.calibration.starts.length, 4);
      assert.is(rep.memory.spillBytes, 0, "a resident model spills nothing");
      assert.ok(rep.memory.wasmPeakBytes > 0);
      await checkOutput(inputs.bin, out, rep);
    }
  }
  // Nothing but the outputs and reports: no temporary files left.
  assert.is((await listTree(d)).length, METHODS.length * 3 * 2);
});

test("terminal summary: per-matrix table, totals, pruning time, windows", async () => {
  const d = await dir();
  const out = join(d, "p.bin");
  const r = await dass(pruneArgs(inputs.bin, out, "dass", "2:4", ["--threads", "1"]));
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /block\s+matrix\s+shape\s+axis\s+sparsity\s+recon error\s+N:M valid\s+seconds/);
  assert.match(r.out, /\n\s+0\s+mlp\.gate\s+44x16\s+output\s+50\.00%\s+\d\.\d{4}\s+yes\s/);
  assert.match(r.out, /\n\s+1\s+mlp\.down\s+16x44\s+input\s+50\.00%/);
  assert.match(r.out, /sparsity: pruned matrices 50\.00%/);
  assert.match(r.out, /N:M check: every matrix holds 2:4/);
  assert.match(r.out, /time: pruning \d+\.\d{3} s \(excluding forward passes\)/);
  assert.match(r.out, /calibration: 4 windows x 32 tokens from .*calib\.txt/);
  assert.match(r.out, /wrote .*p\.bin \(llama2c, \d+ bytes\)/);
});

test("GGUF (f16, embedded vocabulary, no --tokenizer): DaSS 4:8 keeps the dtypes and the vocabulary", async () => {
  const d = await dir();
  const out = join(d, "p.gguf");
  const r = await dass(["prune", "--model", inputs.gguf, "--method", "dass", "--pattern", "4:8", "--calib", inputs.calib,
    "--nsamples", "4", "--seqlen", "32", "--out", out, "--json", "--threads", "1"]);
  assert.is(r.code, 0, r.err);
  const rep = JSON.parse(r.out) as ReportJson;
  assert.is(rep.format, "gguf");
  await checkOutput(inputs.gguf, out, rep, "f16");
  const a = await openModel(inputs.gguf), b = await openModel(out);
  try {
    const ta = await loadTokenizer(a), tb = await loadTokenizer(b);
    const s = calibText(300, 5);
    assert.equal(tb.encode(s), ta.encode(s));
    assert.is(tb.vocabSize, 64);
  } finally {
    await a.close();
    await b.close();
  }
});

test("an --out in folders that do not exist yet: they are made, and the temporary files (in the nearest existing folder) are gone", async () => {
  const d = await dir();
  const out = join(d, "a", "b", "p.bin");
  const r = await dass(["prune", "--model", inputs.bin, "--method", "magnitude", "--pattern", "2:4", "--out", out, "--json", "--threads", "1"]);
  assert.is(r.code, 0, r.err);
  assert.ok(await exists(out));
  const fs = await import("node:fs/promises");
  assert.equal(await fs.readdir(d), ["a"]);
  assert.equal(await fs.readdir(join(d, "a")), ["b"]);
  assert.equal(await fs.readdir(join(d, "a", "b")), ["p.bin"]);
});

test("--dtype: a GGUF (f16) pruned into bf16 matrices; llama2.c refuses anything but f32 before pruning", async () => {
  const d = await dir();
  const out = join(d, "p-bf16.gguf");
  const r = await dass(["prune", "--model", inputs.gguf, "--method", "magnitude", "--pattern", "2:4", "--dtype", "bf16", "--out", out, "--json", "--threads", "1"]);
  assert.is(r.code, 0, r.err);
  const b = await openModel(out);
  try {
    for (const [name, info] of b.tensors) assert.is(info.dtype, info.shape.length === 2 ? "bf16" : "f32", name);
  } finally {
    await b.close();
  }
  const bad = await dass(["prune", "--model", inputs.bin, "--method", "magnitude", "--pattern", "2:4", "--dtype", "f16", "--out", join(d, "x.bin")]);
  assert.is(bad.code, 1, bad.err);
  assert.match(bad.err, /llama2\.c checkpoints hold float32 only/);
  assert.not.ok(await exists(join(d, "x.bin")));
});

test("quantised GGUF (Q8_0, Q4_0): written back in the input's type at the input's size, pruned zeros exact; --dtype q4_0 / f16 / on llama2.c", async () => {
  const d = await dir();
  // Every matrix's rows are whole 32-element blocks.
  const m = syntheticModel("llama", 9, { ropeLayout: "adjacent", tied: false, overrides: { ...OVERRIDES, dim: 32, hiddenDim: 64, nHeads: 4, nKvHeads: 2 } });
  const vocab = toGGUFVocab(loadLlama2cTokenizer(tokenizerBin(), 64));
  const types = async (file: string) => {
    const b = await openModel(file);
    try {
      return new Set([...b.tensors.values()].filter((t) => t.shape.length === 2).map((t) => t.quantized?.type ?? t.dtype));
    } finally {
      await b.close();
    }
  };
  for (const type of ["Q8_0", "Q4_0"] as const) {
    const input = join(d, `${type}.gguf`), out = join(d, `${type}-p.gguf`);
    await writeGGUF(input, m.config, m.source, { vocab, quantize: type });
    const r = await dass(["prune", "--model", input, "--method", "magnitude", "--pattern", "2:4", "--out", out, "--threads", "1"]);
    assert.is(r.code, 0, r.err);
    assert.not.match(r.err, /written as f32/);
    assert.is((await fs.stat(out)).size, (await fs.stat(input)).size, `${type}: the input's size`);
    assert.equal(await types(out), new Set([type]));
    const b = await openModel(out);
    try {
      for (const s of ["mlp.gate", "mlp.up", "mlp.down"]) {
        const w = await b.readTensor(`layers.1.${s}`);
        for (let g = 0; g < w.length; g += 4) assert.ok(w.subarray(g, g + 4).filter((v) => v === 0).length >= 2, `${type} ${s}: group ${g / 4} keeps 2 of 4`);
      }
    } finally {
      await b.close();
    }
  }
  const q4 = join(d, "q4.gguf"), f16 = join(d, "f16.gguf");
  assert.is((await dass(["prune", "--model", join(d, "Q8_0.gguf"), "--method", "magnitude", "--pattern", "2:4", "--dtype", "q4_0", "--out", q4])).code, 0);
  assert.equal(await types(q4), new Set(["Q4_0"]));
  assert.is((await dass(["prune", "--model", join(d, "Q8_0.gguf"), "--method", "magnitude", "--pattern", "2:4", "--dtype", "f16", "--out", f16])).code, 0);
  assert.equal(await types(f16), new Set(["f16"]));
  // The library refuses the same before anything is written: quantisation outside GGUF, an unknown type.
  const { savePrunedModel } = await import("../src/pruning/save.js");
  const bin = await openModel(inputs.bin);
  try {
    for (const [reader, q, re] of [[bin, "Q8_0", /only GGUF outputs hold quantised matrices; this model is llama2c/], [null, "Q4_K", /"Q4_K" is not one of Q8_0, Q6_K, Q4_0/]] as const) {
      const src = reader ?? (await openModel(join(d, "Q8_0.gguf")));
      try {
        await savePrunedModel(src, { getLinearWeights: async () => new Float32Array(0) }, [], join(d, "never.gguf"), { quantize: q as never });
        assert.unreachable(String(q));
      } catch (e) {
        assert.ok(e instanceof ArgumentError && e.arg === "quantize" && re.test(e.message), String(e));
      } finally {
        if (!reader) await src.close();
      }
    }
  } finally {
    await bin.close();
  }
  assert.not.ok(await exists(join(d, "never.gguf")));
  const toHf = await dass(["convert", "--model", join(d, "Q8_0.gguf"), "--to", "safetensors", "--dtype", "q8_0", "--out", join(d, "hf")]);
  assert.is(toHf.code, 2, toHf.err);
  assert.match(toHf.err, /--dtype q8_0 quantises GGUF matrices; --to safetensors cannot hold them/);
  const bad = await dass(["prune", "--model", inputs.bin, "--method", "magnitude", "--pattern", "2:4", "--dtype", "q8_0", "--out", join(d, "x.bin")]);
  assert.is(bad.code, 1, bad.err);
  assert.match(bad.err, /only GGUF holds quantised matrices/);
  assert.not.ok(await exists(join(d, "x.bin")));
});

test("quantised GGUF (Q6_K): its 256-wide matrices kept as Q6_K at the input's size, pruned zeros exact; --dtype q6_k for prune and convert", async () => {
  const d = await dir();
  // Rows of 256 everywhere but mlp.down's (hiddenDim 320), which is not whole 256-element blocks and stays f32.
  const m = syntheticModel("llama", 10, { ropeLayout: "adjacent", tied: false, overrides: { ...OVERRIDES, dim: 256, hiddenDim: 320, nHeads: 4, nKvHeads: 2, headDim: 64 } });
  const vocab = toGGUFVocab(loadLlama2cTokenizer(tokenizerBin(), 64));
  const types = async (file: string) => {
    const b = await openModel(file);
    try {
      return Object.fromEntries([...b.tensors.values()].filter((t) => t.shape.length === 2).map((t) => [t.name, t.quantized?.type ?? t.dtype]));
    } finally {
      await b.close();
    }
  };
  const input = join(d, "q6.gguf"), f32 = join(d, "f32.gguf");
  await writeGGUF(input, m.config, m.source, { vocab, quantize: "Q6_K" });
  await writeGGUF(f32, m.config, m.source, { vocab });
  const inputTypes = await types(input);
  assert.ok(Object.keys(inputTypes).length >= 16);
  for (const [name, type] of Object.entries(inputTypes)) assert.is(type, /mlp\.down/.test(name) ? "f32" : "Q6_K", name);
  // Pruned with the default dtype: the Q6_K matrices stay Q6_K, so the file keeps the input's size.
  const out = join(d, "q6-p.gguf");
  const r = await dass(["prune", "--model", input, "--method", "magnitude", "--pattern", "2:4", "--out", out, "--threads", "1"]);
  assert.is(r.code, 0, r.err);
  assert.not.match(r.err, /written as f32/);
  assert.is((await fs.stat(out)).size, (await fs.stat(input)).size, "the input's size");
  assert.equal(await types(out), inputTypes);
  const b = await openModel(out);
  try {
    for (const s of ["mlp.gate", "mlp.up", "mlp.down"]) {
      const w = await b.readTensor(`layers.1.${s}`);
      for (let g = 0; g < w.length; g += 4) assert.ok(w.subarray(g, g + 4).filter((v) => v === 0).length >= 2, `${s}: group ${g / 4} keeps 2 of 4`);
    }
  } finally {
    await b.close();
  }
  // An f32 GGUF pruned or converted with --dtype q6_k: the same layout as the Q6_K input.
  const p6 = join(d, "p6.gguf"), c6 = join(d, "c6.gguf");
  const pr = await dass(["prune", "--model", f32, "--method", "magnitude", "--pattern", "2:4", "--dtype", "q6_k", "--out", p6, "--threads", "1"]);
  assert.is(pr.code, 0, pr.err);
  assert.equal(await types(p6), inputTypes);
  const cv = await dass(["convert", "--model", f32, "--to", "gguf", "--dtype", "q6_k", "--out", c6]);
  assert.is(cv.code, 0, cv.err);
  assert.equal(await types(c6), inputTypes);
  assert.is((await fs.stat(c6)).size, (await fs.stat(input)).size);
  const toHf = await dass(["convert", "--model", input, "--to", "safetensors", "--dtype", "q6_k", "--out", join(d, "hf")]);
  assert.is(toHf.code, 2, toHf.err);
  assert.match(toHf.err, /--dtype q6_k quantises GGUF matrices; --to safetensors cannot hold them/);
});

test("quantised GGUF of any type (Q4_K): the matrices pruning leaves alone are copied block for block; pruned ones of a type dass cannot write become f32", async () => {
  const d = await dir();
  const m = syntheticModel("llama", 11, { ropeLayout: "adjacent", tied: false, overrides: { ...OVERRIDES, dim: 256, hiddenDim: 64, nHeads: 4, nKvHeads: 2, headDim: 64 } });
  const vocab = toGGUFVocab(loadLlama2cTokenizer(tokenizerBin(), 64));
  // Q4_K blocks (144 bytes per 256 values: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 of nibbles), random but finite.
  const rng = mulberry32(5);
  const q4k = (values: number) => {
    const b = Uint8Array.from({ length: (values / 256) * 144 }, () => Math.floor(rng() * 256));
    for (let o = 0; o < b.length; o += 144) b.set([0x19, 0x12, 0x19, 0x0e], o); // f16 d = 7.4e-4, dmin = 3.7e-4
    return b;
  };
  const quantised = (n: string) => /attn\.[qkvo]$|mlp\.gate$/.test(n);
  const blocks = new Map([...m.tensors].filter(([n]) => quantised(n)).map(([n, t]) => [n, q4k(t.length)]));
  const input = join(d, "q4k.gguf");
  await writeGGUF(input, m.config, m.source, { vocab, copyBlocks: { typeOf: (n) => (quantised(n) ? "Q4_K" : undefined), read: async (n) => blocks.get(n)! } });
  const stored = async (file: string) => {
    const b = await openModel(file);
    try {
      const out = new Map<string, { type: string; bytes: Uint8Array }>();
      for (const [n, t] of b.tensors) if (t.quantized) out.set(n, await b.readBlocks!(n));
      return out;
    } finally {
      await b.close();
    }
  };
  const inputBlocks = await stored(input);
  assert.equal([...inputBlocks.keys()].sort(), [...blocks.keys()].sort());
  for (const [n, b] of inputBlocks) assert.equal([b.type, b.bytes], ["Q4_K", blocks.get(n)], n);
  const out = join(d, "q4k-p.gguf");
  const r = await dass(["prune", "--model", input, "--method", "magnitude", "--pattern", "2:4", "--out", out, "--threads", "1"]);
  assert.is(r.code, 0, r.err);
  assert.match(r.err, /note: the input's Q4_K matrices are written as f32 where they change/);
  const outBlocks = await stored(out);
  assert.equal([...outBlocks.keys()].sort(), [...blocks.keys()].filter((n) => !/mlp/.test(n)).sort(), "only the attention matrices stay Q4_K");
  for (const [n, b] of outBlocks) assert.equal(b, { type: "Q4_K", bytes: blocks.get(n) }, `${n} copied bit for bit`);
  const p = await openModel(out);
  try {
    assert.is(p.tensors.get("layers.0.mlp.gate")!.dtype, "f32");
    const gate = await p.readTensor("layers.0.mlp.gate");
    for (let g = 0; g < gate.length; g += 4) assert.ok(gate.subarray(g, g + 4).filter((v) => v === 0).length >= 2, `gate group ${g / 4}`);
  } finally {
    await p.close();
  }
  // convert to GGUF copies every quantised matrix; --dtype rewrites them all.
  const copy = join(d, "q4k-c.gguf");
  const c = await dass(["convert", "--model", input, "--to", "gguf", "--out", copy]);
  assert.is(c.code, 0, c.err);
  assert.not.match(c.err, /written as f32/);
  assert.equal(await stored(copy), inputBlocks);
  assert.is((await fs.stat(copy)).size, (await fs.stat(input)).size);
  const q8 = join(d, "q4k-q8.gguf");
  assert.is((await dass(["convert", "--model", input, "--to", "gguf", "--dtype", "q8_0", "--out", q8])).code, 0);
  assert.equal(new Set([...(await stored(q8)).values()].map((b) => b.type)), new Set(["Q8_0"]));
  // Blocks of the wrong size are refused before anything is written.
  try {
    await writeGGUF(join(d, "never.gguf"), m.config, m.source, { copyBlocks: { typeOf: (n) => (n === "layers.0.attn.q" ? "Q4_K" : undefined), read: async () => new Uint8Array(144) } });
    assert.unreachable("short blocks");
  } catch (e) {
    assert.ok(e instanceof ArgumentError && e.arg === "copyBlocks" && /layers\.0\.attn\.q: 144 bytes of Q4_K blocks/.test(e.message), String(e));
  }
  assert.not.ok(await exists(join(d, "never.gguf")));
});

test("Hugging Face folder (bf16), targets all: a folder with config.json; replacing an earlier output is allowed", async () => {
  const d = await dir();
  const out = join(d, "pruned-hf");
  for (let i = 0; i < 2; i++) {
    const r = await dass(["prune", "--model", inputs.hf, "--tokenizer", inputs.tok, "--method", "wanda", "--pattern", "0.5", "--targets", "all",
      "--calib", inputs.calib, "--nsamples", "4", "--seqlen", "32", "--out", out, "--json", "--threads", "1"]);
    assert.is(r.code, 0, r.err);
    const rep = JSON.parse(r.out) as ReportJson;
    assert.is(rep.format, "safetensors");
    assert.is(rep.matrices.length, 2 * 7);
    await checkOutput(inputs.hf, out, rep, "bf16");
  }
  assert.equal(await listTree(d), ["pruned-hf/config.json", "pruned-hf/model.safetensors"]);
});

test("--compress (GGUF, GGUF phi3 and Hugging Face): the same weights as the dense output, in fewer bytes", async () => {
  const d = await dir();
  // A Llama in HF's RoPE layout is stored as GGUF phi3 (fused q/k/v and gate/up; compressed ones apart).
  const phi3 = join(d, "phi3.gguf");
  const half = model("half");
  await writeGGUF(phi3, half.config, half.source, { vocab: toGGUFVocab(loadLlama2cTokenizer(tokenizerBin(), 64)) });
  for (const [input, ext, tokArgs] of [[inputs.gguf, ".gguf", []], [phi3, ".gguf", []], [inputs.hf, "", ["--tokenizer", inputs.tok]]] as const) {
    const dense = join(d, `dense${ext}`), packed = join(d, `packed${ext}`);
    for (const [out, extra] of [[dense, []], [packed, ["--compress"]]] as const) {
      const r = await dass(["prune", "--model", input, ...tokArgs, "--method", "dass", "--pattern", "2:4", "--calib", inputs.calib,
        "--nsamples", "4", "--seqlen", "32", "--out", out, "--json", "--threads", "1", ...extra]);
      assert.is(r.code, 0, r.err);
    }
    const a = await openModel(dense), b = await openModel(packed);
    try {
      for (const name of a.tensors.keys()) assert.equal(Array.from(await b.readTensor(name)), Array.from(await a.readTensor(name)), name);
    } finally {
      await a.close();
      await b.close();
    }
    const size = async (p: string) => (await bytesOf(p)).byteLength;
    assert.ok(await size(packed) < await size(dense), `${input}: compressed output is smaller`);
  }
});

// ------------------------------------------------------------------ determinism

test("determinism: the same options twice, and threads 1 vs 2, give byte-identical files (every method, every format)", async () => {
  const d = await dir();
  const cases: [string, string, string, string][] = [
    ...METHODS.flatMap((m) => [[inputs.bin, m, "2:4", ".bin"], [inputs.bin, m, "0.5", ".bin"]] as [string, string, string, string][]),
    [inputs.gguf, "dass", "4:8", ".gguf"],
    [inputs.gguf, "sparsegpt", "0.5", ".gguf"],
    [inputs.hf, "dass", "2:4", ""],
    [inputs.hf, "sparsegpt", "4:8", ""],
  ];
  for (const [input, method, pattern, ext] of cases) {
    const outs: string[] = [];
    for (const threads of ["1", "1", "2"]) {
      const out = join(d, `${method}-${pattern.replace(":", "_")}-${outs.length}${ext}`);
      const args = pruneArgs(input, out, method, pattern, ["--threads", threads, "--json"]);
      if (input === inputs.gguf) {
        const i = args.indexOf("--tokenizer");
        if (i >= 0) args.splice(i, 2);
      }
      const r = await dass(args);
      assert.is(r.code, 0, `${method} ${pattern} threads ${threads}: ${r.err}`);
      outs.push(out);
    }
    const first = await bytesOf(outs[0]);
    sameBytes(await bytesOf(outs[1]), first, `${input} ${method} ${pattern}: second run`);
    sameBytes(await bytesOf(outs[2]), first, `${input} ${method} ${pattern}: threads 2 vs 1`);
  }
});

// ------------------------------------------------------------------ bad input

test("bad input: a clear error, the exit code, no output left, the input untouched", async () => {
  const d = await dir();
  const out = join(d, "out.bin");
  const before = await bytesOf(inputs.bin);
  const link = join(d, "link.bin");
  await fs.symlink(inputs.bin, link);
  const foreign = join(d, "stuff");
  await fs.mkdir(foreign);
  await fs.writeFile(join(foreign, "notes.txt"), "mine");
  const gpt2 = join(d, "gpt2");
  await fs.mkdir(gpt2);
  await fs.writeFile(join(gpt2, "config.json"), JSON.stringify({ architectures: ["GPT2LMHeadModel"], model_type: "gpt2", n_embd: 16, n_layer: 2, n_head: 2, vocab_size: 64 }));
  await fs.writeFile(join(gpt2, "model.safetensors"), new Uint8Array(16));
  // Block 0 prunes fine, block 1's up projection holds a NaN: the run fails half-way.
  const nan = model("adjacent");
  nan.tensors.get("layers.1.mlp.up")![5] = NaN;
  const nanBin = join(d, "nan.bin");
  await writeLlama2c(nanBin, nan.config, nan.source);
  const cases: { argv: string[]; code: number; re: RegExp; out?: string }[] = [
    { argv: pruneArgs(nanBin, out, "dass", "2:4"), code: 1, re: /layers\.1\.mlp\.up holds a non-finite weight: W\[0\]\[5\] = NaN \(nothing was written\)\n$/ },
    { argv: pruneArgs(nanBin, out, "magnitude", "0.5"), code: 1, re: /layers\.1\.mlp\.up holds a non-finite weight.* \(nothing was written\)\n$/ },
    { argv: pruneArgs(inputs.bin, out, "dass", "4:4"), code: 2, re: /--pattern: "4:4": N \(pruned per group\) must be less than M/ },
    { argv: pruneArgs(inputs.bin, out, "dass", "5:4"), code: 2, re: /N \(pruned per group\) must be less than M/ },
    { argv: pruneArgs(inputs.bin, out, "wanda", "2-4"), code: 2, re: /--pattern: "2-4" is neither a sparsity in \(0, 1\)/ },
    { argv: pruneArgs(inputs.bin, out, "wanda", "2:x"), code: 2, re: /"2:x" is not N:M with two numbers/ },
    { argv: pruneArgs(inputs.bin, out, "magnitude", "2:64"), code: 2, re: /M must be <= 32/ },
    { argv: pruneArgs(inputs.bin, out, "magnitude", "1.5"), code: 2, re: /sparsity "1\.5" must be strictly between 0 and 1/ },
    { argv: pruneArgs(inputs.bin, out, "magnitude", "0"), code: 2, re: /sparsity "0" must be strictly between 0 and 1/ },
    { argv: pruneArgs(inputs.bin, out, "dass", "1"), code: 2, re: /sparsity "1" must be strictly between 0 and 1/ },
    { argv: pruneArgs(inputs.bin, out, "magnitude", "0.5", ["--compress"]), code: 2, re: /--compress stores N:M matrices compressed; --pattern 0\.5 is unstructured/ },
    { argv: pruneArgs(inputs.bin, out, "dass", "2:4", ["--alpha=-1"]), code: 2, re: /--alpha must be >= 0/ },
    {
      argv: ["prune", "--model", inputs.bin, "--tokenizer", inputs.tok, "--method", "dass", "--pattern", "2:4", "--calib", inputs.shortCalib, "--seqlen", "32", "--out", out],
      code: 1, re: /short\.txt tokenizes to \d+ tokens, fewer than one window of seqlen = 32/,
    },
    {
      argv: ["prune", "--model", inputs.bin, "--tokenizer", inputs.tok, "--method", "dass", "--pattern", "2:4", "--calib", inputs.calib, "--seqlen", "65", "--out", out],
      code: 1, re: /seqlen: 65 exceeds the model's context length 64/,
    },
    { argv: pruneArgs(inputs.bin, inputs.bin, "dass", "2:4"), code: 1, re: /out: .*model\.bin is the input .*refusing to overwrite it/, out: inputs.bin },
    { argv: pruneArgs(inputs.bin, link, "magnitude", "2:4"), code: 1, re: /refusing to overwrite it/, out: link },
    { argv: pruneArgs(inputs.bin, inputs.tok, "dass", "2:4"), code: 1, re: /tok64\.bin is the input .*refusing to overwrite it/, out: inputs.tok },
    { argv: pruneArgs(inputs.bin, inputs.calib, "dass", "2:4"), code: 1, re: /calib\.txt is the input/, out: inputs.calib },
    { argv: pruneArgs(inputs.hf, inputs.d, "magnitude", "2:4"), code: 1, re: /contains the input .*refusing to replace it/, out: inputs.d },
    { argv: pruneArgs(inputs.hf, foreign, "magnitude", "2:4"), code: 1, re: /does not hold just a model .*notes\.txt.*refusing to replace it/, out: foreign },
    { argv: pruneArgs(inputs.bin, d, "magnitude", "2:4"), code: 1, re: /is a folder; a llama2\.c model is written as one file/, out: d },
    { argv: pruneArgs(inputs.bin, out, "magnitude", "2:4", ["--report", out]), code: 1, re: /report: .*out\.bin is the input/ },
    { argv: pruneArgs(inputs.bin, out, "magnitude", "2:4", ["--report", inputs.bin]), code: 1, re: /report: .*is the input/ },
    { argv: pruneArgs(inputs.bin, out, "dass", "2:4", ["--compress"]), code: 1, re: /llama2\.c checkpoints cannot hold compressed N:M matrices|compressed N:M storage .* is not available/ },
    { argv: pruneArgs(gpt2, out, "dass", "2:4"), code: 1, re: /unsupported architecture "GPT2LMHeadModel"/ },
    { argv: pruneArgs(join(d, "missing.bin"), out, "magnitude", "2:4"), code: 1, re: /missing\.bin: no such file or folder/ },
    // The OS refuses the output (here: a path through a file): its message, not "a bug".
    { argv: pruneArgs(inputs.bin, join(inputs.calib, "x.bin"), "magnitude", "2:4"), code: 1, re: /^error: E[A-Z]+: .*calib\.txt/ },
  ];
  for (const c of cases) {
    const r = await dass(c.argv);
    const what = c.argv.slice(1).join(" ");
    assert.is(r.code, c.code, `${what}: ${r.err}`);
    assert.match(r.err, c.re, what);
    assert.match(r.err, /^error: /, what);
    assert.not.match(r.err, /unexpected error/, what);
    assert.is(r.out, "", what);
    if (!c.out) assert.not.ok(await exists(out), `${what}: no output`);
  }
  sameBytes(await bytesOf(inputs.bin), before, "input untouched");
  assert.equal(await listTree(d), ["gpt2/config.json", "gpt2/model.safetensors", "link.bin", "nan.bin", "stuff/notes.txt"]);
});

test("interrupted (AbortSignal, as Ctrl-C) while pruning and while writing: exit 130, nothing left, the input untouched", async () => {
  const { AbortError } = await import("../src/errors.js");
  for (const [input, ext] of [[inputs.bin, ".bin"], [inputs.hf, ""]] as const) {
    const before = await bytesOf(input);
    for (const phase of ["load:", "prune:", "write:"]) {
      const d = await dir();
      const out = join(d, `p${ext}`);
      const report = join(d, "r.json");
      const ac = new AbortController();
      const r = await dass(pruneArgs(input, out, "dass", "2:4", ["--report", report, "--threads", "1"]), {
        signal: ac.signal,
        onProgress: (line) => {
          if (line.startsWith(phase) && !ac.signal.aborted) ac.abort(new AbortError("interrupted"));
        },
      });
      assert.ok(ac.signal.aborted, `${phase} seen`);
      assert.is(r.code, 130, `${input} ${phase}: ${r.err}`);
      assert.match(r.err, /error: interrupted: nothing was written, .* is untouched/);
      assert.equal(await listTree(d), [], `${input} ${phase}: nothing left`);
      sameBytes(await bytesOf(input), before, `${input} ${phase}: input untouched`);
    }
  }
});

// ------------------------------------------------------------------ stories260K

const binData = await readSharedData("models/stories260K.bin");
const ggufData = await readSharedData("models/stories260K.gguf");
const tokData = await readSharedData("models/tok512.bin");
const c4Data = await readSharedData("text/c4_sample_200docs.jsonl");
const haveStories = !!(binData && ggufData && tokData && c4Data);
if (!haveStories) skipNote("models/stories260K.bin, models/stories260K.gguf, models/tok512.bin, text/c4_sample_200docs.jsonl");

(isNode && haveStories ? t : t.skip)("stories260K (llama2.c and GGUF) with C4 calibration, 8 x 64 windows: valid outputs, deterministic across threads", async () => {
  const d = await dir();
  const bin = join(d, "stories260K.bin"), gguf = join(d, "stories260K.gguf"), tok = join(d, "tok512.bin"), c4 = join(d, "c4.jsonl");
  await fs.writeFile(bin, binData!);
  await fs.writeFile(gguf, ggufData!);
  await fs.writeFile(tok, tokData!);
  await fs.writeFile(c4, c4Data!);
  for (const [input, method, pattern, ext] of [[bin, "dass", "2:4", ".bin"], [gguf, "wanda", "4:8", ".gguf"], [bin, "sparsegpt", "0.5", ".bin"]]) {
    const outs: string[] = [];
    for (const threads of ["1", "2"]) {
      const out = join(d, `${method}-${threads}${ext}`);
      const tokArgs = input === bin ? ["--tokenizer", tok] : [];
      const r = await dass(["prune", "--model", input, ...tokArgs, "--method", method, "--pattern", pattern, "--calib", c4,
        "--nsamples", "8", "--seqlen", "64", "--out", out, "--json", "--threads", threads]);
      assert.is(r.code, 0, r.err);
      const rep = JSON.parse(r.out) as ReportJson;
      assert.is(rep.matrices.length, 15);
      assert.equal(rep.matrices.map((m) => m.shape.join("x")).slice(0, 3), ["172x64", "172x64", "64x172"]);
      assert.is(rep.nmValid, pattern === "0.5" ? null : true);
      assert.ok(Math.abs(rep.totals.pruned.sparsity - 0.5) < 0.01, String(rep.totals.pruned.sparsity));
      for (const m of rep.matrices) assert.ok(m.reconError !== null && m.reconError > 0 && m.reconError < 1, `${m.block}.${m.name} recon ${m.reconError}`);
      await checkOutput(input, out, rep);
      outs.push(out);
    }
    sameBytes(await bytesOf(outs[1]), await bytesOf(outs[0]), `${method} ${pattern}: threads 2 vs 1`);
  }
});

t.run();
