/** `dass bench kernels|model|prune [...]`: runs a benchmark script of a source checkout. */
import { DassError } from "../../errors.js";
import { UsageError, type CommandSpec } from "../args.js";

const BENCHES = ["kernels", "model", "prune"] as const;

export const benchCommand: CommandSpec = {
  name: "bench",
  summary: "Run a benchmark (kernels, model or prune); the same as `npm run bench:NAME -- ...`.",
  usage: "kernels|model|prune [--json FILE] [other flags of that benchmark]",
  description:
    "Flags after the benchmark name are passed to it unchanged (see its own --help). --json FILE writes\n" +
    "the records to FILE. Benchmarks ship with a source checkout (built with `npm run build`), not with\n" +
    "the npm package.",
  positionals: [{ name: "NAME", help: `benchmark: ${BENCHES.join(", ")}`, required: true }],
  passThrough: true,
  options: [],
  examples: ["dass bench kernels --json kernels.json", "dass bench prune"],
  async run(ctx, args) {
    const name = args.positionals[0];
    if (!(BENCHES as readonly string[]).includes(name)) {
      throw new UsageError(`unknown benchmark ${JSON.stringify(name)}; choose one of ${BENCHES.join(", ")}`, "bench");
    }
    const { fileURLToPath } = await import("node:url");
    const fs = await import("node:fs/promises");
    const { spawn } = await import("node:child_process");
    // dist/src/cli/commands/bench.js -> dist/bench/<name>.js
    const script = fileURLToPath(new URL(`../../../bench/${name}.js`, import.meta.url));
    if (!(await fs.stat(script).then(() => true, () => false))) {
      throw new DassError("ERR_NOT_AVAILABLE", `benchmark ${name} is not built here (${script}); run it from a source checkout after \`npm run build\``);
    }
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, [script, ...args.rest], { stdio: "inherit", env: { ...process.env, ...ctx.io.env } });
      const onAbort = () => child.kill("SIGINT");
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      child.on("error", reject);
      child.on("exit", (code, sig) => {
        ctx.signal.removeEventListener("abort", onAbort);
        resolve(code ?? (sig === "SIGINT" ? 130 : 1));
      });
    });
  },
};
