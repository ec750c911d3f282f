// Finding and compiling the kernel module. The default URLs are literal `new URL(…, import.meta.url)`
// expressions so that bundlers copy the .wasm files; Node reads them from the filesystem (its fetch
// cannot read file: URLs), Deno and browsers fetch them.
import type { HostKind } from "./detect.js";
import { validates } from "./detect.js";

/** One of the four builds of the same AssemblyScript source. */
export type WasmVariant = "mt" | "st" | "mt-relaxed" | "st-relaxed";

/** Where a module comes from: raw bytes, a URL (or URL string), or an already compiled module. */
export type WasmSource = BufferSource | URL | string | WebAssembly.Module;

/** A single source for whichever build applies, or one source per build. */
export type WasmOption = WasmSource | Partial<Record<WasmVariant, WasmSource>>;

function defaultUrl(variant: WasmVariant): URL {
  switch (variant) {
    case "mt": return new URL("../../wasm/dass-mt.wasm", import.meta.url);
    case "st": return new URL("../../wasm/dass-st.wasm", import.meta.url);
    case "mt-relaxed": return new URL("../../wasm/dass-mt-relaxed.wasm", import.meta.url);
    case "st-relaxed": return new URL("../../wasm/dass-st-relaxed.wasm", import.meta.url);
  }
}

function isSource(o: WasmOption): o is WasmSource {
  return o instanceof WebAssembly.Module || o instanceof URL || typeof o === "string" ||
    o instanceof ArrayBuffer || ArrayBuffer.isView(o) ||
    (typeof SharedArrayBuffer !== "undefined" && (o as unknown) instanceof SharedArrayBuffer);
}

async function readUrl(url: URL, host: HostKind): Promise<Uint8Array<ArrayBuffer>> {
  if (url.protocol === "file:" && host !== "browser") {
    const fs = await import("node:fs/promises");
    const { fileURLToPath } = await import("node:url");
    return new Uint8Array(await fs.readFile(fileURLToPath(url)));
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot load ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function toModuleOrBytes(src: WasmSource, host: HostKind): Promise<WebAssembly.Module | Uint8Array<ArrayBuffer>> {
  if (src instanceof WebAssembly.Module) return src;
  if (typeof src === "string") {
    const base = typeof location !== "undefined" ? location.href : undefined;
    let url: URL;
    try { url = new URL(src, base); } catch {
      const { pathToFileURL } = await import("node:url");
      url = pathToFileURL(src);
    }
    return readUrl(url, host);
  }
  if (src instanceof URL) return readUrl(src, host);
  // Copy: the caller's buffer may be shared or change later.
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength).slice();
  return new Uint8Array(src as ArrayBuffer).slice();
}

/** The compiled module chosen for this host and whether it wants shared memory. */
export interface LoadedModule {
  module: WebAssembly.Module;
  variant: WasmVariant | "custom";
  relaxedSimd: boolean;
}

/**
 * Compiles the best build for the host: relaxed SIMD when the engine validates our own relaxed
 * bytes, plain SIMD otherwise; the threaded build when `threaded` is true.
 */
export async function loadModule(option: WasmOption | undefined, threaded: boolean, host: HostKind): Promise<LoadedModule> {
  if (option !== undefined && isSource(option)) {
    const m = await toModuleOrBytes(option, host);
    return { module: m instanceof WebAssembly.Module ? m : await WebAssembly.compile(m), variant: "custom", relaxedSimd: false };
  }
  const table = (option ?? {}) as Partial<Record<WasmVariant, WasmSource>>;
  const plain: WasmVariant = threaded ? "mt" : "st";
  const relaxed: WasmVariant = threaded ? "mt-relaxed" : "st-relaxed";
  const relaxedSrc = await toModuleOrBytes(table[relaxed] ?? defaultUrl(relaxed), host).catch(() => undefined);
  if (relaxedSrc instanceof WebAssembly.Module) return { module: relaxedSrc, variant: relaxed, relaxedSimd: true };
  if (relaxedSrc && validates(relaxedSrc)) {
    return { module: await WebAssembly.compile(relaxedSrc), variant: relaxed, relaxedSimd: true };
  }
  const plainSrc = await toModuleOrBytes(table[plain] ?? defaultUrl(plain), host);
  const module = plainSrc instanceof WebAssembly.Module ? plainSrc : await WebAssembly.compile(plainSrc);
  return { module, variant: plain, relaxedSimd: false };
}
