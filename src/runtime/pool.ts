// The thread pool: thread 0 is the caller's thread, threads 1..n-1 are workers looping on the
// control block. A job is one kernel over work units [0, units), split into contiguous chunks
// whose boundaries are multiples of `grain`, so each unit is computed by the same code whatever
// the thread count (bit-identical results). A trap or a dead worker rejects the job; never a hang.
import { KernelError } from "../errors.js";
import type { HostKind } from "./detect.js";
import {
  ARGS_BYTE, CONTROL_BYTES, FN, MAIN_SPIN_MS, MAX_ARGS, NARGS, PENDING, RANGES, SEQ, SHUTDOWN,
  describe, recordError, takeError, type WorkerInit, type WorkerReply,
} from "./control.js";

type Kernel = (...args: number[]) => void;

interface WorkerHandle {
  post(m: WorkerInit): void;
  terminate(): void;
}

interface WaitAsyncResult { async: boolean; value: Promise<string> | string }
type WaitAsync = (a: Int32Array, i: number, v: number, t?: number) => WaitAsyncResult;

export class ThreadPool {
  readonly threads: number;
  private readonly ctl: Int32Array;
  private readonly argv: Float64Array;
  private readonly names: string[];
  private readonly index = new Map<string, number>();
  private readonly kernels: Kernel[];
  private workers: WorkerHandle[] = [];
  private broken: KernelError | undefined;
  private failed: (e: KernelError) => void = () => {};
  private readonly failure: Promise<never>;
  private busy = false;
  private queue: Array<() => void> = [];

  private constructor(instance: WebAssembly.Instance, module: WebAssembly.Module, threads: number) {
    this.threads = threads;
    const control = new SharedArrayBufferOrArrayBuffer(CONTROL_BYTES);
    this.ctl = new Int32Array(control);
    this.argv = new Float64Array(control, ARGS_BYTE, MAX_ARGS);
    this.names = WebAssembly.Module.exports(module).filter((d) => d.kind === "function").map((d) => d.name);
    this.names.forEach((n, i) => this.index.set(n, i));
    this.kernels = this.names.map((n) => instance.exports[n] as Kernel);
    this.failure = new Promise<never>((_, reject) => { this.failed = reject; });
    this.failure.catch(() => {});
  }

  /** A pool of `threads` (the caller counts as one); starts the workers when threads > 1. */
  static async create(
    instance: WebAssembly.Instance, module: WebAssembly.Module, memory: WebAssembly.Memory,
    threads: number, host: HostKind, signal?: AbortSignal,
  ): Promise<ThreadPool> {
    const pool = new ThreadPool(instance, module, threads);
    if (threads > 1) await pool.start(module, memory, host, signal);
    return pool;
  }

  has(name: string): boolean { return this.index.has(name); }

  /** No job running or queued. */
  get idle(): boolean { return !this.busy; }

  private async start(module: WebAssembly.Module, memory: WebAssembly.Memory, host: HostKind, signal?: AbortSignal): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let tid = 1; tid < this.threads; tid++) {
      const { handle, ready: r } = await spawn(host, tid, (e) => this.fail(e));
      this.workers.push(handle);
      handle.post({ type: "init", module, memory, control: this.ctl.buffer as SharedArrayBuffer, tid });
      ready.push(r);
    }
    const aborted = new Promise<never>((_, reject) => {
      signal?.addEventListener("abort", () => reject(new KernelError("runtime start aborted")), { once: true });
    });
    try {
      await Promise.race([Promise.all(ready), aborted, this.failure]);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private fail(e: KernelError): void {
    if (this.broken) return;
    this.broken = e;
    this.failed(e);
  }

  /** Runs export `name`(...args, r0, r1, tid) over [0, units) on all threads. */
  async run(name: string, args: readonly number[], units: number, grain: number): Promise<void> {
    const fn = this.index.get(name);
    if (fn === undefined) throw new KernelError(`no kernel named ${name} in the Wasm module`);
    if (args.length > MAX_ARGS) throw new KernelError(`${name}: too many arguments (${args.length})`);
    if (this.broken) throw this.broken;
    if (this.busy) await new Promise<void>((r) => this.queue.push(r));
    this.busy = true;
    try {
      await this.dispatch(fn, name, args, units, grain);
    } finally {
      const next = this.queue.shift();
      if (next) next(); else this.busy = false;
    }
  }

  private async dispatch(fn: number, name: string, args: readonly number[], units: number, grain: number): Promise<void> {
    const ctl = this.ctl;
    const g = Math.max(1, grain | 0);
    const chunk = Math.ceil(units / g / this.threads) * g;
    const used = chunk > 0 ? Math.min(this.threads, Math.ceil(units / chunk)) : 1;
    if (used <= 1 || this.broken) {
      if (this.broken) throw this.broken;
      try {
        this.kernels[fn](...args, 0, units, 0);
      } catch (e) {
        throw new KernelError(`kernel ${name} failed on thread 0: ${describe(e)}`);
      }
      return;
    }
    for (let i = 0; i < args.length; i++) this.argv[i] = args[i];
    ctl[FN] = fn;
    ctl[NARGS] = args.length;
    for (let t = 0; t < this.threads; t++) {
      ctl[RANGES + 2 * t] = Math.min(units, t * chunk);
      ctl[RANGES + 2 * t + 1] = Math.min(units, (t + 1) * chunk);
    }
    Atomics.store(ctl, PENDING, this.threads - 1);
    Atomics.add(ctl, SEQ, 1);
    Atomics.notify(ctl, SEQ);
    try {
      this.kernels[fn](...args, 0, Math.min(units, chunk), 0);
    } catch (e) {
      recordError(ctl, 0, describe(e));
    }
    await this.waitForWorkers();
    const err = takeError(ctl);
    if (err) throw new KernelError(`kernel ${name} failed on thread ${err.tid}: ${err.message}`);
  }

  private async waitForWorkers(): Promise<void> {
    const ctl = this.ctl;
    const until = performance.now() + MAIN_SPIN_MS;
    for (let i = 0; Atomics.load(ctl, PENDING) !== 0; i++) {
      if ((i & 63) === 63 && performance.now() > until) break;
    }
    if (Atomics.load(ctl, PENDING) === 0) return;
    const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
    // A pending Atomics.waitAsync does not keep Node's event loop alive (the workers are unref'd).
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      await this.waitLoop(waitAsync);
    } finally {
      clearInterval(keepAlive);
    }
  }

  private async waitLoop(waitAsync: WaitAsync | undefined): Promise<void> {
    const ctl = this.ctl;
    for (let v: number; (v = Atomics.load(ctl, PENDING)) !== 0;) {
      if (this.broken) throw this.broken;
      let wake: Promise<unknown>;
      if (waitAsync) {
        const r = waitAsync(ctl, PENDING, v, 1000);
        wake = r.async ? (r.value as Promise<string>) : Promise.resolve();
      } else {
        wake = new Promise((r) => setTimeout(r, 1));
      }
      await Promise.race([wake, this.failure]);
    }
  }

  /** Stops the workers. The pool cannot be used afterwards, with or without workers. */
  close(): void {
    if (this.workers.length) {
      Atomics.store(this.ctl, SHUTDOWN, 1);
      Atomics.add(this.ctl, SEQ, 1);
      Atomics.notify(this.ctl, SEQ);
      for (const w of this.workers) w.terminate();
      this.workers = [];
    }
    this.fail(new KernelError("the runtime is closed"));
  }
}

// The control block is shared with workers when there are any; a single-thread pool only needs
// the same layout in ordinary memory.
const SharedArrayBufferOrArrayBuffer: new (n: number) => ArrayBufferLike =
  typeof SharedArrayBuffer === "function" ? SharedArrayBuffer : ArrayBuffer;

async function spawn(
  host: HostKind, tid: number, onFail: (e: KernelError) => void,
): Promise<{ handle: WorkerHandle; ready: Promise<void> }> {
  const url = new URL("./worker.js", import.meta.url);
  let settle!: { ok: () => void; err: (e: Error) => void };
  const ready = new Promise<void>((ok, err) => { settle = { ok, err }; });
  const onReply = (m: WorkerReply) => {
    if (m.type === "ready") settle.ok();
    else { const e = new KernelError(`worker ${tid} failed to start: ${m.message}`); settle.err(e); onFail(e); }
  };
  if (host === "node") {
    const { Worker } = await import("node:worker_threads");
    const w = new Worker(url);
    w.unref();
    w.on("message", onReply);
    w.on("error", (e: Error) => onFail(new KernelError(`worker ${tid} crashed: ${describe(e)}`)));
    w.on("exit", (code: number) => onFail(new KernelError(`worker ${tid} exited (code ${code})`)));
    return { handle: { post: (m) => w.postMessage(m), terminate: () => void w.terminate() }, ready };
  }
  const w = new Worker(url, { type: "module" });
  w.onmessage = (e: MessageEvent<WorkerReply>) => onReply(e.data);
  w.onerror = (e: ErrorEvent) => {
    e.preventDefault?.();
    const err = new KernelError(`worker ${tid} crashed: ${e.message || "unknown error"}`);
    settle.err(err);
    onFail(err);
  };
  return { handle: { post: (m) => w.postMessage(m), terminate: () => w.terminate() }, ready };
}
