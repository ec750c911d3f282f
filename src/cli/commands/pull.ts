/** `dass pull NAME`: download a registered checkpoint, or a Hugging Face Hub model, into the cache. */
import { AbortError, formatBytes } from "../../errors.js";
import { defaultCacheDir, listModels, modelCacheDir, OfflineError, parseHubSpec, pull, type PulledModel } from "../../pull/index.js";
import { flag, str, UsageError, type CommandSpec } from "../args.js";
import { JSON_OPTION } from "../common.js";

export const pullCommand: CommandSpec = {
  name: "pull",
  summary: "Download a public checkpoint, or a Hugging Face model (org/name), into the local cache, verified.",
  usage: "NAME [--cache DIR] [--base-url URL] [--force] [--json]\n       dass pull ORG/NAME[@REVISION][:GGUF] [--cache DIR] [--force] [--json]\n       dass pull --list [--json]",
  description:
    "Downloads resume where they stopped (run the same command again) and only appear in the cache once\n" +
    "complete and verified. Cache: $DASS_CACHE, else ~/.cache/dass-wasm (Linux, $XDG_CACHE_HOME),\n" +
    "~/Library/Caches/dass-wasm (macOS), %LOCALAPPDATA%\\dass-wasm (Windows). A pulled model can be used by\n" +
    "name: `dass generate --model stories260K ...`. $DASS_PULL_BASE_URL (or --base-url) fetches from a\n" +
    "mirror laid out as <URL>/<NAME>/<FILE> instead.\n" +
    "ORG/NAME is a Hugging Face Hub model: its config.json, safetensors weights (sha256 from the Hub) and\n" +
    "tokenizer files at the commit REVISION (default main) points to, into <cache>/models/ORG/NAME; then\n" +
    "`--model ORG/NAME` uses it. $HF_TOKEN is sent for gated or private models; $HF_ENDPOINT picks a mirror.\n" +
    "ORG/NAME:GGUF takes one GGUF file of the repository instead (or every part of a split one), by file\n" +
    "name or by the quantisation tag its name ends with (ORG/NAME:Q4_K_M, as llama.cpp's -hf), into\n" +
    "<cache>/models/ORG/NAME/gguf/GGUF; then\n" +
    "`--model ORG/NAME:GGUF` uses it.",
  positionals: [{ name: "NAME", help: "model to download (see --list)" }],
  options: [
    { name: "list", type: "boolean", help: "list the models that can be pulled" },
    { name: "cache", type: "string", value: "DIR", help: "cache folder [default: $DASS_CACHE or the platform cache dir]" },
    { name: "base-url", type: "string", value: "URL", help: "mirror to download from [default: $DASS_PULL_BASE_URL, else the original hosts]" },
    { name: "force", type: "boolean", help: "download again even if a verified copy is cached" },
    JSON_OPTION,
  ],
  examples: [
    "dass pull stories260K", "dass pull --list", "dass pull stories15M --cache ./models", "dass pull TinyLlama/TinyLlama-1.1B-Chat-v1.0",
    "dass pull bartowski/gemma-2-2b-it-GGUF:Q4_K_M",
  ],
  async run(ctx, args) {
    const env = ctx.io.env;
    const cacheDir = str(args, "cache") ?? (await defaultCacheDir(env));
    if (flag(args, "list")) {
      if (args.positionals.length) throw new UsageError("--list takes no model name", "pull");
      const fs = await import("node:fs/promises");
      const path = await import("node:path");
      const rows = [];
      for (const m of listModels()) {
        const dir = await modelCacheDir(m.name, { cacheDir, env });
        let cached = true;
        for (const f of m.files) {
          const size = await fs.stat(path.join(dir, f.name)).then((s) => s.size, () => -1);
          if (size < 0 || (f.bytes !== undefined && size !== f.bytes)) cached = false;
        }
        const bytes = m.files.reduce((s, f) => s + (f.bytes ?? 0), 0);
        rows.push({ name: m.name, bytes, cached, description: m.description, files: m.files.map((f) => f.name) });
      }
      if (ctx.json) ctx.printJson({ cacheDir, models: rows });
      else {
        const w = Math.max(...rows.map((r) => r.name.length));
        for (const r of rows) {
          ctx.io.stdout(`${r.name.padEnd(w)}  ${formatBytes(r.bytes).padStart(10)}  ${r.cached ? "cached " : "       "}  ${r.description}\n`);
        }
        ctx.io.stdout(`\ncache: ${cacheDir}\n`);
      }
      return 0;
    }
    const name = args.positionals[0];
    if (!name) throw new UsageError("missing NAME (see `dass pull --list`)", "pull");
    if (parseHubSpec(name) && str(args, "base-url") !== undefined) {
      throw new UsageError("--base-url is for the models of `dass pull --list`; a Hugging Face model's mirror is set with $HF_ENDPOINT", "pull");
    }
    let m: PulledModel;
    try {
      m = await ctx.withProgress((r) =>
        pull(name, {
          cacheDir,
          baseUrl: str(args, "base-url"),
          force: flag(args, "force"),
          signal: ctx.signal,
          onProgress: r.onProgress,
          env,
        }),
      );
    } catch (err) {
      if (err instanceof OfflineError) {
        const mirror = parseHubSpec(name) ? "HF_ENDPOINT" : "DASS_PULL_BASE_URL";
        throw new OfflineError(err.url, `${err.message} (dass pull needs network access to the model hosts, or ${mirror} set to a mirror)`);
      }
      if (err instanceof AbortError) {
        throw new AbortError(`interrupted; the partial download is kept: \`dass pull ${name}\` resumes it`);
      }
      throw err;
    }
    if (ctx.json) {
      ctx.printJson(m);
      return 0;
    }
    ctx.io.stdout(`${m.name}: ${m.dir}\n`);
    const w = Math.max(...m.files.map((f) => f.name.length));
    for (const f of m.files) {
      const how = f.downloaded ? "downloaded" : "cached";
      const check = f.sha256 ? "sha256 ok" : "size ok (no published sha256)";
      ctx.io.stdout(`  ${f.role.padEnd(9)}  ${f.name.padEnd(w)}  ${formatBytes(f.bytes).padStart(10)}  ${how}, ${check}\n`);
    }
    ctx.note(`\nuse it: dass generate --model ${m.name} --prompt "Once upon a time" --steps 64`);
    if (m.format === "safetensors") ctx.note(`or prune it: dass prune --model ${m.name} --method dass --pattern 2:4 --calib FILE --out pruned`);
    return 0;
  },
};
