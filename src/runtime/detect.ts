// Runtime detection in one place: which JavaScript host this is and what it allows.
// Deno defines `process.versions.node` and leaves `crossOriginIsolated` undefined, so it is
// recognised first and never judged by browser isolation rules.

/** The JavaScript host. */
export type HostKind = "node" | "deno" | "browser";

/** What the host offers to the Wasm runtime. */
export interface HostInfo {
  kind: HostKind;
  /** SharedArrayBuffer exists and may be shared with workers. */
  sharedMemory: boolean;
  /** Why shared memory is unavailable, when it is. */
  sharedMemoryReason?: string;
  /** Logical processors reported by the host. */
  hardwareConcurrency: number;
}

interface DenoGlobal { version?: { deno?: string } }
interface NodeProcess { versions?: { node?: string } }

export function detectHost(): HostInfo {
  const g = globalThis as unknown as {
    Deno?: DenoGlobal; process?: NodeProcess; crossOriginIsolated?: boolean;
    navigator?: { hardwareConcurrency?: number }; SharedArrayBuffer?: unknown;
  };
  const kind: HostKind = g.Deno?.version?.deno ? "deno" : g.process?.versions?.node ? "node" : "browser";
  const hardwareConcurrency = Math.max(1, g.navigator?.hardwareConcurrency ?? 1);
  let sharedMemory = typeof g.SharedArrayBuffer === "function";
  let sharedMemoryReason: string | undefined;
  if (!sharedMemory) {
    sharedMemoryReason = kind === "browser"
      ? "no cross-origin isolation (serve the page with COOP: same-origin and COEP: require-corp)"
      : "SharedArrayBuffer is not available";
  } else if (kind === "browser" && g.crossOriginIsolated !== true) {
    sharedMemory = false;
    sharedMemoryReason = "no cross-origin isolation (serve the page with COOP: same-origin and COEP: require-corp)";
  }
  return { kind, sharedMemory, sharedMemoryReason, hardwareConcurrency };
}

/** Node's `os.availableParallelism()` where navigator does not say (Node 20 has no navigator). */
export async function detectConcurrency(host: HostInfo): Promise<number> {
  if (host.kind !== "node") return host.hardwareConcurrency;
  const g = globalThis as unknown as { navigator?: { hardwareConcurrency?: number } };
  if (g.navigator?.hardwareConcurrency) return g.navigator.hardwareConcurrency;
  const os = await import("node:os");
  return Math.max(1, typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length);
}

/** Whether the engine compiles the given module bytes (used on our own builds, e.g. relaxed SIMD). */
export function validates(bytes: BufferSource): boolean {
  try { return WebAssembly.validate(bytes); } catch { return false; }
}
