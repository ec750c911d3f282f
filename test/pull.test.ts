// `dass pull` against a loopback HTTP server: verified, resumable, atomic downloads and their failure modes.
// Downloads need node:fs and node:http, so everything but the pure cache-folder rule runs in Node only.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cacheDirFor } from "../src/pull/cache.js";
import { isNode } from "./util/env.js";
import { readSharedData, skipNote } from "./util/data.js";
import type { LoopbackServer } from "./util/loopback-server.js";
import { ArgumentError } from "../src/errors.js";
import type { RegistryModel } from "../src/pull/registry.js";
import { makeTempDir, type TempDir } from "./util/temp-dir.js";

const dirs = suite("pull: cache folder");

dirs("DASS_CACHE wins, then the platform convention", () => {
  const home = "/home/u";
  assert.is(cacheDirFor({ env: { DASS_CACHE: "/c" }, platform: "linux", home }), "/c");
  assert.is(cacheDirFor({ env: {}, platform: "linux", home }), "/home/u/.cache/dass-wasm");
  assert.is(cacheDirFor({ env: { XDG_CACHE_HOME: "/x/" }, platform: "linux", home }), "/x/dass-wasm");
  // Relative XDG values are invalid per the spec.
  assert.is(cacheDirFor({ env: { XDG_CACHE_HOME: "rel" }, platform: "linux", home }), "/home/u/.cache/dass-wasm");
  assert.is(cacheDirFor({ env: {}, platform: "darwin", home: "/Users/u" }), "/Users/u/Library/Caches/dass-wasm");
  assert.is(
    cacheDirFor({ env: { LOCALAPPDATA: "C:\\Users\\u\\AppData\\Local" }, platform: "win32", home: "C:\\Users\\u" }),
    "C:\\Users\\u\\AppData\\Local\\dass-wasm",
  );
  assert.is(cacheDirFor({ env: {}, platform: "win32", home: "C:\\Users\\u" }), "C:\\Users\\u\\AppData\\Local\\dass-wasm");
});

dirs.run();

// ---------------------------------------------------------------------------------------------------------

type Pull = typeof import("../src/pull/index.js");
type Fs = TempDir["fs"];

const t = suite("pull: downloads");
const it = isNode ? t : t.skip;

let P: Pull;
let fs: Fs;
let join: (...p: string[]) => string;
let sha256: (b: Uint8Array) => string;
let server: LoopbackServer;
let serveHubRepo: typeof import("./util/loopback-server.js").serveHubRepo;
let rootDir: TempDir | undefined;
let root: string;
let caseNo = 0;

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 255;
  }
  return b;
}

const MODEL = bytes(300_000, 1);
const TOK = bytes(5_000, 2);

/** A registry with one model "tiny" (model + tokenizer) served under /tiny/ on the loopback server. */
function registry(over: { modelSha?: string | undefined; modelBytes?: number | undefined } = {}): RegistryModel[] {
  return [
    {
      name: "tiny",
      description: "test model",
      format: "llama2c",
      license: "MIT",
      files: [
        {
          name: "model.bin",
          role: "model",
          url: "http://example.invalid/model.bin",
          bytes: "modelBytes" in over ? over.modelBytes : MODEL.byteLength,
          sha256: "modelSha" in over ? over.modelSha : sha256(MODEL),
        },
        { name: "tok.bin", role: "tokenizer", url: "http://example.invalid/tok.bin", bytes: TOK.byteLength, sha256: sha256(TOK) },
      ],
    },
  ];
}

/** Fresh cache folder and default files for each test. */
async function fresh(): Promise<string> {
  server.files.clear();
  server.requests.length = 0;
  server.files.set("/tiny/model.bin", { body: MODEL });
  server.files.set("/tiny/tok.bin", { body: TOK });
  const dir = join(root, `case${++caseNo}`);
  await fs.mkdir(dir, { recursive: true });
  return dir;
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

async function rejects(p: Promise<unknown>, check: (e: unknown) => boolean, what: string): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    assert.ok(check(e), `${what}: got ${(e as Error)?.stack ?? String(e)}`);
    return e;
  }
  assert.unreachable(`${what}: expected a rejection`);
}

t.before(async () => {
  if (!isNode) return;
  P = await import("../src/pull/index.js");
  rootDir = await makeTempDir("dass-pull-test-");
  ({ fs, join, path: root } = rootDir);
  const crypto = await import("node:crypto");
  sha256 = (b) => crypto.createHash("sha256").update(b).digest("hex");
  const { startLoopbackServer, serveHubRepo: serve } = await import("./util/loopback-server.js");
  server = await startLoopbackServer();
  serveHubRepo = serve;
});

t.after(async () => {
  if (!isNode) return;
  await server?.close();
  await rootDir?.remove();
});

it("downloads, verifies, then serves from the cache without network", async () => {
  const cacheDir = await fresh();
  const seen: string[] = [];
  const m = await P.pull("tiny", {
    cacheDir,
    baseUrl: server.url,
    registry: registry(),
    onProgress: (p) => seen.push(p.phase),
  });
  assert.is(m.name, "tiny");
  assert.is(m.modelPath, join(cacheDir, "models", "tiny", "model.bin"));
  assert.is(m.tokenizerPath, join(cacheDir, "models", "tiny", "tok.bin"));
  assert.equal(m.files.map((f) => f.downloaded), [true, true]);
  assert.equal(new Uint8Array(await fs.readFile(m.modelPath)), MODEL);
  assert.equal(new Uint8Array(await fs.readFile(m.tokenizerPath!)), TOK);
  assert.ok(seen.includes("download"));
  assert.equal((await fs.readdir(m.dir)).sort(), [".verified", "model.bin", "tok.bin"], "no .part or .lock left");

  const before = server.requests.length;
  const phases: string[] = [];
  const again = await P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry(), onProgress: (p) => phases.push(p.phase) });
  assert.equal(again.files.map((f) => f.downloaded), [false, false]);
  assert.is(server.requests.length, before, "cached files are not fetched again");
  assert.equal(phases, [], "unchanged verified files are not hashed again");
  const t = new Date(Date.now() + 5000);
  await fs.utimes(m.modelPath, t, t);
  await P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry(), onProgress: (p) => phases.push(p.phase) });
  assert.ok(phases.includes("verify"), "a file touched since is hashed again");
  assert.is(server.requests.length, before);

  const cached = await P.findCachedModel("tiny", { cacheDir, registry: registry() });
  assert.ok(cached);
  assert.is(cached!.modelPath, m.modelPath);
  assert.is(await P.findCachedModel("tiny", { cacheDir: join(cacheDir, "empty"), registry: registry() }), null);
});

it("DASS_CACHE and DASS_PULL_BASE_URL from the environment", async () => {
  const cacheDir = await fresh();
  const m = await P.pull("tiny", { registry: registry(), env: { DASS_CACHE: cacheDir, DASS_PULL_BASE_URL: server.url + "/" } });
  assert.is(m.dir, join(cacheDir, "models", "tiny"));
  assert.equal(server.requests.map((r) => r.path), ["/tiny/model.bin", "/tiny/tok.bin"]);
  await rejects(
    P.pull("tiny", { registry: registry(), env: { DASS_CACHE: cacheDir, DASS_PULL_BASE_URL: "ftp://x" }, force: true }),
    (e) => (e as { code?: string }).code === "ERR_ARGUMENT" && /DASS_PULL_BASE_URL/.test((e as Error).message),
    "bad base URL",
  );
});

it("checksum mismatch: ChecksumError, partial file deleted, nothing cached", async () => {
  const cacheDir = await fresh();
  const e = await rejects(
    P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry({ modelSha: "0".repeat(64) }) }),
    (e) => e instanceof P.ChecksumError,
    "checksum",
  );
  assert.match((e as Error).message, /sha256 mismatch/);
  const dir = join(cacheDir, "models", "tiny");
  assert.equal(await fs.readdir(dir), [], "no model.bin, no .part, no .lock");
});

it("size-only verification when the registry has no sha256", async () => {
  const cacheDir = await fresh();
  const m = await P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry({ modelSha: undefined }) });
  assert.is(m.files[0].sha256, undefined);
  assert.is(m.files[0].bytes, MODEL.byteLength);
  server.files.set("/tiny/model.bin", { body: MODEL.subarray(0, 1000) });
  await rejects(
    P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry({ modelSha: undefined }), force: true }),
    (e) => e instanceof P.DownloadError && /expected 300000/.test((e as Error).message),
    "wrong size",
  );
});

it("a cut connection keeps the .part file; the next pull resumes it with Range", async () => {
  const cacheDir = await fresh();
  server.files.set("/tiny/model.bin", { body: MODEL, cutAfter: 100_000 });
  const e = await rejects(
    P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry(), retries: 0 }),
    (e) => e instanceof P.OfflineError,
    "cut",
  );
  assert.match((e as Error).message, /run again to resume/);
  const part = join(cacheDir, "models", "tiny", "model.bin.part");
  const kept = (await fs.stat(part)).size;
  assert.ok(kept > 0 && kept < MODEL.byteLength, `kept ${kept} bytes`);

  const m = await P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry(), retries: 0 });
  assert.equal(new Uint8Array(await fs.readFile(m.modelPath)), MODEL);
  const last = server.requests.filter((r) => r.path === "/tiny/model.bin").at(-1)!;
  assert.is(last.range, `bytes=${kept}-`);
  assert.is(last.status, 206);
  assert.not.ok(await exists(part));
});

it("retries resume within one pull", async () => {
  const cacheDir = await fresh();
  server.files.set("/tiny/model.bin", { body: MODEL, cutAfter: 70_000, cutTimes: 2 });
  const m = await P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry(), retries: 3, retryDelayMs: 1 });
  assert.equal(new Uint8Array(await fs.readFile(m.modelPath)), MODEL);
  const reqs = server.requests.filter((r) => r.path === "/tiny/model.bin");
  assert.is(reqs.length, 3);
  assert.is(reqs[0].range, undefined);
  assert.ok(reqs[1].range?.startsWith("bytes="), "second request resumes");
  assert.ok(reqs[2].range?.startsWith("bytes="), "third request resumes");
});

it("a server that ignores Range: restart from zero, correct file", async () => {
  const cacheDir = await fresh();
  const dir = join(cacheDir, "models", "tiny");
  await fs.mkdir(dir, { recursive: true });
  // A stale partial download with wrong bytes: must not be spliced into the answer.
  await fs.writeFile(join(dir, "model.bin.part"), bytes(50_000, 99));
  server.files.set("/tiny/model.bin", { body: MODEL, ignoreRange: true });
  const m = await P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry() });
  assert.equal(new Uint8Array(await fs.readFile(m.modelPath)), MODEL);
  const req = server.requests.find((r) => r.path === "/tiny/model.bin")!;
  assert.is(req.range, "bytes=50000-");
  assert.is(req.status, 200);
});

it("a resumed file whose hash is wrong is downloaded once more from the start", async () => {
  const cacheDir = await fresh();
  const dir = join(cacheDir, "models", "tiny");
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(join(dir, "model.bin.part"), bytes(50_000, 7)); // wrong prefix, Range honoured
  const m = await P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry() });
  assert.equal(new Uint8Array(await fs.readFile(m.modelPath)), MODEL);
  assert.equal(
    server.requests.filter((r) => r.path === "/tiny/model.bin").map((r) => r.range),
    ["bytes=50000-", undefined],
  );
});

it("a corrupt cached file is replaced", async () => {
  const cacheDir = await fresh();
  const m = await P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry() });
  const bad = MODEL.slice();
  bad[123] ^= 1;
  await fs.writeFile(m.modelPath, bad);
  const again = await P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry() });
  assert.equal(again.files.map((f) => f.downloaded), [true, false]);
  assert.equal(new Uint8Array(await fs.readFile(m.modelPath)), MODEL);
});

it("HTTP 404: DownloadError with the status; 503 is retried first", async () => {
  const cacheDir = await fresh();
  server.files.delete("/tiny/tok.bin");
  const e = (await rejects(
    P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry() }),
    (e) => e instanceof P.DownloadError,
    "404",
  )) as InstanceType<Pull["DownloadError"]>;
  assert.is(e.status, 404);
  assert.match(e.message, /HTTP 404/);
  assert.match(e.message, /\/tiny\/tok\.bin/);
  assert.not.ok(await exists(join(cacheDir, "models", "tiny", "tok.bin")));

  server.files.set("/tiny/tok.bin", { body: TOK, status: 503 });
  const e2 = (await rejects(
    P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry(), retries: 2, retryDelayMs: 1 }),
    (e) => e instanceof P.DownloadError,
    "503",
  )) as InstanceType<Pull["DownloadError"]>;
  assert.is(e2.status, 503);
  assert.is(server.requests.filter((r) => r.path === "/tiny/tok.bin" && r.status === 503).length, 3);
});

it("abort: AbortError, partial kept for resume, lock released", async () => {
  const cacheDir = await fresh();
  server.files.set("/tiny/model.bin", { body: MODEL, stallAfter: 20_000 });
  const ac = new AbortController();
  const e = await rejects(
    P.pull("tiny", {
      cacheDir,
      baseUrl: server.url,
      registry: registry(),
      signal: ac.signal,
      onProgress: (p) => {
        if (p.phase === "download" && p.done > 0) ac.abort();
      },
    }),
    (e) => (e as { code?: string }).code === "ERR_ABORTED",
    "abort",
  );
  assert.ok(e);
  const dir = join(cacheDir, "models", "tiny");
  assert.not.ok(await exists(join(dir, "model.bin")));
  assert.not.ok(await exists(join(dir, ".lock")));
  server.files.set("/tiny/model.bin", { body: MODEL });
  const m = await P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry() });
  assert.equal(new Uint8Array(await fs.readFile(m.modelPath)), MODEL);
});

it("no network: OfflineError", async () => {
  const cacheDir = await fresh();
  const { startLoopbackServer } = await import("./util/loopback-server.js");
  const dead = await startLoopbackServer();
  const url = dead.url;
  await dead.close();
  const e = await rejects(
    P.pull("tiny", { cacheDir, baseUrl: url, registry: registry() }),
    (e) => e instanceof P.OfflineError,
    "offline",
  );
  assert.is((e as { code?: string }).code, "ERR_OFFLINE");
  assert.match((e as Error).message, /cannot reach 127\.0\.0\.1/);
});

it("unknown model names and registry entries that cannot be verified", async () => {
  await rejects(P.pull("nope", { registry: registry() }), (e) => /unknown model "nope"; known: tiny/.test((e as Error).message), "unknown");
  await rejects(
    P.pull("tiny", { registry: registry({ modelSha: undefined, modelBytes: undefined }), cacheDir: root }),
    (e) => /cannot be verified/.test((e as Error).message),
    "unverifiable",
  );
  assert.ok(P.findModel("STORIES260k"), "names are case-insensitive");
  assert.ok(P.MODELS.every((m) => m.files.some((f) => f.role === "model")));
});

it("cache lock: a live owner blocks, a dead owner's lock is taken over", async () => {
  const cacheDir = await fresh();
  const dir = join(cacheDir, "models", "tiny");
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(join(dir, ".lock"), String(process.ppid));
  await rejects(
    P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry() }),
    (e) => e instanceof P.CacheLockedError,
    "locked",
  );
  await fs.writeFile(join(dir, ".lock"), "2147483646");
  const m = await P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry() });
  assert.ok(m.files.every((f) => f.downloaded));
  // Concurrent pulls in one process wait for each other instead of sharing a .part file.
  const [a, b] = await Promise.all([
    P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry(), force: true }),
    P.pull("tiny", { cacheDir, baseUrl: server.url, registry: registry() }),
  ]);
  assert.is(a.modelPath, b.modelPath);
  assert.equal(new Uint8Array(await fs.readFile(a.modelPath)), MODEL);
});

// ---------------------------------------------------------------- Hugging Face Hub

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const COMMIT2 = "89abcdef0123456789abcdef0123456789abcdef";
const enc = (s: string) => new TextEncoder().encode(s);
const HUB_FILES = (): Record<string, Uint8Array> => ({
  "config.json": enc('{"model_type":"llama"}'),
  "model-00001-of-00002.safetensors": bytes(40_000, 5),
  "model-00002-of-00002.safetensors": bytes(30_000, 6),
  "model.safetensors.index.json": enc('{"weight_map":{}}'),
  "tokenizer.json": enc('{"model":{}}'),
  "generation_config.json": enc("{}"),
  // Never fetched: pickled weights, another copy of the weights, the model card, other folders.
  "pytorch_model.bin": bytes(1000, 7),
  "consolidated.safetensors": bytes(1000, 9),
  "README.md": enc("# card"),
  "onnx/model.onnx": bytes(100, 8),
});
const hubEnv = (): Record<string, string> => ({ HF_ENDPOINT: server.url });

it("Hub: org/name resolves to a commit; weights verified by sha256, side files by size; the cache answers next time", async () => {
  const cacheDir = await fresh();
  const files = HUB_FILES();
  await serveHubRepo(server, "org/tiny-llama", "main", COMMIT, files, { auth: "Bearer hf_secret" });
  const m = await P.pull("org/tiny-llama", { cacheDir, env: { ...hubEnv(), HF_TOKEN: "hf_secret" } });
  const dir = join(cacheDir, "models", "org", "tiny-llama");
  assert.is(m.name, "org/tiny-llama");
  assert.is(m.format, "safetensors");
  assert.is(m.modelPath, dir, "a Hugging Face model is its folder");
  assert.is(m.tokenizerPath, join(dir, "tokenizer.json"));
  const names = ["config.json", "generation_config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json"];
  assert.equal(m.files.map((f) => f.name).sort(), names);
  assert.equal((await fs.readdir(dir)).filter((n) => !n.startsWith(".")).sort(), names);
  for (const f of m.files) {
    assert.equal(new Uint8Array(await fs.readFile(f.path)), files[f.name], f.name);
    assert.is(f.sha256 !== undefined, f.name.endsWith(".safetensors"), `${f.name}: sha256 only for LFS files`);
    assert.match(f.url, `/org/tiny-llama/resolve/${COMMIT}/`);
  }
  assert.ok(server.requests.every((r) => r.authorization === "Bearer hf_secret"), "the token goes with every request");
  assert.ok(!server.requests.some((r) => /pytorch_model|consolidated|README|onnx/.test(r.path)));
  server.requests.length = 0;
  const again = await P.pull("org/tiny-llama", { cacheDir, env: { ...hubEnv(), HF_TOKEN: "hf_secret" } });
  assert.ok(again.files.every((f) => !f.downloaded));
  assert.equal(server.requests.map((r) => r.path), ["/api/models/org/tiny-llama/revision/main"], "only the listing");
  assert.is(await P.modelCacheDir("org/tiny-llama@main", { cacheDir }), dir);
});

it("Hub: a new commit re-fetches changed side files (same size too), keeps unchanged weights, drops stale files", async () => {
  const cacheDir = await fresh();
  const files = HUB_FILES();
  await serveHubRepo(server, "org/tiny-llama", "main", COMMIT, files);
  await P.pull("org/tiny-llama", { cacheDir, env: hubEnv() });
  const next: Record<string, Uint8Array> = {
    "config.json": enc('{"model_type":"mistr"}'), // same length, other content
    "model.safetensors": files["model-00001-of-00002.safetensors"],
    "tokenizer.json": files["tokenizer.json"],
  };
  assert.is(next["config.json"].byteLength, files["config.json"].byteLength);
  server.files.clear();
  server.requests.length = 0;
  await serveHubRepo(server, "org/tiny-llama", "v2", COMMIT2, next);
  const m = await P.pull("org/tiny-llama@v2", { cacheDir, env: hubEnv() });
  const dir = join(cacheDir, "models", "org", "tiny-llama");
  assert.equal((await fs.readdir(dir)).filter((n) => !n.startsWith(".")).sort(), ["config.json", "model.safetensors", "tokenizer.json"]);
  assert.equal(new Uint8Array(await fs.readFile(join(dir, "config.json"))), next["config.json"]);
  const got = Object.fromEntries(m.files.map((f) => [f.name, f.downloaded]));
  assert.equal(got, { "config.json": true, "model.safetensors": true, "tokenizer.json": false });
});

it("Hub: gated without a token, missing repos, repos without safetensors, wrong sha256, bad ids", async () => {
  const cacheDir = await fresh();
  await serveHubRepo(server, "org/gated", "main", COMMIT, HUB_FILES(), { auth: "Bearer ok" });
  let e = await rejects(P.pull("org/gated", { cacheDir, env: hubEnv() }), (x) => x instanceof P.DownloadError, "gated");
  assert.is((e as InstanceType<Pull["DownloadError"]>).status, 401);
  assert.match((e as Error).message, /org\/gated@main: HTTP 401: Access to this model is restricted\. \(a gated or private model needs HF_TOKEN/);
  e = await rejects(P.pull("org/gated", { cacheDir, env: { ...hubEnv(), HF_TOKEN: "wrong" } }), (x) => x instanceof P.DownloadError, "wrong token");
  assert.match((e as Error).message, /the token in HF_TOKEN has no access/);
  e = await rejects(P.pull("org/missing@v9", { cacheDir, env: hubEnv() }), (x) => x instanceof P.DownloadError, "missing");
  assert.match((e as Error).message, /org\/missing@v9: HTTP 404 \(no such model or revision\)/);
  const { "model-00001-of-00002.safetensors": _a, "model-00002-of-00002.safetensors": _b, "consolidated.safetensors": _c, ...noWeights } = HUB_FILES();
  await serveHubRepo(server, "org/pickle", "main", COMMIT, noWeights);
  e = await rejects(P.pull("org/pickle", { cacheDir, env: hubEnv() }), (x) => x instanceof P.DownloadError, "no safetensors");
  assert.match((e as Error).message, /org\/pickle@main has no safetensors weights \(only pytorch_model\.bin\)/);
  await serveHubRepo(server, "org/tampered", "main", COMMIT, HUB_FILES(), { sha256: { "model-00002-of-00002.safetensors": "0".repeat(64) } });
  await rejects(P.pull("org/tampered", { cacheDir, env: hubEnv() }), (x) => x instanceof P.ChecksumError, "sha256");
  server.files.set("/api/models/org/html/revision/main", { body: enc("<html>login</html>") });
  e = await rejects(P.pull("org/html", { cacheDir, env: hubEnv() }), (x) => x instanceof P.DownloadError, "not a listing");
  assert.match((e as Error).message, /no commit id and file list/);
  for (const bad of ["a/b/c", "org/na me", "org/", "/x", "org/x@", "org/a..b"]) {
    await rejects(P.pull(bad, { cacheDir, env: hubEnv() }), (x) => x instanceof ArgumentError && /not a Hugging Face model id/.test((x as Error).message), bad);
  }
  await rejects(P.pull("org/x", { cacheDir, env: { HF_ENDPOINT: "ftp://nope" } }), (x) => x instanceof ArgumentError && (x as ArgumentError).arg === "HF_ENDPOINT", "endpoint");
  assert.equal(P.parseHubSpec("org/x-1.5B@refs/pr/3"), { repo: "org/x-1.5B", revision: "refs/pr/3" });
  assert.is(P.parseHubSpec("stories260K"), null);
});

it("Hub: org/name:TAG fetches the GGUF it names (every part of a split one), into a folder of its own; ambiguous, unknown and incomplete names are errors", async () => {
  const cacheDir = await fresh();
  const files: Record<string, Uint8Array> = {
    "tiny-Q4_K_M.gguf": bytes(5000, 11),
    "tiny-Q8_0.gguf": bytes(7000, 12),
    "tiny-Q4_K_S.gguf": bytes(4000, 13),
    "mmproj-tiny-f16.gguf": bytes(900, 14),
    "big-Q2_K-00001-of-00002.gguf": bytes(100, 15),
    "big-Q2_K-00002-of-00002.gguf": bytes(100, 16),
    "README.md": enc("# card"),
  };
  await serveHubRepo(server, "org/tiny-GGUF", "main", COMMIT, files, { lfs: (n) => n.endsWith(".gguf") });
  const m = await P.pull("org/tiny-GGUF:q8_0", { cacheDir, env: hubEnv() });
  const dir = join(cacheDir, "models", "org", "tiny-GGUF", "gguf", "q8_0");
  assert.equal([m.format, m.modelPath, m.tokenizerPath], ["gguf", join(dir, "tiny-Q8_0.gguf"), undefined]);
  assert.equal(new Uint8Array(await fs.readFile(m.modelPath)), files["tiny-Q8_0.gguf"]);
  assert.ok(m.files[0].sha256 !== undefined, "verified by the listing's sha256");
  assert.is(await P.modelCacheDir("org/tiny-GGUF:q8_0", { cacheDir }), dir);
  // By file name too; a second quantisation does not disturb the first.
  const k = await P.pull("org/tiny-GGUF:tiny-Q4_K_M.gguf", { cacheDir, env: hubEnv() });
  assert.ok(k.modelPath.endsWith("tiny-Q4_K_M.gguf"));
  assert.ok(await fs.stat(m.modelPath).then(() => true, () => false), "the Q8_0 copy stays");
  const err = async (name: string, re: RegExp) => {
    const e = await rejects(P.pull(name, { cacheDir, env: hubEnv() }), (x) => x instanceof P.DownloadError, name);
    assert.match((e as Error).message, re);
  };
  await err("org/tiny-GGUF:Q4_K", /no GGUF file is "Q4_K" or ends with it \(tiny-Q4_K_M\.gguf, tiny-Q8_0\.gguf, tiny-Q4_K_S\.gguf/);
  const split = await P.pull("org/tiny-GGUF:Q2_K", { cacheDir, env: hubEnv() });
  assert.equal(split.files.map((f) => f.path.replace(/^.*[\\/]/, "")), ["big-Q2_K-00001-of-00002.gguf", "big-Q2_K-00002-of-00002.gguf"]);
  assert.ok(split.modelPath.endsWith("big-Q2_K-00001-of-00002.gguf"), "the first part is the model");
  await serveHubRepo(server, "org/partial", "main", COMMIT, { "x-Q2_K-00001-of-00003.gguf": bytes(10, 1), "x-Q2_K-00003-of-00003.gguf": bytes(10, 2) }, { lfs: () => true });
  await err("org/partial:Q2_K", /x-Q2_K-00001-of-00003\.gguf is split into 3 files but the repository has x-Q2_K-00001-of-00003\.gguf, x-Q2_K-00003-of-00003\.gguf/);
  await err("org/tiny-GGUF", /holds GGUF files, not a transformers model: pull one as org\/tiny-GGUF:<quantisation or file>/);
  await serveHubRepo(server, "org/twice", "main", COMMIT, { "a-Q8_0.gguf": bytes(10, 1), "b-Q8_0.gguf": bytes(10, 2) }, { lfs: () => true });
  await err("org/twice:Q8_0", /"Q8_0" matches a-Q8_0\.gguf, b-Q8_0\.gguf; name the file/);
  await err("org/tiny-llama-none:Q8_0", /HTTP 404/);
  assert.equal(P.parseHubSpec("org/x@v2:Q4_K_M"), { repo: "org/x", revision: "v2", gguf: "Q4_K_M" });
  for (const bad of ["org/x:", "org/x:a b", "org/x:../y"]) {
    await rejects(P.pull(bad, { cacheDir, env: hubEnv() }), (x) => x instanceof ArgumentError, bad);
  }
});

const realModel = isNode ? await readSharedData("models/stories260K.bin") : null;
const realTok = isNode ? await readSharedData("models/tok512.bin") : null;
if (isNode && (!realModel || !realTok)) skipNote("models/stories260K.bin, models/tok512.bin");
(realModel && realTok ? t : t.skip)("the registered stories260K hashes match the real files", async () => {
  const cacheDir = await fresh();
  server.files.set("/stories260K/stories260K.bin", { body: realModel! });
  server.files.set("/stories260K/tok512.bin", { body: realTok! });
  const m = await P.pull("stories260K", { cacheDir, baseUrl: server.url });
  assert.is(m.format, "llama2c");
  assert.ok(m.modelPath.endsWith("stories260K.bin"));
  assert.ok(m.tokenizerPath!.endsWith("tok512.bin"));
});

t.run();
