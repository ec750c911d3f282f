/**
 * Resumable, verified, atomic HTTP downloads (Node and Deno: global `fetch` plus node:fs / node:crypto).
 *
 * Bytes go to `<dest>.part`; an interrupted download is continued later with an HTTP Range request (or
 * restarted when the server ignores Range). The sha256 is computed while streaming (the kept part of a
 * resumed file is hashed first), and only a file with the right size and hash is renamed to `<dest>`.
 */
import { AbortError, ArgumentError } from "../errors.js";
import { fsyncDir } from "../util/atomic-write.js";
import type { OnProgress } from "../util/progress.js";
import { ChecksumError, DownloadError, OfflineError } from "./errors.js";

/** Options of `downloadFile`. */
export interface DownloadOptions {
  /** Expected lower-case hex sha256; undefined skips the hash check (then `bytes` should be given). */
  sha256?: string;
  /** Expected size in bytes, when known. */
  bytes?: number;
  signal?: AbortSignal;
  /** Called with phase "download" (unit "bytes") as bytes arrive, and "verify" while hashing kept bytes. */
  onProgress?: OnProgress;
  /** How often a dropped connection or a 5xx/429 answer is retried (resuming with Range). Default 3. */
  retries?: number;
  /** Pause before retry k is k times this (ms). Default 1000. */
  retryDelayMs?: number;
  /** Name used in messages and progress (default: the destination's file name). */
  label?: string;
  /** Extra request headers (e.g. a Hub token). */
  headers?: Record<string, string>;
}

/** What `downloadFile` did. */
export interface DownloadResult {
  path: string;
  bytes: number;
  /** sha256 of the file as written. */
  sha256: string;
  /** Bytes of an earlier partial download that were kept (0 = downloaded from the start). */
  resumedFrom: number;
}

type Fs = typeof import("node:fs/promises");

interface NodeDeps {
  fs: Fs;
  path: typeof import("node:path");
  crypto: typeof import("node:crypto");
}
let deps: Promise<NodeDeps> | null = null;
/** node: modules, loaded on first use so that importing this module is free in browsers. */
export function nodeDeps(): Promise<NodeDeps> {
  return (deps ??= Promise.all([import("node:fs/promises"), import("node:path"), import("node:crypto")]).then(
    ([fs, path, crypto]) => ({ fs, path, crypto }),
  ));
}

// Errors whose cause says the host cannot be reached at all.
const OFFLINE_CODES = new Set([
  "ENOTFOUND",
  "EAI_AGAIN",
  "EAI_FAIL",
  "EAI_NONAME",
  "ECONNREFUSED",
  "ECONNRESET",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ETIMEDOUT",
  "EPIPE",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);

function causeOf(err: unknown): { code?: string; message: string } {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e && typeof e === "object"; depth++) {
    const c = (e as { cause?: unknown }).cause;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code !== "ERR_INVALID_STATE") {
      return { code, message: (e as Error).message ?? String(e) };
    }
    if (!c) break;
    e = c;
  }
  const errors = (e as { errors?: unknown[] } | null)?.errors;
  if (Array.isArray(errors) && errors.length) return causeOf(errors[0]);
  return { message: e instanceof Error ? e.message : String(e) };
}

function abortError(signal: AbortSignal): AbortError {
  const r: unknown = signal.reason;
  if (r instanceof AbortError) return r;
  return new AbortError(r instanceof Error && r.name !== "AbortError" ? `aborted: ${r.message}` : undefined);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

async function sizeOf(fs: Fs, p: string): Promise<number> {
  try {
    const st = await fs.stat(p);
    return st.isFile() ? st.size : -1;
  } catch {
    return -1;
  }
}

/**
 * GET `url`, following redirects. OfflineError when the host cannot be reached (`what` was not
 * downloaded), DownloadError for any other failure to get an answer; any HTTP status is returned.
 */
export async function httpGet(url: string, headers: Record<string, string>, signal: AbortSignal | undefined, what: string): Promise<Response> {
  try {
    return await fetch(url, { headers, signal, redirect: "follow" });
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    const c = causeOf(err);
    if (c.code && OFFLINE_CODES.has(c.code)) {
      throw new OfflineError(url, `cannot reach ${new URL(url).host} (${c.code}): offline? ${what} was not downloaded`);
    }
    throw new DownloadError(url, `cannot fetch ${url}: ${c.message}`);
  }
}

/**
 * Hashes a file on disk in a streaming fashion. Reports phase "verify" with bytes.
 */
export async function hashFile(
  p: string,
  opts: { signal?: AbortSignal; onProgress?: OnProgress; label?: string; limit?: number } = {},
): Promise<{ sha256: string; bytes: number; hash: import("node:crypto").Hash }> {
  const { fs, crypto } = await nodeDeps();
  const hash = crypto.createHash("sha256");
  const h = await fs.open(p, "r");
  try {
    const total = opts.limit ?? (await h.stat()).size;
    const buf = new Uint8Array(1 << 20);
    let done = 0;
    while (done < total) {
      if (opts.signal?.aborted) throw abortError(opts.signal);
      const { bytesRead } = await h.read(buf, 0, Math.min(buf.length, total - done), done);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      done += bytesRead;
      opts.onProgress?.({ phase: "verify", done, total, unit: "bytes", message: opts.label });
    }
    return { sha256: hash.copy().digest("hex"), bytes: done, hash };
  } finally {
    await h.close();
  }
}

/**
 * Checks a file against an expected size and sha256 (either may be undefined). Returns null when it matches,
 * else a description of the mismatch (also when the file is missing).
 */
export async function checkFile(
  p: string,
  expect: { sha256?: string; bytes?: number },
  opts: { signal?: AbortSignal; onProgress?: OnProgress; label?: string } = {},
): Promise<string | null> {
  const { fs } = await nodeDeps();
  const size = await sizeOf(fs, p);
  if (size < 0) return "missing";
  if (expect.bytes !== undefined && size !== expect.bytes) return `size ${size} bytes, expected ${expect.bytes}`;
  if (expect.sha256 === undefined) return null;
  const { sha256 } = await hashFile(p, opts);
  return sha256 === expect.sha256.toLowerCase() ? null : `sha256 ${sha256}, expected ${expect.sha256}`;
}

/** Parses `Content-Range: bytes a-b/n`; null when absent or malformed. */
function contentRange(v: string | null): { first: number; last: number; total: number | undefined } | null {
  const m = v ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(v.trim()) : null;
  if (!m) return null;
  return { first: Number(m[1]), last: Number(m[2]), total: m[3] === "*" ? undefined : Number(m[3]) };
}

/**
 * Downloads `url` to `dest` (see the module comment). Throws OfflineError when the host cannot be reached or
 * the connection keeps dropping (the partial file is kept for a later resume), DownloadError for HTTP errors
 * and size mismatches, ChecksumError for a wrong sha256 (the partial file is deleted), AbortError when
 * `signal` fires (the partial file is kept).
 */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const { fs, path, crypto } = await nodeDeps();
  if (!/^https?:\/\//i.test(url)) throw new ArgumentError("url", `only http(s) URLs can be downloaded: ${url}`);
  const { signal, onProgress } = opts;
  const expectSha = opts.sha256?.toLowerCase();
  if (expectSha !== undefined && !/^[0-9a-f]{64}$/.test(expectSha)) throw new ArgumentError("sha256", `not a sha256: ${opts.sha256}`);
  const retries = opts.retries ?? 3;
  const retryDelay = opts.retryDelayMs ?? 1000;
  const label = opts.label ?? path.basename(dest);
  const part = `${dest}.part`;
  await fs.mkdir(path.dirname(path.resolve(dest)), { recursive: true });

  let failures = 0;
  let restartedAfterMismatch = false;
  for (;;) {
    if (signal?.aborted) throw abortError(signal);
    let start = await sizeOf(fs, part);
    if (start < 0) start = 0;
    if (opts.bytes !== undefined && start > opts.bytes) {
      await fs.rm(part, { force: true });
      start = 0;
    }

    let res: Response | null = null;
    if (!(opts.bytes !== undefined && start === opts.bytes && start > 0)) {
      const headers: Record<string, string> = { ...opts.headers, "accept-encoding": "identity" };
      if (start > 0) headers.range = `bytes=${start}-`;
      res = await httpGet(url, headers, signal, label);

      if (res.status === 416 && start > 0) {
        // The kept part cannot be continued (already complete, or the remote file changed): let the size
        // and hash decide, or start over.
        await res.body?.cancel().catch(() => {});
        res = null;
        if (opts.bytes === undefined || start !== opts.bytes) {
          await fs.rm(part, { force: true });
          continue;
        }
      } else if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
        if (retryable && failures < retries) {
          failures++;
          await sleep(retryDelay * failures, signal);
          continue;
        }
        throw new DownloadError(url, `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""} for ${url}`, res.status);
      }
    }

    let total = opts.bytes;
    let append = start > 0;
    if (res) {
      if (res.status === 206) {
        const cr = contentRange(res.headers.get("content-range"));
        if (!cr || cr.first !== start) {
          // A range we did not ask for: do not splice it in; start over without Range.
          await res.body?.cancel().catch(() => {});
          await fs.rm(part, { force: true });
          if (failures++ >= retries) throw new DownloadError(url, `server answered Range bytes=${start}- with Content-Range ${res.headers.get("content-range")}`);
          continue;
        }
        total ??= cr.total;
        if (opts.bytes !== undefined && cr.total !== undefined && cr.total !== opts.bytes) {
          await res.body?.cancel().catch(() => {});
          throw new DownloadError(url, `${label}: server has ${cr.total} bytes, expected ${opts.bytes}`);
        }
      } else {
        // 200: the whole file, whether or not we asked for a range.
        append = false;
        start = 0;
        const len = res.headers.get("content-length");
        const n = len !== null && /^\d+$/.test(len) ? Number(len) : undefined;
        if (opts.bytes !== undefined && n !== undefined && n !== opts.bytes) {
          await res.body?.cancel().catch(() => {});
          throw new DownloadError(url, `${label}: server sends ${n} bytes, expected ${opts.bytes}`);
        }
        total ??= n;
      }
    }

    // Hash what is kept, then stream the rest through the same hash.
    const hash = append
      ? (await hashFile(part, { signal, onProgress, label, limit: start })).hash
      : crypto.createHash("sha256");
    let done = start;
    if (res) {
      const handle = await fs.open(part, append ? "a" : "w");
      let dropped: unknown = null;
      try {
        onProgress?.({ phase: "download", done, total: total ?? 0, unit: "bytes", message: label });
        const body = res.body;
        if (body) {
          const reader = body.getReader();
          try {
            for (;;) {
              const { done: eof, value } = await reader.read();
              if (eof) break;
              let off = 0;
              while (off < value.byteLength) {
                const { bytesWritten } = await handle.write(value, off, value.byteLength - off);
                off += bytesWritten;
              }
              hash.update(value);
              done += value.byteLength;
              onProgress?.({ phase: "download", done, total: total ?? 0, unit: "bytes", message: label });
            }
          } catch (err) {
            if (signal?.aborted) throw abortError(signal);
            dropped = err;
            await reader.cancel().catch(() => {});
          }
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      const short = total !== undefined && done < total;
      if (dropped || short) {
        if (failures < retries) {
          failures++;
          await sleep(retryDelay * failures, signal);
          continue;
        }
        const why = dropped ? causeOf(dropped).message : "the server closed the connection early";
        throw new OfflineError(
          url,
          `${label}: connection lost after ${done} of ${total ?? "?"} bytes (${why}); the partial download is kept, run again to resume`,
        );
      }
    }

    if (opts.bytes !== undefined && done !== opts.bytes) {
      await fs.rm(part, { force: true });
      throw new DownloadError(url, `${label}: received ${done} bytes, expected ${opts.bytes}; the download was deleted`);
    }
    const sha256 = hash.digest("hex");
    if (expectSha !== undefined && sha256 !== expectSha) {
      await fs.rm(part, { force: true });
      // A resumed file may have been spliced from two versions of the remote file: one fresh try.
      if (start > 0 && !restartedAfterMismatch) {
        restartedAfterMismatch = true;
        continue;
      }
      throw new ChecksumError(label, expectSha, sha256);
    }
    if (signal?.aborted) throw abortError(signal);
    await fs.rename(part, dest);
    await fsyncDir(path.dirname(path.resolve(dest)));
    return { path: dest, bytes: done, sha256, resumedFrom: start };
  }
}

