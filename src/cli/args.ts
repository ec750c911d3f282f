/**
 * Command-line parsing on top of `node:util` parseArgs (strict: unknown flags and stray positionals are
 * errors), plus typed accessors that turn bad values into UsageError (exit code 2) naming the flag.
 */
import { parseArgs } from "node:util";
import { DassError } from "../errors.js";
import type { CommandContext } from "./context.js";

/** Wrong command-line usage: unknown flag, missing or malformed value. The CLI exits with code 2. */
export class UsageError extends DassError {
  /** The command whose usage was wrong, for the "see --help" hint. */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super("ERR_USAGE", message);
    this.command = command;
  }
}

/** One flag of a command. */
export interface OptionSpec {
  /** Long name without dashes, e.g. "max-tokens". */
  name: string;
  type: "string" | "boolean";
  /** Placeholder shown in help, e.g. "FILE". */
  value?: string;
  short?: string;
  help: string;
  /** Shown in help; applied by the command (parseArgs defaults would hide "given or not"). */
  default?: string;
  /** Allowed values (checked). */
  choices?: readonly string[];
  required?: boolean;
}

/** A positional argument. */
export interface PositionalSpec {
  name: string;
  help: string;
  required?: boolean;
}

/** Parsed arguments of one command. */
export interface ParsedArgs {
  /** Flag values; absent flags are undefined. */
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** For pass-through commands: everything after the positionals, unparsed. */
  rest: string[];
}

/** A subcommand. */
export interface CommandSpec {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Usage line(s) after "dass NAME". */
  usage: string;
  /** Paragraph(s) shown under the usage. */
  description?: string;
  options: OptionSpec[];
  positionals?: PositionalSpec[];
  /** Arguments after the positionals are handed over unparsed (for `bench`). */
  passThrough?: boolean;
  examples?: string[];
  /** Runs the command; returns the exit code (default 0). */
  run(ctx: CommandContext, args: ParsedArgs): Promise<number | void>;
}

/** Flags every command accepts. */
export const COMMON_OPTIONS: OptionSpec[] = [
  { name: "help", short: "h", type: "boolean", help: "show this help" },
];

/** Parses `argv` (the arguments after the command name) against `spec`. Throws UsageError. */
export function parseCommandArgs(spec: CommandSpec, argv: string[]): ParsedArgs {
  const all = [...spec.options, ...COMMON_OPTIONS];
  let head = argv;
  let rest: string[] = [];
  if (spec.passThrough) {
    const npos = spec.positionals?.length ?? 0;
    const idx = argv.findIndex((a, i) => i >= npos || a.startsWith("-"));
    const cut = idx < 0 ? argv.length : Math.min(idx, npos);
    head = argv.slice(0, cut);
    rest = argv.slice(cut);
    // `dass bench --help`: help for this command, not for a benchmark that was not named.
    if (head.length === 0 && (rest[0] === "--help" || rest[0] === "-h")) return { values: { help: true }, positionals: [], rest: [] };
  }
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const o of all) options[o.name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: head, options, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (err) {
    throw new UsageError(cleanParseMessage(err, spec), spec.name);
  }
  const values: Record<string, string | boolean | undefined> = {};
  for (const [k, v] of Object.entries(parsed.values)) values[k] = Array.isArray(v) ? v[v.length - 1] : v;
  if (values.help) return { values, positionals: parsed.positionals, rest };

  const maxPos = spec.positionals?.length ?? 0;
  if (parsed.positionals.length > maxPos) {
    const extra = parsed.positionals[maxPos];
    throw new UsageError(`unexpected argument ${JSON.stringify(extra)}${maxPos === 0 ? ` (dass ${spec.name} takes only --flags)` : ""}`, spec.name);
  }
  for (const [i, p] of (spec.positionals ?? []).entries()) {
    if (p.required && parsed.positionals[i] === undefined) throw new UsageError(`missing ${p.name}`, spec.name);
  }
  for (const o of spec.options) {
    const v = values[o.name];
    if (o.type === "string" && typeof v === "string") {
      if (o.choices && !o.choices.includes(v)) {
        throw new UsageError(`--${o.name} must be one of ${o.choices.join(", ")} (got ${JSON.stringify(v)})`, spec.name);
      }
    }
    if (o.required && (v === undefined || v === "")) throw new UsageError(`missing --${o.name}${o.value ? ` ${o.value}` : ""}`, spec.name);
  }
  return { values, positionals: parsed.positionals, rest };
}

function cleanParseMessage(err: unknown, spec: CommandSpec): string {
  return parseArgsMessage(err, [...spec.options, ...COMMON_OPTIONS].map((o) => o.name), `dass ${spec.name}`);
}

/**
 * node:util parseArgs's error as one line that names the flag, with a "did you mean" among `known`
 * (flag names without dashes) for an unknown one. `owner` names the command in that message.
 */
export function parseArgsMessage(err: unknown, known: readonly string[], owner: string): string {
  const e = err as { code?: string; message?: string };
  const msg = String(e.message ?? err);
  if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const m = /Unknown option '([^']+)'/.exec(msg);
    const flag = m ? m[1] : "?";
    const near = closest(flag.replace(/^-+/, "").split("=")[0], known);
    return `unknown flag ${flag} for ${owner}${near ? ` (did you mean --${near}?)` : ""}`;
  }
  if (e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const m = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(msg);
    if (m) return `${m[1]} needs a value`;
    const amb = /Option '(?:-\w, )?(--[\w-]+)[^']*' argument is ambiguous/.exec(msg);
    if (amb) return `${amb[1]} needs a value (for a value starting with "-", write ${amb[1]}=VALUE)`;
    const b = /Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(msg);
    if (b) return `${b[1]} takes no value`;
  }
  if (e.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const m = /Unexpected argument '([^']+)'/.exec(msg);
    if (m) return `unexpected argument ${JSON.stringify(m[1])}`;
  }
  return msg.split("\n")[0];
}

/** The candidate within edit distance 2 of `word`, if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

/** A string flag's value, or undefined when absent. */
export function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === "string" ? v : undefined;
}

/** A boolean flag: true when given. */
export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/**
 * An integer flag (decimal digits only), or `fallback` when absent. Throws UsageError when malformed or
 * outside [min, max].
 */
export function int(args: ParsedArgs, name: string, fallback: number, min?: number, max?: number): number;
export function int(args: ParsedArgs, name: string, fallback: undefined, min?: number, max?: number): number | undefined;
export function int(args: ParsedArgs, name: string, fallback: number | undefined, min = -Infinity, max = Infinity): number | undefined {
  const v = str(args, name);
  if (v === undefined) return fallback;
  const t = v.trim();
  if (!/^[+-]?\d+$/.test(t)) throw new UsageError(`--${name} must be an integer (got ${JSON.stringify(v)})`);
  const n = Number(t);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer${rangeText(min, max)} (got ${v})`);
  }
  return n;
}

/** A finite number flag, or `fallback` when absent. Throws UsageError when malformed or outside [min, max]. */
export function num(args: ParsedArgs, name: string, fallback: number, min = -Infinity, max = Infinity): number {
  const v = str(args, name);
  if (v === undefined) return fallback;
  const t = v.trim();
  const n = t === "" ? NaN : Number(t);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number (got ${JSON.stringify(v)})`);
  if (n < min || n > max) throw new UsageError(`--${name} must be${rangeText(min, max)} (got ${v})`);
  return n;
}

function rangeText(min: number, max: number): string {
  if (min > -Infinity && max < Infinity) return ` in [${min}, ${max}]`;
  if (min > -Infinity) return ` >= ${min}`;
  if (max < Infinity) return ` <= ${max}`;
  return "";
}

/** Help text of one command. */
export function commandHelp(spec: CommandSpec): string {
  const lines: string[] = [];
  lines.push(`Usage: dass ${spec.name} ${spec.usage}`.trimEnd(), "", ...wrap(spec.summary, HELP_WIDTH));
  if (spec.description) lines.push("", spec.description);
  if (spec.positionals?.length) {
    lines.push("", "Arguments:");
    const w = Math.max(...spec.positionals.map((p) => p.name.length));
    for (const p of spec.positionals) lines.push(`  ${p.name.padEnd(w)}  ${p.help}`);
  }
  const opts = [...spec.options, ...COMMON_OPTIONS];
  lines.push("", "Options:");
  const left = opts.map((o) => `${o.short ? `-${o.short}, ` : "    "}--${o.name}${o.type === "string" ? ` ${o.value ?? "VALUE"}` : ""}`);
  const w = Math.min(34, Math.max(...left.map((l) => l.length)));
  opts.forEach((o, i) => {
    let text = o.help;
    if (o.choices) text += ` (${o.choices.join("|")})`;
    if (o.default !== undefined) text += ` [default: ${o.default}]`;
    if (o.required) text += " (required)";
    const l = left[i];
    const body = wrap(text, HELP_WIDTH - w - 4).join(`\n  ${"".padEnd(w)}  `);
    lines.push(l.length > w ? `  ${l}\n  ${"".padEnd(w)}  ${body}` : `  ${l.padEnd(w)}  ${body}`);
  });
  if (spec.examples?.length) {
    lines.push("", "Examples:");
    for (const e of spec.examples) lines.push(`  ${e}`);
  }
  return lines.join("\n") + "\n";
}

const HELP_WIDTH = 100;

/** Splits text into lines of at most `width` characters at spaces (longer words stay whole). */
export function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line || !out.length) out.push(line);
  return out;
}
