// bench/model: whole-model prefill and decode tokens/s, weight bytes and memory for dense vs
// compressed N:M variants, at 1 and 2 threads, on a synthetic TinyLlama-1.1B-shaped model and on
// stories260K.
// Flags: `--help`.
//
// Variants (each stored compressed, then loaded: sparse matrices run on the sparse kernels):
//   dense          the model as is
//   dass-2:4-mlp   gate/up 2:4 along the output axis (DaSS's layout), down 2:4 along the input axis
//   wanda-2:4-all  every block linear 2:4 along the input axis (Wanda's layout)
// The kept weights are chosen by magnitude inside each group (a fast stand-in for DaSS/Wanda
// scores: the speed and size of a pattern do not depend on which weights it keeps).
//
// Protocol: one child process per model, variant and thread count (so peak RSS and Wasm memory are
// per case). Each loads its model with a 1 GiB Wasm budget (the same rule for every variant: blocks
// are resident in order while they fit, the rest stream through one block slot) and prefills in
// 64-token chunks. The three variants of a thread count are loaded one after the other and then
// measured in turn, prompt by prompt (dense, dass, wanda, dense, ...), so that a change in the
// machine's load hits every variant alike: on a shared machine, variants measured minutes apart
// are not comparable. (The three stay loaded together: about 11 GB of RSS on the 1.1B shape.)
//   prefill tok/s = S x 512 tokens / time of S fresh 512-token prompts (last-token logits),
//   decode tok/s  = greedy decode steps after each prompt (64 on stories260K, 8 on 1.1B) / their time.
// S = 4 on stories260K (repeated for about 3 s); on the 1.1B shape S = 2 by default to keep the
// whole run near 10 minutes on an idle 2-core machine (`--seqs 4` for 4 x 512 tokens).
// On the 1.1B shape the f32 weights (4.4 GB) exceed the budget, so decode includes copying the
// streamed blocks into Wasm memory for every token: records carry the residency (resident blocks,
// bytes streamed per token) that explains the figure, and the machine's load average.
// On the 1.1B shape every kernel call of the measured prefills is timed (wall time of `rt.run`, a
// timer read per call of several milliseconds), so records also say where prefill time goes.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRuntime, type Runtime } from "../src/runtime/runtime.js";
import { openModel, readAllTensors, writeGGUF, writeSafetensors, type RawTensor } from "../src/formats/index.js";
import { expectedTensors, Transformer, type LinearName, type ModelConfig } from "../src/model/index.js";
import { nmStorageInfo, type NMPatternSpec } from "../src/sparse/storage.js";
import { benchFlags, BenchUsageError, positiveInt, positiveInts, runBench } from "./util/cli.js";
import { childNodeArgs } from "./util/node-args.js";
import { mulberry32 } from "./util/rng.js";

/** One measured case; `--json FILE` writes an array of these. */
export interface ModelRecord {
  model: "stories260K" | "synthetic-1.1b";
  variant: "dense" | "dass-2:4-mlp" | "wanda-2:4-all";
  threads: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  /** Wasm bytes of the weights as the model holds them (f32 dense tensors, sparse runtime layouts). */
  weightBytes: number;
  /** Highest Wasm memory size during the run (memory never shrinks). */
  peakWasmBytes: number;
  /** Peak resident set size of the process. */
  peakRssBytes: number;
  // ---- extras
  /** Wasm bytes of the MLP matrices (gate, up, down of every block) as held by the model. */
  mlpWeightBytes: number;
  /** The MLP matrices in the canonical compressed format with f32 values (dense f32 when not pruned). */
  mlpCanonicalF32Bytes: number;
  /** Bytes of the model file(s) on disk. */
  fileBytes: number;
  residentBlocks: number;
  blocks: number;
  classifierResident: boolean;
  /** Bytes copied into the block slot by one pass over the model (every decode step). */
  streamedBytesPerToken: number;
  /** Wasm budget and slot: peak Wasm must stay under budget + slot (+ runtime scratch). */
  budgetBytes: number;
  slotBytes: number;
  withinBudget: boolean;
  prefillTokens: number;
  decodeTokens: number;
  loadSeconds: number;
  relaxedSimd: boolean;
  /** Mean 1-minute load average of the machine during the case's units (2 cores here: above 2 means contention). */
  loadAverage: number;
  /** synthetic-1.1b: milliseconds per kernel (by Wasm export name) over the measured prefills. */
  prefillKernelMs?: Record<string, number>;
}

type Variant = ModelRecord["variant"];
type ModelName = ModelRecord["model"];
const VARIANTS: Variant[] = ["dense", "dass-2:4-mlp", "wanda-2:4-all"];
const BUDGET = 1 << 30;
const CHUNK = 64;

/** The N:M layout of a variant for a canonical tensor, or undefined (dense). */
function patternOf(variant: Variant, name: string): NMPatternSpec | undefined {
  const m = /^layers\.\d+\.(attn\.[qkvo]|mlp\.(gate|up|down))$/.exec(name);
  if (!m || variant === "dense") return undefined;
  if (variant === "wanda-2:4-all") return { n: 2, m: 4, axis: "input" };
  if (m[2] === "gate" || m[2] === "up") return { n: 2, m: 4, axis: "output" };
  if (m[2] === "down") return { n: 2, m: 4, axis: "input" };
  return undefined;
}

// ---------------------------------------------------------------- magnitude N:M selection

/** Zeroes the 2 smallest |w| of every group of 4 along `axis` (ties: lower index first). `mag(i)` is |w_i|'s order key. */
function select24(rows: number, cols: number, axis: "input" | "output", mag: (i: number) => number, zero: (i: number) => void): void {
  const idx = [0, 0, 0, 0], key = [0, 0, 0, 0];
  const group = (a: number, stride: number) => {
    for (let k = 0; k < 4; k++) { idx[k] = a + k * stride; key[k] = mag(idx[k]); }
    // Drop the two largest (later index wins ties), zero the other two.
    let hi = 0;
    for (let k = 1; k < 4; k++) if (key[k] >= key[hi]) hi = k;
    let hi2 = hi === 0 ? 1 : 0;
    for (let k = 0; k < 4; k++) if (k !== hi && key[k] >= key[hi2]) hi2 = k;
    for (let k = 0; k < 4; k++) if (k !== hi && k !== hi2) zero(idx[k]);
  };
  if (axis === "input") {
    if (cols % 4) throw new Error("bench shapes are multiples of 4");
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c += 4) group(r * cols + c, 1);
  } else {
    if (rows % 4) throw new Error("bench shapes are multiples of 4");
    for (let r = 0; r < rows; r += 4) for (let c = 0; c < cols; c++) group(r * cols + c, cols);
  }
}

// ---------------------------------------------------------------- models

const SYNTH: ModelConfig = {
  arch: "llama", dim: 2048, hiddenDim: 5632, nLayers: 22, nHeads: 32, nKvHeads: 4, headDim: 64, vocabSize: 32000, seqLen: 2048,
  normEps: 1e-5, ropeTheta: 10000, ropeLayout: "half", tiedEmbeddings: false, qkvBias: false, act: "silu", embedScale: 1,
  normPlusOne: false, bosId: 1, eosId: 2,
};

/** Deterministic f16 weights per tensor: magnitudes 2^-7 .. 2^-3, random signs (norms: about 1). */
function synthF16(name: string, n: number): Uint16Array {
  let s = 0x9e3779b9;
  for (let i = 0; i < name.length; i++) s = Math.imul(s ^ name.charCodeAt(i), 0x01000193) >>> 0;
  const out = new Uint16Array(n);
  const norm = /(^norm$|_norm$)/.test(name);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    const r = s >>> 0;
    // f16 bits: sign | exponent | mantissa; exponent 8..11 is 2^-7 .. 2^-4 (x up to 2 with the mantissa).
    out[i] = norm ? 0x3c00 | (r & 0xff) : (r & 0x8000) | ((8 + ((r >>> 16) & 3)) << 10) | ((r >>> 20) & 0x3ff);
  }
  return out;
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

async function writeSynthetic(dir: string, variant: Variant, reuse: boolean): Promise<string> {
  const out = join(dir, `synthetic-1.1b-${variant}`);
  if (reuse && (await exists(join(out, "config.json")))) return out;
  const compress = new Map<string, NMPatternSpec>();
  for (const t of expectedTensors(SYNTH)) {
    const p = patternOf(variant, t.name);
    if (p) compress.set(t.name, p);
  }
  await writeSafetensors(out, SYNTH, async (name): Promise<RawTensor> => {
    const spec = expectedTensors(SYNTH).find((t) => t.name === name)!;
    const h = synthF16(name, spec.shape.reduce((a, b) => a * b, 1));
    const p = compress.get(name);
    if (p) select24(spec.shape[0], spec.shape[1], p.axis, (i) => h[i] & 0x7fff, (i) => { h[i] = 0; });
    return { dtype: "f16", bytes: new Uint8Array(h.buffer) };
  }, { dtype: "f16", compress });
  return out;
}

async function writeStories(dir: string, src: string, variant: Variant, reuse: boolean): Promise<string> {
  const out = join(dir, `stories260K-${variant}.gguf`);
  if (reuse && (await exists(out))) return out;
  const r = await openModel(src);
  const tensors = await readAllTensors(r);
  const config = r.config;
  await r.close();
  const compress = new Map<string, NMPatternSpec>();
  for (const t of expectedTensors(config)) {
    const p = patternOf(variant, t.name);
    if (!p) continue;
    const W = tensors.get(t.name)!;
    select24(t.shape[0], t.shape[1], p.axis, (i) => Math.abs(W[i]), (i) => { W[i] = 0; });
    compress.set(t.name, p);
  }
  await writeGGUF(out, config, async (name) => tensors.get(name)!, { compress });
  return out;
}

// ---------------------------------------------------------------- one case (child process)

interface CaseArgs {
  model: ModelName;
  variant: Variant;
  path: string;
  threads: number;
  quick: boolean;
  /** Prompts on the 1.1B shape. */
  seqs: number;
}

/** What one measured unit (a prompt, then greedy decode steps) took. */
interface UnitResult {
  prefillMs: number;
  decodeMs: number;
  prefillTokens: number;
  decodeTokens: number;
  /** Per kernel, when the case times kernels. */
  prefillKernelMs?: Record<string, number>;
}

/** The protocol of a model: prompts, their length, decode steps after each. */
function protocol(a: CaseArgs): { nSeq: number; seqLen: number; decodeSteps: number } {
  const big = a.model === "synthetic-1.1b";
  return { nSeq: big ? (a.quick ? 1 : a.seqs) : 4, seqLen: a.quick && big ? 128 : 512, decodeSteps: big ? (a.quick ? 4 : 8) : 64 };
}

/**
 * A loaded case in a child process, driven by the parent over stdin/stdout (one JSON line per
 * reply): `warm`, `unit I` (prompt I mod nSeq, then its decode steps), `done` (the record).
 * The parent runs the variants' units in turn, so a change in machine load (other jobs on a
 * shared machine) hits every variant alike instead of whichever ran at the time.
 */
async function serveCase(a: CaseArgs): Promise<void> {
  const reply = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");
  const rt = await createRuntime({ threads: a.threads });
  if (rt.threads !== a.threads) throw new Error(`asked for ${a.threads} threads, got ${rt.threads}: ${rt.downgradeReason}`);
  const kernelMs = a.model === "synthetic-1.1b" ? timeKernels(rt) : undefined;
  const { nSeq, seqLen, decodeSteps } = protocol(a);
  const reader = await openModel(a.path);
  const t0 = performance.now();
  const m = await Transformer.load(reader, rt, { budgetBytes: BUDGET, contextLength: seqLen + decodeSteps, maxBatchTokens: CHUNK });
  const loadSeconds = (performance.now() - t0) / 1000;
  await reader.close();
  const V = m.config.vocabSize;
  const rng = mulberry32(1234);
  const seqs = Array.from({ length: nSeq }, () => Array.from({ length: seqLen }, (_, i) => (i === 0 ? 1 : 3 + Math.floor(rng() * (V - 3)))));
  const argmax = (l: Float32Array) => { let b = 0; for (let i = 1; i < l.length; i++) if (l[i] > l[b]) b = i; return b; };
  const cache = m.newCache();
  const loadAvg: number[] = [loadavg()[0]];
  reply({ ready: true });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const [cmd, arg] = line.trim().split(" ");
    if (cmd === "warm") {
      // V8 tiers Wasm up from its baseline compiler: a chunk and a decode step, for a second on small models.
      const tw = performance.now();
      do {
        const l = await m.forward(seqs[0].slice(0, CHUNK), 0, cache);
        await m.decode(argmax(l), CHUNK, cache);
      } while (a.model !== "synthetic-1.1b" && performance.now() - tw < 1000);
      reply({ ok: true });
    } else if (cmd === "unit") {
      const seq = seqs[Number(arg) % nSeq];
      kernelMs?.start();
      let t = performance.now();
      let logits = await m.forward(seq, 0, cache);
      const prefillMs = performance.now() - t;
      const prefillKernelMs = kernelMs?.stop();
      t = performance.now();
      for (let s = 0; s < decodeSteps; s++) logits = await m.decode(argmax(logits), seq.length + s, cache);
      loadAvg.push(loadavg()[0]);
      reply({ prefillMs, decodeMs: performance.now() - t, prefillTokens: seq.length, decodeTokens: decodeSteps, prefillKernelMs } satisfies UnitResult);
    } else if (cmd === "done") {
      cache.free();
      let mlpWeightBytes = 0, mlpCanonicalF32Bytes = 0;
      for (let l = 0; l < m.config.nLayers; l++) {
        for (const name of ["gate", "up", "down"] as LinearName[]) {
          const [dOut, dIn] = m.linearShape(name);
          const custom = m.getCustomLinear(l, name) as { bytes?: number; n?: number; m?: number; axis?: "input" | "output" } | undefined;
          if (custom && typeof custom.bytes === "number") {
            mlpWeightBytes += custom.bytes;
            mlpCanonicalF32Bytes += nmStorageInfo(dOut, dIn, { n: custom.n!, m: custom.m!, axis: custom.axis! }, "f32").storedBytes;
          } else {
            mlpWeightBytes += 4 * dOut * dIn;
            mlpCanonicalF32Bytes += 4 * dOut * dIn;
          }
        }
      }
      const res = m.residency;
      const peakWasmBytes = rt.heap.memoryBytes;
      const rec: Omit<ModelRecord, "prefillTokPerS" | "decodeTokPerS" | "prefillTokens" | "decodeTokens"> = {
        model: a.model, variant: a.variant, threads: a.threads,
        weightBytes: res.storedWeightBytes,
        peakWasmBytes,
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
        mlpWeightBytes, mlpCanonicalF32Bytes,
        fileBytes: await pathBytes(a.path),
        residentBlocks: res.residentBlocks.length, blocks: m.config.nLayers, classifierResident: res.classifierResident,
        streamedBytesPerToken: res.streamedBytes,
        budgetBytes: BUDGET, slotBytes: res.slotBytes,
        // Runtime scratch (attention scores, kernel tables) sits outside the plan: allow 16 MiB.
        withinBudget: peakWasmBytes <= BUDGET + res.slotBytes + (16 << 20),
        loadSeconds,
        relaxedSimd: rt.relaxedSimd,
        loadAverage: loadAvg.reduce((x, y) => x + y, 0) / loadAvg.length,
      };
      m.close();
      rt.close();
      reply(rec);
      process.exit(0);
    }
  }
}

/** Times `rt.run` per kernel name between start() and stop(), which returns the sums (ms). */
function timeKernels(rt: Runtime): { start(): void; stop(): Record<string, number> } {
  let sums: Record<string, number> | null = null;
  const run = rt.run.bind(rt);
  rt.run = async (name, args, units, grain, work) => {
    if (!sums) return run(name, args, units, grain, work);
    const acc = sums;
    const t = performance.now();
    try {
      return await run(name, args, units, grain, work);
    } finally {
      acc[name] = (acc[name] ?? 0) + performance.now() - t;
    }
  };
  return {
    start: () => { sums = {}; },
    stop: () => { const s = sums ?? {}; sums = null; return s; },
  };
}

async function pathBytes(p: string): Promise<number> {
  const st = await stat(p);
  if (!st.isDirectory()) return st.size;
  let s = 0;
  for (const f of await readdir(p)) s += (await stat(join(p, f))).size;
  return s;
}

// ---------------------------------------------------------------- report

const fmtRate = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const mib = (b: number) => (b / 2 ** 20).toFixed(0);

function table(recs: ModelRecord[]): string {
  const lines = [
    "| model | threads | variant | prefill tok/s | x dense | decode tok/s | x dense | weight MiB | x dense | MLP x dense (Wasm / canonical f32) | resident blocks | streamed MiB/token | peak Wasm MiB | peak RSS MiB | load avg |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of recs) {
    const d = recs.find((x) => x.model === r.model && x.threads === r.threads && x.variant === "dense");
    const ratio = (a: number, b: number | undefined) => (b ? (a / b).toFixed(2) : "-");
    lines.push(
      `| ${r.model} | ${r.threads} | ${r.variant} | ${fmtRate(r.prefillTokPerS)} | ${ratio(r.prefillTokPerS, d?.prefillTokPerS)} | ` +
        `${fmtRate(r.decodeTokPerS)} | ${ratio(r.decodeTokPerS, d?.decodeTokPerS)} | ${mib(r.weightBytes)} | ${ratio(r.weightBytes, d?.weightBytes)} | ` +
        `${ratio(r.mlpWeightBytes, d?.mlpWeightBytes)} / ${ratio(r.mlpCanonicalF32Bytes, d?.mlpCanonicalF32Bytes)} | ${r.residentBlocks}/${r.blocks}${r.classifierResident ? "+cls" : ""} | ` +
        `${mib(r.streamedBytesPerToken)} | ${mib(r.peakWasmBytes)}${r.withinBudget ? "" : " (over!)"} | ${mib(r.peakRssBytes)} | ${r.loadAverage.toFixed(1)} |`,
    );
  }
  return lines.join("\n");
}

/** Where prefill time goes (records that timed kernels): seconds per 512 prompt tokens, by kernel. */
function kernelTable(recs: ModelRecord[]): string {
  const timed = recs.filter((r) => r.prefillKernelMs);
  if (!timed.length) return "";
  const total = (r: ModelRecord) => Object.values(r.prefillKernelMs!).reduce((a, b) => a + b, 0);
  const names = [...new Set(timed.flatMap((r) => Object.keys(r.prefillKernelMs!)))];
  // Kernels that take at least 1% of some case's prefill get a column; the rest are summed.
  const cols = names.filter((n) => timed.some((r) => (r.prefillKernelMs![n] ?? 0) >= 0.01 * total(r)))
    .sort((a, b) => Math.max(...timed.map((r) => r.prefillKernelMs![b] ?? 0)) - Math.max(...timed.map((r) => r.prefillKernelMs![a] ?? 0)));
  const per512 = (r: ModelRecord, ms: number) => ((ms * 512) / r.prefillTokens / 1000).toFixed(2);
  const lines = [
    "Prefill time by kernel (seconds per 512 prompt tokens; wall time of each kernel call):",
    `| model | threads | variant | ${cols.join(" | ")} | other kernels | outside kernels |`,
    `|---|---|---|${cols.map(() => "---|").join("")}---|---|`,
  ];
  for (const r of timed) {
    const k = r.prefillKernelMs!;
    const other = total(r) - cols.reduce((a, n) => a + (k[n] ?? 0), 0);
    const prefillMs = (r.prefillTokens / r.prefillTokPerS) * 1000;
    lines.push(`| ${r.model} | ${r.threads} | ${r.variant} | ${cols.map((n) => per512(r, k[n] ?? 0)).join(" | ")} | ${per512(r, other)} | ${per512(r, prefillMs - total(r))} |`);
  }
  return lines.join("\n");
}

function targets(recs: ModelRecord[]): string {
  const out: string[] = [];
  const get = (v: Variant, t: number) => recs.find((r) => r.model === "synthetic-1.1b" && r.variant === v && r.threads === t);
  for (const t of [1, 2]) {
    const d = get("dense", t), dass = get("dass-2:4-mlp", t), wanda = get("wanda-2:4-all", t);
    if (!d) continue;
    const check = (what: string, got: number | undefined, want: number, le = false) => {
      if (got === undefined) return;
      out.push(`- ${t} thread${t > 1 ? "s" : ""}: ${what} ${got.toFixed(2)} (target ${le ? "<=" : ">="} ${want}) ${le ? (got <= want ? "met" : "MISSED") : got >= want ? "met" : "MISSED"}`);
    };
    if (dass) {
      check("dass-2:4-mlp MLP bytes x dense, canonical f32 values", dass.mlpCanonicalF32Bytes / d.mlpCanonicalF32Bytes, 0.54, true);
      check("dass-2:4-mlp MLP bytes x dense, Wasm runtime layouts", dass.mlpWeightBytes / d.mlpWeightBytes, 0.54, true);
      check("dass-2:4-mlp decode x dense", dass.decodeTokPerS / d.decodeTokPerS, 1.35);
      check("dass-2:4-mlp prefill (T = 64 chunks) x dense", dass.prefillTokPerS / d.prefillTokPerS, 1.25);
    }
    if (wanda) check("wanda-2:4-all decode x dense", wanda.decodeTokPerS / d.decodeTokPerS, 1.6);
  }
  return out.length ? "Targets (issue 5, synthetic-1.1b):\n" + out.join("\n") : "";
}

// ---------------------------------------------------------------- main

/** A case's child process: send a command, await its one-line JSON reply. */
class CaseProcess {
  private readonly p: ChildProcessByStdio<Writable, Readable, null>;
  private readonly replies: string[] = [];
  private waiting: ((line: string) => void) | null = null;
  private exited: Error | null = null;

  constructor(args: CaseArgs) {
    this.p = spawn(process.execPath, [...childNodeArgs(), fileURLToPath(import.meta.url), "--child", JSON.stringify(args)], { stdio: ["pipe", "pipe", "inherit"] });
    createInterface({ input: this.p.stdout }).on("line", (line) => {
      if (this.waiting) { const w = this.waiting; this.waiting = null; w(line); } else this.replies.push(line);
    });
    this.p.on("exit", (code) => {
      this.exited = new Error(`bench child (${args.model} ${args.variant}, ${args.threads} threads) exited with ${code}`);
      if (this.waiting) { const w = this.waiting; this.waiting = null; w(""); }
    });
  }

  /** The next reply (after sending `cmd`, if given). */
  async ask<T>(cmd?: string): Promise<T> {
    if (cmd !== undefined) this.p.stdin.write(cmd + "\n");
    const line = this.replies.shift() ?? (this.exited ? "" : await new Promise<string>((r) => { this.waiting = r; }));
    if (!line.startsWith("{")) throw this.exited ?? new Error(`bench child replied ${JSON.stringify(line)}`);
    return JSON.parse(line) as T;
  }

  kill(): void {
    if (!this.exited) this.p.kill();
  }
}

const USAGE =
  "Usage: npm run bench:model -- [--json FILE] [--quick] [--seqs N] [--threads 1,2] [--models stories260K,synthetic-1.1b] [--keep DIR]\n" +
  "  --seqs N  synthetic model: N prompts of 512 tokens per case (default 2; 4 is the full 4 x 512 protocol)\n" +
  "  --quick   synthetic model: 1 x 128 prompt tokens and 4 decode steps per case, 2 threads only (unless --threads)\n" +
  "  --keep    write the model files into DIR (reusing those already there) and leave them (default: a temp dir, deleted after)";

async function main(): Promise<void> {
  const values = benchFlags("bench:model", USAGE, {
    json: { type: "string" },
    quick: { type: "boolean" },
    seqs: { type: "string" },
    threads: { type: "string" },
    models: { type: "string" },
    keep: { type: "string" },
    child: { type: "string" },
  });
  if (values.child) {
    await serveCase(JSON.parse(values.child) as CaseArgs);
    return;
  }
  const quick = !!values.quick;
  const threads = positiveInts(values.threads ?? (quick ? "2" : "1,2"), "--threads");
  const seqs = positiveInt(values.seqs ?? "2", "--seqs");
  const models = (values.models ?? "stories260K,synthetic-1.1b").split(",") as ModelName[];
  for (const m of models) if (m !== "stories260K" && m !== "synthetic-1.1b") throw new BenchUsageError(`--models: unknown model "${m}"; choose from stories260K, synthetic-1.1b`);
  const dir = values.keep ?? (await mkdtemp(join(tmpdir(), "dass-bench-model-")));
  const t0 = performance.now();
  const recs: ModelRecord[] = [];
  const stamp = () => `[${((performance.now() - t0) / 1000).toFixed(0)} s]`;
  try {
    for (const model of models) {
      let paths: Record<Variant, string>;
      if (model === "stories260K") {
        const src = fileURLToPath(new URL("../../../shared/data/models/stories260K.bin", import.meta.url));
        if (!(await exists(src))) {
          console.error(`[skip] ${src} not found: no stories260K records`);
          continue;
        }
        paths = {} as Record<Variant, string>;
        for (const v of VARIANTS) paths[v] = await writeStories(dir, src, v, !!values.keep);
      } else {
        paths = {} as Record<Variant, string>;
        for (const v of VARIANTS) {
          console.error(`${stamp()} writing ${model} ${v} (f16 safetensors${v === "dense" ? "" : ", 2:4 matrices compressed"})`);
          paths[v] = await writeSynthetic(dir, v, !!values.keep);
        }
      }
      for (const t of threads) {
        // Load the three variants one after the other, then run their units in turn.
        const procs: CaseProcess[] = [];
        try {
          for (const v of VARIANTS) {
            console.error(`${stamp()} ${model} ${v}, ${t} thread${t > 1 ? "s" : ""}: loading`);
            const args: CaseArgs = { model, variant: v, path: paths[v], threads: t, quick, seqs };
            const p = new CaseProcess(args);
            procs.push(p);
            await p.ask();
          }
          const { nSeq } = protocol({ model, variant: "dense", path: "", threads: t, quick, seqs });
          for (const p of procs) await p.ask("warm");
          const sums = procs.map(() => ({ prefillMs: 0, decodeMs: 0, prefillTokens: 0, decodeTokens: 0, kernelMs: undefined as Record<string, number> | undefined }));
          const t1 = performance.now();
          // Small models: rounds until the measured time passes a second per variant (at least one round).
          for (let round = 0; round === 0 || (model === "stories260K" && performance.now() - t1 < 3000); round++) {
            for (let i = 0; i < nSeq; i++) {
              for (const [k, p] of procs.entries()) {
                const u = await p.ask<UnitResult>(`unit ${i}`);
                const s = sums[k];
                s.prefillMs += u.prefillMs; s.decodeMs += u.decodeMs; s.prefillTokens += u.prefillTokens; s.decodeTokens += u.decodeTokens;
                if (u.prefillKernelMs) {
                  s.kernelMs ??= {};
                  for (const [name, ms] of Object.entries(u.prefillKernelMs)) s.kernelMs[name] = (s.kernelMs[name] ?? 0) + ms;
                }
              }
            }
          }
          for (const [k, p] of procs.entries()) {
            const base = await p.ask<Omit<ModelRecord, "prefillTokPerS" | "decodeTokPerS" | "prefillTokens" | "decodeTokens">>("done");
            const s = sums[k];
            const rec: ModelRecord = {
              ...base,
              prefillTokPerS: s.prefillTokens / (s.prefillMs / 1000),
              decodeTokPerS: s.decodeTokens / (s.decodeMs / 1000),
              prefillTokens: s.prefillTokens,
              decodeTokens: s.decodeTokens,
              ...(s.kernelMs ? { prefillKernelMs: s.kernelMs } : {}),
            };
            console.error(
              `    ${rec.variant}: prefill ${fmtRate(rec.prefillTokPerS)} tok/s, decode ${fmtRate(rec.decodeTokPerS)} tok/s, weights ${mib(rec.weightBytes)} MiB, ` +
                `${rec.residentBlocks}/${rec.blocks} blocks resident, peak Wasm ${mib(rec.peakWasmBytes)} MiB, RSS ${mib(rec.peakRssBytes)} MiB, ` +
                `load ${rec.loadSeconds.toFixed(1)} s, load average ${rec.loadAverage.toFixed(1)}`,
            );
            recs.push(rec);
          }
        } finally {
          for (const p of procs) p.kill();
        }
      }
      if (!values.keep) for (const v of VARIANTS) await rm(paths[v], { recursive: true, force: true });
    }
  } finally {
    if (!values.keep) await rm(dir, { recursive: true, force: true });
  }
  console.log(table(recs));
  const prof = kernelTable(recs);
  if (prof) console.log("\n" + prof);
  const tg = targets(recs);
  if (tg) console.log("\n" + tg);
  console.log(`\ntotal ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  if (values.json) {
    await writeFile(values.json, JSON.stringify(recs, null, 2) + "\n");
    console.log(`wrote ${recs.length} records to ${values.json}`);
  }
}

await runBench(main);
