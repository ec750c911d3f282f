/**
 * The `dass` command line, as a function: parses argv, runs the subcommand, maps errors to exit codes.
 * `main.ts` wires it to the process (streams, Ctrl-C, exit); tests call `runCli` directly.
 *
 * Exit codes: 0 success; 1 a DassError (printed as `error: <message>`) or an unexpected error (printed with
 * its stack); 2 wrong usage; 130 interrupted (Ctrl-C / abort).
 */
import { AbortError, DassError } from "../errors.js";
import { closest, commandHelp, parseCommandArgs, UsageError, type CommandSpec } from "./args.js";
import { benchCommand } from "./commands/bench.js";
import { convertCommand } from "./commands/convert.js";
import { evalCommand } from "./commands/eval.js";
import { generateCommand } from "./commands/generate.js";
import { inspectCommand } from "./commands/inspect.js";
import { pruneCommand } from "./commands/prune.js";
import { pullCommand } from "./commands/pull.js";
import { createContext, type CliIO } from "./context.js";

/** Every subcommand, in help order. */
export const COMMANDS: readonly CommandSpec[] = [
  pruneCommand,
  evalCommand,
  generateCommand,
  inspectCommand,
  convertCommand,
  pullCommand,
  benchCommand,
];

/** Exit codes. */
export const EXIT = { ok: 0, error: 1, usage: 2, interrupted: 130 } as const;

/** Options of `runCli`. */
export interface RunCliOptions {
  io: CliIO;
  /** Fires on Ctrl-C (main.ts) or when a test aborts. */
  signal?: AbortSignal;
}

function globalHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "Usage: dass <command> [flags]",
    "",
    "Prune GLU language models with DaSS, Wanda, SparseGPT or magnitude, evaluate them, and run N:M-sparse",
    "models fast with WebAssembly SIMD.",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    "",
    "Run `dass <command> --help` for a command's flags. Common: --json (machine-readable output on stdout),",
    "--help. Exit codes: 0 ok, 1 error, 2 wrong usage, 130 interrupted.",
    "",
  ].join("\n");
}

async function version(): Promise<string> {
  try {
    const fs = await import("node:fs/promises");
    // dist/src/cli/run.js -> package.json
    const pkg = JSON.parse(await fs.readFile(new URL("../../../package.json", import.meta.url), "utf8")) as { version?: string };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Runs the CLI with `argv` (without the node and script paths); resolves with the exit code. */
export async function runCli(argv: readonly string[], opts: RunCliOptions): Promise<number> {
  const { io } = opts;
  const signal = opts.signal ?? new AbortController().signal;
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr(globalHelp());
    return EXIT.usage;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    const topic = first === "help" ? rest[0] : undefined;
    if (topic !== undefined) {
      const cmd = COMMANDS.find((c) => c.name === topic);
      if (!cmd) return usageError(io, new UsageError(unknownCommand(topic)));
      io.stdout(commandHelp(cmd));
      return EXIT.ok;
    }
    io.stdout(globalHelp());
    return EXIT.ok;
  }
  if (first === "--version" || first === "-v") {
    io.stdout(`${await version()}\n`);
    return EXIT.ok;
  }
  const cmd = COMMANDS.find((c) => c.name === first);
  if (!cmd) return usageError(io, new UsageError(first.startsWith("-") ? `expected a command before ${first}` : unknownCommand(first)));

  let json = false;
  try {
    const args = parseCommandArgs(cmd, [...rest]);
    if (args.values.help) {
      io.stdout(commandHelp(cmd));
      return EXIT.ok;
    }
    json = args.values.json === true;
    const ctx = createContext(io, signal, json);
    const code = await cmd.run(ctx, args);
    return typeof code === "number" ? code : EXIT.ok;
  } catch (err) {
    if (err instanceof UsageError) return usageError(io, err, cmd.name);
    if (signal.aborted || err instanceof AbortError) {
      const generic = !(err instanceof AbortError) || /^(the operation was aborted|interrupted|aborted: interrupted)$/.test(err.message);
      io.stderr(`error: ${generic ? "interrupted" : err.message}\n`);
      return signal.aborted ? EXIT.interrupted : EXIT.error;
    }
    // The machine said no (no space, no permission, a path through a file): the user's to fix, not a bug.
    if (err instanceof DassError || isSystemError(err)) {
      io.stderr(`error: ${(err as Error).message}\n`);
      return EXIT.error;
    }
    const e = err as Error;
    io.stderr(`unexpected error (a bug in dass-wasm; please report it):\n${e?.stack ?? String(err)}\n`);
    return EXIT.error;
  }
}

/** An error from the operating system through Node's fs (ENOSPC, EACCES, ENOTDIR, ...). */
function isSystemError(e: unknown): boolean {
  const x = e as { code?: unknown; syscall?: unknown } | null;
  return e instanceof Error && typeof x!.code === "string" && /^E[A-Z0-9]+$/.test(x!.code) && typeof x!.syscall === "string";
}

function unknownCommand(name: string): string {
  const near = closest(name, COMMANDS.map((c) => c.name));
  return `unknown command ${JSON.stringify(name)}${near ? ` (did you mean ${near}?)` : ""}; commands: ${COMMANDS.map((c) => c.name).join(", ")}`;
}

function usageError(io: CliIO, err: UsageError, command?: string): number {
  const cmd = err.command ?? command;
  io.stderr(`error: ${err.message}\n${cmd ? `Run \`dass ${cmd} --help\` for usage.` : "Run `dass --help` for usage."}\n`);
  return EXIT.usage;
}
