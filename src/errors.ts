/** Base class of every error dass-wasm throws on purpose; `code` is stable for programs to match. */
export class DassError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A caller-supplied argument is invalid: wrong shape, length, pattern, range, or a non-finite value. */
export class ArgumentError extends DassError {
  /** The name of the offending argument, as it appears in the API or CLI. */
  readonly arg: string;
  constructor(arg: string, message: string) {
    super("ERR_ARGUMENT", `${arg}: ${message}`);
    this.arg = arg;
  }
}

/** Wasm memory could not hold a request: wasm32 addresses at most 4 GiB. */
export class WasmMemoryError extends DassError {
  /** Bytes asked for by the failing allocation. */
  readonly requestedBytes: number;
  /** Bytes of Wasm memory in use (allocated) when it failed. */
  readonly inUseBytes: number;
  constructor(requestedBytes: number, inUseBytes: number, reason: string) {
    super(
      "ERR_WASM_MEMORY",
      `cannot allocate ${formatBytes(requestedBytes)} in Wasm memory (${formatBytes(inUseBytes)} in use, ` +
        `wasm32 limit 4 GiB): ${reason}`,
    );
    this.requestedBytes = requestedBytes;
    this.inUseBytes = inUseBytes;
  }
}

/** A kernel trapped or a worker thread died; the runtime that raised it should be closed. */
export class KernelError extends DassError {
  constructor(message: string) {
    super("ERR_KERNEL", message);
  }
}

/** A model, tokenizer or data file is malformed, truncated or unsupported. */
export class FormatError extends DassError {
  /** The file (path or name) that holds the problem. */
  readonly file: string;
  constructor(file: string, message: string) {
    super("ERR_FORMAT", `${file}: ${message}`);
    this.file = file;
  }
}

/** Work was cancelled through an AbortSignal. */
export class AbortError extends DassError {
  constructor(message = "the operation was aborted") {
    super("ERR_ABORTED", message);
  }
}

/** Throws AbortError if the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(abortMessage(signal));
}

function abortMessage(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (r instanceof Error && r.name !== "AbortError") return `aborted: ${r.message}`;
  return "the operation was aborted";
}

/** Human-readable byte count (binary units). */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (Math.abs(n) >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  return `${u === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[u]}`;
}
