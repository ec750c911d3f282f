/**
 * Node arguments for a bench child process. Node 20 compiles relaxed SIMD (fused multiply-add,
 * relaxed swizzle) only behind a flag; later Nodes, Deno and Chromium have it on, so the bench
 * measures the build those users get. The runtime still picks the build by `WebAssembly.validate`.
 */
export function childNodeArgs(): string[] {
  const flag = "--experimental-wasm-relaxed-simd";
  const needs = /^20\./.test(process.versions.node) && !process.execArgv.includes(flag);
  return [...process.execArgv, ...(needs ? [flag] : [])];
}
