/**
 * Runs the test suites in this Node process: `node dist/test/run-node.js [module ...]`.
 * Last line: `node: N passed, N failed, N skipped`.
 */
import { runSuites, summaryLine } from "./util/harness.js";

const counts = await runSuites(process.argv.slice(2));
console.log("\n" + summaryLine("node", counts));
// Exit explicitly: a runtime a test forgot to dispose would keep worker threads alive.
process.exit(counts.failed ? 1 : 0);
