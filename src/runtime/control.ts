// Layout of the control block shared by the main thread and the workers (a SharedArrayBuffer
// separate from Wasm memory, so it never moves when memory grows).

/** Int32 slots. */
export const SEQ = 0;        // job sequence number; bumped by the main thread to start a job
export const PENDING = 1;    // workers still running the current job
export const ERROR = 2;      // 0, or 1 + id of the first thread that failed
export const FN = 3;         // index of the export to call
export const NARGS = 4;      // number of leading arguments
export const SHUTDOWN = 5;   // non-zero: workers leave their loop
export const ERRLEN = 6;     // length of the error message in UTF-16 units
export const RANGES = 16;    // [r0, r1] per thread id: RANGES + 2 * tid
export const MAX_THREADS = 64;

/** Byte offsets. */
export const ARGS_BYTE = 1024;   // Float64 arguments
export const MAX_ARGS = 48;
export const MSG_BYTE = 2048;    // UTF-16 error message
export const MSG_CHARS = 1024;
export const CONTROL_BYTES = MSG_BYTE + MSG_CHARS * 2;

/** How long an idle worker spins before it sleeps in Atomics.wait (ms). */
export const WORKER_SPIN_MS = 0.5;
/** How long the main thread spins for workers before it waits asynchronously (ms). */
export const MAIN_SPIN_MS = 2;

/** Message sent to a worker to start it. */
export interface WorkerInit {
  type: "init";
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  tid: number;
}

/** Messages a worker sends back. */
export type WorkerReply = { type: "ready" } | { type: "error"; message: string };

/** Records the first failure of a job (thread-safe: only the first writer wins). */
export function recordError(ctl: Int32Array, tid: number, message: string): void {
  if (Atomics.compareExchange(ctl, ERROR, 0, tid + 1) !== 0) return;
  const chars = new Uint16Array(ctl.buffer, MSG_BYTE, MSG_CHARS);
  const n = Math.min(message.length, MSG_CHARS);
  for (let i = 0; i < n; i++) chars[i] = message.charCodeAt(i);
  Atomics.store(ctl, ERRLEN, n);
}

/** Reads and clears the failure recorded for the current job, if any. */
export function takeError(ctl: Int32Array): { tid: number; message: string } | undefined {
  const who = Atomics.load(ctl, ERROR);
  if (who === 0) return undefined;
  const n = Atomics.load(ctl, ERRLEN);
  const chars = new Uint16Array(ctl.buffer, MSG_BYTE, n);
  let message = "";
  for (let i = 0; i < n; i++) message += String.fromCharCode(chars[i]);
  Atomics.store(ctl, ERROR, 0);
  return { tid: who - 1, message };
}

/** Describes an exception thrown by a kernel (a Wasm trap is a WebAssembly.RuntimeError). */
export function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}
