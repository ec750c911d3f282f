/**
 * `dass inspect --model M`: architecture, shapes, dtypes, parameter count, per-matrix sparsity and N:M validity,
 * and for matrices stored compressed (N:M values + masks) the bytes stored vs dense and the total saved.
 */
import { formatBytes, throwIfAborted } from "../../errors.js";
import { numel, type RopeScaling } from "../../model/config.js";
import type { CommandSpec } from "../args.js";
import { JSON_OPTION, MODEL_OPTION, openModelArgs } from "../common.js";

/** N:M patterns checked on every matrix (N pruned of every M). */
const CHECKED: readonly [number, number][] = [
  [2, 4],
  [4, 8],
];

/** Per-matrix statistics. */
export interface MatrixStats {
  name: string;
  shape: number[];
  dtype: string;
  /** Bytes the file stores for this matrix (values + masks when compressed). */
  bytes: number;
  /** Bytes of the matrix stored dense in the same dtype. */
  denseBytes: number;
  /** denseBytes - bytes. */
  savedBytes: number;
  /** How the file stores it compressed ("2:4 output"), or null when stored dense. */
  compressed: string | null;
  /** Fraction of exact zeros. */
  sparsity: number;
  /** N:M patterns that hold along the input axis (groups of M consecutive weights in a row). */
  nmInput: string[];
  /** N:M patterns that hold along the output axis (groups of M consecutive rows in a column). */
  nmOutput: string[];
}

/**
 * Whether every group of `m` along the chosen axis has at least `n` zeros; a trailing partial group of r
 * elements needs floor(n*r/m), the tail rule of docs/methods.md.
 */
export function nmHolds(w: Float32Array, rows: number, cols: number, n: number, m: number, axis: "input" | "output"): boolean {
  const [outer, inner] = axis === "input" ? [rows, cols] : [cols, rows];
  const at = axis === "input" ? (o: number, i: number) => w[o * cols + i] : (o: number, i: number) => w[i * cols + o];
  for (let o = 0; o < outer; o++) {
    for (let g = 0; g < inner; g += m) {
      const r = Math.min(m, inner - g);
      const need = r === m ? n : Math.floor((n * r) / m);
      let zeros = 0;
      for (let k = 0; k < r; k++) if (at(o, g + k) === 0) zeros++;
      if (zeros < need) return false;
    }
  }
  return true;
}

export const inspectCommand: CommandSpec = {
  name: "inspect",
  summary: "Show a model's architecture, tensor shapes and dtypes, parameter count, and per-matrix sparsity / N:M validity.",
  usage: "--model M [--json]",
  options: [MODEL_OPTION, JSON_OPTION],
  examples: ["dass inspect --model stories260K.bin", "dass inspect --model ./my-hf-folder --json"],
  async run(ctx, args) {
    const { reader, modelPath } = await openModelArgs(ctx, args, false);
    try {
      const c = reader.config;
      const matrices: MatrixStats[] = [];
      const tensors: { name: string; shape: number[]; dtype: string; bytes: number; denseBytes: number; compressed: string | null }[] = [];
      let params = 0;
      let bytes = 0;
      let denseBytes = 0;
      let zeros = 0;
      const names = [...reader.tensors.keys()];
      await ctx.withProgress(async (r) => {
        for (const [i, name] of names.entries()) {
          throwIfAborted(ctx.signal);
          const info = reader.tensors.get(name)!;
          const n = numel(info.shape);
          const stored = info.compressed?.storedBytes ?? info.quantized?.storedBytes ?? info.byteLength;
          const dtype = info.quantized?.type ?? info.dtype;
          const compressed = info.compressed ? `${info.compressed.n}:${info.compressed.m} ${info.compressed.axis}` : null;
          params += n;
          bytes += stored;
          denseBytes += info.byteLength;
          tensors.push({ name, shape: info.shape, dtype, bytes: stored, denseBytes: info.byteLength, compressed });
          if (info.shape.length === 2 && !/^(tok_embeddings|output)$/.test(name)) {
            const w = await reader.readTensor(name);
            let z = 0;
            for (let k = 0; k < w.length; k++) if (w[k] === 0) z++;
            zeros += z;
            const [rows, cols] = info.shape;
            const holds = (axis: "input" | "output") =>
              CHECKED.filter(([nn, mm]) => nmHolds(w, rows, cols, nn, mm, axis)).map(([nn, mm]) => `${nn}:${mm}`);
            matrices.push({
              name,
              shape: info.shape,
              dtype,
              bytes: stored,
              denseBytes: info.byteLength,
              savedBytes: info.byteLength - stored,
              compressed,
              sparsity: w.length ? z / w.length : 0,
              nmInput: holds("input"),
              nmOutput: holds("output"),
            });
          }
          r.onProgress({ phase: "inspect", done: i + 1, total: names.length, message: name });
        }
      });
      const linear = matrices.reduce((s, m) => s + numel(m.shape), 0);
      const stored = reader.format === "gguf" ? reader.metadata.ggufArch : undefined;
      const parts = reader.metadata.parts;
      const summary = {
        path: modelPath,
        format: reader.format,
        /** GGUF: the architecture the file names (phi3 for a Phi-3, llama for a Mistral). */
        ...(typeof stored === "string" ? { ggufArch: stored } : {}),
        /** A split GGUF: every part's path, the first first. */
        ...(Array.isArray(parts) ? { parts } : {}),
        config: c,
        parameters: params,
        /** Bytes of weights the file stores. */
        weightBytes: bytes,
        /** The same weights stored dense in their dtypes. */
        denseWeightBytes: denseBytes,
        savedBytes: denseBytes - bytes,
        linearParameters: linear,
        linearSparsity: linear ? zeros / linear : 0,
        tensors,
        matrices,
      };
      if (ctx.json) {
        ctx.printJson(summary);
        return 0;
      }
      const out = (s = "") => ctx.io.stdout(s + "\n");
      out(`${modelPath}  (${reader.format}${typeof stored === "string" && stored !== c.arch ? ` ${stored}` : ""}` +
        `${Array.isArray(parts) ? `, ${parts.length} parts` : ""})`);
      out(
        `arch ${c.arch}: dim ${c.dim}, hidden ${c.hiddenDim}, layers ${c.nLayers}, heads ${c.nHeads} (kv ${c.nKvHeads}), ` +
          `head dim ${c.headDim}, vocab ${c.vocabSize}, context ${c.seqLen}` +
          (c.slidingWindow ? `, sliding window ${c.slidingWindow}${c.slidingLayers ? ` on ${c.slidingLayers.filter(Boolean).length} of ${c.nLayers} layers` : ""}` : ""),
      );
      out(
        `rope ${c.ropeLayout} (theta ${c.ropeTheta}${c.ropeScaling ? `, ${ropeScalingLabel(c.ropeScaling)} scaling` : ""}` +
          `${c.ropeLocalTheta !== undefined ? `; sliding layers theta ${c.ropeLocalTheta}` : ""}), act ${c.act}, norm eps ${c.normEps}${c.normPlusOne ? " (1 + w)" : ""}, ` +
          `${c.tiedEmbeddings ? "tied" : "separate"} classifier${c.qkvBias ? ", q/k/v bias" : ""}${c.qkNorm ? ", q/k norm" : ""}${c.sandwichNorms ? ", sandwich norms" : ""}` +
          `${c.attnSoftcap ? `, scores capped at ${c.attnSoftcap}` : ""}${c.logitSoftcap ? `, logits capped at ${c.logitSoftcap}` : ""}${c.embedScale !== 1 ? `, embed scale ${c.embedScale}` : ""}`,
      );
      out(`parameters ${params.toLocaleString("en-US")}  (${formatBytes(bytes)} of weights)`);
      const nCompressed = matrices.filter((m) => m.compressed).length;
      if (nCompressed) {
        out(
          `${nCompressed} of ${matrices.length} matrices stored compressed: ${formatBytes(bytes)} stored vs ${formatBytes(denseBytes)} dense, ` +
            `${formatBytes(denseBytes - bytes)} saved (${(100 * (1 - bytes / denseBytes)).toFixed(1)}%)`,
        );
      }
      out(`linear-layer sparsity ${(100 * summary.linearSparsity).toFixed(2)}%`);
      out();
      const w = Math.max(...matrices.map((m) => m.name.length), 6);
      const sizes = (m: MatrixStats) =>
        nCompressed ? `  ${(m.compressed ?? "dense").padEnd(10)}  ${formatBytes(m.bytes).padStart(10)}  ${formatBytes(m.denseBytes).padStart(10)}  ${formatBytes(m.savedBytes).padStart(10)}` : "";
      out(
        `${"matrix".padEnd(w)}  ${"shape".padEnd(11)}  dtype  sparsity  N:M (input axis)  N:M (output axis)` +
          (nCompressed ? `  ${"stored as".padEnd(10)}  ${"stored".padStart(10)}  ${"dense".padStart(10)}  ${"saved".padStart(10)}` : ""),
      );
      for (const m of matrices) {
        out(
          `${m.name.padEnd(w)}  ${m.shape.join("x").padEnd(11)}  ${m.dtype.padEnd(5)}  ${(100 * m.sparsity).toFixed(2).padStart(7)}%  ` +
            `${(m.nmInput.join(" ") || "-").padEnd(16)}  ${(m.nmOutput.join(" ") || "-").padEnd(17)}${sizes(m)}`.trimEnd(),
        );
      }
      if (nCompressed) {
        out(`${"total".padEnd(w)}  ${" ".repeat(11 + 2 + 5 + 2 + 9 + 2 + 16 + 2 + 17 + 2 + 10)}  ${formatBytes(matrices.reduce((s, m) => s + m.bytes, 0)).padStart(10)}  ` +
          `${formatBytes(matrices.reduce((s, m) => s + m.denseBytes, 0)).padStart(10)}  ${formatBytes(matrices.reduce((s, m) => s + m.savedBytes, 0)).padStart(10)}`);
      }
      const other = tensors.filter((t) => !matrices.some((m) => m.name === t.name));
      if (other.length) {
        out();
        for (const t of other) out(`${t.name.padEnd(w)}  ${t.shape.join("x").padEnd(11)}  ${t.dtype}`);
      }
      return 0;
    } finally {
      await reader.close();
    }
  },
};

/** How inspect names a RoPE scaling. */
function ropeScalingLabel(s: RopeScaling): string {
  if (s.type === "factors") return "per-frequency";
  if (s.type === "longrope") return `LongRoPE (long factors beyond ${s.originalContext} positions, attention x${s.attentionFactor.toPrecision(6)})`;
  return `${s.type} x${s.factor}`;
}
