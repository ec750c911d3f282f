// bench/prune: the pruning benchmark of issue 4, in three sections.
//
// 1. table   stories260K on ../shared/data: calibration text/c4_sample_200docs.jsonl, 128 x 512
//            windows, seed 0, targets mlp; every method x {0.5, 4:8, 2:4} plus dense; perplexity
//            (paper protocol, seqlen 512) on text/tinystories_valid_first1000.txt and on
//            text/wikitext2_raw_test.jsonl (records joined with "\n\n"); actual sparsity of the
//            pruned matrices; pruning seconds (excluding forward passes).
// 2. speed   a synthetic LLaMA-7B MLP block (d 4096, d_ff 11008) with heavy-tailed activation
//            statistics: score-and-select of gate, up and down at 2:4 for magnitude, Wanda and DaSS
//            on one thread, side by side (median over samples, `benchmark` via bench/util/measure),
//            and SparseGPT on the same block (factorisations + column updates, one run).
// 3. memory  `dass prune` on a synthetic TinyLlama-1.1B-shaped model (f16 safetensors written to a
//            temporary folder: 2.2 GB, and as much again for the output), DaSS 2:4, 4 x 128
//            calibration windows, run as a child process: peak Wasm memory and peak RSS from its
//            report. About 5-9 minutes on 2 cores (writing the model takes 2 of them).
//
// Flags: `--help`. --json FILE writes an array of records { model, method, pattern, targets,
// pplTinyStories, pplWikitext, sparsity, pruneSeconds } (dense row: method and pattern "dense");
// speed and memory records carry the same fields (perplexities null) plus their own measurements.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  calibrationWindows, createRuntime, expectedTensors, layerPlan, loadTokenizer, maskSpec, numel, openModel,
  parsePattern, perplexityOfTokens, prune, pruneLinear, readCalibrationFile, Transformer, writeSafetensors,
  type LinearName, type ModelConfig, type PruneMethod, type Runtime, type WasmArray,
} from "../src/index.js";
import { sparsegptFactor } from "../src/kernels/sparsegpt.js";
import { hessianAccumulate } from "../src/kernels/stats.js";
import { scoreMagnitude, scoreScaled } from "../src/kernels/scores.js";
import { selectMask } from "../src/kernels/masks.js";
import { benchFlags, positiveInt, runBench } from "./util/cli.js";
import { measureInTurn } from "./util/measure.js";
import { mulberry32 } from "./util/rng.js";

/** One line of the JSON output. */
export interface PruneRecord {
  model: string;
  method: string;
  pattern: string;
  targets: string;
  pplTinyStories: number | null;
  pplWikitext: number | null;
  sparsity: number;
  pruneSeconds: number;
  [extra: string]: unknown;
}

const METHODS: readonly PruneMethod[] = ["magnitude", "wanda", "sparsegpt", "dass"];
const PATTERNS = ["0.5", "4:8", "2:4"] as const;
const GiB = 2 ** 30;
const log = (s: string) => process.stderr.write(s + "\n");
const now = () => performance.now();
const fixed = (x: number | null, d: number) => (x === null || !Number.isFinite(x) ? "-" : x.toFixed(d));

function markdown(head: string[], rows: string[][], right: (i: number) => boolean): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => (right(i) ? x.padStart(w[i]) : x.padEnd(w[i]))).join(" | ")} |`;
  return [line(head), `|${w.map((x, i) => (right(i) ? "-".repeat(x + 1) + ":" : ":" + "-".repeat(x + 1))).join("|")}|`, ...rows.map(line)].join("\n");
}

// ---------------------------------------------------------------------------------------- table

async function tableSection(dataDir: string, quick: boolean, threads: number | undefined): Promise<PruneRecord[]> {
  const file = (p: string) => join(dataDir, p);
  const need = ["models/stories260K.bin", "models/tok512.bin", "text/c4_sample_200docs.jsonl", "text/tinystories_valid_first1000.txt", "text/wikitext2_raw_test.jsonl"];
  const missing = need.filter((p) => !existsSync(file(p)));
  if (missing.length) {
    log(`table: skipped, ${dataDir} lacks ${missing.join(", ")}`);
    return [];
  }
  const nsamples = quick ? 16 : 128, seqlen = 512, evalWindows = quick ? 32 : Infinity;
  const reader = await openModel(file("models/stories260K.bin"));
  const tok = await loadTokenizer(file("models/tok512.bin"), { vocabSize: reader.config.vocabSize });
  const c4 = (await readCalibrationFile(file("text/c4_sample_200docs.jsonl"))).text;
  const windows = calibrationWindows(c4, tok, { nsamples, seqlen, seed: 0, source: "text/c4_sample_200docs.jsonl" });
  const evalTokens = async (p: string) => {
    const ids = tok.encode((await readCalibrationFile(file(p))).text, { bos: false, eos: false });
    // The paper protocol prepends BOS, so N windows need N * seqlen - 1 text tokens.
    return Number.isFinite(evalWindows) ? ids.slice(0, evalWindows * seqlen - 1) : ids;
  };
  const tiny = await evalTokens("text/tinystories_valid_first1000.txt");
  const wiki = await evalTokens("text/wikitext2_raw_test.jsonl");
  const rt = await createRuntime(threads ? { threads } : {});
  log(`table: stories260K, ${rt.threads} thread(s); calibration ${nsamples} x ${seqlen} from C4 (${windows.streamLength} tokens); ` +
    `evaluation on ${Math.floor((tiny.length + 1) / seqlen)} TinyStories and ${Math.floor((wiki.length + 1) / seqlen)} WikiText-2 windows of ${seqlen}`);
  const records: PruneRecord[] = [];
  try {
    const runs: [PruneMethod | "dense", string][] = [["dense", "dense"], ...METHODS.flatMap((m) => PATTERNS.map((p) => [m, p] as [PruneMethod, string]))];
    for (const [method, pattern] of runs) {
      const t0 = now();
      const model = await Transformer.load(reader, rt);
      try {
        let sparsity = 0, pruneSeconds = 0;
        if (method !== "dense") {
          // Reconstruction errors are not in the table; skipping them saves one forward pass per block.
          const { report } = await prune(model, { method, pattern, calib: method === "magnitude" ? undefined : windows, targets: "mlp", reconError: false });
          sparsity = report.totals.pruned.sparsity;
          pruneSeconds = report.pruneSeconds;
          if (report.nmValid === false) throw new Error(`${method} ${pattern}: a matrix fails the N:M check`);
        } else {
          let z = 0, total = 0;
          for (let l = 0; l < model.config.nLayers; l++) {
            for (const name of ["gate", "up", "down"] as LinearName[]) {
              const W = await model.getLinearWeights(l, name);
              for (const x of W) if (x === 0) z++;
              total += W.length;
            }
          }
          sparsity = z / total;
        }
        const pplTinyStories = (await perplexityOfTokens(model, tiny, { seqLen: seqlen })).ppl;
        const pplWikitext = (await perplexityOfTokens(model, wiki, { seqLen: seqlen })).ppl;
        records.push({ model: "stories260K", method, pattern, targets: "mlp", pplTinyStories, pplWikitext, sparsity, pruneSeconds });
        log(`  ${method} ${pattern}: TinyStories ${pplTinyStories.toFixed(3)}, WikiText-2 ${pplWikitext.toFixed(3)}, ` +
          `sparsity ${(100 * sparsity).toFixed(2)}%, pruning ${pruneSeconds.toFixed(3)} s (${((now() - t0) / 1000).toFixed(0)} s with evaluation)`);
      } finally {
        model.close();
      }
    }
  } finally {
    rt.close();
    await reader.close();
  }
  console.log(`\n## Pruning stories260K (targets mlp; calibration C4 ${nsamples} x ${seqlen}, seed 0; perplexity: paper protocol, seqlen ${seqlen}${quick ? ", first 32 windows (--quick)" : ""})\n`);
  console.log(markdown(
    ["method", "pattern", "PPL TinyStories", "PPL WikiText-2", "sparsity (MLP)", "pruning s"],
    records.map((r) => [r.method, r.pattern, fixed(r.pplTinyStories, 3), fixed(r.pplWikitext, 3), `${(100 * r.sparsity).toFixed(2)}%`, r.method === "dense" ? "-" : r.pruneSeconds.toFixed(3)]),
    (i) => i >= 2,
  ));
  console.log(`\nsparsity: zeros / weights of the pruned (MLP) matrices; pruning s: statistics handling, scores, masks and SparseGPT's factorisations and updates, excluding forward passes (${rt.threads} thread(s)).`);
  return records;
}

// ---------------------------------------------------------------------------------------- speed

const D = 4096, DFF = 11008;

/** Heavy-tailed per-channel mean squares: log-normal RMS (sigma 1.5) with 0.5% outlier channels x 20. */
function heavyTailedStats(n: number, seed: number): Float64Array {
  const r = mulberry32(seed);
  const randn = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return Float64Array.from({ length: n }, () => {
    const rms = Math.exp(1.5 * randn()) * (r() < 0.005 ? 20 : 1);
    return rms * rms;
  });
}

function fillGaussian(a: Float32Array, seed: number, scale: number): void {
  const r = mulberry32(seed);
  for (let i = 0; i < a.length; i += 2) {
    const u = 1 - r(), v = 2 * Math.PI * r(), m = scale * Math.sqrt(-2 * Math.log(u));
    a[i] = m * Math.cos(v);
    if (i + 1 < a.length) a[i + 1] = m * Math.sin(v);
  }
}

interface Block {
  W: Record<"gate" | "up" | "down", WasmArray<"f32">>;
  /** Mean squares of the block input (gate/up input) and of the intermediate activation (down input). */
  sIn: Float64Array;
  a: Float64Array;
}

function shape(name: "gate" | "up" | "down"): [number, number] {
  return name === "down" ? [D, DFF] : [DFF, D];
}

/** Score and select one matrix exactly as pruneLinear does, without applying the mask. */
async function scoreAndSelect(rt: Runtime, method: "magnitude" | "wanda" | "dass", name: "gate" | "up" | "down", blk: Block, S: WasmArray<"f32">, mask: WasmArray<"u8">): Promise<void> {
  const [rows, cols] = shape(name);
  const pattern = parsePattern("2:4");
  const plan = layerPlan(method, name, pattern);
  const W = blk.W[name];
  if (plan.metric === "magnitude") await scoreMagnitude(rt, W, S, rows * cols);
  else if (plan.needs === "input") await scoreScaled(rt, W, name === "down" ? blk.a : blk.sIn, 0.5, "col", rows, cols, S);
  else if (name === "down") await scoreScaled(rt, W, blk.a, 0.5, "col", rows, cols, S);
  else await scoreScaled(rt, W, blk.a, 0.25, "row", rows, cols, S);
  await selectMask(rt, S, rows, cols, maskSpec(plan, pattern), mask);
}

async function speedSection(quick: boolean): Promise<PruneRecord[]> {
  const rt = await createRuntime({ threads: 1 });
  const records: PruneRecord[] = [];
  const model = "synthetic-llama7b-mlp-block";
  try {
    log(`speed: filling a ${D} x ${DFF} MLP block (3 x ${(4 * D * DFF / 2 ** 20).toFixed(0)} MiB f32)...`);
    const W = { gate: rt.heap.alloc("f32", D * DFF), up: rt.heap.alloc("f32", D * DFF), down: rt.heap.alloc("f32", D * DFF) };
    fillGaussian(W.gate.view(), 1, 0.02);
    fillGaussian(W.up.view(), 2, 0.02);
    fillGaussian(W.down.view(), 3, 0.02);
    const blk: Block = { W, sIn: heavyTailedStats(D, 4), a: heavyTailedStats(DFF, 5) };
    const S = rt.heap.alloc("f32", D * DFF);
    const mask = rt.heap.alloc("u8", D * DFF);
    const methods = ["magnitude", "wanda", "dass"] as const;
    const rounds = quick ? 1 : 3;
    // The three methods in turn, round after round, so that drifting machine load hits them alike.
    const times = await measureInTurn(methods.map((m) => async () => {
      for (const name of ["gate", "up", "down"] as const) await scoreAndSelect(rt, m, name, blk, S, mask);
    }), { warmupMs: quick ? 300 : 1000, maxTime: quick ? 1 : 9, minSamples: quick ? 3 : 15, rounds });
    methods.forEach((m, i) => log(`  ${m} ${times[i].medianMs.toFixed(1)} ms (median of ${times[i].samples})`));
    const ms: Record<string, number> = Object.fromEntries(methods.map((m, i) => [m, times[i].medianMs]));
    S.free();
    mask.free();
    for (const m of methods) {
      records.push({ model, method: m, pattern: "2:4", targets: "mlp", pplTinyStories: null, pplWikitext: null, sparsity: 0.5, pruneSeconds: ms[m] / 1000, threads: 1, step: "score-and-select", rounds });
    }

    let sgpt: { total: number; factor: number; update: number } | null = null;
    if (!quick) {
      log("speed: SparseGPT on the same block (Hessians from 1024 heavy-tailed tokens; one run, 1 thread)...");
      sgpt = await sparsegptBlock(rt, blk);
      records.push({
        model, method: "sparsegpt", pattern: "2:4", targets: "mlp", pplTinyStories: null, pplWikitext: null, sparsity: 0.5,
        pruneSeconds: sgpt.total, threads: 1, step: "factorisations + column updates", factorSeconds: sgpt.factor, updateSeconds: sgpt.update,
      });
    }
    for (const a of Object.values(W)) a.free();

    console.log(`\n## Pruning speed: one LLaMA-7B MLP block (gate/up ${DFF}x${D}, down ${D}x${DFF}), 2:4, 1 thread\n`);
    const rows = methods.map((m) => [m, "score + select, 3 matrices", (ms[m] / 1000).toFixed(3), (ms[m] / ms.magnitude).toFixed(2)]);
    if (sgpt) rows.push(["sparsegpt", `factor ${sgpt.factor.toFixed(1)} s + updates ${sgpt.update.toFixed(1)} s`, sgpt.total.toFixed(2), (1000 * sgpt.total / ms.magnitude).toFixed(0)]);
    console.log(markdown(["method", "work", "seconds", "x magnitude"], rows, (i) => i >= 2));
    const ok = (m: string) => ms[m] <= 1000 && ms[m] <= 1.2 * ms.magnitude;
    console.log(`\ntargets (DaSS and Wanda <= 1 s and <= 1.2x magnitude): DaSS ${ok("dass") ? "met" : "MISSED"}, Wanda ${ok("wanda") ? "met" : "MISSED"}.` +
      (sgpt ? ` SparseGPT takes ${(1000 * sgpt.total / ms.dass).toFixed(0)}x DaSS's time.` : " SparseGPT skipped (--quick)."));
    console.log(`Medians over the samples of ${rounds} round(s) measuring the methods in turn; activation statistics are log-normal (sigma 1.5) with 0.5% outliers x20. The machine is shared: expect noise.`);
  } finally {
    rt.close();
  }
  return records;
}

/** SparseGPT on the block as prune() runs it: gate/up share one factorisation, down has its own. */
async function sparsegptBlock(rt: Runtime, blk: Block): Promise<{ total: number; factor: number; update: number }> {
  const T = 1024;
  const hess = async (d: number, ms: Float64Array, seed: number): Promise<WasmArray<"f32">> => {
    const X = rt.heap.alloc("f32", T * d);
    const x = X.view();
    fillGaussian(x, seed, 1);
    for (let t = 0; t < T; t++) for (let j = 0; j < d; j++) x[t * d + j] *= Math.sqrt(ms[j]);
    const H = rt.heap.alloc("f32", d * d);
    H.view().fill(0);
    await hessianAccumulate(rt, X, T, d, H, 2 / T);
    X.free();
    return H;
  };
  let factor = 0, update = 0;
  const pattern = parsePattern("2:4");
  for (const [group, members, d, ms] of [["gate", ["gate", "up"], D, blk.sIn], ["down", ["down"], DFF, blk.a]] as const) {
    const H = await hess(d, ms, group === "gate" ? 6 : 7);
    let t = now();
    const f = await sparsegptFactor(rt, H, d, { label: `block 0 ${group}` });
    factor += (now() - t) / 1000;
    H.free();
    try {
      for (const name of members) {
        const [rows, cols] = shape(name);
        t = now();
        await pruneLinear(rt, blk.W[name], rows, cols, { method: "sparsegpt", name, pattern, stats: { factor: f }, label: `block 0 ${name}` });
        update += (now() - t) / 1000;
        log(`  sparsegpt ${name}: ${((now() - t) / 1000).toFixed(1)} s`);
      }
    } finally {
      f.U.free();
    }
  }
  return { total: factor + update, factor, update };
}

// ---------------------------------------------------------------------------------------- memory

const TINYLLAMA: ModelConfig = {
  arch: "llama", dim: 2048, hiddenDim: 5632, nLayers: 22, nHeads: 32, nKvHeads: 4, headDim: 64, vocabSize: 32000, seqLen: 2048,
  normEps: 1e-5, ropeTheta: 10000, ropeLayout: "half", tiedEmbeddings: false, qkvBias: false, act: "silu", embedScale: 1,
  normPlusOne: false, bosId: 1, eosId: 2,
};

/** A llama2.c tokenizer.bin with `n` pieces: specials, the 256 byte tokens, then distinct letter strings. */
function syntheticTokenizerBin(n: number): Uint8Array {
  const pieces = ["<unk>", "\n<s>\n", "\n</s>\n", ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`)];
  const letters = " etaoinshrdlucmfwypvbgkjqxz";
  const seen = new Set(pieces);
  for (const c of letters + ".,") if (!seen.has(c)) { pieces.push(c); seen.add(c); }
  for (let len = 2; pieces.length < n; len++) {
    const count = letters.length ** len;
    for (let k = 0; k < count && pieces.length < n; k++) {
      let s = "", x = k;
      for (let i = 0; i < len; i++) { s += letters[x % letters.length]; x = Math.floor(x / letters.length); }
      if (!seen.has(s)) { pieces.push(s); seen.add(s); }
    }
  }
  const enc = new TextEncoder();
  const bytes = pieces.map((p) => enc.encode(p));
  const out = new Uint8Array(4 + bytes.reduce((s, b) => s + 8 + b.byteLength, 0));
  const dv = new DataView(out.buffer);
  dv.setInt32(0, Math.max(...bytes.map((b) => b.byteLength)), true);
  let o = 4;
  bytes.forEach((b, i) => {
    dv.setFloat32(o, i < 259 ? 0 : -i, true);
    dv.setInt32(o + 4, b.byteLength, true);
    out.set(b, o + 8);
    o += 8 + b.byteLength;
  });
  return out;
}

function pseudoText(chars: number): string {
  const words = "the a cat sat on mat and she was happy to see her friend in park they played with ball all day long it is red big little bird flew over tree".split(" ");
  const r = mulberry32(9);
  let s = "";
  while (s.length < chars) s += words[Math.floor(r() * words.length)] + (r() < 0.1 ? ". " : " ");
  return s;
}

async function memorySection(threads: number | undefined): Promise<PruneRecord[]> {
  const dir = await mkdtemp(join(tmpdir(), "dass-bench-prune-"));
  try {
    const model = join(dir, "tinyllama-shaped"), out = join(dir, "pruned"), tok = join(dir, "tokenizer.bin"), calib = join(dir, "calib.txt");
    let t = now();
    log(`memory: writing a synthetic TinyLlama-1.1B-shaped model (f16 safetensors, ${(expectedTensors(TINYLLAMA).reduce((s, x) => s + numel(x.shape), 0) / 1e9).toFixed(2)} B parameters) to ${model}...`);
    let seed = 100;
    await writeSafetensors(model, TINYLLAMA, async (name) => {
      const spec = expectedTensors(TINYLLAMA).find((x) => x.name === name)!;
      const a = new Float32Array(numel(spec.shape));
      if (spec.shape.length === 1) a.fill(1);
      else fillGaussian(a, seed++, 0.02);
      return a;
    }, { dtype: "f16" });
    await writeFile(tok, syntheticTokenizerBin(TINYLLAMA.vocabSize));
    await writeFile(calib, pseudoText(20000));
    log(`  written in ${((now() - t) / 1000).toFixed(0)} s; running dass prune (DaSS 2:4, 4 x 128 windows) in a child process...`);
    t = now();
    const main = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
    const args = [main, "prune", "--model", model, "--tokenizer", tok, "--method", "dass", "--pattern", "2:4", "--calib", calib,
      "--nsamples", "4", "--seqlen", "128", "--out", out, "--json", ...(threads ? ["--threads", String(threads)] : [])];
    const report = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, CI: "1" } });
      let stdout = "";
      child.stdout.on("data", (d: Buffer) => { stdout += d.toString(); });
      child.on("error", reject);
      child.on("exit", (code) => {
        if (code !== 0) return reject(new Error(`dass prune exited with ${code}`));
        try { resolve(JSON.parse(stdout) as Record<string, unknown>); } catch (e) { reject(e); }
      });
    });
    const wall = (now() - t) / 1000;
    const mem = report.memory as { wasmPeakBytes: number; wasmMemoryBytes: number; rssPeakBytes: number; blockBytes: number; spillBytes: number };
    const totals = report.totals as { pruned: { sparsity: number } };
    const limit = GiB + mem.blockBytes;
    const ok = mem.wasmPeakBytes <= limit;
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    console.log(`\n## Memory: dass prune on a synthetic TinyLlama-1.1B-shaped model (22 blocks, d 2048, d_ff 5632, 32/4 heads, f16 safetensors)\n`);
    console.log(markdown(["figure", "value"], [
      ["peak Wasm memory in use (rt.heap.peakBytes)", mib(mem.wasmPeakBytes)],
      ["Wasm memory size (WebAssembly.Memory)", mib(mem.wasmMemoryBytes)],
      ["limit: 1 GiB + one block (f32)", `${mib(limit)} (${ok ? "met" : "MISSED"})`],
      ["peak process RSS (the dass prune child)", mib(mem.rssPeakBytes)],
      ["pruned matrices waiting for the write, on disk (spill file)", mib(mem.spillBytes)],
      ["pruning s (excluding forward passes)", (report.pruneSeconds as number).toFixed(2)],
      ["wall time of dass prune (load, 3 passes x 22 blocks, write)", `${wall.toFixed(0)} s`],
    ], (i) => i === 1));
    console.log("\nRSS holds the Wasm memory, the f32 token embeddings and the copies of one block in flight. The pruned matrices of\n" +
      "streamed blocks wait for the write in a temporary file beside --out (resident blocks keep theirs in Wasm memory).");
    return [{
      model: "synthetic-1.1b", method: "dass", pattern: "2:4", targets: "mlp", pplTinyStories: null, pplWikitext: null,
      sparsity: totals.pruned.sparsity, pruneSeconds: report.pruneSeconds as number, ...mem, limitBytes: limit, wallSeconds: wall,
    }];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------- main

const USAGE =
  "Usage: npm run bench:prune -- [--json FILE] [--quick] [--threads N] [--data DIR] [--no-table] [--no-speed] [--no-memory]\n" +
  "  --quick    table: 16 x 512 calibration windows, the first 32 windows of each text; speed: fewer samples, no\n" +
  "             SparseGPT; no memory section. A smoke run, not for the README\n" +
  "  --threads  threads of the table and memory runs (the speed section is single-threaded)\n" +
  "  --data     the shared data folder (default ../shared/data)";

async function main(): Promise<void> {
  const values = benchFlags("bench:prune", USAGE, {
    json: { type: "string" },
    quick: { type: "boolean" },
    threads: { type: "string" },
    data: { type: "string" },
    "no-table": { type: "boolean" },
    "no-speed": { type: "boolean" },
    "no-memory": { type: "boolean" },
  });
  const threads = values.threads !== undefined ? positiveInt(values.threads, "--threads") : undefined;
  const dataDir = values.data ?? fileURLToPath(new URL("../../../shared/data/", import.meta.url));
  const quick = values.quick ?? false;
  const t0 = now();
  const records: PruneRecord[] = [];
  if (!values["no-table"]) records.push(...(await tableSection(dataDir, quick, threads)));
  if (!values["no-speed"]) records.push(...(await speedSection(quick)));
  if (!values["no-memory"] && !quick) records.push(...(await memorySection(threads)));
  else console.log("\n(memory section not run: --quick or --no-memory)");
  if (values.json) {
    await writeFile(values.json, JSON.stringify(records, null, 2) + "\n");
    log(`wrote ${records.length} records to ${values.json}`);
  }
  log(`bench:prune done in ${((now() - t0) / 60000).toFixed(1)} min`);
}

await runBench(main);
