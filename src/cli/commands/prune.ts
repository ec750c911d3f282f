/**
 * `dass prune`: DaSS, Wanda, SparseGPT or magnitude pruning of a model, written in its input format.
 *
 * Order of work, so that mistakes cost nothing: flags and pattern are checked, the output path is
 * checked against every input (model, tokenizer, calibration file, report), the calibration windows are
 * drawn (a text shorter than one window fails here), and only then is the model loaded and pruned. The
 * model and the report are each written atomically; Ctrl-C at any point leaves neither half-written
 * and never touches the input.
 */
import { AbortError, ArgumentError, DassError } from "../../errors.js";
import type { Runtime } from "../../runtime/runtime.js";
import { flag, int, num, str, UsageError, type CommandSpec } from "../args.js";
import { DTYPE_OPTION, dtypeArgs, fmt, JSON_OPTION, MODEL_OPTION, openModelArgs, THREADS_OPTION, TOKENIZER_OPTION, withRuntime } from "../common.js";
import type { CommandContext } from "../context.js";
import type { CalibrationWindows, ModelReader, PruneMethod, PruneReport, SavedModel, Transformer, WeightSpill } from "../lib.js";
import { assertNotInput, writeFileAtomic } from "../../util/atomic-write.js";
import { dirname, resolve } from "node:path";

const METHODS = ["dass", "wanda", "sparsegpt", "magnitude"] as const;

/** Wasm memory the model may keep resident while pruning (the rest is streamed through one block slot). */
const WASM_BUDGET = 1 << 30;

export const pruneCommand: CommandSpec = {
  name: "prune",
  summary: "Prune a model with DaSS, Wanda, SparseGPT or magnitude (unstructured or N:M) and write it in its input format.",
  usage:
    "--model M [--tokenizer T] --method dass|wanda|sparsegpt|magnitude --pattern 2:4|4:8|0.5\n" +
    "       --calib FILE [--nsamples 128] [--seqlen L] [--seed 0] [--targets mlp|all] [--alpha 0.5]\n" +
    "       --out PATH [--report FILE.json] [--compress] [--dtype f32|f16|bf16|q8_0|q6_k|q4_0] [--threads N] [--json]",
  description:
    "Patterns: a sparsity in (0, 1) such as 0.5 (unstructured), or N:M such as 2:4 (N of every M weights\n" +
    "pruned; N < M <= 32). Calibration windows are drawn with --seed from --calib (plain text or JSON lines);\n" +
    "magnitude needs no calibration (given one, it reports reconstruction errors). The output has the input's\n" +
    "format (llama2.c file, GGUF file, or Hugging Face folder), is written atomically and never over an input;\n" +
    "Ctrl-C leaves nothing half-written. A model larger than the Wasm budget (1 GiB) is pruned block by block;\n" +
    "its pruned matrices, and calibration activations above 2 GiB, wait in temporary files beside --out.\n" +
    "--json prints the report on stdout.",
  options: [
    MODEL_OPTION,
    TOKENIZER_OPTION,
    { name: "method", type: "string", value: "METHOD", required: true, choices: METHODS, help: "pruning method" },
    { name: "pattern", type: "string", value: "PATTERN", required: true, help: "sparsity pattern: 0.5, 2:4, 4:8, ..." },
    { name: "calib", type: "string", value: "FILE", help: "calibration text (.txt or .jsonl) (required except for magnitude)" },
    { name: "nsamples", type: "string", value: "N", default: "128", help: "calibration windows" },
    { name: "seqlen", type: "string", value: "L", help: "calibration window length [default: min(2048, the model's context length)]" },
    { name: "seed", type: "string", value: "S", default: "0", help: "seed of the calibration window sampler" },
    { name: "targets", type: "string", value: "T", choices: ["mlp", "all"], default: "mlp", help: "matrices to prune" },
    { name: "alpha", type: "string", value: "A", default: "0.5", help: "DaSS exponent of the activation norms" },
    { name: "out", type: "string", value: "PATH", required: true, help: "output model (file, or folder for Hugging Face input)" },
    { name: "report", type: "string", value: "FILE.json", help: "also write the JSON report here" },
    { name: "compress", type: "boolean", help: "store N:M matrices compressed (values + packed indices)" },
    DTYPE_OPTION,
    THREADS_OPTION,
    JSON_OPTION,
  ],
  examples: [
    "dass prune --model stories260K --method dass --pattern 2:4 --calib c4_sample.jsonl --out pruned.bin",
    "dass prune --model model.gguf --method magnitude --pattern 0.5 --out pruned.gguf --report report.json",
  ],
  async run(ctx, args) {
    const method = str(args, "method") as PruneMethod;
    const patternText = str(args, "pattern")!;
    const calib = str(args, "calib");
    if (!calib && method !== "magnitude") throw new UsageError(`--calib FILE is required for --method ${method}`, "prune");
    const nsamples = int(args, "nsamples", 128, 1);
    const seqlenFlag = int(args, "seqlen", undefined, 2);
    const seed = int(args, "seed", 0, 0, 2 ** 32 - 1);
    const targets = (str(args, "targets") ?? "mlp") as "mlp" | "all";
    const alpha = num(args, "alpha", 0.5, 0);
    const out = str(args, "out")!;
    const reportPath = str(args, "report");
    const compress = flag(args, "compress");
    const { dtype, quantize } = dtypeArgs(args);

    const lib = await import("../lib.js");
    let pattern;
    try {
      pattern = lib.parsePattern(patternText);
    } catch (e) {
      if (e instanceof ArgumentError) throw new UsageError(`--${e.message}`, "prune");
      throw e;
    }
    if (compress && pattern.kind !== "nm") {
      throw new UsageError(`--compress stores N:M matrices compressed; --pattern ${patternText} is unstructured (use e.g. 2:4, or drop --compress)`, "prune");
    }

    const { reader, tokenizer, modelPath, tokenizerPath } = await openModelArgs(ctx, args, calib !== undefined);
    try {
      const inputs = [modelPath, tokenizerPath, calib];
      // Before any work: a wrong --out or --report must not cost a pruning run.
      await lib.checkSaveTarget(reader, out, inputs);
      if (reportPath) {
        await assertNotInput(reportPath, [modelPath, out, ...inputs.filter((p): p is string => !!p)], { arg: "report" });
      }
      const ext = /\.(gguf|bin|safetensors)$/i.exec(out)?.[1]?.toLowerCase();
      const expected = reader.format === "gguf" ? "gguf" : reader.format === "llama2c" ? "bin" : undefined;
      if (ext && ext !== expected) ctx.note(`note: ${out} is written in the input's format (${reader.format}), whatever its name says`);
      if (compress && reader.format === "llama2c") {
        throw new ArgumentError(
          "compress",
          "the output has the input's format, and llama2.c checkpoints cannot hold compressed N:M matrices; " +
            "convert the input first (dass convert --to gguf) or drop --compress",
        );
      }
      if (quantize && reader.format !== "gguf") {
        throw new ArgumentError("dtype", `the output has the input's format, and only GGUF holds quantised matrices; convert the input first (dass convert --to gguf) or use --dtype f32, f16 or bf16`);
      }
      // Only the pruned matrices are rewritten; the others keep their stored blocks.
      const pruned = lib.targetLinears(targets);
      const dequantised = dtype || quantize ? null : lib.dequantisedNote(reader, (n) => {
        const l = lib.blockLinearOf(n);
        return l !== null && pruned.includes(l);
      });
      if (dequantised) ctx.note(dequantised);
      if (dtype && dtype !== "f32" && reader.format === "llama2c") {
        throw new ArgumentError("dtype", "the output has the input's format, and llama2.c checkpoints hold float32 only; convert the input first (dass convert --to gguf) or drop --dtype");
      }
      const ctxLen = reader.config.seqLen;
      const seqlen = seqlenFlag ?? Math.min(2048, ctxLen);
      if (seqlen > ctxLen) throw new ArgumentError("seqlen", `${seqlen} exceeds the model's context length ${ctxLen}`);
      let windows: CalibrationWindows | undefined;
      if (calib) {
        const text = await lib.readTextFile(calib, "calib");
        windows = lib.calibrationWindows(text, tokenizer!, { nsamples, seqlen, seed, source: calib });
      }

      let report!: PruneReport;
      let saved!: SavedModel;
      let threads = 0;
      let memory!: ResourceFigures;
      let spillBytes = 0;
      // What does not fit in RAM (pruned matrices of streamed blocks until the write, large calibration
      // activations) goes to temporary files beside the output: that disk must hold the output anyway,
      // and the OS temp folder may be RAM.
      const tempDir = await existingAncestor(dirname(resolve(out)));
      const spill = new lib.FileSpill(tempDir);
      try {
        await withRuntime(ctx, args, async (rt) => {
          threads = rt.threads;
          await ctx.withProgress(async (p) => {
            const model = await loadForPruning(ctx, lib.Transformer, reader, rt, windows ? seqlen : 1, targets, spill, p.onProgress);
            try {
              const r = await lib.prune(model, {
                method,
                pattern,
                calib: windows,
                targets,
                alpha,
                // The CLI discards the model on failure: keeping dense copies would only cost memory.
                restoreOnFailure: false,
                activations: { dir: tempDir },
                signal: ctx.signal,
                onProgress: p.onProgress,
              });
              report = r.report;
              saved = await lib.savePrunedModel(reader, model, report, out, {
                inputs,
                writeOptions: compress ? { compress: lib.compressForSave(report) } : undefined,
                dtype,
                ...(quantize ? { quantize } : {}),
                signal: ctx.signal,
                onProgress: p.onProgress,
              });
            } finally {
              model.close();
              spillBytes = spill.fileBytes;
            }
          });
          memory = resources(rt, reader.config, spillBytes);
        });
      } catch (e) {
        throw explain(e, modelPath);
      } finally {
        spill.close();
      }
      const full = {
        model: modelPath,
        format: reader.format,
        out: saved.path,
        outBytes: saved.bytes,
        tokenizer: tokenizerPath ?? null,
        threads,
        ...report,
        memory,
      };
      if (reportPath) {
        try {
          await writeFileAtomic(reportPath, JSON.stringify(full, null, 2) + "\n", { inputs: [modelPath, saved.path], arg: "report", signal: ctx.signal });
        } catch (e) {
          if (e instanceof AbortError) throw new AbortError(`interrupted: ${saved.path} was written, the report was not`);
          throw e;
        }
      }
      if (ctx.json) ctx.printJson(full);
      else printSummary(ctx.io.stdout, report, saved, reportPath, memory);
      return 0;
    } finally {
      await reader.close();
    }
  },
};

/**
 * Loads the model for pruning. Blocks beyond the Wasm budget are re-read from the file when they run
 * (streamFrom "reader"), so a model far larger than memory prunes block by block. The budget leaves room
 * for pruning's own buffers (weights being pruned, scores, masks, and the dense and difference copies the
 * reconstruction error needs), keeping peak Wasm memory near 1 GiB plus one block.
 */
async function loadForPruning(
  ctx: CommandContext,
  Tf: typeof Transformer,
  reader: ModelReader,
  runtime: Runtime,
  contextLength: number,
  targets: "mlp" | "all",
  spill: WeightSpill,
  onProgress: (p: { phase: string; done: number; total: number; message?: string }) => void,
): Promise<Transformer> {
  const c = reader.config;
  const qDim = c.nHeads * c.headDim, kvDim = c.nKvHeads * c.headDim;
  const mlp = [c.hiddenDim * c.dim, c.hiddenDim * c.dim, c.dim * c.hiddenDim];
  const attn = [qDim * c.dim, kvDim * c.dim, kvDim * c.dim, c.dim * qDim];
  const mats = targets === "all" ? [...attn, ...mlp] : mlp;
  const largest = Math.max(...mats);
  const workspace = 4 * (2 * mats.reduce((s, n) => s + n, 0) + 3 * largest);
  return Tf.load(reader, runtime, {
    contextLength,
    budgetBytes: Math.max(0, WASM_BUDGET - workspace),
    streamFrom: "reader",
    spill,
    signal: ctx.signal,
    onProgress: (p) => onProgress({ phase: "load", done: p.done, total: p.total }),
  });
}

/** `dir`, or its nearest ancestor that exists (the output's folders are only created when it is written). */
async function existingAncestor(dir: string): Promise<string> {
  const fs = await import("node:fs/promises");
  for (let d = dir; ; d = dirname(d)) {
    if (await fs.stat(d).then((st) => st.isDirectory(), () => false)) return d;
    if (dirname(d) === d) return d;
  }
}

/** Peak memory of a run, in the report: Wasm (arena peak and memory size) and the process's peak RSS. */
interface ResourceFigures {
  /** Most Wasm arena bytes in use at once (rt.heap.peakBytes). */
  wasmPeakBytes: number;
  /** Size of the Wasm memory (it only grows). */
  wasmMemoryBytes: number;
  /** One block's dense f32 weights: the streaming slot's size. */
  blockBytes: number;
  /** Peak resident set size of this process (0 where the runtime cannot tell). */
  rssPeakBytes: number;
  /** Size the temporary file holding the pruned matrices of streamed blocks reached (0: none streamed). */
  spillBytes: number;
}

function resources(rt: Runtime, c: ModelReader["config"], spillBytes: number): ResourceFigures {
  const qDim = c.nHeads * c.headDim, kvDim = c.nKvHeads * c.headDim;
  const linear = 2 * qDim * c.dim + 2 * kvDim * c.dim + 3 * c.hiddenDim * c.dim;
  const bias = (c.qkvBias ? qDim + 2 * kvDim : 0) + (c.qkNorm ? 2 * c.headDim : 0) + (c.sandwichNorms ? 2 * c.dim : 0);
  let rss = 0;
  try {
    rss = process.resourceUsage().maxRSS * 1024;
  } catch {
    rss = 0;
  }
  return { wasmPeakBytes: rt.heap.peakBytes, wasmMemoryBytes: rt.heap.memoryBytes, blockBytes: 4 * (linear + bias + 2 * c.dim), rssPeakBytes: rss, spillBytes };
}

/** Errors from the library speak of the in-memory model; on the command line what matters is the files. */
function explain(e: unknown, modelPath: string): unknown {
  if (e instanceof AbortError) return new AbortError(`interrupted: nothing was written, ${modelPath} is untouched`);
  if (e instanceof DassError && !(e instanceof UsageError)) {
    // prune() ends its messages with " (the model is unchanged)", "(... restored ...)" or
    // "(the model is partially pruned (blocks ...): discard it)": about the in-memory model only.
    const i = e.message.lastIndexOf(" (the model ");
    e.message = `${i >= 0 && e.message.endsWith(")") ? e.message.slice(0, i) : e.message} (nothing was written)`;
  }
  return e;
}

function printSummary(write: (s: string) => void, report: PruneReport, saved: SavedModel, reportPath: string | undefined, mem: ResourceFigures): void {
  const ms = report.matrices;
  const nm = report.nmValid !== null;
  const head = ["block", "matrix", "shape", "axis", "sparsity", "recon error", ...(nm ? ["N:M valid"] : []), "seconds"];
  const rows = ms.map((m) => [
    String(m.block),
    m.name,
    m.shape.join("x"),
    m.axis,
    `${(100 * m.sparsity).toFixed(2)}%`,
    m.reconError === null ? "-" : fmt(m.reconError, 4),
    ...(nm ? [m.nmValid ? "yes" : "NO"] : []),
    fmt(m.seconds, 3),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const left = new Set([1, 3]);
  const line = (cells: string[]) => cells.map((c, i) => (left.has(i) ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  ").trimEnd() + "\n";
  write(`${report.options.method} ${report.options.pattern}, targets ${report.options.targets}\n\n`);
  write(line(head));
  for (const r of rows) write(line(r));
  const t = report.totals;
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  write("\n");
  write(`sparsity: pruned matrices ${pct(t.pruned.sparsity)} (${t.pruned.zeros} of ${t.pruned.total}), ` +
    `block linears ${pct(t.blockLinears.sparsity)}, all parameters ${pct(t.parameters.sparsity)}\n`);
  if (nm) {
    const bad = ms.filter((m) => !m.nmValid).length;
    write(`N:M check: ${bad === 0 ? `every matrix holds ${report.options.pattern}` : `${bad} of ${ms.length} matrices FAIL`}` +
      ` (along its axis; along both: ${ms.filter((m) => m.nmAxes?.input && m.nmAxes.output).length} of ${ms.length})\n`);
  }
  write(`time: pruning ${fmt(report.pruneSeconds, 3)} s (excluding forward passes), forward passes ${fmt(report.forwardSeconds, 2)} s, total ${fmt(report.totalSeconds, 2)} s\n`);
  const c = report.calibration;
  if (c) write(`calibration: ${c.nsamples} windows x ${c.seqlen} tokens from ${c.source} (${c.streamLength ?? "?"} tokens, seed ${c.seed ?? "-"})\n`);
  else write("calibration: none (magnitude)\n");
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  write(`memory: peak Wasm ${mib(mem.wasmPeakBytes)} in use (memory ${mib(mem.wasmMemoryBytes)}), peak RSS ${mem.rssPeakBytes ? mib(mem.rssPeakBytes) : "-"}` +
    `${mem.spillBytes ? `, pruned matrices held on disk until the write ${mib(mem.spillBytes)}` : ""}\n`);
  write(`wrote ${saved.path} (${saved.format}, ${saved.bytes} bytes)${reportPath ? ` and ${reportPath}` : ""}\n`);
}
