/** What a command runs with: output sinks, the cancellation signal, and progress reporting. */
import { createProgressReporter, type ProgressReporter, type ProgressStream } from "../util/progress.js";

/** Where the CLI writes. Tests pass in-memory sinks; `main.ts` passes the process streams. */
export interface CliIO {
  /** Results: generated text (raw bytes where exactness matters), tables, JSON. */
  stdout(text: string | Uint8Array): void;
  /** Diagnostics: errors, progress lines, notes. */
  stderr(text: string): void;
  /** The stream progress bars draw on (its `isTTY` decides bar vs lines). */
  progressStream?: ProgressStream;
  /** Environment variables (DASS_CACHE, DASS_PULL_BASE_URL, CI, TERM, ...). */
  env: Record<string, string | undefined>;
}

/** Passed to every command. */
export interface CommandContext {
  io: CliIO;
  /** Fires on Ctrl-C; pass it to every library call. */
  signal: AbortSignal;
  /** `--json` was given: print one JSON document on stdout and no progress. */
  json: boolean;
  /** Prints a JSON document (pretty, newline-terminated) on stdout. */
  printJson(value: unknown): void;
  /**
   * A progress reporter for this run (bar on a TTY, lines otherwise, silent with --json). The command must
   * call `stop()` on it (or use `withProgress`).
   */
  progress(): Promise<ProgressReporter>;
  /** Runs `fn` with a reporter and stops it afterwards, whatever happens. */
  withProgress<T>(fn: (r: ProgressReporter) => Promise<T>): Promise<T>;
  /** A note on stderr (suppressed with --json). */
  note(text: string): void;
}

/** Builds the context for one command run. */
export function createContext(io: CliIO, signal: AbortSignal, json: boolean): CommandContext {
  const progress = () =>
    createProgressReporter({ json, stream: io.progressStream, env: io.env, mode: io.progressStream ? "auto" : "silent" });
  return {
    io,
    signal,
    json,
    printJson: (value) => io.stdout(JSON.stringify(value, null, 2) + "\n"),
    progress,
    async withProgress<T>(fn: (r: ProgressReporter) => Promise<T>): Promise<T> {
      const r = await progress();
      try {
        return await fn(r);
      } finally {
        r.stop();
      }
    },
    note: (text) => {
      if (!json) io.stderr(text.endsWith("\n") ? text : text + "\n");
    },
  };
}
