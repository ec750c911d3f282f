// A kernel worker: instantiates the module on the shared memory, then loops forever on the
// control block: spin briefly for the next job (a decode step issues hundreds of small kernels
// back to back), then sleep in Atomics.wait. Runs as a Node worker_thread or a Web Worker.
import {
  ARGS_BYTE, FN, MAX_ARGS, NARGS, PENDING, RANGES, SEQ, SHUTDOWN, WORKER_SPIN_MS,
  describe, recordError, type WorkerInit, type WorkerReply,
} from "./control.js";

type Kernel = (...args: number[]) => void;

function run(init: WorkerInit, reply: (m: WorkerReply) => void): void {
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
  } catch (e) {
    reply({ type: "error", message: describe(e) });
    return;
  }
  const kernels: Kernel[] = WebAssembly.Module.exports(init.module)
    .filter((d) => d.kind === "function")
    .map((d) => instance.exports[d.name] as Kernel);
  const ctl = new Int32Array(init.control);
  const argv = new Float64Array(init.control, ARGS_BYTE, MAX_ARGS);
  const tid = init.tid;
  // Read the sequence number before announcing readiness: a job posted right after "ready" must
  // look new to this worker, or the caller would wait for it forever.
  let seen = Atomics.load(ctl, SEQ);
  reply({ type: "ready" });
  const args: number[] = [];
  for (;;) {
    let s = Atomics.load(ctl, SEQ);
    if (s === seen) {
      const until = performance.now() + WORKER_SPIN_MS;
      for (let i = 0; (s = Atomics.load(ctl, SEQ)) === seen; i++) {
        if ((i & 255) === 255 && performance.now() > until) {
          Atomics.wait(ctl, SEQ, seen);
        }
      }
    }
    seen = s;
    if (Atomics.load(ctl, SHUTDOWN) !== 0) return;
    const r0 = ctl[RANGES + 2 * tid], r1 = ctl[RANGES + 2 * tid + 1];
    if (r1 > r0) {
      const n = ctl[NARGS];
      args.length = n;
      for (let i = 0; i < n; i++) args[i] = argv[i];
      try {
        kernels[ctl[FN]](...args, r0, r1, tid);
      } catch (e) {
        recordError(ctl, tid, describe(e));
      }
    }
    if (Atomics.sub(ctl, PENDING, 1) === 1) Atomics.notify(ctl, PENDING);
  }
}

interface WebWorkerScope {
  onmessage: ((e: { data: WorkerInit }) => void) | null;
  postMessage(m: WorkerReply): void;
}

const g = globalThis as unknown as { WorkerGlobalScope?: unknown };
if (g.WorkerGlobalScope !== undefined) {
  const scope = globalThis as unknown as WebWorkerScope;
  scope.onmessage = (e) => { scope.onmessage = null; run(e.data, (m) => scope.postMessage(m)); };
} else {
  const { parentPort } = await import("node:worker_threads");
  parentPort!.once("message", (init: WorkerInit) => run(init, (m) => parentPort!.postMessage(m)));
}
