/**
 * Browser entry, loaded by test/browser/index.html. Query: `mode=isolated|single` (what runtime mode
 * the smoke test must see), `color=0|1`, `only=a,b` (module filter). Reports the counts through a
 * final `__DASS_DONE__{json}` console line, which run-browser waits for; console ordering guarantees
 * all test output has been forwarded before it.
 */
import { runSuites, type Counts } from "../util/harness.js";

const params = new URLSearchParams(location.search);
const mode = params.get("mode");
(globalThis as { __DASS_EXPECT_MODE?: string }).__DASS_EXPECT_MODE = mode ?? undefined;

// kleur colours by default in browsers; follow the terminal instead. Must precede uvu's import.
const kleur = (await import("kleur")).default;
kleur.enabled = params.get("color") === "1";

// Outside Node, uvu writes every fragment (e.g. each "• ") with its own console.log. Join fragments
// into whole lines; a message not ending in a space or newline is someone's own log line.
const log = console.log.bind(console);
let pending = "";
console.log = (...args: unknown[]): void => {
  const text = args.map(String).join(" ");
  if (/[ \n]$/.test(text)) {
    pending += text;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) log(line);
  } else {
    log(pending + text);
    pending = "";
  }
};

let result: Counts & { error?: string };
try {
  result = await runSuites(params.get("only")?.split(",").filter(Boolean) ?? []);
} catch (err) {
  result = { passed: 0, failed: 1, skipped: 0, error: String((err as Error)?.stack ?? err) };
}
if (pending) log(pending);
console.log = log;
(globalThis as { __results?: unknown }).__results = result;
document.getElementById("out")!.textContent = JSON.stringify(result);
log("__DASS_DONE__" + JSON.stringify(result));
