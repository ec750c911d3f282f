// Flags and errors of the bench scripts, reported the way `dass` reports its own: a malformed
// invocation is one `error:` line on stderr and exit code 2, before anything is measured; a failure
// while measuring is exit code 1 with its stack (there it is a bug to report, as in `dass`).
import { parseArgs } from "node:util";
import { parseArgsMessage } from "../../src/cli/args.js";

/** A malformed flag or value: the bench measures nothing and exits with 2. */
export class BenchUsageError extends Error {}

type FlagSpec = Record<string, { type: "string" | "boolean" }>;
type FlagValues<O extends FlagSpec> = { [K in keyof O]?: O[K]["type"] extends "string" ? string : boolean };

/**
 * The flags of bench `name` (no positionals). `--help` (or `-h`) prints `usage` and exits with 0;
 * an unknown flag or a missing value is a BenchUsageError worded as `dass` words it.
 */
export function benchFlags<const O extends FlagSpec>(name: string, usage: string, options: O): FlagValues<O> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(usage);
    process.exit(0);
  }
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as FlagValues<O>;
  } catch (err) {
    throw new BenchUsageError(parseArgsMessage(err, Object.keys(options), name));
  }
}

/** A positive integer flag value. */
export function positiveInt(s: string, flag: string): number {
  const v = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(v) || v < 1) throw new BenchUsageError(`${flag}: expected positive integers, got "${s}"`);
  return v;
}

/** A comma-separated list of positive integers (`1,2`). */
export function positiveInts(s: string, flag: string): number[] {
  return s.split(",").map((p) => positiveInt(p, flag));
}

/** Runs a bench's main and turns what it throws into an `error:` line and an exit code. */
export async function runBench(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    if (err instanceof BenchUsageError) {
      process.stderr.write(`error: ${err.message}\nRun with --help for usage.\n`);
      process.exit(2);
    }
    process.stderr.write(`error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  }
}
