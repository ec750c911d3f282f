/**
 * Runs the test suites in headless Chromium: `node dist/test/browser/run-browser.js isolated|single
 * [module ...]`. "isolated" serves the page with COOP/COEP (threads available), "single" without
 * (the runtime must choose its single-thread fallback). Uses the system Chromium (DASS_CHROMIUM,
 * default /usr/bin/chromium); browsers are never downloaded. Page console output is forwarded.
 * Last line: `chromium-<mode>: N passed, N failed, N skipped`.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { startServer } from "./server.js";
import { summaryLine, type Counts } from "../util/harness.js";

const mode = process.argv[2];
if (mode !== "isolated" && mode !== "single") {
  console.error("usage: run-browser.js isolated|single [module ...]");
  process.exit(2);
}
const env = `chromium-${mode}`;
const only = process.argv.slice(3);
const executablePath = process.env.DASS_CHROMIUM ?? "/usr/bin/chromium";
const timeoutMs = Number(process.env.DASS_BROWSER_TIMEOUT_MS ?? 30 * 60_000);

function fail(message: string): never {
  console.log(`${env}: cannot run: ${message}`);
  process.exit(2);
}

if (!existsSync(executablePath)) fail(`${executablePath} not found (apt-get install -y chromium, or set DASS_CHROMIUM)`);

const { url, server } = await startServer({ isolated: mode === "isolated" });
let browser: Browser | undefined;
let counts: (Counts & { error?: string }) | undefined;
try {
  browser = await chromium.launch({
    executablePath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // Containers often have a 64 MB /dev/shm, which crashes renderers with large heaps.
      "--disable-dev-shm-usage",
    ],
  });
  const page = await browser.newPage();
  const done = new Promise<Counts & { error?: string }>((ok, bad) => {
    page.on("console", (msg) => {
      const text = msg.text();
      if (text.startsWith("__DASS_DONE__")) ok(JSON.parse(text.slice("__DASS_DONE__".length)));
      // Chromium's own note on every HTTP error; the response handler below logs them with the URL.
      else if (text.startsWith("Failed to load resource:")) return;
      else console.log(msg.type() === "error" || msg.type() === "warning" ? `[console.${msg.type()}] ${text}` : text);
    });
    page.on("pageerror", (err) => console.log(`[page error] ${err.stack ?? err.message}`));
    page.on("crash", () => bad(new Error("page crashed")));
    page.on("response", (res) => {
      // Absent shared data is expected (readSharedData returns null); anything else is worth a line.
      if (res.status() >= 400 && !new URL(res.url()).pathname.startsWith("/shared/")) console.log(`[http ${res.status()}] ${res.url()}`);
    });
    setTimeout(() => bad(new Error(`no result within ${timeoutMs / 1000}s`)), timeoutMs).unref();
  });
  const query = new URLSearchParams({ mode, color: process.stdout.isTTY || process.env.FORCE_COLOR ? "1" : "0" });
  if (only.length) query.set("only", only.join(","));
  await page.goto(`${url}/test/browser/index.html?${query}`);
  counts = await done;
  if (counts.error) console.log(`[harness error] ${counts.error}`);
} catch (err) {
  console.log(`${env}: ${(err as Error).stack ?? err}`);
} finally {
  await browser?.close().catch(() => {});
  server.close();
}
if (!counts) fail("the page did not report results");
console.log("\n" + summaryLine(env, counts));
process.exit(counts.failed ? 1 : 0);
