// Timing with the `benchmark` library: it decides how many samples a function needs; we report
// the median of its samples (the noisy 2-vCPU machines make means misleading). Each function is
// warmed up by time first, because V8 runs baseline (Liftoff) Wasm code for a while.
import Benchmark from "benchmark";

export interface Timing {
  /** Median milliseconds per call. */
  medianMs: number;
  samples: number;
}

export interface MeasureOptions {
  /** Warm-up time before sampling (ms). */
  warmupMs?: number;
  /** Sampling time budget (s), as benchmark's maxTime. */
  maxTime?: number;
  minSamples?: number;
}

/** Median time per call of an async function. */
export async function measure(fn: () => Promise<void> | void, opts: MeasureOptions = {}): Promise<Timing> {
  const warmupMs = opts.warmupMs ?? 600;
  const t0 = performance.now();
  do { await fn(); } while (performance.now() - t0 < warmupMs);
  return new Promise<Timing>((resolve, reject) => {
    const bench = new Benchmark({
      defer: true,
      async: true,
      maxTime: opts.maxTime ?? 1.5,
      minSamples: opts.minSamples ?? 5,
      initCount: 1,
      fn: (deferred: { resolve(): void }) => {
        Promise.resolve(fn()).then(() => deferred.resolve(), reject);
      },
      onError: (e: unknown) => reject(e),
      onComplete: () => {
        const s = [...bench.stats.sample].sort((a, b) => a - b);
        const mid = s.length >> 1;
        const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
        resolve({ medianMs: median * 1000, samples: s.length });
      },
    });
    bench.run({ async: true });
  });
}
