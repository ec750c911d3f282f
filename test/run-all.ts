/**
 * Runs the same test suites in Node, Deno, Chromium with cross-origin isolation and Chromium
 * without it, one after another, streaming each one's output. The LAST line printed is the grand
 * total, `N passed, N failed`. An environment that cannot start, crashes or times out counts as one
 * failure. Exit code 1 if anything failed.
 *
 *   node dist/test/run-all.js [module ...]             modules: names from test/suites.ts
 *   DASS_TEST_ENVS=node,deno node dist/test/run-all.js  subset of environments
 *   DASS_TEST_TIMEOUT_MIN=25                            per-environment limit (minutes)
 *   DASS_TEST_DEADLINE=<unix seconds>                   hard end for the whole run (CI time limit)
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Counts } from "./util/harness.js";
import { denoCommand } from "./util/deno.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const dist = fileURLToPath(new URL("./", import.meta.url));
const only = process.argv.slice(2);

const ENVS: Record<string, () => string[]> = {
  node: () => [process.execPath, dist + "run-node.js"],
  deno: () => [...denoCommand(), "run", "-A", dist + "run-deno.js"],
  "chromium-isolated": () => [process.execPath, dist + "browser/run-browser.js", "isolated"],
  "chromium-single": () => [process.execPath, dist + "browser/run-browser.js", "single"],
};

const wanted = (process.env.DASS_TEST_ENVS ?? Object.keys(ENVS).join(","))
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
const envTimeoutMs = Number(process.env.DASS_TEST_TIMEOUT_MIN ?? 25) * 60_000;
const deadline = process.env.DASS_TEST_DEADLINE ? Number(process.env.DASS_TEST_DEADLINE) * 1000 : Infinity;

/** Runs one environment; resolves with its reported counts, or a single failure if it reported none. */
function runEnv(name: string): Promise<Counts & { seconds: number; note?: string }> {
  const started = Date.now();
  const factory = ENVS[name];
  if (!factory) {
    return Promise.resolve({ passed: 0, failed: 1, skipped: 0, seconds: 0, note: `unknown environment (known: ${Object.keys(ENVS)})` });
  }
  const timeoutMs = Math.min(envTimeoutMs, deadline - started);
  if (timeoutMs <= 0) {
    console.log(`${name}: FAILED: not started, DASS_TEST_DEADLINE has passed`);
    return Promise.resolve({ passed: 0, failed: 1, skipped: 0, seconds: 0, note: "not started (deadline)" });
  }
  const [cmd, ...args] = factory();
  console.log(`\n===== ${name}: ${[cmd, ...args, ...only].map((a) => a.replace(repo, "")).join(" ")}`);
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args, ...only], {
      cwd: repo,
      stdio: ["ignore", "pipe", "inherit"],
      // Own process group, so a timeout also ends what the child started (Deno wrapper, Chromium).
      detached: true,
      env: {
        ...process.env,
        DENO_NO_UPDATE_CHECK: "1",
        ...(process.stdout.isTTY && !process.env.NO_COLOR ? { FORCE_COLOR: "1" } : {}),
      },
    });
    let summary: RegExpMatchArray | null = null;
    let tail = "";
    const pattern = new RegExp(`^${name}: (\\d+) passed, (\\d+) failed, (\\d+) skipped$`);
    child.stdout!.on("data", (chunk: Buffer) => {
      process.stdout.write(chunk);
      const lines = (tail + chunk.toString()).split("\n");
      tail = lines.pop()!;
      for (const line of lines) summary = line.replace(/\x1b\[[0-9;]*m/g, "").match(pattern) ?? summary;
    });
    let timedOut = false;
    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-child.pid!, signal);
      } catch {}
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup("SIGTERM"); // lets playwright close Chromium
      setTimeout(() => killGroup("SIGKILL"), 5000).unref();
    }, timeoutMs);
    const finish = (code: number | null, signal: string | null, error?: Error): void => {
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      const m = summary ?? tail.match(pattern);
      if (m && !timedOut) {
        const counts = { passed: +m[1], failed: +m[2], skipped: +m[3], seconds };
        // A non-zero exit with zero reported failures means something broke after reporting.
        if (code !== 0 && counts.failed === 0) return resolve({ ...counts, failed: 1, note: `exit code ${code ?? signal}` });
        return resolve(counts);
      }
      const why = error ? `could not start: ${error.message}`
        : timedOut ? `killed after ${Math.round(timeoutMs / 1000)} s (DASS_TEST_TIMEOUT_MIN / DASS_TEST_DEADLINE)`
        : `exited (${code ?? signal}) without reporting results`;
      console.log(`${name}: FAILED: ${why}`);
      resolve({ passed: 0, failed: 1, skipped: 0, seconds, note: why });
    };
    child.on("error", (err) => finish(null, null, err));
    child.on("close", (code, signal) => finish(code, signal));
  });
}

const total: Counts = { passed: 0, failed: 0, skipped: 0 };
const rows: string[] = [];
for (const name of wanted) {
  const r = await runEnv(name);
  total.passed += r.passed;
  total.failed += r.failed;
  total.skipped += r.skipped;
  rows.push(`  ${name.padEnd(18)} ${String(r.passed).padStart(5)} passed ${String(r.failed).padStart(4)} failed ${String(r.skipped).padStart(4)} skipped ${r.seconds.toFixed(1).padStart(7)}s${r.note ? "  " + r.note : ""}`);
}
console.log(`\n===== summary (${total.skipped} skipped)\n${rows.join("\n")}\n`);
console.log(`${total.passed} passed, ${total.failed} failed`);
process.exitCode = total.failed ? 1 : 0;
