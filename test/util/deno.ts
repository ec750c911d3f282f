/** The Deno binary from the `deno` npm package (Node only). */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Repository root: this file is dist/test/util/deno.js once compiled. */
const repo = fileURLToPath(new URL("../../../", import.meta.url));

/** The command that runs Deno: its binary, or the package's bin.cjs wrapper as the fallback. */
export function denoCommand(): string[] {
  for (const exe of ["node_modules/deno/deno", `node_modules/@deno/linux-${process.arch}-glibc/deno`]) {
    if (existsSync(repo + exe)) return [repo + exe];
  }
  return [process.execPath, repo + "node_modules/deno/bin.cjs"];
}
