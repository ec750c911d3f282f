/**
 * `dass pull`: downloads registered public checkpoints, or Hugging Face Hub models (`org/name[@revision]`,
 * src/pull/hub.ts), into a local cache, verified and resumable.
 *
 * ```ts
 * const m = await pull("stories260K", { onProgress, signal });
 * const reader = await openModel(m.modelPath);   // m.tokenizerPath: the matching tokenizer
 * const hf = await pull("TinyLlama/TinyLlama-1.1B-Chat-v1.0");  // m.modelPath: the model's folder
 * ```
 *
 * Cache layout: `<cacheDir>/models/<name>/<file>`, `<cacheDir>/models/<org>/<name>/<file>` for the Hub
 * (partial downloads as `<file>.part`). Node and Deno only.
 */
import { ArgumentError } from "../errors.js";
import type { OnProgress } from "../util/progress.js";
import { defaultCacheDir } from "./cache.js";
import { checkFile, downloadFile, nodeDeps } from "./download.js";
import { CacheLockedError } from "./errors.js";
import { hubModel, parseHubSpec, type HubModel, type HubSpec } from "./hub.js";
import { findModel, MODELS, type RegistryFile, type RegistryModel } from "./registry.js";

export { cacheDirFor, defaultCacheDir, type CacheDirContext } from "./cache.js";
export { checkFile, downloadFile, hashFile, type DownloadOptions, type DownloadResult } from "./download.js";
export { CacheLockedError, ChecksumError, DownloadError, OfflineError } from "./errors.js";
export { findModel, MODELS, type RegistryFile, type RegistryModel } from "./registry.js";
export { HUB_ENDPOINT, hubModel, parseHubSpec, type HubModel, type HubOptions, type HubSpec } from "./hub.js";

/** Options of `pull` and `findCachedModel`. */
export interface PullOptions {
  /** Cache folder; default `DASS_CACHE` or the platform cache dir (see `cacheDirFor`). */
  cacheDir?: string;
  /**
   * Mirror to download from instead of each file's registered URL: files are fetched from
   * `<baseUrl>/<model name>/<file name>`. Default: the `DASS_PULL_BASE_URL` environment variable, if set.
   */
  baseUrl?: string;
  /** Download again even when a verified copy is cached. */
  force?: boolean;
  signal?: AbortSignal;
  /** Progress: phase "download" / "verify", unit "bytes", message = file name. */
  onProgress?: OnProgress;
  /** Retries of a dropped connection or 5xx answer, resuming with Range (default 3). */
  retries?: number;
  /** Base pause between retries in ms (default 1000). */
  retryDelayMs?: number;
  /** Models to choose from (default `MODELS`); lets tests and private mirrors register their own. */
  registry?: readonly RegistryModel[];
  /** Environment consulted for DASS_CACHE / DASS_PULL_BASE_URL / HF_ENDPOINT / HF_TOKEN (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Hub models: the endpoint (default `HF_ENDPOINT`, else https://huggingface.co). */
  hubEndpoint?: string;
  /** Hub models: an access token for gated or private models (default `HF_TOKEN`). */
  token?: string;
}

/** One file of a pulled model. */
export interface PulledFile {
  name: string;
  role: RegistryFile["role"];
  path: string;
  /** Size on disk. */
  bytes: number;
  /** Registered sha256 (verified), or undefined when the registry has none (size was verified). */
  sha256: string | undefined;
  /** Where it came from. */
  url: string;
  /** False when a verified cached copy was used. */
  downloaded: boolean;
}

/** A model present and verified in the cache. */
export interface PulledModel {
  name: string;
  format: RegistryModel["format"];
  /** Folder holding the files. */
  dir: string;
  /** The model file (the folder, for a Hugging Face model). */
  modelPath: string;
  /** The tokenizer file, when the model has one. */
  tokenizerPath: string | undefined;
  files: PulledFile[];
}

/** The registered models. */
export function listModels(opts: Pick<PullOptions, "registry"> = {}): readonly RegistryModel[] {
  return opts.registry ?? MODELS;
}

function lookup(name: string, registry: readonly RegistryModel[]): RegistryModel {
  if (typeof name !== "string" || name === "") throw new ArgumentError("name", "a model name is required");
  const m = findModel(name, registry);
  if (!m) {
    throw new ArgumentError("name", `unknown model ${JSON.stringify(name)}; known: ${registry.map((r) => r.name).join(", ")}`);
  }
  return m;
}

function sourceUrl(model: RegistryModel, file: RegistryFile, baseUrl: string | undefined): string {
  if (!baseUrl) return file.url;
  return `${baseUrl.replace(/\/+$/, "")}/${encodeURIComponent(model.name)}/${encodeURIComponent(file.name)}`;
}

async function resolveDirs(opts: PullOptions): Promise<{ cacheDir: string; baseUrl: string | undefined }> {
  const env = opts.env ?? (typeof process !== "undefined" ? process.env : {});
  const cacheDir = opts.cacheDir ?? (await defaultCacheDir(env));
  const baseUrl = opts.baseUrl ?? (env.DASS_PULL_BASE_URL || undefined);
  if (baseUrl !== undefined && !/^https?:\/\/[^/]/i.test(baseUrl)) {
    throw new ArgumentError(opts.baseUrl !== undefined ? "baseUrl" : "DASS_PULL_BASE_URL", `expected an http(s) URL, got ${JSON.stringify(baseUrl)}`);
  }
  return { cacheDir, baseUrl };
}

/**
 * The folder a model is cached in (a registry name, or a Hub `org/name[@revision][:gguf]`; a GGUF file
 * of a Hub repository gets a folder of its own, `<org>/<name>/gguf/<what was asked for>`).
 */
export async function modelCacheDir(name: string, opts: Pick<PullOptions, "cacheDir" | "env" | "registry"> = {}): Promise<string> {
  const { path } = await nodeDeps();
  const hub = parseHubSpec(name);
  const { cacheDir } = await resolveDirs(opts);
  return path.join(cacheDir, "models", ...(hub ? hubDirParts(hub) : lookup(name, opts.registry ?? MODELS).name.split("/")));
}

function hubDirParts(hub: HubSpec): string[] {
  return [...hub.repo.split("/"), ...(hub.gguf !== undefined ? ["gguf", hub.gguf] : [])];
}

function toPulled(model: RegistryModel, dir: string, files: PulledFile[]): PulledModel {
  return {
    name: model.name,
    format: model.format,
    dir,
    modelPath: model.format === "safetensors" ? dir : files.find((f) => f.role === "model")!.path,
    tokenizerPath: files.find((f) => f.role === "tokenizer")?.path,
    files,
  };
}

/**
 * The model if every file of it is cached and verified (size and sha256), else null. Never touches the
 * network: the demo uses it to decide between a real and a synthetic model.
 */
export async function findCachedModel(name: string, opts: PullOptions = {}): Promise<PulledModel | null> {
  const { path } = await nodeDeps();
  const registry = opts.registry ?? MODELS;
  const model = lookup(name, registry);
  const { cacheDir, baseUrl } = await resolveDirs(opts);
  const dir = path.join(cacheDir, "models", model.name);
  const files: PulledFile[] = [];
  for (const f of model.files) {
    const p = path.join(dir, f.name);
    if (!(await verifiedCopy(dir, p, f, opts))) return null;
    const { fs } = await nodeDeps();
    const bytes = (await fs.stat(p)).size;
    files.push({ name: f.name, role: f.role, path: p, bytes, sha256: f.sha256, url: sourceUrl(model, f, baseUrl), downloaded: false });
  }
  return toPulled(model, dir, files);
}

/**
 * Makes sure every file of model `name` is in the cache and verified, downloading what is missing or wrong
 * (resuming partial downloads). Throws ArgumentError for an unknown name, OfflineError without network,
 * DownloadError for HTTP failures, ChecksumError for corrupt downloads, CacheLockedError when another
 * process is pulling the same model, AbortError on `signal`.
 */
export async function pull(name: string, opts: PullOptions = {}): Promise<PulledModel> {
  const { fs, path } = await nodeDeps();
  const hub = typeof name === "string" ? parseHubSpec(name) : null;
  const model = hub
    ? await hubModel(hub, { endpoint: opts.hubEndpoint, token: opts.token, env: opts.env, signal: opts.signal })
    : lookup(name, opts.registry ?? MODELS);
  for (const f of model.files) {
    if (f.sha256 === undefined && f.bytes === undefined) {
      throw new ArgumentError("registry", `${model.name}/${f.name} has neither sha256 nor bytes: it cannot be verified`);
    }
  }
  const { cacheDir, baseUrl } = await resolveDirs(opts);
  const dir = path.join(cacheDir, "models", ...(hub ? hubDirParts(hub) : model.name.split("/")));
  await fs.mkdir(dir, { recursive: true });
  const release = await lock(path.join(dir, ".lock"), model.name);
  try {
    const files: PulledFile[] = [];
    for (const f of model.files) {
      const p = path.join(dir, f.name);
      // A Hub model comes from its endpoint (HF_ENDPOINT is its mirror setting), with its token.
      const url = hub ? f.url : sourceUrl(model, f, baseUrl);
      const cached = !opts.force && (await verifiedCopy(dir, p, f, opts));
      if (!cached) {
        if (opts.force) await fs.rm(`${p}.part`, { force: true });
        await forgetVerified(dir, f.name);
        const got = await downloadFile(url, p, {
          sha256: f.sha256,
          bytes: f.bytes,
          signal: opts.signal,
          onProgress: opts.onProgress,
          retries: opts.retries,
          retryDelayMs: opts.retryDelayMs,
          label: f.name,
          headers: hub ? (model as HubModel).headers : undefined,
        });
        await rememberVerified(dir, p, f.name, got.sha256, f.blob);
      }
      const bytes = (await fs.stat(p)).size;
      files.push({ name: f.name, role: f.role, path: p, bytes, sha256: f.sha256, url, downloaded: !cached });
    }
    if (hub) await removeStale(dir, model.files);
    return toPulled(model, dir, files);
  } finally {
    await release();
  }
}

// Hashing a cached file on every use would cost seconds for the larger models, so a successful check is
// remembered in <dir>/.verified as {file: {size, mtimeMs, sha256}}; a file whose size or mtime changed since
// is hashed again. `force` bypasses all of it.
const STAMP = ".verified";
type Stamps = Record<string, { size: number; mtimeMs: number; sha256: string; blob?: string }>;

async function readStamps(dir: string): Promise<Stamps> {
  const { fs, path } = await nodeDeps();
  try {
    const v: unknown = JSON.parse(await fs.readFile(path.join(dir, STAMP), "utf8"));
    return v && typeof v === "object" ? (v as Stamps) : {};
  } catch {
    return {};
  }
}

async function writeStamps(dir: string, stamps: Stamps): Promise<void> {
  const { path } = await nodeDeps();
  const { writeFileAtomic } = await import("../util/atomic-write.js");
  await writeFileAtomic(path.join(dir, STAMP), JSON.stringify(stamps, null, 1) + "\n").catch(() => {});
}

async function rememberVerified(dir: string, p: string, name: string, sha256: string, blob?: string): Promise<void> {
  const { fs } = await nodeDeps();
  const st = await fs.stat(p);
  const stamps = await readStamps(dir);
  stamps[name] = { size: st.size, mtimeMs: st.mtimeMs, sha256, ...(blob ? { blob } : {}) };
  await writeStamps(dir, stamps);
}

async function forgetVerified(dir: string, name: string): Promise<void> {
  const stamps = await readStamps(dir);
  if (!(name in stamps)) return;
  delete stamps[name];
  await writeStamps(dir, stamps);
}

/** True when `p` holds registry file `f`: by its stamp when unchanged since last verified, else by hashing. */
async function verifiedCopy(dir: string, p: string, f: RegistryFile, opts: PullOptions): Promise<boolean> {
  const { fs } = await nodeDeps();
  const st = await fs.stat(p).catch(() => null);
  if (!st?.isFile()) return false;
  if (f.bytes !== undefined && st.size !== f.bytes) return false;
  const stamp = (await readStamps(dir))[f.name];
  // Size alone cannot tell two versions of a small file apart: only a copy of the same blob counts.
  if (f.blob !== undefined) return stamp?.blob === f.blob && stamp.size === st.size && stamp.mtimeMs === st.mtimeMs;
  if (stamp && stamp.size === st.size && stamp.mtimeMs === st.mtimeMs && (f.sha256 === undefined || stamp.sha256 === f.sha256)) {
    return true;
  }
  const problem = await checkFile(p, f, { signal: opts.signal, onProgress: opts.onProgress, label: f.name });
  if (problem) return false;
  if (f.sha256 !== undefined) await rememberVerified(dir, p, f.name, f.sha256);
  return true;
}

/**
 * Removes what an earlier revision of a Hub model left in its folder (weights, JSON side files, partial
 * downloads) that this revision does not have, so the folder holds exactly one model.
 */
async function removeStale(dir: string, keep: readonly RegistryFile[]): Promise<void> {
  const { fs, path } = await nodeDeps();
  const names = new Set(keep.map((f) => f.name));
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    if (!e.isFile() || e.name.startsWith(".") || names.has(e.name)) continue;
    if (/\.(safetensors|json|part)$/.test(e.name)) await fs.rm(path.join(dir, e.name), { force: true });
  }
  const stamps = await readStamps(dir);
  const stale = Object.keys(stamps).filter((n) => !names.has(n));
  if (stale.length) {
    for (const n of stale) delete stamps[n];
    await writeStamps(dir, stamps);
  }
}

/**
 * A lock file holding the owner's pid. A lock whose process is gone (crash, kill -9) is taken over, so a
 * dead pull never blocks the cache.
 */
async function lock(lockPath: string, what: string): Promise<() => Promise<void>> {
  // Pulls of the same model within this process wait for each other; across processes the file decides.
  while (held.has(lockPath)) await held.get(lockPath);
  let done!: () => void;
  held.set(lockPath, new Promise<void>((r) => (done = r)));
  const unhold = () => {
    held.delete(lockPath);
    done();
  };
  try {
    const release = await fileLock(lockPath, what);
    return async () => {
      try {
        await release();
      } finally {
        unhold();
      }
    };
  } catch (err) {
    unhold();
    throw err;
  }
}
const held = new Map<string, Promise<void>>();

async function fileLock(lockPath: string, what: string): Promise<() => Promise<void>> {
  const { fs } = await nodeDeps();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const h = await fs.open(lockPath, "wx");
      await h.writeFile(String(process.pid));
      await h.close();
      return async () => {
        await fs.rm(lockPath, { force: true }).catch(() => {});
      };
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw err;
    }
    const owner = Number((await fs.readFile(lockPath, "utf8").catch(() => "")).trim());
    // Our own pid here is a leftover of an earlier process that had the same pid.
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new CacheLockedError(lockPath, `another dass pull (pid ${owner}) is downloading ${what}; wait for it or remove ${lockPath}`);
    }
    await fs.rm(lockPath, { force: true });
  }
  throw new CacheLockedError(lockPath, `could not take the lock ${lockPath}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
}
