/**
 * Progress reporting. Library functions accept `onProgress?: (p: Progress) => void` and call it as work
 * advances; they never print. The CLI turns those calls into a progress bar on a terminal (cli-progress),
 * occasional plain lines when output is redirected (logs, CI), or nothing with `--json`.
 *
 * Reporters write to stderr by default so stdout stays clean for results (generated text, JSON).
 */
import { formatBytes } from "../errors.js";

/**
 * One progress update. `done` counts up to `total` within a `phase` (e.g. "download", "calibrate",
 * "prune", "eval"); `total` may be 0 when unknown. A new `phase` starts a new bar / line sequence.
 */
export interface Progress {
  /** Short name of the current stage of work. */
  phase: string;
  /** Units completed in this phase. */
  done: number;
  /** Units in this phase; 0 when unknown. */
  total: number;
  /** Optional detail, e.g. the file or the matrix being worked on. */
  message?: string;
  /** What `done`/`total` count: "bytes" renders them as KiB/MiB. Default "items". */
  unit?: "bytes" | "items";
}

/** The progress callback every long-running library function accepts. */
export type OnProgress = (p: Progress) => void;

/** How a reporter shows progress. */
export type ProgressMode = "bar" | "lines" | "silent";

/** Minimal writable stream: Node's `process.stderr` fits, as does a test double. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Options of `createProgressReporter`. */
export interface ProgressReporterOptions {
  /** "auto" (default): silent when `json`, a bar on a TTY (unless `TERM=dumb` or `CI`), lines otherwise. */
  mode?: ProgressMode | "auto";
  /** Machine-readable output requested: implies silent in "auto" mode. */
  json?: boolean;
  /** Where to write (default `process.stderr`). */
  stream?: ProgressStream;
  /** Minimum time between two plain lines of the same phase, in ms (default 2000). */
  lineIntervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
  /** Environment consulted by "auto" (default `process.env`). */
  env?: Record<string, string | undefined>;
}

/** Renders `Progress` updates; call `stop()` before printing results or exiting. */
export interface ProgressReporter {
  readonly mode: ProgressMode;
  /** Pass this as the library's `onProgress`. */
  readonly onProgress: OnProgress;
  /** Prints a message line without corrupting an active bar (nothing in silent mode). */
  log(line: string): void;
  /** Finishes any active bar. Idempotent. */
  stop(): void;
}

/** Picks the mode "auto" resolves to. */
export function resolveProgressMode(opts: ProgressReporterOptions, stream: ProgressStream | undefined): ProgressMode {
  const mode = opts.mode ?? "auto";
  if (mode !== "auto") return mode;
  if (opts.json || !stream) return "silent";
  const env = opts.env ?? (typeof process !== "undefined" ? process.env : {});
  if (stream.isTTY && env.TERM !== "dumb" && !env.CI) return "bar";
  return "lines";
}

function amount(p: Progress, v: number): string {
  return p.unit === "bytes" ? formatBytes(v) : String(v);
}

function describe(p: Progress, withPercent: boolean): string {
  const parts = [`${p.phase}:`];
  if (p.total > 0) {
    if (withPercent) parts.push(`${Math.floor((100 * Math.min(p.done, p.total)) / p.total)}%`);
    parts.push(`(${amount(p, p.done)}/${amount(p, p.total)})`);
  } else if (p.done > 0) {
    parts.push(amount(p, p.done));
  }
  if (p.message) parts.push(p.message);
  return parts.join(" ");
}

/**
 * Creates a reporter. Async because the bar mode loads `cli-progress` lazily (keeping it, and Node's TTY
 * code, out of library bundles that only need the `Progress` type).
 */
export async function createProgressReporter(opts: ProgressReporterOptions = {}): Promise<ProgressReporter> {
  const stream: ProgressStream | undefined =
    opts.stream ?? (typeof process !== "undefined" ? (process.stderr as unknown as ProgressStream) : undefined);
  const mode = resolveProgressMode(opts, stream);
  if (mode === "silent" || !stream) return silentReporter();
  if (mode === "lines") return linesReporter(stream, opts);
  return barReporter(stream);
}

function silentReporter(): ProgressReporter {
  return { mode: "silent", onProgress: () => {}, log: () => {}, stop: () => {} };
}

function linesReporter(stream: ProgressStream, opts: ProgressReporterOptions): ProgressReporter {
  const now = opts.now ?? Date.now;
  const interval = opts.lineIntervalMs ?? 2000;
  let phase: string | null = null;
  let last = 0;
  let lastDone = 0;
  let finished = false;
  let pending: Progress | null = null;
  const print = (p: Progress) => {
    stream.write(describe(p, true) + "\n");
    last = now();
    pending = null;
  };
  return {
    mode: "lines",
    onProgress(p: Progress): void {
      const restart = p.phase !== phase || p.done < lastDone;
      lastDone = p.done;
      if (restart) {
        // Close the previous sequence with its last state if that was never printed.
        if (pending && !finished) print(pending);
        phase = p.phase;
        finished = false;
        print(p);
        if (p.total > 0 && p.done >= p.total) finished = true;
        return;
      }
      if (finished) return;
      if (p.total > 0 && p.done >= p.total) {
        print(p);
        finished = true;
      } else if (now() - last >= interval) {
        print(p);
      } else {
        pending = p;
      }
    },
    log(line: string): void {
      stream.write(line + "\n");
    },
    stop(): void {
      if (pending && !finished) print(pending);
      pending = null;
      phase = null;
      lastDone = 0;
    },
  };
}

interface BarLike {
  start(total: number, value: number, payload?: object): void;
  update(value: number, payload?: object): void;
  setTotal(total: number): void;
  stop(): void;
}

async function barReporter(stream: ProgressStream): Promise<ProgressReporter> {
  const mod = (await import("cli-progress")) as unknown as {
    default?: typeof import("cli-progress");
  } & typeof import("cli-progress");
  const cli = mod.default ?? mod;
  let bar: BarLike | null = null;
  let phase: string | null = null;
  let lastDone = 0;
  const payload = (p: Progress) => ({
    phase: p.phase,
    amount: p.total > 0 ? `${amount(p, p.done)}/${amount(p, p.total)}` : amount(p, p.done),
    message: p.message ?? "",
  });
  const newBar = (): BarLike =>
    new cli.SingleBar({
      stream: stream as unknown as NodeJS.WritableStream,
      format: "{phase} |{bar}| {percentage}% {amount} eta {eta_formatted} {message}",
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      // Bars are redrawn on a timer; an explicit update with a changed payload is enough for us.
      fps: 10,
      etaBuffer: 50,
      linewrap: false,
    }) as unknown as BarLike;
  const stop = () => {
    if (bar) {
      bar.stop();
      bar = null;
    }
    phase = null;
    lastDone = 0;
  };
  return {
    mode: "bar",
    onProgress(p: Progress): void {
      // A new phase, or a count that starts over (the next file of a download), gets its own bar.
      if (p.phase !== phase || !bar || p.done < lastDone) {
        stop();
        phase = p.phase;
        lastDone = p.done;
        bar = newBar();
        bar.start(Math.max(0, p.total), Math.max(0, p.done), payload(p));
        return;
      }
      lastDone = p.done;
      bar.setTotal(Math.max(0, p.total));
      bar.update(Math.max(0, p.done), payload(p));
    },
    log(line: string): void {
      // Clear the bar's line, print, and let the next update redraw the bar below.
      stream.write(`\r\x1b[K${line}\n`);
    },
    stop,
  };
}
