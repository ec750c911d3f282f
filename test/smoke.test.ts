// Harness sanity and runtime start-up in every environment. In the browser harness the page says
// which runtime mode it must get (served with or without COOP/COEP), and that is asserted here.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArgumentError, createRuntime, DEFAULT_MIN_PARALLEL_WORK, type Runtime } from "../src/index.js";
import { envName, expectedBrowserMode, isBrowser, isDeno, isNode } from "./util/env.js";
import { mulberry32, randomF32 } from "./util/random.js";
import { readSharedData, skipNote } from "./util/data.js";

const env = suite("environment");

env("exactly one environment is detected", () => {
  assert.is([isNode, isDeno, isBrowser].filter(Boolean).length, 1);
  assert.not.equal(envName, "unknown");
});

env("mulberry32 matches the generator in docs/methods.md", () => {
  const a = mulberry32(0), b = mulberry32(0);
  const first = a();
  assert.ok(first >= 0 && first < 1);
  assert.is(first, b());
  // Published first outputs of mulberry32(1) (0.62707394..., 0.00273572...): guards against drift.
  const r = mulberry32(1);
  assert.equal([r(), r()].map((x) => Math.round(x * 1e9)), [627073941, 2735721]);
});

env("shared data: present files are read, absent ones give null", async () => {
  assert.is(await readSharedData("no/such/file.bin"), null);
  const ref = await readSharedData("REFERENCE.md");
  if (!ref) return skipNote("../shared/data");
  assert.instance(ref, Uint8Array);
  assert.ok(ref.length > 0);
});

env.run();

const runtime = suite("runtime");

async function withRuntime(threads: number | undefined, fn: (rt: Runtime) => void | Promise<void>): Promise<void> {
  const rt = await createRuntime(threads === undefined ? {} : { threads });
  try {
    await fn(rt);
  } finally {
    rt.close();
  }
}

runtime("createRuntime() reports sensible fields", async () => {
  await withRuntime(undefined, (rt) => {
    assert.is(rt.host, envName);
    assert.ok(Number.isInteger(rt.threads) && rt.threads >= 1, `threads = ${rt.threads}`);
    assert.is(rt.shared, rt.threads > 1);
    assert.is(typeof rt.relaxedSimd, "boolean");
    if (rt.threads > 1) assert.is(rt.downgradeReason, undefined);
  });
});

runtime("minParallelWork: default, explicit, and bad values named", async () => {
  await withRuntime(1, (rt) => assert.is(rt.minParallelWork, DEFAULT_MIN_PARALLEL_WORK));
  const rt = await createRuntime({ threads: 1, minParallelWork: 0 });
  assert.is(rt.minParallelWork, 0);
  rt.close();
  for (const bad of [-1, Number.NaN, Infinity, "4" as unknown as number]) {
    let err: unknown;
    try { (await createRuntime({ threads: 1, minParallelWork: bad })).close(); } catch (e) { err = e; }
    assert.instance(err, ArgumentError, `minParallelWork ${String(bad)}`);
    assert.is((err as ArgumentError).arg, "minParallelWork");
  }
});

runtime("heap round-trips data for 1 and 2 threads", async () => {
  for (const threads of [1, 2]) {
    await withRuntime(threads, (rt) => {
      const src = randomF32(17, mulberry32(threads), 3);
      const arr = rt.heap.alloc("f32", src.length);
      assert.is(arr.ptr % 64, 0);
      arr.set(src);
      assert.equal(Array.from(arr.read()), Array.from(src));
      arr.free();
    });
  }
});

runtime("non-browser hosts get threads when asked", async () => {
  if (isBrowser) return;
  await withRuntime(2, (rt) => {
    assert.is(rt.threads, 2);
    assert.ok(rt.shared);
  });
});

runtime("browser page gets the runtime mode its headers allow", async () => {
  const mode = expectedBrowserMode();
  if (!mode) return;
  const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
  if (mode === "isolated") {
    assert.is(g.crossOriginIsolated, true, "page should be cross-origin isolated");
    await withRuntime(undefined, (rt) => {
      if ((g.navigator?.hardwareConcurrency ?? 1) >= 2) assert.ok(rt.threads > 1, `threads = ${rt.threads}`);
    });
    await withRuntime(2, (rt) => {
      assert.is(rt.threads, 2);
      assert.ok(rt.shared);
      assert.is(rt.downgradeReason, undefined);
    });
  } else {
    assert.is.not(g.crossOriginIsolated, true, "page should not be cross-origin isolated");
    await withRuntime(2, (rt) => {
      assert.is(rt.threads, 1);
      assert.not.ok(rt.shared);
      assert.match(rt.downgradeReason ?? "", /cross-origin isolation/i);
    });
  }
});

runtime.run();
