/**
 * Runs the registered uvu suites in whatever environment imported this module and returns exact
 * counts. uvu 0.5.6 only prints totals from `exec()`, so instead we do what its CLI does (set
 * `UVU_DEFER` so suites queue instead of auto-running, one queue group per module via `UVU_INDEX`)
 * and then call the queued suite runners ourselves: each returns `[errors, passed, skipped, total]`.
 */
import { loadSuites } from "../suites.js";

/** Outcome of one run. */
export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

type SuiteRunner = () => Promise<[string | true, number, number, number]>;
type QueueGroup = [string | null, ...SuiteRunner[]];

interface UvuGlobals {
  UVU_DEFER?: number;
  UVU_INDEX?: number;
  UVU_QUEUE?: QueueGroup[];
}

/** Output sink; defaults to console.log (one call per line). */
export type Writer = (line: string) => void;

/**
 * Loads the suites named in `only` (all when empty), runs them, prints failures with their uvu
 * diffs, and returns the counts. Failed module imports and uncaught errors count as failures.
 */
export async function runSuites(only: readonly string[] = [], log: Writer = console.log): Promise<Counts> {
  const g = globalThis as UvuGlobals;
  g.UVU_DEFER = 1; // must precede the first import of "uvu"
  g.UVU_QUEUE = g.UVU_QUEUE ?? [];
  const queue = g.UVU_QUEUE;
  const counts: Counts = { passed: 0, failed: 0, skipped: 0 };

  const uncaught = (what: string, err: unknown): void => {
    counts.failed++;
    log(`\n  FAIL  ${what}: ${describe(err)}\n`);
  };
  const restore = trapUncaught(uncaught);

  const names = await loadSuites(
    only,
    (name) => {
      g.UVU_INDEX = queue.length;
      queue.push([name]);
    },
    (name, err) => uncaught(`cannot load test module "${name}"`, err),
  );
  for (const want of only) {
    if (!names.includes(want)) uncaught(`unknown test module "${want}"`, "not listed in test/suites.ts");
  }

  try {
    for (const group of queue) {
      const [name, ...runners] = group;
      const started = Date.now();
      log(`\n${name ?? "(unnamed)"}`);
      if (runners.length === 0) log(`  (no suites registered: did the module forget test.run()?)`);
      for (const run of runners) {
        const [errors, ran, skip, total] = await run();
        counts.passed += ran;
        counts.failed += total - ran;
        counts.skipped += skip;
        if (typeof errors === "string") log("\n" + errors);
        // uvu's runner swallows errors thrown by before/after hooks (return inside finally).
        else if (total > ran) log(`  FAIL  ${total - ran} test(s) did not run: a before/after hook threw`);
      }
      log(`  ${name}: ${((Date.now() - started) / 1000).toFixed(1)}s`);
    }
    // Let late rejections from the last test surface before counting.
    await new Promise((r) => setTimeout(r, 0));
  } finally {
    restore();
    queue.length = 0;
  }
  return counts;
}

/** Summary line printed by every environment driver and parsed by run-all. */
export function summaryLine(env: string, c: Counts): string {
  return `${env}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`;
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}

/** Routes unhandled rejections / uncaught errors to `report` instead of killing the run. */
function trapUncaught(report: (what: string, err: unknown) => void): () => void {
  const target = globalThis as unknown as {
    addEventListener?: (t: string, f: (e: Event) => void) => void;
    removeEventListener?: (t: string, f: (e: Event) => void) => void;
  };
  const isDeno = typeof (globalThis as { Deno?: unknown }).Deno === "object";
  // Deno and browsers: DOM-style events. Node 20 has no global addEventListener.
  if (typeof target.addEventListener === "function" && (isDeno || typeof process === "undefined")) {
    const onRejection = (e: Event): void => {
      e.preventDefault();
      report("unhandled promise rejection", (e as PromiseRejectionEvent).reason);
    };
    const onError = (e: Event): void => {
      e.preventDefault();
      report("uncaught error", (e as ErrorEvent).error ?? (e as ErrorEvent).message);
    };
    target.addEventListener("unhandledrejection", onRejection);
    target.addEventListener("error", onError);
    return () => {
      target.removeEventListener?.("unhandledrejection", onRejection);
      target.removeEventListener?.("error", onError);
    };
  }
  const onRejection = (reason: unknown): void => report("unhandled promise rejection", reason);
  const onException = (err: unknown): void => report("uncaught exception", err);
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
  return () => {
    process.off("unhandledRejection", onRejection);
    process.off("uncaughtException", onException);
  };
}
