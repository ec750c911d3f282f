/**
 * A tiny HTTP server on 127.0.0.1 serving in-memory files, for download tests without network. Supports
 * `Range: bytes=N-` (206 + Content-Range), and per-file misbehaviour: ignoring Range, cutting the connection
 * after some bytes, stalling, or answering with an error status. Node only: `node:http` is imported when
 * the server starts, so test modules can import this file from anywhere.
 */

/** How one path is served. */
export interface LoopbackFile {
  body: Uint8Array;
  /** Answer Range requests with the whole file (200), as some servers and proxies do. */
  ignoreRange?: boolean;
  /** Close the connection after sending this many body bytes (of this response)... */
  cutAfter?: number;
  /** ...on this many responses (default 1); later responses are complete. */
  cutTimes?: number;
  /** Send this many body bytes, then stop sending without closing (until the client gives up or close()). */
  stallAfter?: number;
  /** Answer with this status, and `body` unless it is empty. */
  status?: number;
  /** Answer 401 (with a JSON error) unless the request's Authorization header is exactly this. */
  auth?: string;
  /** Omit Content-Length (chunked encoding). */
  noLength?: boolean;
}

/** One request the server saw. */
export interface LoopbackRequest {
  path: string;
  range: string | undefined;
  status: number;
  authorization: string | undefined;
}

/** A running server. */
export interface LoopbackServer {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  /** Served files by path (e.g. "/m/a.bin"); may be changed while running. */
  readonly files: Map<string, LoopbackFile>;
  /** Every request so far. */
  readonly requests: LoopbackRequest[];
  /** Stops the server, dropping open connections. */
  close(): Promise<void>;
}

/** Starts a server on an ephemeral loopback port. */
export async function startLoopbackServer(files: Record<string, LoopbackFile | Uint8Array> = {}): Promise<LoopbackServer> {
  const http = await import("node:http");
  const table = new Map<string, LoopbackFile>();
  for (const [k, v] of Object.entries(files)) table.set(k, v instanceof Uint8Array ? { body: v } : v);
  const requests: LoopbackRequest[] = [];
  // Per file object, so replacing an entry in `files` starts its cut count afresh.
  const cuts = new WeakMap<LoopbackFile, number>();
  const sockets = new Set<import("node:net").Socket>();

  const server = http.createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]);
    const range = typeof req.headers.range === "string" ? req.headers.range : undefined;
    const file = table.get(path);
    const authorization = typeof req.headers.authorization === "string" ? req.headers.authorization : undefined;
    const log = (status: number) => requests.push({ path, range, status, authorization });
    if (!file) {
      log(404);
      res.writeHead(404, { "content-length": "0" }).end();
      return;
    }
    if (file.auth !== undefined && authorization !== file.auth) {
      log(401);
      const body = JSON.stringify({ error: "Access to this model is restricted." });
      res.writeHead(401, { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) }).end(body);
      return;
    }
    if (file.status !== undefined) {
      log(file.status);
      res.writeHead(file.status, { "content-length": String(file.body.byteLength) }).end(file.body);
      return;
    }
    const size = file.body.byteLength;
    let start = 0;
    let status = 200;
    const headers: Record<string, string> = { "content-type": "application/octet-stream", "accept-ranges": "bytes" };
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m && !file.ignoreRange) {
      start = Number(m[1]);
      if (start >= size) {
        log(416);
        res.writeHead(416, { "content-range": `bytes */${size}`, "content-length": "0" }).end();
        return;
      }
      status = 206;
      headers["content-range"] = `bytes ${start}-${size - 1}/${size}`;
    }
    const body = file.body.subarray(start);
    if (!file.noLength) headers["content-length"] = String(body.byteLength);
    log(status);
    res.writeHead(status, headers);

    const used = cuts.get(file) ?? 0;
    if (file.cutAfter !== undefined && used < (file.cutTimes ?? 1)) {
      cuts.set(file, used + 1);
      const n = Math.min(file.cutAfter, body.byteLength);
      res.flushHeaders();
      // Hand the partial body to the kernel, then close the socket mid-response (FIN, so the client still
      // reads every byte sent before it sees the truncated body).
      res.write(body.subarray(0, n), () => res.socket?.end());
      return;
    }
    if (file.stallAfter !== undefined) {
      res.write(body.subarray(0, Math.min(file.stallAfter, body.byteLength)));
      return;
    }
    res.end(body);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  if (!addr || typeof addr === "string") throw new Error("loopback server has no port");
  return {
    url: `http://127.0.0.1:${addr.port}`,
    files: table,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** How serveHubRepo() lists and serves a repository. */
export interface HubRepoOptions {
  /** Files stored in Git LFS (listed with their sha256); the rest are plain Git files. Default: *.safetensors. */
  lfs?: (name: string) => boolean;
  /** Authorization header required for the listing and every file (a gated model). */
  auth?: string;
  /** Replace listed sha256 values (a listing that disagrees with the files). */
  sha256?: Record<string, string>;
}

/**
 * Serves `files` as Hugging Face Hub model `repo`: the listing `GET /api/models/<repo>/revision/<revision>`
 * (as `?blobs=true` answers: commit id, siblings with size, Git blob id, and LFS sha256) and each file at
 * `/<repo>/resolve/<commit>/<name>`. Names with a "/" are listed but not served.
 */
export async function serveHubRepo(
  server: LoopbackServer, repo: string, revision: string, commit: string, files: Record<string, Uint8Array>, opts: HubRepoOptions = {},
): Promise<void> {
  const crypto = await import("node:crypto");
  const lfs = opts.lfs ?? ((n: string) => n.endsWith(".safetensors"));
  const siblings = Object.entries(files).map(([name, body]) => {
    const blobId = crypto.createHash("sha1").update(`blob ${body.byteLength}\0`).update(body).digest("hex");
    if (!lfs(name)) return { rfilename: name, blobId, size: body.byteLength };
    const sha256 = opts.sha256?.[name] ?? crypto.createHash("sha256").update(body).digest("hex");
    return { rfilename: name, blobId, size: body.byteLength, lfs: { sha256, size: body.byteLength, pointerSize: 134 } };
  });
  const listing = { id: repo, modelId: repo, sha: commit, private: false, cardData: { license: "mit" }, siblings };
  server.files.set(`/api/models/${repo}/revision/${revision}`, { body: new TextEncoder().encode(JSON.stringify(listing)), auth: opts.auth });
  for (const [name, body] of Object.entries(files)) {
    if (!name.includes("/")) server.files.set(`/${repo}/resolve/${commit}/${name}`, { body, auth: opts.auth });
  }
}
