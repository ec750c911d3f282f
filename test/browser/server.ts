/**
 * Minimal static server for the browser tests. Serves the repo root at `/` (dist/, node_modules/,
 * test/browser/index.html) and `../shared` at `/shared/`. With `isolated`, it sends COOP/COEP so the
 * page is cross-origin isolated (SharedArrayBuffer, wasm threads); without, the runtime must fall
 * back to a single thread. Standalone: `node dist/test/browser/server.js [--isolated] [--port N]`.
 */
import { createServer, type Server } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root: this file is dist/test/browser/server.js once compiled. */
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

const MIME: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".txt": "text/plain; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/** Starts the server on 127.0.0.1 (port 0 = any free port) and returns its base URL. */
export async function startServer(opts: { isolated: boolean; port?: number }): Promise<{ url: string; server: Server }> {
  const roots: [string, string][] = [
    ["/shared/", resolve(repoRoot, "../shared")],
    ["/", resolve(repoRoot)],
  ];
  const server = createServer(async (req, res) => {
    const headers: Record<string, string> = { "Cache-Control": "no-store" };
    if (opts.isolated) {
      headers["Cross-Origin-Opener-Policy"] = "same-origin";
      headers["Cross-Origin-Embedder-Policy"] = "require-corp";
      headers["Cross-Origin-Resource-Policy"] = "same-origin";
    }
    let path = req.url ?? "/";
    try {
      path = decodeURIComponent(new URL(path, "http://x").pathname);
      const [prefix, dir] = roots.find(([p]) => path.startsWith(p))!;
      const file = resolve(dir, "." + path.slice(prefix.length - 1));
      if (file !== dir && !file.startsWith(dir + sep)) throw new Error("outside root");
      if (!(await stat(file)).isFile()) throw new Error("not a file");
      const body = await readFile(file);
      headers["Content-Type"] = MIME[extname(file)] ?? "application/octet-stream";
      res.writeHead(200, headers).end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404, { ...headers, "Content-Type": "text/plain" }).end(`not found: ${path}\n`);
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(opts.port ?? 0, "127.0.0.1", ok);
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}`, server };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const isolated = process.argv.includes("--isolated");
  const i = process.argv.indexOf("--port");
  const { url } = await startServer({ isolated, port: i > 0 ? Number(process.argv[i + 1]) : 8080 });
  console.log(`serving ${repoRoot} at ${url}/test/browser/index.html (${isolated ? "isolated" : "not isolated"})`);
}
