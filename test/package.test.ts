// The package as npm would publish it (package.json "files", listed by `npm pack --dry-run`), put
// into a fresh node_modules beside its dependencies: it must import by name ("dass-wasm" and
// "dass-wasm/reference"), find its own Wasm, run a threaded kernel, and run its CLI. This guards
// the "files" list and the "exports" map, which the other suites (importing dist/ directly) cannot
// see. Node only: it runs npm and node.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { isNode } from "./util/env.js";

const pkg = suite("package");

(isNode ? pkg : pkg.skip)("installed from its file list, it imports by name, runs a kernel on 2 threads and its CLI", async () => {
  const { spawnSync } = await import("node:child_process");
  const fs = await import("node:fs/promises");
  const { join, dirname } = await import("node:path");
  const { fileURLToPath } = await import("node:url");
  const { makeTempDir } = await import("./util/temp-dir.js");
  const repo = fileURLToPath(new URL("../../", import.meta.url));
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const packed = spawnSync(npm, ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: repo, encoding: "utf8", timeout: 60_000 });
  assert.is(packed.status, 0, packed.stderr);
  const files = (JSON.parse(packed.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
  assert.ok(files.includes("package.json") && files.some((f) => f.endsWith(".wasm")), "package.json and the Wasm are packed");

  const tmp = await makeTempDir("dass-package-test-");
  try {
    const root = join(tmp.path, "node_modules");
    for (const f of files) {
      await fs.mkdir(dirname(join(root, "dass-wasm", f)), { recursive: true });
      await fs.copyFile(join(repo, f), join(root, "dass-wasm", f));
    }
    const deps = Object.keys((JSON.parse(await fs.readFile(join(repo, "package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies);
    for (const d of deps) {
      await fs.mkdir(dirname(join(root, d)), { recursive: true });
      await fs.symlink(join(repo, "node_modules", d), join(root, d), "dir");
    }
    await fs.writeFile(join(tmp.path, "check.mjs"), `
      import { createRuntime, kernels } from "dass-wasm";
      import * as R from "dass-wasm/reference";
      const rt = await createRuntime({ threads: 2 });
      const dOut = 37, dIn = 101;
      const W = Float32Array.from({ length: dOut * dIn }, (_, i) => Math.sin(i));
      const x = Float32Array.from({ length: dIn }, (_, i) => Math.cos(i));
      const Wm = rt.heap.from("f32", W), xm = rt.heap.from("f32", x), y = rt.heap.alloc("f32", dOut);
      await kernels.gemv(rt, Wm, xm, y, dOut, dIn);
      const want = R.gemv(W, x, dOut, dIn), got = y.read();
      const maxErr = Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i])));
      console.log(JSON.stringify({ threads: rt.threads, maxErr }));
      rt.close();
    `);
    const run = spawnSync(process.execPath, ["check.mjs"], { cwd: tmp.path, encoding: "utf8", timeout: 60_000 });
    assert.is(run.status, 0, run.stderr);
    const res = JSON.parse(run.stdout) as { threads: number; maxErr: number };
    assert.is(res.threads, 2);
    assert.ok(res.maxErr < 1e-4, `max error ${res.maxErr}`);

    const cli = join(root, "dass-wasm", "dist", "src", "cli", "main.js");
    const help = spawnSync(process.execPath, [cli, "--help"], { cwd: tmp.path, encoding: "utf8", timeout: 60_000 });
    assert.is(help.status, 0, help.stderr);
    assert.match(help.stdout, /^Usage: dass <command>/);
    const bench = spawnSync(process.execPath, [cli, "bench", "kernels"], { cwd: tmp.path, encoding: "utf8", timeout: 60_000 });
    assert.is(bench.status, 1);
    assert.match(bench.stderr, /benchmark kernels is not built here .*source checkout/);
  } finally {
    await tmp.remove();
  }
});

pkg.run();
