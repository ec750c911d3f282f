// Compiles the AssemblyScript kernels into the four builds of asconfig.json and checks that none
// carries static data: with imported shared memory every worker's instantiation would rewrite it.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const asc = require.resolve("assemblyscript/bin/asc.js");
const config = JSON.parse(readFileSync(new URL("../asconfig.json", import.meta.url), "utf8"));
for (const target of Object.keys(config.targets)) {
  execFileSync(process.execPath, [asc, "--config", "asconfig.json", "--target", target], { stdio: "inherit" });
  const bytes = readFileSync(new URL("../" + config.targets[target].outFile, import.meta.url));
  // Count data segments by walking the binary's sections (id 11 = data).
  let p = 8, dataSegments = 0;
  const u = () => { let r = 0, s = 0, b; do { b = bytes[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
  while (p < bytes.length) {
    const id = bytes[p++]; const size = u(); const start = p;
    if (id === 11) dataSegments = u();
    p = start + size;
  }
  if (dataSegments !== 0) throw new Error(`${target}: ${dataSegments} data segment(s); kernels must not use static data`);
  console.log(`wasm ${target}: ${bytes.length} bytes`);
}
