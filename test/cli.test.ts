// The `dass` CLI (argument parsing, exit codes, error printing, Ctrl-C), atomic outputs and progress
// reporting. The CLI and file helpers need Node; the progress-line logic runs everywhere.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createProgressReporter, resolveProgressMode, type Progress } from "../src/util/progress.js";
import { isNode } from "./util/env.js";
import { readSharedData, skipNote } from "./util/data.js";
import { makeTempDir, type TempDir } from "./util/temp-dir.js";
import { REF_TEXT } from "./util/reference.js";

// ---------------------------------------------------------------------------------------------------------
const progress = suite("cli: progress reporter");

function sink(isTTY = false): { stream: { write(s: string): void; isTTY: boolean }; text: () => string } {
  let out = "";
  return { stream: { write: (s: string) => void (out += s), isTTY }, text: () => out };
}

progress("auto mode: silent with --json, bar on a TTY, lines otherwise (and under CI or TERM=dumb)", () => {
  const tty = { write() {}, isTTY: true };
  const pipe = { write() {}, isTTY: false };
  assert.is(resolveProgressMode({ json: true, env: {} }, tty), "silent");
  assert.is(resolveProgressMode({ env: {} }, tty), "bar");
  assert.is(resolveProgressMode({ env: { CI: "true" } }, tty), "lines");
  assert.is(resolveProgressMode({ env: { TERM: "dumb" } }, tty), "lines");
  assert.is(resolveProgressMode({ env: {} }, pipe), "lines");
  assert.is(resolveProgressMode({ mode: "silent", env: {} }, tty), "silent");
});

progress("lines mode: first and last update of each phase, throttled in between", async () => {
  const s = sink();
  let now = 0;
  const r = await createProgressReporter({ mode: "lines", stream: s.stream, now: () => now, lineIntervalMs: 1000 });
  const p = (phase: string, done: number, total: number, extra: Partial<Progress> = {}) => r.onProgress({ phase, done, total, ...extra });
  p("download", 0, 4096, { unit: "bytes", message: "a.bin" });
  now = 10;
  p("download", 1024, 4096, { unit: "bytes", message: "a.bin" }); // throttled
  now = 2000;
  p("download", 2048, 4096, { unit: "bytes", message: "a.bin" }); // printed
  p("download", 4096, 4096, { unit: "bytes", message: "a.bin" }); // final, printed
  p("download", 4096, 4096, { unit: "bytes", message: "a.bin" }); // repeated final, not printed
  p("prune", 1, 10);
  now = 2100;
  p("prune", 2, 10); // throttled, flushed by stop()
  r.log("a note");
  r.stop();
  assert.equal(s.text().split("\n"), [
    "download: 0% (0 B/4.00 KiB) a.bin",
    "download: 50% (2.00 KiB/4.00 KiB) a.bin",
    "download: 100% (4.00 KiB/4.00 KiB) a.bin",
    "prune: 10% (1/10)",
    "a note",
    "prune: 20% (2/10)",
    "",
  ]);
});

progress("silent mode prints nothing", async () => {
  const s = sink(true);
  const r = await createProgressReporter({ json: true, stream: s.stream, env: {} });
  r.onProgress({ phase: "x", done: 1, total: 2 });
  r.log("hidden");
  r.stop();
  assert.is(r.mode, "silent");
  assert.is(s.text(), "");
});

(isNode ? progress : progress.skip)("bar mode draws a cli-progress bar and finishes it", async () => {
  const s = sink(true);
  const r = await createProgressReporter({ stream: s.stream, env: {} });
  assert.is(r.mode, "bar");
  r.onProgress({ phase: "download", done: 0, total: 100, message: "m.bin" });
  r.onProgress({ phase: "download", done: 100, total: 100, message: "m.bin" });
  r.onProgress({ phase: "verify", done: 5, total: 10 });
  r.stop();
  r.stop();
  assert.match(s.text(), /download \|/);
  assert.match(s.text(), /verify \|/);
});

progress.run();

// ---------------------------------------------------------------------------------------------------------
type Atomic = typeof import("../src/util/atomic-write.js");
type Fs = TempDir["fs"];

const atomic = suite("cli: atomic outputs");
const at = isNode ? atomic : atomic.skip;
let A: Atomic;
let fs: Fs;
let join: (...p: string[]) => string;
let tmp: TempDir | undefined;
let tmpRoot: string;
let n = 0;

async function dir(): Promise<string> {
  const d = join(tmpRoot, `d${++n}`);
  await fs.mkdir(d, { recursive: true });
  return d;
}

async function throwsWith(p: Promise<unknown>, check: (e: unknown) => boolean, what: string): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    assert.ok(check(e), `${what}: got ${(e as Error)?.stack ?? String(e)}`);
    return e;
  }
  assert.unreachable(`${what}: expected an error`);
}

atomic.before(async () => {
  if (!isNode) return;
  A = await import("../src/util/atomic-write.js");
  tmp = await makeTempDir("dass-cli-test-");
  ({ fs, join, path: tmpRoot } = tmp);
});

atomic.after(() => tmp?.remove());

at("writes a file, creating parent folders, leaving no temporary file", async () => {
  const d = await dir();
  const dest = join(d, "sub", "out.bin");
  await A.writeFileAtomic(dest, new Uint8Array([1, 2, 3]));
  assert.equal([...(await fs.readFile(dest))], [1, 2, 3]);
  await A.writeFileAtomic(dest, (async function* () {
    yield new Uint8Array([4]);
    yield new Uint8Array([5, 6]);
  })());
  assert.equal([...(await fs.readFile(dest))], [4, 5, 6]);
  assert.equal(await fs.readdir(join(d, "sub")), ["out.bin"]);
  assert.equal(A.pendingTempPaths(), []);
});

at("an error while writing leaves the old file untouched and nothing half-written", async () => {
  const d = await dir();
  const dest = join(d, "out.txt");
  await fs.writeFile(dest, "old");
  let temp = "";
  await throwsWith(
    A.withAtomicFile(dest, async (f) => {
      temp = f.tempPath;
      await f.write("new partial");
      assert.ok(A.pendingTempPaths().includes(temp));
      throw new Error("disk on fire");
    }),
    (e) => (e as Error).message === "disk on fire",
    "fill error",
  );
  assert.is(await fs.readFile(dest, "utf8"), "old");
  assert.equal(await fs.readdir(d), ["out.txt"]);
  assert.ok(temp.startsWith(d), "the temporary file lives beside the destination");
  assert.equal(A.pendingTempPaths(), []);
});

at("abort: AbortError, temporary file removed, destination absent", async () => {
  const d = await dir();
  const dest = join(d, "out.bin");
  const ac = new AbortController();
  await throwsWith(
    A.withAtomicFile(
      dest,
      async (f) => {
        await f.write(new Uint8Array(1000));
        ac.abort();
        await f.write(new Uint8Array(1000)); // throws: aborted
      },
      { signal: ac.signal },
    ),
    (e) => (e as { code?: string }).code === "ERR_ABORTED",
    "abort",
  );
  assert.equal(await fs.readdir(d), []);
  // Aborted before starting: nothing is created at all.
  await throwsWith(A.writeFileAtomic(dest, "x", { signal: ac.signal }), (e) => (e as { code?: string }).code === "ERR_ABORTED", "pre-aborted");
  assert.equal(await fs.readdir(d), []);
});

at("refuses to overwrite an input: same path, relative path, symlink, hard link", async () => {
  const d = await dir();
  const input = join(d, "model.bin");
  await fs.writeFile(input, "weights");
  const isOut = (e: unknown) => (e as { arg?: string }).arg === "out" && /refusing to overwrite/.test((e as Error).message);
  await throwsWith(A.writeFileAtomic(input, "x", { inputs: [input] }), isOut, "same path");
  const rel = (await import("node:path")).relative(process.cwd(), input);
  await throwsWith(A.writeFileAtomic(rel, "x", { inputs: [input] }), isOut, "relative path");
  await fs.symlink(input, join(d, "link.bin"));
  await throwsWith(A.writeFileAtomic(join(d, "link.bin"), "x", { inputs: [input] }), isOut, "symlink");
  await fs.link(input, join(d, "hard.bin"));
  await throwsWith(A.writeFileAtomic(join(d, "hard.bin"), "x", { inputs: [input] }), isOut, "hard link");
  const e = await throwsWith(A.writeFileAtomic(input, "x", { inputs: [input], arg: "report" }), (e) => (e as { arg?: string }).arg === "report", "arg name");
  assert.match((e as Error).message, /^report: /);
  assert.is(await fs.readFile(input, "utf8"), "weights");
  await A.writeFileAtomic(join(d, "other.bin"), "ok", { inputs: [input] });
});

at("folders: created and replaced atomically; errors keep the old folder; never over an input", async () => {
  const d = await dir();
  const out = join(d, "hf");
  await A.withAtomicDir(out, async (tmp) => {
    await fs.writeFile(join(tmp, "config.json"), "{}");
    await fs.writeFile(join(tmp, "model.safetensors"), "v1");
  });
  assert.equal((await fs.readdir(out)).sort(), ["config.json", "model.safetensors"]);
  await A.withAtomicDir(out, async (tmp) => fs.writeFile(join(tmp, "model.safetensors"), "v2"));
  assert.equal(await fs.readdir(out), ["model.safetensors"]);
  assert.is(await fs.readFile(join(out, "model.safetensors"), "utf8"), "v2");
  await throwsWith(
    A.withAtomicDir(out, async (tmp) => {
      await fs.writeFile(join(tmp, "model.safetensors"), "v3 partial");
      throw new Error("boom");
    }),
    (e) => (e as Error).message === "boom",
    "dir error",
  );
  assert.is(await fs.readFile(join(out, "model.safetensors"), "utf8"), "v2");
  assert.equal(await fs.readdir(d), ["hf"], "no temporary or backup folders left");
  const isOut = (e: unknown) => (e as { arg?: string }).arg === "out";
  await throwsWith(A.withAtomicDir(out, async () => {}, { inputs: [join(out, "model.safetensors")] }), isOut, "contains input");
  await throwsWith(A.withAtomicDir(out, async () => {}, { inputs: [out] }), isOut, "is input");
  await throwsWith(A.writeFileAtomic(out, "x"), isOut, "a folder is not a file");
});

at("last-resort cleanup removes in-flight temporary files", async () => {
  const d = await dir();
  await throwsWith(
    A.withAtomicFile(join(d, "x.bin"), async (f) => {
      await f.write("partial");
      A.removePendingTempPathsSync();
    }),
    () => true,
    "rename after removal",
  );
  assert.equal(await fs.readdir(d), []);
});

atomic.run();

// ---------------------------------------------------------------------------------------------------------
type Run = typeof import("../src/cli/run.js");

const cli = suite("cli: dass");
const c = isNode ? cli : cli.skip;
let R: Run;
let cliDir: TempDir | undefined;
let cliRoot: string;

interface Result {
  code: number;
  out: string;
  err: string;
}

async function dass(argv: string[], env: Record<string, string | undefined> = {}, signal?: AbortSignal): Promise<Result> {
  let out = "";
  let err = "";
  const code = await R.runCli(argv, {
    io: {
      stdout: (s) => void (out += typeof s === "string" ? s : new TextDecoder().decode(s)),
      stderr: (s) => void (err += s),
      env: { DASS_CACHE: join(cliRoot, "cache"), ...env },
    },
    signal,
  });
  return { code, out, err };
}

cli.before(async () => {
  if (!isNode) return;
  R = await import("../src/cli/run.js");
  cliDir = await makeTempDir("dass-cli-run-");
  ({ fs, join, path: cliRoot } = cliDir);
});

cli.after(() => cliDir?.remove());

c("help: global, per command, and `help CMD`", async () => {
  const g = await dass(["--help"]);
  assert.is(g.code, 0);
  for (const name of ["prune", "eval", "generate", "inspect", "convert", "pull", "bench"]) assert.match(g.out, `  ${name} `);
  const none = await dass([]);
  assert.is(none.code, 2);
  assert.match(none.err, "Usage: dass <command>");
  const h = await dass(["help", "eval"]);
  assert.is(h.code, 0);
  assert.match(h.out, "Usage: dass eval");
  const v = await dass(["--version"]);
  assert.is(v.code, 0);
  assert.match(v.out, /^\d+\.\d+\.\d+/);
});

c("every command documents exactly the flags of the issues", async () => {
  const flags: Record<string, string[]> = {
    prune: ["model", "tokenizer", "method", "pattern", "calib", "nsamples", "seqlen", "seed", "targets", "alpha", "out", "report", "compress", "dtype", "threads", "json"],
    eval: ["model", "tokenizer", "text", "seqlen", "max-tokens", "protocol", "threads", "json"],
    generate: ["model", "tokenizer", "prompt", "steps", "chat", "system", "temperature", "top-p", "seed", "threads", "json"],
    inspect: ["model", "json"],
    convert: ["model", "to", "out", "tokenizer", "dtype", "json"],
    pull: ["list", "cache", "base-url", "force", "json"],
  };
  for (const [cmd, want] of Object.entries(flags)) {
    const r = await dass([cmd, "--help"]);
    assert.is(r.code, 0, cmd);
    const got = [...r.out.matchAll(/^ {2}(?:-\w, | {4})--([\w-]+)/gm)].map((m) => m[1]).filter((f) => f !== "help");
    assert.equal(got, want, `${cmd} flags`);
  }
});

c("usage errors exit with 2 and a clear message", async () => {
  const cases: [string[], RegExp][] = [
    [["prune", "--model", "m", "--bogus"], /unknown flag --bogus for dass prune/],
    [["eval", "--model", "m", "--text", "t", "--seqln", "5"], /unknown flag --seqln .*did you mean --seqlen\?/],
    [["prnue"], /unknown command "prnue" \(did you mean prune\?\)/],
    [["--json"], /expected a command before --json/],
    [["inspect"], /missing --model M/],
    [["inspect", "--model"], /--model needs a value/],
    [["inspect", "--model", "m", "extra"], /unexpected argument "extra"/],
    [["prune", "--model", "m", "--method", "foo", "--pattern", "2:4", "--out", "o"], /--method must be one of dass, wanda, sparsegpt, magnitude/],
    [["prune", "--model", "m", "--method", "wanda", "--pattern", "2:4", "--out", "o"], /--calib FILE is required for --method wanda/],
    [["generate", "--model", "m", "--steps", "10"], /missing --prompt/],
    [["generate", "--model", "m", "--prompt", "x", "--steps", "ten"], /--steps must be an integer/],
    [["generate", "--model", "m", "--prompt", "x", "--steps", "0"], /--steps must be an integer >= 1/],
    [["generate", "--model", "m", "--prompt", "x", "--steps", "5", "--temperature", "hot"], /--temperature must be a number/],
    [["generate", "--model", "m", "--prompt", "x", "--steps", "5", "--top-p", "2"], /--top-p must be in \[0, 1\]/],
    [["generate", "--model", "m", "--prompt", "x", "--steps", "5", "--system", "s"], /--system needs --chat/],
    [["eval", "--model", "m", "--text", "t", "--protocol", "xyz"], /--protocol must be one of paper, bos/],
    [["convert", "--model", "m", "--to", "onnx", "--out", "o"], /--to must be one of gguf, safetensors, llama2c/],
    [["inspect", "--json=yes", "--model", "m"], /--json takes no value/],
    [["pull"], /missing NAME/],
    [["bench", "nope"], /unknown benchmark "nope"/],
  ];
  for (const [argv, re] of cases) {
    const r = await dass(argv);
    assert.is(r.code, 2, `${argv.join(" ")}: ${r.err}`);
    assert.match(r.err, re, argv.join(" "));
    assert.match(r.err, /^error: /);
    assert.match(r.err, /Run `dass( \w+)? --help` for usage\./);
    assert.is(r.out, "");
  }
});

c("benchmarks refuse malformed flags before measuring anything: one `error:` line, exit code 2", async () => {
  const { spawnSync } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const cases: Array<[string, string[], RegExp]> = [
    ["kernels", ["--shapes", "4096"], /--shapes: expected DOUTxDIN \(e\.g\. 4096x11008\), got "4096"/],
    ["kernels", ["--shapes", "4096x0"], /--shapes: expected positive integers, got "0"/],
    ["kernels", ["--tokens", "8,x"], /--tokens: expected positive integers, got "x"/],
    ["kernels", ["--threads", "1.5"], /--threads: expected positive integers, got "1\.5"/],
    ["kernels", ["--threds", "2"], /unknown flag --threds for bench:kernels \(did you mean --threads\?\)/],
    ["model", ["--seqs", "0"], /--seqs: expected positive integers, got "0"/],
    ["model", ["--models", "llama"], /--models: unknown model "llama"; choose from stories260K, synthetic-1\.1b/],
    ["model", ["--threads", "1,two"], /--threads: expected positive integers, got "two"/],
    ["prune", ["--threads=-1"], /--threads: expected positive integers, got "-1"/],
    ["prune", ["--json"], /--json needs a value/],
    ["prune", ["--quick=yes"], /--quick takes no value/],
  ];
  for (const [bench, flags, re] of cases) {
    const what = `bench:${bench} ${flags.join(" ")}`;
    const script = fileURLToPath(new URL(`../bench/${bench}.js`, import.meta.url));
    const r = spawnSync(process.execPath, [script, ...flags], { encoding: "utf8", timeout: 30000 });
    assert.is(r.status, 2, `${what}: ${r.stderr}`);
    assert.match(r.stderr, /^error: /, what);
    assert.match(r.stderr, re, what);
    assert.not.match(r.stderr, /\n\s+at /, `${what}: no stack`);
    assert.is(r.stdout, "", `${what}: nothing measured`);
  }
  const h = spawnSync(process.execPath, [fileURLToPath(new URL("../bench/model.js", import.meta.url)), "--help"], { encoding: "utf8", timeout: 30000 });
  assert.is(h.status, 0);
  assert.match(h.stdout, /^Usage: npm run bench:model -- /);
});

c("generate's stop tokens: none for llama2.c; EOS and every eos_token_id of config.json, generation_config.json and GGUF", async () => {
  const { endTokens } = await import("../src/cli/commands/generate.js");
  const fake = (format: string, eosId: number, metadata: Record<string, unknown>, gen?: string) =>
    ({ format, config: { vocabSize: 200, eosId }, metadata, readAuxFile: async (n: string) => (n === "generation_config.json" && gen !== undefined ? new TextEncoder().encode(gen) : null) }) as never;
  assert.equal(await endTokens(fake("llama2c", 2, {})), []);
  assert.equal(await endTokens(fake("safetensors", 1, { hfConfig: { eos_token_id: [1, 106] } }, '{"eos_token_id": [1, 107, 999]}')), [1, 106, 107]);
  assert.equal(await endTokens(fake("safetensors", 1, { hfConfig: {} }, "not json")), [1]);
  assert.equal(await endTokens(fake("gguf", 2, { kv: new Map([["tokenizer.ggml.eot_token_id", 150]]) })), [2, 150]);
});

c("convert of a sliding-window model to GGUF says that the context is cut to the window", async () => {
  const { writeSafetensors } = await import("../src/formats/index.js");
  const { syntheticModel } = await import("./util/synthetic-model.js");
  const m = syntheticModel("mistral", 5, { overrides: { seqLen: 64, slidingWindow: 8 } });
  const src = join(cliRoot, "windowed"), out = join(cliRoot, "windowed.gguf");
  await writeSafetensors(src, m.config, m.source);
  const r = await dass(["convert", "--model", src, "--to", "gguf", "--out", out]);
  assert.is(r.code, 0, r.err);
  assert.match(r.err, /the gguf output has no sliding window; its context is cut to the window \(8 of 64 positions\)/);
  const i = await dass(["inspect", "--model", out]);
  assert.match(i.out, /context 8\n/);
  // A GGUF phi3 (a Llama that keeps HF's RoPE layout) converts to GGUF phi3 again, window and context kept.
  const { writeGGUF } = await import("../src/formats/index.js");
  const src3 = join(cliRoot, "phi3-in.gguf"), phiGguf = join(cliRoot, "phi3.gguf");
  await writeGGUF(src3, m.config, m.source);
  const p = await dass(["convert", "--model", src3, "--to", "gguf", "--out", phiGguf]);
  assert.is(p.code, 0, p.err);
  assert.not.match(p.err, /cut to the window/);
  const pi = JSON.parse((await dass(["inspect", "--model", phiGguf, "--json"])).out) as { ggufArch: string; config: { seqLen: number; slidingWindow: number } };
  assert.equal([pi.ggufArch, pi.config.seqLen, pi.config.slidingWindow], ["phi3", 64, 8]);
  assert.match((await dass(["inspect", "--model", phiGguf])).out, /phi3\.gguf {2}\(gguf phi3\)/);
});

c("library errors print `error: message` without a stack and exit with 1", async () => {
  const r = await dass(["inspect", "--model", join(cliRoot, "missing.bin")]);
  assert.is(r.code, 1);
  assert.match(r.err, /^error: .*missing\.bin: no such file or folder/);
  assert.not.match(r.err, /\n\s+at /);
  const p = await dass(["pull", "no-such-model"]);
  assert.is(p.code, 1);
  assert.match(p.err, /^error: name: unknown model "no-such-model"; known: stories260K/);
  const nc = await dass(["inspect", "--model", "stories260K"]);
  assert.is(nc.code, 1);
  assert.match(nc.err, /not downloaded yet: run `dass pull stories260K` first/);
  // The text file is read through the calibration reader: its error must name --text, not --calib.
  const t = await dass(["eval", "--model", "m.bin", "--text", join(cliRoot, "missing.txt")]);
  assert.is(t.code, 1);
  assert.match(t.err, /^error: text: cannot read .*missing\.txt: no such file/);
});

c("pull: offline is a clear error", async () => {
  const { startLoopbackServer } = await import("./util/loopback-server.js");
  const dead = await startLoopbackServer();
  await dead.close();
  const r = await dass(["pull", "stories260K"], { DASS_PULL_BASE_URL: dead.url });
  assert.is(r.code, 1);
  assert.match(r.err, /^error: cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\): offline\?/);
  assert.match(r.err, /DASS_PULL_BASE_URL/);
});

const model = isNode ? await readSharedData("models/stories260K.bin") : null;
const tok = isNode ? await readSharedData("models/tok512.bin") : null;
if (isNode && !(model && tok)) skipNote("models/stories260K.bin, models/tok512.bin");
(model && tok ? c : cli.skip)("pull --json, then inspect and convert the pulled model by name", async () => {
  const { startLoopbackServer } = await import("./util/loopback-server.js");
  const server = await startLoopbackServer({ "/stories260K/stories260K.bin": model!, "/stories260K/tok512.bin": tok! });
  try {
    const env = { DASS_PULL_BASE_URL: server.url };
    const r = await dass(["pull", "stories260K", "--json"], env);
    assert.is(r.code, 0, r.err);
    assert.is(r.err, "", "--json prints no progress");
    const pulled = JSON.parse(r.out) as { files: { downloaded: boolean; path: string }[]; modelPath: string };
    assert.equal(pulled.files.map((f) => f.downloaded), [true, true]);
    const again = await dass(["pull", "stories260K"], env);
    assert.is(again.code, 0);
    assert.match(again.out, /stories260K\.bin +1\.01 MiB {2}cached, sha256 ok/);
    const list = await dass(["pull", "--list", "--json"], env);
    const rows = JSON.parse(list.out).models as { name: string; cached: boolean }[];
    assert.ok(rows.find((m) => m.name === "stories260K")!.cached);

    const i = await dass(["inspect", "--model", "stories260K", "--json"]);
    assert.is(i.code, 0, i.err);
    const info = JSON.parse(i.out) as { parameters: number; format: string; matrices: { sparsity: number; nmInput: string[] }[] };
    assert.is(info.format, "llama2c");
    assert.is(info.parameters, 260_032);
    assert.is(info.matrices.length, 35);
    assert.ok(info.matrices.every((m) => m.sparsity === 0 && m.nmInput.length === 0));

    const out = join(cliRoot, "s.gguf");
    const cv = await dass(["convert", "--model", "stories260K", "--to", "gguf", "--out", out, "--tokenizer", pulled.files[1].path]);
    assert.is(cv.code, 0, cv.err);
    const over = await dass(["convert", "--model", out, "--to", "gguf", "--out", out]);
    assert.is(over.code, 1);
    assert.match(over.err, /^error: out: .*overwrite the input/);
  } finally {
    await server.close();
  }
});

// Wiring of eval/generate to the library (skipped, with the note above, when the model data is absent).
const withModels = !!(model && tok);

/** stories260K and tok512 written into the test folder as `<prefix>-stories260K.bin`, `<prefix>-tok512.bin`. */
async function modelFiles(prefix: string): Promise<{ mp: string; tp: string }> {
  const mp = join(cliRoot, `${prefix}-stories260K.bin`), tp = join(cliRoot, `${prefix}-tok512.bin`);
  await fs.writeFile(mp, model!);
  await fs.writeFile(tp, tok!);
  return { mp, tp };
}

(withModels ? c : cli.skip)("generate: stdout is exactly llama2.c's text (REFERENCE.md greedy run)", async () => {
  const { mp, tp } = await modelFiles("g");
  const r = await dass(["generate", "--model", mp, "--tokenizer", tp, "--prompt", "Once upon a time", "--steps", "64", "--threads", "1"]);
  assert.is(r.code, 0, r.err);
  assert.is(r.out, REF_TEXT);
  const j = await dass(["generate", "--model", mp, "--tokenizer", tp, "--prompt", "Once upon a time", "--steps", "8", "--json"]);
  assert.is(j.code, 0, j.err);
  assert.is(j.err, "");
  const parsed = JSON.parse(j.out) as { text: string; tokens: number[] };
  assert.equal(parsed.tokens, [403, 407, 261, 378, 432, 383, 286, 261]);
});

(withModels ? c : cli.skip)("convert to safetensors writes tokenizer.json from tokenizer.bin; generate from the folder prints the story", async () => {
  const { mp, tp } = await modelFiles("cv");
  const folder = join(cliRoot, "cv-hf");
  const cv = await dass(["convert", "--model", mp, "--tokenizer", tp, "--to", "safetensors", "--out", folder]);
  assert.is(cv.code, 0, cv.err);
  assert.equal((await fs.readdir(folder)).sort(), ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
  const r = await dass(["generate", "--model", folder, "--prompt", "Once upon a time", "--steps", "64", "--threads", "1"]);
  assert.is(r.code, 0, r.err);
  assert.is(r.out, REF_TEXT);
  // --chat: the prompt through the folder's chat template; only the reply is printed. A template that
  // writes BOS and the message gives the story's token stream, so the reply is the story after the prompt.
  const noTemplate = await dass(["generate", "--model", folder, "--prompt", "Once upon a time", "--steps", "64", "--chat"]);
  assert.is(noTemplate.code, 2, noTemplate.err);
  assert.match(noTemplate.err, /has no chat template/);
  const tc = join(folder, "tokenizer_config.json");
  const config = JSON.parse(await fs.readFile(tc, "utf8")) as Record<string, unknown>;
  await fs.writeFile(tc, JSON.stringify({ ...config, chat_template: "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}" }));
  const chat = await dass(["generate", "--model", folder, "--prompt", "Once upon a time", "--steps", "64", "--threads", "1", "--chat"]);
  assert.is(chat.code, 0, chat.err);
  assert.is(chat.out, REF_TEXT.slice("Once upon a time".length));
  const cj = await dass(["generate", "--model", folder, "--prompt", "Once upon a time", "--steps", "8", "--chat", "--json"]);
  assert.is(cj.code, 0, cj.err);
  const parsed = JSON.parse(cj.out) as { text: string; tokens: number[]; promptTokens: number };
  assert.equal([parsed.text, parsed.tokens, parsed.promptTokens], [", there was a\n", [403, 407, 261, 378, 432, 383, 286, 261], 5]);
  await fs.writeFile(tc, JSON.stringify(config));
  // An HF tokenizer.json is copied as it is.
  const copy = join(cliRoot, "cv-hf-copy");
  const cp = await dass(["convert", "--model", mp, "--tokenizer", join(folder, "tokenizer.json"), "--to", "safetensors", "--out", copy]);
  assert.is(cp.code, 0, cp.err);
  assert.equal(await fs.readFile(join(copy, "tokenizer.json")), await fs.readFile(join(folder, "tokenizer.json")));
  // A missing or malformed tokenizer: a one-line error, and nothing written.
  await fs.writeFile(join(cliRoot, "cv-bad.json"), "{ nope");
  for (const [tokArg, re] of [[join(cliRoot, "cv-missing.bin"), /^error: .*cv-missing\.bin: cannot open/], [join(cliRoot, "cv-bad.json"), /^error: .*cv-bad\.json: invalid JSON/]] as const) {
    const out = join(cliRoot, "cv-none");
    const bad = await dass(["convert", "--model", mp, "--tokenizer", tokArg, "--to", "safetensors", "--out", out]);
    assert.is(bad.code, 1, bad.err);
    assert.match(bad.err, re);
    assert.not.match(bad.err, /\n\s+at /);
    assert.not.ok(await fs.stat(out).then(() => true, () => false), "no output folder");
  }
});

(withModels ? c : cli.skip)("pull org/name from a Hub endpoint with a token, then generate by that name prints the story", async () => {
  const { mp, tp } = await modelFiles("hub");
  const folder = join(cliRoot, "hub-hf");
  const cv = await dass(["convert", "--model", mp, "--tokenizer", tp, "--to", "safetensors", "--out", folder]);
  assert.is(cv.code, 0, cv.err);
  const files: Record<string, Uint8Array> = {};
  for (const n of await fs.readdir(folder)) files[n] = new Uint8Array(await fs.readFile(join(folder, n)));
  const { startLoopbackServer, serveHubRepo } = await import("./util/loopback-server.js");
  const server = await startLoopbackServer();
  try {
    await serveHubRepo(server, "karpathy/stories260K-hf", "main", "a".repeat(40), files, { auth: "Bearer hf_test" });
    const env = { HF_ENDPOINT: server.url, HF_TOKEN: "hf_test" };
    const p = await dass(["pull", "karpathy/stories260K-hf", "--json"], env);
    assert.is(p.code, 0, p.err);
    const pulled = JSON.parse(p.out) as { modelPath: string; format: string };
    assert.is(pulled.format, "safetensors");
    assert.ok(pulled.modelPath.endsWith(join("models", "karpathy", "stories260K-hf")));
    const r = await dass(["generate", "--model", "karpathy/stories260K-hf", "--prompt", "Once upon a time", "--steps", "64", "--threads", "1"]);
    assert.is(r.code, 0, r.err);
    assert.is(r.out, REF_TEXT);
    const noToken = await dass(["pull", "karpathy/stories260K-hf", "--force"], { HF_ENDPOINT: server.url });
    assert.is(noToken.code, 1);
    assert.match(noToken.err, /^error: karpathy\/stories260K-hf@main: HTTP 401.*HF_TOKEN/);
    const mirror = await dass(["pull", "karpathy/stories260K-hf", "--base-url", server.url], env);
    assert.is(mirror.code, 2);
    assert.match(mirror.err, /HF_ENDPOINT/);
    const notPulled = await dass(["generate", "--model", "karpathy/other", "--prompt", "x", "--steps", "4"]);
    assert.is(notPulled.code, 1);
    assert.match(notPulled.err, /karpathy\/other: no such file or folder, nor a Hugging Face model in the cache \(`dass pull karpathy\/other` downloads it\)/);
  } finally {
    await server.close();
  }
});

(withModels ? c : cli.skip)("pull org/name:TAG takes one GGUF from a Hub repository; generate by that name prints the story", async () => {
  const { mp, tp } = await modelFiles("hubgguf");
  const gguf = join(cliRoot, "stories260K-F32.gguf");
  const cv = await dass(["convert", "--model", mp, "--tokenizer", tp, "--to", "gguf", "--out", gguf]);
  assert.is(cv.code, 0, cv.err);
  const { startLoopbackServer, serveHubRepo } = await import("./util/loopback-server.js");
  const server = await startLoopbackServer();
  try {
    const files = { "stories260K-F32.gguf": new Uint8Array(await fs.readFile(gguf)), "README.md": new TextEncoder().encode("# GGUF") };
    await serveHubRepo(server, "karpathy/stories260K-GGUF", "main", "b".repeat(40), files, { lfs: (n) => n.endsWith(".gguf") });
    const env = { HF_ENDPOINT: server.url };
    const p = await dass(["pull", "karpathy/stories260K-GGUF:F32", "--json"], env);
    assert.is(p.code, 0, p.err);
    const pulled = JSON.parse(p.out) as { modelPath: string; format: string };
    assert.equal([pulled.format, pulled.modelPath.endsWith(join("stories260K-GGUF", "gguf", "F32", "stories260K-F32.gguf"))], ["gguf", true]);
    const r = await dass(["generate", "--model", "karpathy/stories260K-GGUF:F32", "--prompt", "Once upon a time", "--steps", "64", "--threads", "1"]);
    assert.is(r.code, 0, r.err);
    assert.is(r.out, REF_TEXT);
    const other = await dass(["generate", "--model", "karpathy/stories260K-GGUF:Q8_0", "--prompt", "x", "--steps", "4"]);
    assert.is(other.code, 1);
    assert.match(other.err, /stories260K-GGUF:Q8_0: no such file or folder, nor a Hugging Face model in the cache/);
  } finally {
    await server.close();
  }
});

(withModels ? c : cli.skip)("eval --json prints { ppl, meanNll, tokens, windows }", async () => {
  const { mp, tp } = await modelFiles("e");
  const text = join(cliRoot, "e.txt");
  await fs.writeFile(text, "Once upon a time, there was a little girl named Lily. She loved to play outside.\n".repeat(20));
  const r = await dass(["eval", "--model", mp, "--tokenizer", tp, "--text", text, "--seqlen", "64", "--json", "--threads", "1"]);
  assert.is(r.code, 0, r.err);
  const res = JSON.parse(r.out) as Record<string, number>;
  assert.equal(Object.keys(res), ["ppl", "meanNll", "tokens", "windows"]);
  assert.ok(res.ppl > 1 && Number.isFinite(res.ppl));
  assert.ok(Math.abs(Math.exp(res.meanNll) - res.ppl) < 1e-9 * res.ppl);
  assert.ok(res.windows >= 1 && res.tokens >= res.windows);
});

c("eval and generate hold streamed blocks in memory up to half the RAM, else re-read them from the file", async () => {
  const { streamSource } = await import("../src/cli/common.js");
  const GiB = 2 ** 30;
  assert.is(streamSource(0.004 * GiB, GiB, 24 * GiB), "host", "stories260K");
  assert.is(streamSource(4.1 * GiB, GiB, 24 * GiB), "host", "1.1B");
  assert.is(streamSource(25.1 * GiB, GiB, 24 * GiB), "reader", "7B");
  assert.is(streamSource(4.1 * GiB, GiB, 4 * GiB), "reader", "1.1B on a 4 GiB machine");
  // What a model holds: f32, or a GGUF's stored blocks where the Wasm kernels dequantise them (an 8B
  // Q4_K_M then holds about 5 GB, not 32).
  const { hostHeldBytes } = await import("../src/model/tensor-read.js");
  assert.is(hostHeldBytes({ name: "a", dtype: "f16", shape: [4, 8], byteLength: 64 }), 128);
  assert.is(hostHeldBytes({ name: "b", dtype: "f32", shape: [4, 256], byteLength: 4096, quantized: { type: "Q4_K", storedBytes: 576 } }), 576);
  assert.is(hostHeldBytes({ name: "c", dtype: "f32", shape: [4, 256], byteLength: 4096, quantized: { type: "Q3_K", storedBytes: 440 } }), 4096);
});

c("inspect's N:M check follows the tail rule along both axes", async () => {
  const { nmHolds } = await import("../src/cli/commands/inspect.js");
  // 3 x 6, every row [0 0 1 1 | 0 1]: a full group of 4 with 2 zeros, then a tail of 2 that needs floor(2*2/4) = 1.
  const w = Float32Array.from([0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1]);
  assert.ok(nmHolds(w, 3, 6, 2, 4, "input"));
  // 4:8 on rows of 6: one tail group that needs floor(4*6/8) = 3 zeros; it has 3.
  assert.ok(nmHolds(w, 3, 6, 4, 8, "input"));
  // Columns are [0 0 0] or [1 1 1]: a tail of 3 needs floor(2*3/4) = 1 zero, which [1 1 1] lacks.
  assert.not.ok(nmHolds(w, 3, 6, 2, 4, "output"));
  const v = w.slice();
  v[1] = 1; // row 0 becomes [0 1 1 1 | 0 1]
  assert.not.ok(nmHolds(v, 3, 6, 2, 4, "input"));
  // Output axis: 4 x 1 column [0 0 1 1] is 2:4.
  assert.ok(nmHolds(Float32Array.from([0, 0, 1, 1]), 4, 1, 2, 4, "output"));
});

c("Ctrl-C: exit code 130, nothing left behind", async () => {
  const { startLoopbackServer } = await import("./util/loopback-server.js");
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const body = new Uint8Array(1_056_540);
  const server = await startLoopbackServer({ "/stories260K/stories260K.bin": { body, stallAfter: 100_000 } });
  const cache = join(cliRoot, "sigint-cache");
  try {
    const main = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
    const child = spawn(process.execPath, [main, "pull", "stories260K"], {
      env: { ...process.env, DASS_CACHE: cache, DASS_PULL_BASE_URL: server.url, CI: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const deadline = Date.now() + 4000;
    // Wait until the download is under way, then interrupt.
    while (!err.includes("download:") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(err.includes("download:"), `download never started: ${err}`);
    child.kill("SIGINT");
    const code = await exited;
    assert.is(code, 130, err);
    assert.match(err, /interrupted/);
    const dir = join(cache, "models", "stories260K");
    const left = await fs.readdir(dir);
    assert.not.ok(left.includes("stories260K.bin"));
    assert.not.ok(left.includes(".lock"), "lock released");
  } finally {
    await server.close();
  }
});

cli.run();
