/**
 * Which JavaScript environment the tests are running in. Deno 2 also defines `process`, so Deno is
 * checked first; the browser is anything with a `window`/`document` and neither Node nor Deno.
 */

/** True under Deno. */
export const isDeno: boolean = typeof (globalThis as { Deno?: unknown }).Deno === "object";

/** True under Node.js (and not Deno, which emulates `process`). */
export const isNode: boolean =
  !isDeno &&
  typeof process === "object" &&
  process !== null &&
  typeof process.versions === "object" &&
  typeof process.versions.node === "string";

/** True in a browser page (main thread or worker). */
export const isBrowser: boolean =
  !isDeno && !isNode && (typeof window === "object" || typeof self === "object");

/** Short environment name for log lines: "node", "deno", "browser" or "unknown". */
export const envName: "node" | "deno" | "browser" | "unknown" = isNode
  ? "node"
  : isDeno
    ? "deno"
    : isBrowser
      ? "browser"
      : "unknown";

/**
 * Runtime mode the browser page expects ("isolated" = served with COOP/COEP, "single" = without),
 * or undefined outside the browser harness. Set by test/browser/main.ts from the page's URL.
 */
export function expectedBrowserMode(): "isolated" | "single" | undefined {
  const m = (globalThis as { __DASS_EXPECT_MODE?: unknown }).__DASS_EXPECT_MODE;
  return m === "isolated" || m === "single" ? m : undefined;
}
