/** `dass prune`: DaSS, Wanda, SparseGPT or magnitude pruning of a model, written in its input format. */
import { flag, int, num, str, UsageError, type CommandSpec } from "../args.js";
import { fmt, JSON_OPTION, MODEL_OPTION, openModelArgs, THREADS_OPTION, TOKENIZER_OPTION, withRuntime } from "../common.js";
import type { PruneReportLike } from "../lib.js";
import { assertNotInput, writeFileAtomic } from "../../util/atomic-write.js";

const METHODS = ["dass", "wanda", "sparsegpt", "magnitude"] as const;

export const pruneCommand: CommandSpec = {
  name: "prune",
  summary: "Prune a model with DaSS, Wanda, SparseGPT or magnitude (unstructured or N:M) and write it in its input format.",
  usage:
    "--model M [--tokenizer T] --method dass|wanda|sparsegpt|magnitude --pattern 2:4|4:8|0.5\n" +
    "       --calib FILE [--nsamples 128] [--seqlen L] [--seed 0] [--targets mlp|all] [--alpha 0.5]\n" +
    "       --out PATH [--report FILE.json] [--compress] [--threads N] [--json]",
  description:
    "Patterns: a sparsity in (0, 1) such as 0.5 (unstructured), or N:M such as 2:4 (N of every M weights\n" +
    "pruned; M <= 32). Calibration windows are drawn with --seed from --calib (plain text or JSON lines);\n" +
    "magnitude needs no calibration. The output is written atomically and never over the input; Ctrl-C\n" +
    "leaves nothing half-written. --json prints the report on stdout.",
  options: [
    MODEL_OPTION,
    TOKENIZER_OPTION,
    { name: "method", type: "string", value: "METHOD", required: true, choices: METHODS, help: "pruning method" },
    { name: "pattern", type: "string", value: "PATTERN", required: true, help: "sparsity pattern: 0.5, 2:4, 4:8, ..." },
    { name: "calib", type: "string", value: "FILE", help: "calibration text (.txt or .jsonl) (required except for magnitude)" },
    { name: "nsamples", type: "string", value: "N", default: "128", help: "calibration windows" },
    { name: "seqlen", type: "string", value: "L", help: "calibration window length [default: the model's context length]" },
    { name: "seed", type: "string", value: "S", default: "0", help: "seed of the calibration window sampler" },
    { name: "targets", type: "string", value: "T", choices: ["mlp", "all"], default: "mlp", help: "matrices to prune" },
    { name: "alpha", type: "string", value: "A", default: "0.5", help: "DaSS exponent of the activation norms" },
    { name: "out", type: "string", value: "PATH", required: true, help: "output model (file, or folder for Hugging Face input)" },
    { name: "report", type: "string", value: "FILE.json", help: "also write the JSON report here" },
    { name: "compress", type: "boolean", help: "store N:M matrices compressed (values + packed indices)" },
    THREADS_OPTION,
    JSON_OPTION,
  ],
  examples: [
    "dass prune --model stories260K --method dass --pattern 2:4 --calib c4_sample.jsonl --out pruned.bin",
    "dass prune --model model.gguf --method magnitude --pattern 0.5 --out pruned.gguf --report report.json",
  ],
  async run(ctx, args) {
    const method = str(args, "method") as (typeof METHODS)[number];
    const pattern = str(args, "pattern")!;
    const calib = str(args, "calib");
    if (!calib && method !== "magnitude") throw new UsageError(`--calib FILE is required for --method ${method}`, "prune");
    const nsamples = int(args, "nsamples", 128, 1);
    const seqlen = int(args, "seqlen", undefined, 2);
    const seed = int(args, "seed", 0, 0, 2 ** 32 - 1);
    const targets = (str(args, "targets") ?? "mlp") as "mlp" | "all";
    const alpha = num(args, "alpha", 0.5);
    const out = str(args, "out")!;
    const reportPath = str(args, "report");

    const { loadPrune, readTextFile } = await import("../lib.js");
    const api = await loadPrune();
    const { reader, tokenizer, modelPath } = await openModelArgs(ctx, args, method !== "magnitude");
    try {
      // Checked here too so that a mistake fails before minutes of calibration, not after.
      await assertNotInput(out, [modelPath], { arg: "out", folder: reader.format === "safetensors" });
      if (reportPath) await assertNotInput(reportPath, [modelPath, out], { arg: "report" });
      const calibText = calib ? await readTextFile(calib) : undefined;
      const result = await withRuntime(ctx, args, (runtime) =>
        ctx.withProgress((p) =>
          api.prune(reader, {
            runtime,
            tokenizer,
            method,
            pattern,
            calibText,
            calibSource: calib,
            nsamples,
            seqlen,
            seed,
            targets,
            alpha,
            out,
            compress: flag(args, "compress"),
            signal: ctx.signal,
            onProgress: p.onProgress,
          }),
        ),
      );
      const report = result.report;
      if (reportPath) await writeFileAtomic(reportPath, JSON.stringify(report, null, 2) + "\n", { inputs: [modelPath], arg: "report", signal: ctx.signal });
      if (ctx.json) ctx.printJson(report);
      else printSummary(ctx.io.stdout, report, result.out ?? out);
      return 0;
    } finally {
      await reader.close();
    }
  },
};

function printSummary(write: (s: string) => void, report: PruneReportLike, out: string): void {
  const ms = report.matrices ?? [];
  const w = Math.max(6, ...ms.map((m) => `${m.block}.${m.name}`.length));
  write(`${"matrix".padEnd(w)}  ${"shape".padEnd(11)}  ${"pattern".padEnd(7)}  axis    sparsity  recon error  seconds\n`);
  for (const m of ms) {
    write(
      `${`${m.block}.${m.name}`.padEnd(w)}  ${m.shape.join("x").padEnd(11)}  ${String(m.pattern).padEnd(7)}  ${String(m.axis).padEnd(6)}  ` +
        `${(100 * m.sparsity).toFixed(2).padStart(7)}%  ${fmt(m.reconError, 4).padStart(11)}  ${fmt(m.seconds, 3).padStart(7)}\n`,
    );
  }
  const t = report.totals ?? {};
  const invalid = ms.filter((m) => m.nmValid === false).length;
  write(
    `\n${ms.length} matrices, sparsity ${t.sparsity !== undefined ? (100 * t.sparsity).toFixed(2) + "%" : "-"}, ` +
      `pruning ${fmt(t.pruneSeconds ?? t.seconds, 2)} s${invalid ? `, ${invalid} matrices FAIL the N:M check` : ""}\n`,
  );
  write(`wrote ${out}\n`);
}
