/**
 * Runs the test suites under Deno: `npx deno run -A dist/test/run-deno.js [module ...]`.
 * Bare specifiers ("uvu", "uvu/assert") resolve from node_modules because package.json is present.
 * Last line: `deno: N passed, N failed, N skipped`.
 */
import { runSuites, summaryLine } from "./util/harness.js";

interface DenoGlobal {
  args: string[];
  exit(code: number): never;
}
const Deno = (globalThis as unknown as { Deno: DenoGlobal }).Deno;

const counts = await runSuites(Deno.args);
console.log("\n" + summaryLine("deno", counts));
Deno.exit(counts.failed ? 1 : 0);
