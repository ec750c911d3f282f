// The examples in examples/ run as their comments say: the Node quickstart (the REFERENCE.md greedy
// story, then DaSS 2:4), the demo behind `npm run demo`, the Deno quickstart and the browser page
// with files picked in its form, served with and without cross-origin isolation (the story again).
// Driven from Node (it starts Deno and Chromium), so the suite runs in the Node environment only.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { isNode } from "./util/env.js";
import { readSharedData, skipNote } from "./util/data.js";
import { REF_TEXT } from "./util/reference.js";

const examples = suite("examples");
const haveData = isNode && !!(await readSharedData("models/stories260K.bin")) && !!(await readSharedData("models/tok512.bin"));
if (isNode && !haveData) skipNote("models/stories260K.bin, models/tok512.bin");
const chromium = isNode ? process.env.DASS_CHROMIUM ?? "/usr/bin/chromium" : "";
const haveChromium = isNode && (await import("node:fs")).existsSync(chromium);
if (isNode && haveData && !haveChromium) console.log(`\n[skip] browser example: ${chromium} not found`);

/** Paths of the repository root and the shared model files (Node only). */
async function paths(): Promise<{ repo: string; model: string; tok: string }> {
  const { fileURLToPath } = await import("node:url");
  const repo = fileURLToPath(new URL("../../", import.meta.url));
  const data = (f: string) => fileURLToPath(new URL(`../shared/data/models/${f}`, new URL("../../", import.meta.url)));
  return { repo, model: data("stories260K.bin"), tok: data("tok512.bin") };
}

/** Cores of this machine: with one, every runtime runs a single thread. */
async function cores(): Promise<number> {
  const os = await import("node:os");
  return os.availableParallelism();
}

/** Runs a command to completion; rejects on a non-zero exit with its stderr. */
async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const { spawn } = await import("node:child_process");
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" } });
    let out = "", err = "";
    p.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    p.stderr.on("data", (d: Buffer) => { err += d.toString(); });
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}:\n${err}`))));
  });
}

(haveData ? examples : examples.skip)("node quickstart: the reference story, then perplexity dense -> DaSS 2:4", async () => {
  const { repo, model, tok } = await paths();
  const out = await run(process.execPath, ["dist/examples/node/quickstart.js", model, tok], repo);
  const lines = out.split("\n");
  assert.match(lines[0], /^runtime: \d thread\(s\), \S+ build/);
  assert.ok(out.includes("\n" + REF_TEXT), `story:\n${out}`);
  assert.match(out, /\nperplexity \d+\.\d{3} dense -> \d+\.\d{3} DaSS 2:4 \(MLP sparsity 50\.0%, pruned in \d+\.\d\d s\)\n$/);
});

(haveData ? examples : examples.skip)("npm run demo (its script): every method and pattern, on the data beside the repository", async () => {
  const { repo } = await paths();
  const out = await run(process.execPath, ["dist/examples/node/demo.js"], repo);
  assert.match(out, /\nmodel: +stories260K, /);
  assert.match(out, /\ncalibration: 64 windows x 256 tokens \(window seed 0\) from .*c4_sample_200docs\.jsonl/);
  assert.match(out, /\| dense +\| - +\| +4\.190 \|/);
  const rows = out.split("\n").filter((l) => /^\| (magnitude|wanda|sparsegpt|dass) /.test(l));
  assert.is(rows.length, 12);
  for (const r of rows) {
    assert.match(r, /\| +50\.00% \|/, r);
    assert.match(r, /\| 0\.5 /.test(r) ? /\| +- \|/ : /\| +yes \|/, r);
  }
});

(haveData ? examples : examples.skip)("deno quickstart: the same story, with threads where there are cores", async () => {
  const { repo, model, tok } = await paths();
  const { denoCommand } = await import("./util/deno.js");
  const [cmd, ...pre] = denoCommand();
  const out = await run(cmd, [...pre, "run", "-A", "examples/deno/quickstart.ts", model, tok], repo);
  assert.match(out, await cores() > 1 ? /^runtime: deno, ([2-9]|\d\d+) thread\(s\), mt-relaxed build\n/ : /^runtime: deno, 1 thread\(s\)/);
  assert.is(out.slice(out.indexOf("\n") + 1), REF_TEXT);
});

(haveData && haveChromium ? examples : examples.skip)("browser example: the same story from picked files, isolated (threads) and not", async () => {
  const { model, tok } = await paths();
  const { chromium: launcher } = await import("playwright-core");
  const { startServer } = await import("./browser/server.js");
  const browser = await launcher.launch({ executablePath: chromium, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  try {
    for (const isolated of [true, false]) {
      const { url, server } = await startServer({ isolated });
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        await page.goto(`${url}/examples/browser/index.html`);
        await page.waitForFunction(() => document.getElementById("status")!.textContent!.startsWith("runtime:"));
        const status = await page.textContent("#status");
        if (isolated && (await cores()) > 1) assert.match(status!, /^runtime: ([2-9]|\d\d+) thread\(s\), mt-relaxed build$/);
        else assert.match(status!, /^runtime: 1 thread\(s\), st-relaxed build — single thread: .*cross-origin/);
        await page.setInputFiles("#model", model);
        await page.setInputFiles("#tok", tok);
        await page.fill("#steps", "64");
        await page.click("#go");
        await page.waitForFunction(() => / tok\/s$/.test(document.getElementById("status")!.textContent!), undefined, { timeout: 60_000 });
        assert.match((await page.textContent("#status"))!, /^64 tokens, [\d.]+ tok\/s$/);
        assert.is((await page.textContent("#out")) + "\n", REF_TEXT, isolated ? "isolated" : "not isolated");
        assert.equal(errors, []);
        await page.close();
      } finally { server.close(); }
    }
  } finally { await browser.close(); }
});

examples.run();
