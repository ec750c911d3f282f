// createRuntime(): load the kernel module, set up memory and the thread pool, and report what
// the host really allowed.
import { AbortError, ArgumentError, throwIfAborted } from "../errors.js";
import { detectConcurrency, detectHost, type HostKind } from "./detect.js";
import { WasmHeap, MAX_WASM_BYTES } from "./heap.js";
import { ThreadPool } from "./pool.js";
import { loadModule, type WasmOption, type WasmVariant } from "./wasm-source.js";
import { MAX_THREADS } from "./control.js";

/** Options of createRuntime(). */
export interface RuntimeOptions {
  /** Threads to use, the caller's included. Default: all logical processors (at most 64). */
  threads?: number;
  /** The kernel module: bytes, a URL, a compiled module, or one of those per build. Default: the package's builds. */
  wasm?: WasmOption;
  /** Cancels start-up (worker creation). */
  signal?: AbortSignal;
  /**
   * Jobs with less estimated work than this (multiply-adds or element operations) run on the
   * calling thread. Default {@link DEFAULT_MIN_PARALLEL_WORK}; 0 splits every job (tests use it to
   * exercise the threaded paths on small inputs).
   */
  minParallelWork?: number;
}

/**
 * Waking a worker costs about 2 µs when it spins, 15 µs through `Atomics.wait` and 90 µs when it
 * slept; on a machine busy with other processes it can cost a scheduler time slice (milliseconds).
 * A job is split only when it is worth some 100 µs of work on one thread, so that the
 * hand-off is small against the time saved. (At 64 Ki operations, the previous threshold, a
 * stories260K decode step at 2 threads ran 4x slower than at 1 on a loaded machine.)
 */
export const DEFAULT_MIN_PARALLEL_WORK = 1 << 20;

/** The kernels' execution context: Wasm memory, the arena over it, and the threads. */
export interface Runtime {
  /** The JavaScript host. */
  readonly host: HostKind;
  /** Threads in use (1 = single-thread fallback). */
  readonly threads: number;
  /** Whether Wasm memory is shared with worker threads. */
  readonly shared: boolean;
  /** Always true: every build uses 128-bit SIMD (an engine without it cannot run dass-wasm). */
  readonly simd: true;
  /** Whether the relaxed-SIMD build (fused multiply-add) was chosen. */
  readonly relaxedSimd: boolean;
  /** The build that was loaded. */
  readonly variant: WasmVariant | "custom";
  /** Why fewer threads than requested are used, if so. */
  readonly downgradeReason: string | undefined;
  /** The arena in Wasm memory. */
  readonly heap: WasmHeap;
  /** Jobs with less estimated work than this run on the calling thread (see RuntimeOptions). */
  readonly minParallelWork: number;
  /**
   * Runs the kernel export `name`(...args, r0, r1, tid) over work units [0, units), split across
   * threads in contiguous chunks whose boundaries are multiples of `grain`. `work` estimates the
   * job's multiply-adds or element operations: below `minParallelWork` it runs on the calling
   * thread (results are the same either way).
   */
  run(name: string, args: readonly number[], units: number, grain?: number, work?: number): Promise<void>;
  /** Per-thread scratch space of at least `bytesPerThread`: thread tid uses `ptr + tid * stride`. */
  scratch(bytesPerThread: number): { ptr: number; stride: number };
  /** Whether the module exports a kernel of this name. */
  hasKernel(name: string): boolean;
  /** Stops the worker threads; every later `run` rejects with KernelError (single-thread runtimes too). */
  close(): void;
}

class WasmRuntime implements Runtime {
  readonly simd = true as const;
  private scratchBlock: { ptr: number; stride: number } | undefined;
  private readonly retired: number[] = [];
  constructor(
    readonly host: HostKind,
    readonly threads: number,
    readonly shared: boolean,
    readonly relaxedSimd: boolean,
    readonly variant: WasmVariant | "custom",
    readonly downgradeReason: string | undefined,
    readonly heap: WasmHeap,
    readonly minParallelWork: number,
    private readonly pool: ThreadPool,
  ) {}

  async run(name: string, args: readonly number[], units: number, grain = 1, work?: number): Promise<void> {
    if (!Number.isInteger(units) || units < 0) throw new ArgumentError("units", `must be a non-negative integer, got ${units}`);
    if (units === 0) return;
    try {
      await this.pool.run(name, args, units, work !== undefined && work < this.minParallelWork ? units : grain);
    } finally {
      if (this.retired.length && this.pool.idle) {
        for (const p of this.retired) this.heap.release(p);
        this.retired.length = 0;
      }
    }
  }

  scratch(bytesPerThread: number): { ptr: number; stride: number } {
    const stride = Math.ceil(Math.max(64, bytesPerThread) / 64) * 64;
    if (!this.scratchBlock || this.scratchBlock.stride < stride) {
      // A queued job may still hold the old block: free it only once the pool is idle.
      if (this.scratchBlock) this.retired.push(this.scratchBlock.ptr);
      this.scratchBlock = { ptr: this.heap.allocBytes(stride * this.threads), stride };
    }
    return this.scratchBlock;
  }

  hasKernel(name: string): boolean { return this.pool.has(name); }

  close(): void { this.pool.close(); }
}

/**
 * Creates a runtime: the best Wasm build for this host (relaxed SIMD when the engine accepts
 * it), shared memory and worker threads where SharedArrayBuffer is usable, else a single-thread
 * fallback whose reason is reported in `downgradeReason`.
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const { signal } = options;
  throwIfAborted(signal);
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) {
    throw new ArgumentError("threads", `must be a positive integer, got ${options.threads}`);
  }
  const minParallelWork = options.minParallelWork ?? DEFAULT_MIN_PARALLEL_WORK;
  if (typeof minParallelWork !== "number" || !(minParallelWork >= 0) || minParallelWork === Infinity) {
    throw new ArgumentError("minParallelWork", `must be a finite number >= 0, got ${String(options.minParallelWork)}`);
  }
  const host = detectHost();
  const available = await detectConcurrency(host);
  let threads = Math.min(options.threads ?? available, MAX_THREADS);
  let reason: string | undefined;
  if (threads > 1 && !host.sharedMemory) {
    reason = host.sharedMemoryReason;
    threads = 1;
  }
  if (options.threads !== undefined && options.threads > MAX_THREADS) reason = `at most ${MAX_THREADS} threads are supported`;

  let loaded = await loadModule(options.wasm, threads > 1, host.kind);
  throwIfAborted(signal);
  const maximum = MAX_WASM_BYTES / 65536;
  let shared = threads > 1;
  let memory = new WebAssembly.Memory({ initial: 17, maximum, shared } as WebAssembly.MemoryDescriptor);
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(loaded.module, { env: { memory } });
  } catch (e) {
    // A caller-supplied single module may be the other build than the one we guessed.
    if (!(e instanceof WebAssembly.LinkError) || loaded.variant !== "custom") throw e;
    shared = !shared;
    if (shared && !host.sharedMemory) throw e;
    memory = new WebAssembly.Memory({ initial: 17, maximum, shared } as WebAssembly.MemoryDescriptor);
    instance = new WebAssembly.Instance(loaded.module, { env: { memory } });
    if (!shared && threads > 1) { threads = 1; reason = "the supplied module is the single-thread build"; }
  }
  if (!shared) threads = 1;
  const pool = await ThreadPool.create(instance, loaded.module, memory, threads, host.kind, signal).catch((e) => {
    if (signal?.aborted) throw new AbortError("runtime start aborted");
    throw e;
  });
  loaded = { ...loaded };
  return new WasmRuntime(host.kind, threads, shared, loaded.relaxedSimd, loaded.variant, reason, new WasmHeap(memory), minParallelWork, pool);
}
