// bench/kernels: dense vs N:M sparse GEMV/GEMM (both axes) side by side with two ceilings (a plain
// read of the weights, a register-only multiply-add loop), a plain JavaScript loop and
// onnxruntime-web's MatMul, at 1 and 2 threads; then the ggml dequantisers (Wasm vs the JavaScript
// reference). Flags: `--help`.
// Each thread count runs in its own child process (onnxruntime-web fixes its thread count at
// first use); within a process everything compared on one shape and T is measured in turn, round
// after round (bench/util/measure.ts).
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createRuntime, type Runtime } from "../src/index.js";
import { fmaPeak, gemm, gemv, readSum } from "../src/kernels/dense.js";
import { SparseMatrix } from "../src/sparse/index.js";
import { dequantizeGgml, WASM_DEQUANT_TYPES } from "../src/kernels/dequant.js";
import { dequantize } from "../src/formats/ggml-quants.js";
import { createOrtMatMul } from "./ort-peer.js";
import { benchFlags, BenchUsageError, positiveInt, positiveInts, runBench } from "./util/cli.js";
import { childNodeArgs } from "./util/node-args.js";
import { measureInTurn } from "./util/measure.js";
import { mulberry32 } from "./util/rng.js";

/** One measured figure; the JSON output is an array of these. */
export interface KernelRecord {
  kernel: "gemv" | "gemm" | "read" | "dequant";
  layout: "dense" | "nm-input" | "nm-output" | "ort" | "js" | "bandwidth";
  /** The N:M pattern, "dense", or (dequant) the ggml type. */
  pattern: string;
  dOut: number;
  dIn: number;
  T: number;
  threads: number;
  medianMs: number;
  /** Weight bytes streamed per call / time (dequant: stored bytes read). */
  gbps: number;
  /** Dense-equivalent GFLOP/s (2·dOut·dIn·T per call). */
  gflops: number;
  /** GFLOP/s counting only the multiply-adds on kept weights. */
  gflopsEffective: number;
  weightBytes: number;
  /** Whether the relaxed-SIMD build (fused multiply-add) ran. */
  relaxedSimd: boolean;
  /**
   * The arithmetic ceiling: GFLOP/s of a register-only multiply-add loop at this thread count,
   * measured in turn with this record's kernel (GEMV and GEMM records).
   */
  peakGflops?: number;
}

const FULL_SHAPES: Array<[number, number]> = [[4096, 11008], [11008, 4096], [768, 2048]];
const QUICK_SHAPES: Array<[number, number]> = [[768, 2048], [2048, 768]];
const PATTERNS: Array<[number, number]> = [[2, 4], [4, 8]];

function pruneRandom(W: Float32Array, rows: number, cols: number, n: number, m: number, axis: "input" | "output", seed: number): Float32Array {
  const out = W.slice();
  const rng = mulberry32(seed);
  const idx = new Int32Array(m);
  if (axis === "input") {
    for (let r = 0; r < rows; r++) for (let c0 = 0; c0 < cols; c0 += m) {
      const len = Math.min(m, cols - c0), k = Math.floor((n * len) / m);
      choose(idx, len, k, rng);
      for (let i = 0; i < k; i++) out[r * cols + c0 + idx[i]] = 0;
    }
  } else {
    for (let r0 = 0; r0 < rows; r0 += m) for (let c = 0; c < cols; c++) {
      const len = Math.min(m, rows - r0), k = Math.floor((n * len) / m);
      choose(idx, len, k, rng);
      for (let i = 0; i < k; i++) out[(r0 + idx[i]) * cols + c] = 0;
    }
  }
  return out;
}

/** The first k entries of idx become k distinct positions in [0, len). */
function choose(idx: Int32Array, len: number, k: number, rng: () => number): void {
  for (let i = 0; i < len; i++) idx[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng() * (len - i));
    const t = idx[i]; idx[i] = idx[j]; idx[j] = t;
  }
}

function jsGemv(W: Float32Array, x: Float32Array, y: Float32Array, dOut: number, dIn: number): void {
  for (let r = 0; r < dOut; r++) {
    let s = 0;
    const o = r * dIn;
    for (let j = 0; j < dIn; j++) s += W[o + j] * x[j];
    y[r] = s;
  }
}

/** One function measured, what its record says, and its kept (non-zero) weights. */
interface Case {
  fn: () => Promise<void> | void;
  rec: Omit<KernelRecord, "gbps" | "gflops" | "gflopsEffective" | "threads" | "relaxedSimd" | "medianMs" | "peakGflops">;
  kept: number;
}

/** What one child process measures. */
interface Plan {
  threads: number;
  quick: boolean;
  /** [dOut, dIn] pairs; default: the 7B MLP shapes and 768x2048 (quick: two small ones). */
  shapes?: Array<[number, number]>;
  /** Token counts; default 1, 8, 64 (quick: 1, 8). */
  tokens?: number[];
}

async function runThreads({ threads, quick, shapes: only, tokens }: Plan): Promise<KernelRecord[]> {
  const rt: Runtime = await createRuntime({ threads });
  if (rt.threads !== threads) throw new Error(`asked for ${threads} threads, got ${rt.threads}: ${rt.downgradeReason}`);
  const records: KernelRecord[] = [];
  const shapes = only ?? (quick ? QUICK_SHAPES : FULL_SHAPES);
  const Ts = tokens ?? (quick ? [1, 8] : [1, 8, 64]);
  const timing = quick ? { warmupMs: 200, maxTime: 0.3, minSamples: 3, rounds: 3 } : { warmupMs: 800, maxTime: 1.5, minSamples: 5, rounds: 5 };
  const add = (r: Case["rec"] & { medianMs: number; peakGflops?: number }, kept: number) => {
    const s = r.medianMs / 1000;
    const rec: KernelRecord = {
      ...r, threads, relaxedSimd: rt.relaxedSimd,
      gbps: r.weightBytes / s / 1e9,
      gflops: r.kernel === "read" || r.kernel === "dequant" ? 0 : (2 * r.dOut * r.dIn * r.T) / s / 1e9,
      gflopsEffective: r.kernel === "read" || r.kernel === "dequant" ? 0 : (2 * kept * r.T) / s / 1e9,
    };
    records.push(rec);
    process.stderr.write(`  [${threads}t] ${rec.kernel} ${rec.layout} ${rec.pattern} ${rec.dOut}x${rec.dIn} T=${rec.T}: ${rec.medianMs.toFixed(3)} ms\n`);
  };
  for (const [dOut, dIn] of shapes) {
    const rng = mulberry32(dOut * 31 + dIn);
    const Wjs = new Float32Array(dOut * dIn);
    for (let i = 0; i < Wjs.length; i++) Wjs[i] = rng() * 2 - 1;
    const W = rt.heap.from("f32", Wjs);
    const denseBytes = Wjs.byteLength;
    const sparse: Array<{ layout: "nm-input" | "nm-output"; pattern: string; mat: SparseMatrix; kept: number }> = [];
    for (const [n, m] of PATTERNS) for (const axis of ["input", "output"] as const) {
      const pruned = pruneRandom(Wjs, dOut, dIn, n, m, axis, n * 100 + m);
      const mat = SparseMatrix.fromDense(rt, pruned, dOut, dIn, { n, m, axis });
      let kept = 0;
      for (let i = 0; i < pruned.length; i++) if (pruned[i] !== 0) kept++;
      sparse.push({ layout: axis === "input" ? "nm-input" : "nm-output", pattern: `${n}:${m}`, mat, kept });
    }
    for (const T of Ts) {
      const kernel: KernelRecord["kernel"] = T === 1 ? "gemv" : "gemm";
      const Xjs = new Float32Array(T * dIn);
      for (let i = 0; i < Xjs.length; i++) Xjs[i] = rng() * 2 - 1;
      const X = rt.heap.from("f32", Xjs), Y = rt.heap.alloc("f32", T * dOut);
      const ort = await createOrtMatMul(Wjs, dOut, dIn, T, Xjs, threads);
      // Everything compared on this shape and T, measured in turn.
      const cases: Case[] = [
        { fn: () => (T === 1 ? gemv(rt, W, X, Y, dOut, dIn) : gemm(rt, W, X, Y, dOut, dIn, T)), rec: { kernel, layout: "dense", pattern: "dense", dOut, dIn, T, weightBytes: denseBytes }, kept: dOut * dIn },
        ...sparse.map((s) => ({ fn: () => (T === 1 ? s.mat.gemv(X, Y) : s.mat.gemm(X, Y, T)), rec: { kernel, layout: s.layout, pattern: s.pattern, dOut, dIn, T, weightBytes: s.mat.bytes }, kept: s.kept })),
        { fn: () => ort.run(), rec: { kernel, layout: "ort", pattern: "dense", dOut, dIn, T, weightBytes: denseBytes }, kept: dOut * dIn },
      ];
      const acc = rt.heap.alloc("f32", 64 * rt.threads);
      if (T === Ts[0]) {
        // The ceiling: a plain read of the same bytes.
        cases.push({ fn: () => readSum(rt, W, acc), rec: { kernel: "read", layout: "bandwidth", pattern: "dense", dOut, dIn, T: 1, weightBytes: denseBytes }, kept: 0 });
      }
      if (T === 1 && threads === 1) {
        const yjs = new Float32Array(dOut);
        cases.push({ fn: () => jsGemv(Wjs, Xjs, yjs, dOut, dIn), rec: { kernel, layout: "js", pattern: "dense", dOut, dIn, T, weightBytes: denseBytes }, kept: dOut * dIn });
      }
      // The arithmetic ceiling, in the same rounds (about 20 ms a call).
      const peakUnits = 200 * rt.threads;
      let peakFlops = 0;
      const fns = [...cases.map((c) => c.fn), async () => { peakFlops = await fmaPeak(rt, acc, peakUnits); }];
      const times = await measureInTurn(fns, timing);
      const peakGflops = peakFlops / (times[cases.length].medianMs / 1000) / 1e9;
      cases.forEach((c, i) => add({ ...c.rec, medianMs: times[i].medianMs, ...(c.rec.kernel === "read" ? {} : { peakGflops }) }, c.kept));
      await ort.release();
      acc.free(); X.free(); Y.free();
    }
    for (const s of sparse) s.mat.free();
    W.free();
  }
  // Dequantising 2^22 elements of each ggml type the Wasm kernels handle ("dense": Wasm, "js": the
  // reference in src/formats/ggml-quants.ts); dOut = elements, dIn = 1.
  for (const [type, t] of Object.entries(WASM_DEQUANT_TYPES)) {
    const blocks = (1 << 22) / t.blockElems, n = blocks * t.blockElems;
    const rng = mulberry32(n + t.blockBytes);
    const bytes = new Uint8Array(blocks * t.blockBytes);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rng() * 256);
    const src = rt.heap.from("u8", bytes), dst = rt.heap.alloc("f32", n);
    const rec = { kernel: "dequant" as const, pattern: type, dOut: n, dIn: 1, T: 1, weightBytes: bytes.byteLength };
    const times = await measureInTurn([() => dequantizeGgml(rt, type, src, dst, blocks), () => { dequantize(type, bytes, n); }], timing);
    add({ ...rec, layout: "dense", medianMs: times[0].medianMs }, 0);
    add({ ...rec, layout: "js", medianMs: times[1].medianMs }, 0);
    src.free(); dst.free();
  }
  rt.close();
  return records;
}

function dequantTable(records: KernelRecord[]): string {
  const lines = ["| type | threads | Wasm M elements/s | JavaScript M elements/s | × |", "|---|---|---|---|---|"];
  for (const w of records.filter((r) => r.kernel === "dequant" && r.layout === "dense")) {
    const js = records.find((r) => r.kernel === "dequant" && r.layout === "js" && r.pattern === w.pattern && r.threads === w.threads);
    const rate = (r: KernelRecord) => (r.dOut / r.medianMs / 1e3).toFixed(0);
    lines.push(`| ${w.pattern} | ${w.threads} | ${rate(w)} | ${js ? rate(js) : "–"} | ${js ? (js.medianMs / w.medianMs).toFixed(1) : "–"} |`);
  }
  return lines.join("\n");
}

function table(records: KernelRecord[]): string {
  const lines = [
    "| shape | T | threads | ceiling GB/s | peak GFLOP/s | dense ms (GB/s, GFLOP/s) | ort ms | 2:4 in ms (× dense, × ort) | 2:4 out ms (× dense, × ort) | 4:8 in ms (× dense) | 4:8 out ms (× dense) |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  const keyOf = (r: KernelRecord) => `${r.dOut}x${r.dIn}|${r.threads}`;
  const groups = new Map<string, KernelRecord[]>();
  for (const r of records) {
    const k = `${keyOf(r)}|${r.T}`;
    if (r.layout === "bandwidth" || r.kernel === "dequant") continue;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  for (const [k, rs] of groups) {
    const [shape, threads, T] = k.split("|");
    const find = (layout: string, pattern: string) => rs.find((r) => r.layout === layout && r.pattern === pattern);
    const bw = records.find((r) => r.layout === "bandwidth" && keyOf(r) === `${shape}|${threads}`);
    const dense = find("dense", "dense"), ort = find("ort", "dense");
    const cell = (r: KernelRecord | undefined, withOrt: boolean) => {
      if (!r || !dense) return "–";
      let s = `${r.medianMs.toFixed(2)} (${(dense.medianMs / r.medianMs).toFixed(2)}×`;
      if (withOrt && ort) s += `, ${(ort.medianMs / r.medianMs).toFixed(2)}×`;
      return s + ")";
    };
    lines.push(`| ${shape} | ${T} | ${threads} | ${bw ? bw.gbps.toFixed(1) : "–"} | ${dense?.peakGflops ? dense.peakGflops.toFixed(1) : "–"} | ` +
      `${dense ? `${dense.medianMs.toFixed(2)} (${dense.gbps.toFixed(1)}, ${dense.gflops.toFixed(1)})` : "–"} | ` +
      `${ort ? ort.medianMs.toFixed(2) : "–"} | ${cell(find("nm-input", "2:4"), true)} | ${cell(find("nm-output", "2:4"), true)} | ` +
      `${cell(find("nm-input", "4:8"), false)} | ${cell(find("nm-output", "4:8"), false)} |`);
  }
  return lines.join("\n");
}

const USAGE =
  "Usage: npm run bench:kernels -- [--json FILE] [--quick] [--threads 1,2] [--shapes 4096x11008,...] [--tokens 1,8,64]\n" +
  "  --shapes  DOUTxDIN list (default: the 7B MLP shapes and 768x2048)\n" +
  "  --tokens  token counts T (default 1,8,64; T = 1 is the GEMV)\n" +
  "  --quick   two small shapes, T = 1 and 8, short samples (a smoke run, not figures to quote)";

async function main(): Promise<void> {
  const values = benchFlags("bench:kernels", USAGE, {
    json: { type: "string" }, quick: { type: "boolean" }, threads: { type: "string" },
    shapes: { type: "string" }, tokens: { type: "string" }, child: { type: "string" },
  });
  if (values.child) {
    const records = await runThreads(JSON.parse(values.child) as Plan);
    process.stdout.write(JSON.stringify(records) + "\n");
    return;
  }
  const shapes = values.shapes?.split(",").map((s) => parseShape(s));
  const tokens = values.tokens !== undefined ? positiveInts(values.tokens, "--tokens") : undefined;
  const threadList = positiveInts(values.threads ?? "1,2", "--threads");
  const all: KernelRecord[] = [];
  for (const threads of threadList) {
    const plan: Plan = { threads, quick: !!values.quick, shapes, tokens };
    all.push(...(await child([fileURLToPath(import.meta.url), "--child", JSON.stringify(plan)])));
  }
  console.log(table(all));
  console.log("\n" + dequantTable(all));
  if (values.json) {
    await writeFile(values.json, JSON.stringify(all, null, 2) + "\n");
    console.log(`wrote ${all.length} records to ${values.json}`);
  }
}

function parseShape(s: string): [number, number] {
  const parts = s.split("x");
  if (parts.length !== 2) throw new BenchUsageError(`--shapes: expected DOUTxDIN (e.g. 4096x11008), got "${s}"`);
  return [positiveInt(parts[0], "--shapes"), positiveInt(parts[1], "--shapes")];
}

function child(args: string[]): Promise<KernelRecord[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...childNodeArgs(), ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    p.on("error", reject);
    p.on("exit", (code) => {
      if (code !== 0) reject(new Error(`bench child ${args.join(" ")} exited with ${code}`));
      else resolve(JSON.parse(out.trim().split("\n").pop()!) as KernelRecord[]);
    });
  });
}

await runBench(main);
