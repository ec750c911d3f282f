// Timing with the `benchmark` library: it decides how many samples a function needs; we report
// the median of its samples (the noisy 2-vCPU machines make means misleading). Each function is
// warmed up by time first, because V8 runs baseline (Liftoff) Wasm code for a while.
// Functions that are compared are measured in turn, in rounds (a, b, c, a, b, c, ...), and each
// median is taken over the samples of all its rounds: this machine runs in faster and slower
// phases that last minutes, and functions measured one after the other would each see a
// different phase, which moved speed-up ratios by up to 2x between runs.
import Benchmark from "benchmark";

export interface Timing {
  /** Median milliseconds per call. */
  medianMs: number;
  samples: number;
}

export interface MeasureOptions {
  /** Warm-up time before sampling (ms), per function. */
  warmupMs?: number;
  /** Sampling time budget per function (s), spread over the rounds. */
  maxTime?: number;
  /** Samples per function at least, over all rounds. */
  minSamples?: number;
  /** Rounds of measuring the functions in turn (default 5). */
  rounds?: number;
}

type Fn = () => Promise<void> | void;

/** Median time per call of each function, measured in turn, round after round. */
export async function measureInTurn(fns: Fn[], opts: MeasureOptions = {}): Promise<Timing[]> {
  const warmupMs = opts.warmupMs ?? 600;
  const rounds = opts.rounds ?? 5;
  const maxTime = (opts.maxTime ?? 1.5) / rounds;
  const minSamples = Math.max(1, Math.ceil((opts.minSamples ?? 5) / rounds));
  for (const fn of fns) {
    const t0 = performance.now();
    do { await fn(); } while (performance.now() - t0 < warmupMs);
  }
  const samples: number[][] = fns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < fns.length; i++) samples[i].push(...(await sample(fns[i], maxTime, minSamples)));
  }
  return samples.map((s) => {
    s.sort((a, b) => a - b);
    const mid = s.length >> 1;
    const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
    return { medianMs: median * 1000, samples: s.length };
  });
}

/** One `benchmark` run of fn: its samples (seconds per call). */
function sample(fn: Fn, maxTime: number, minSamples: number): Promise<number[]> {
  return new Promise<number[]>((resolve, reject) => {
    const bench = new Benchmark({
      defer: true,
      async: true,
      maxTime,
      minSamples,
      initCount: 1,
      fn: (deferred: { resolve(): void }) => {
        Promise.resolve(fn()).then(() => deferred.resolve(), reject);
      },
      onError: (e: unknown) => reject(e),
      onComplete: () => resolve([...bench.stats.sample]),
    });
    bench.run({ async: true });
  });
}
