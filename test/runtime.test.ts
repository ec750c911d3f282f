// How the runtime fails: a kernel that traps, an unknown kernel, a request for more Wasm memory
// than wasm32 allows, a closed runtime. Each must be a typed error (a rejected promise, never a
// hang), and a runtime whose kernel trapped must go on computing correctly.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArgumentError, createRuntime, KernelError, WasmMemoryError, type Runtime } from "../src/index.js";
import * as K from "../src/kernels/index.js";

const GiB = 1024 ** 3;

async function rejects<E>(fn: () => unknown, type: abstract new (...a: never[]) => E, what: string): Promise<E> {
  let err: unknown;
  try { await fn(); } catch (e) { err = e; }
  assert.instance(err, type, `${what}: got ${String(err)}`);
  return err as E;
}

/** y += x through the `add_f32` kernel, checked. */
async function addWorks(rt: Runtime, what: string): Promise<void> {
  const x = Float32Array.from({ length: 37 }, (_, i) => i - 18.5);
  const a = rt.heap.from("f32", x), b = rt.heap.from("f32", x);
  try {
    await K.addInPlace(rt, a, b, x.length);
    assert.equal(Array.from(b.read()), Array.from(x, (v) => 2 * v), what);
  } finally { a.free(); b.free(); }
}

const traps = suite("runtime failures");

traps("a kernel that traps rejects with KernelError naming it, and the runtime keeps working", async () => {
  for (const threads of [1, 2]) {
    const rt = await createRuntime({ threads });
    try {
      // Pointers past the end of Wasm memory: every thread's first load traps.
      const past = 0xffff_0000;
      const e = await rejects(() => rt.run("add_f32", [past, past], 4096, 4), KernelError, `${threads} threads`);
      assert.match(e.message, /kernel add_f32 failed on thread \d: .*out of bounds/i);
      await addWorks(rt, `after the trap, ${threads} threads`);
    } finally { rt.close(); }
  }
});

traps("an unknown kernel, a closed runtime: KernelError; bad unit counts: ArgumentError", async () => {
  for (const threads of [1, 2]) {
    const rt = await createRuntime({ threads });
    await rejects(() => rt.run("no_such_kernel", [], 8), KernelError, "unknown kernel");
    const units = await rejects(() => rt.run("add_f32", [0, 0], -1), ArgumentError, "negative units");
    assert.is(units.arg, "units");
    rt.close();
    const closed = await rejects(() => addWorks(rt, "closed"), KernelError, `closed, ${threads} threads`);
    assert.match(closed.message, /the runtime is closed/);
  }
});

traps("Wasm memory: requests past 4 GiB are WasmMemoryError naming the size; nothing is lost", async () => {
  const rt = await createRuntime({ threads: 1 });
  try {
    const keep = rt.heap.from("f32", [1, 2, 3]);
    const inUse = rt.heap.bytesInUse;
    const big = await rejects(() => rt.heap.alloc("f32", GiB), WasmMemoryError, "4 GiB of f32");
    assert.is(big.requestedBytes, 4 * GiB);
    assert.is(big.code, "ERR_WASM_MEMORY");
    assert.match(big.message, /^cannot allocate 4\.00 GiB in Wasm memory \(\d+ B in use, wasm32 limit 4 GiB\)/);
    // Two requests that fit one at a time but not together: the second fails, the first stays.
    // (Raw blocks are not zero-filled, so this reserves address space without touching it; an
    // engine may already refuse the first growth, which is the same error.)
    let first: number | undefined;
    const two = await rejects(() => { first = rt.heap.allocBytes(2.5 * GiB); return rt.heap.allocBytes(2 * GiB); }, WasmMemoryError, "2.5 + 2 GiB");
    assert.is(two.requestedBytes, first === undefined ? 2.5 * GiB : 2 * GiB);
    if (first !== undefined) rt.heap.release(first);
    assert.is(rt.heap.bytesInUse, inUse);
    for (const bad of [-1, 1.5, Number.NaN]) {
      const e = await rejects(() => rt.heap.alloc("f32", bad), ArgumentError, `length ${bad}`);
      assert.is(e.arg, "length");
    }
    assert.equal(Array.from(keep.read()), [1, 2, 3]);
    await addWorks(rt, "after the failed requests");
  } finally { rt.close(); }
});

traps.run();
