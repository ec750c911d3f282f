#!/usr/bin/env node
/**
 * The `dass` executable: connects `runCli` to the process. First Ctrl-C aborts the running command through
 * its AbortSignal (the library stops, temporary outputs are removed, exit code 130); a second Ctrl-C exits
 * at once after removing any temporary output still in flight.
 */
import { AbortError } from "../errors.js";
import { removePendingTempPathsSync } from "../util/atomic-write.js";
import { runCli } from "./run.js";

const controller = new AbortController();
let interrupts = 0;
process.on("SIGINT", () => {
  interrupts++;
  if (interrupts === 1) {
    process.stderr.write("\ninterrupted: stopping (press Ctrl-C again to quit immediately)\n");
    controller.abort(new AbortError("interrupted"));
    return;
  }
  removePendingTempPathsSync();
  process.exit(130);
});
// `dass generate ... | head` closes stdout early: that is not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

const code = await runCli(process.argv.slice(2), {
  io: {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    progressStream: process.stderr,
    env: process.env,
  },
  signal: controller.signal,
});
process.exitCode = code;
// Leftover handles (a worker a library forgot to stop) must not keep a finished command alive.
setTimeout(() => process.exit(code), 2000).unref();
