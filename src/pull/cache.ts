/** Where `dass pull` keeps downloaded models. */

/** Inputs of `cacheDirFor`, so the rule can be tested for every platform from any platform. */
export interface CacheDirContext {
  env: Record<string, string | undefined>;
  /** `process.platform`. */
  platform: string;
  /** The user's home directory. */
  home: string;
}

/**
 * The cache folder: `DASS_CACHE` when set; otherwise `%LOCALAPPDATA%\dass-wasm` on Windows,
 * `~/Library/Caches/dass-wasm` on macOS, and `$XDG_CACHE_HOME/dass-wasm` (default `~/.cache/dass-wasm`)
 * elsewhere, following each platform's convention for re-downloadable data.
 */
export function cacheDirFor(ctx: CacheDirContext): string {
  const { env, platform, home } = ctx;
  const win = platform === "win32";
  const join = (...parts: string[]) => {
    const sep = win ? "\\" : "/";
    return parts.map((p, i) => (i === 0 ? p.replace(/[\\/]+$/, "") : p.replace(/^[\\/]+|[\\/]+$/g, ""))).join(sep);
  };
  if (env.DASS_CACHE) return env.DASS_CACHE;
  if (win) return join(env.LOCALAPPDATA || join(home, "AppData", "Local"), "dass-wasm");
  if (platform === "darwin") return join(home, "Library", "Caches", "dass-wasm");
  const xdg = env.XDG_CACHE_HOME;
  // The XDG spec says relative values are invalid and must be ignored.
  return join(xdg && xdg.startsWith("/") ? xdg : join(home, ".cache"), "dass-wasm");
}

/** The cache folder for this process (see `cacheDirFor`). Node and Deno only. */
export async function defaultCacheDir(env: Record<string, string | undefined> = process.env): Promise<string> {
  const os = await import("node:os");
  return cacheDirFor({ env, platform: process.platform, home: os.homedir() });
}
