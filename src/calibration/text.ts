/**
 * Calibration text: a plain UTF-8 file, or JSON lines whose records carry a `"text"` field (joined
 * with "\n\n", empty records included, as the usual `"\n\n".join(dataset["text"])` does).
 */
import { ArgumentError, FormatError } from "../errors.js";

/** How a calibration file is interpreted. `auto` looks at the name and the first non-blank line. */
export type CalibrationFormat = "auto" | "text" | "jsonl";

/**
 * Decodes calibration file contents into the one text that gets tokenised.
 *
 * `auto` treats the file as JSON lines when its name ends in `.jsonl`/`.json`, or when its first
 * non-blank line is a JSON object with a string `"text"` field. A `.json` file holding one array of
 * such records is accepted too. Throws FormatError naming `name` for invalid UTF-8 or a malformed record.
 */
export function parseCalibrationText(content: string | Uint8Array, name = "<calibration>", format: CalibrationFormat = "auto"): string {
  let text: string;
  if (typeof content === "string") {
    text = content;
  } else {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(content);
    } catch {
      throw new FormatError(name, "is not valid UTF-8 text");
    }
  }
  if (format !== "text" && format !== "jsonl" && format !== "auto") {
    throw new ArgumentError("format", `must be "auto", "text" or "jsonl", got ${JSON.stringify(format)}`);
  }
  const jsonl = format === "jsonl" || (format === "auto" && looksLikeJsonl(text, name));
  return jsonl ? joinRecords(text, name) : text;
}

function looksLikeJsonl(text: string, name: string): boolean {
  if (/\.jsonl?$/i.test(name)) return true;
  const m = /^\s*(\{[^\n]*)/.exec(text);
  if (!m) return false;
  try {
    const rec: unknown = JSON.parse(m[1]);
    return isRecord(rec);
  } catch {
    return false;
  }
}

function isRecord(v: unknown): v is { text: string } {
  return typeof v === "object" && v !== null && typeof (v as { text?: unknown }).text === "string";
}

function joinRecords(text: string, name: string): string {
  const trimmed = text.trimStart();
  if (trimmed.startsWith("[")) {
    let arr: unknown;
    try {
      arr = JSON.parse(trimmed);
    } catch (e) {
      throw new FormatError(name, `is not valid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(arr)) throw new FormatError(name, "expected an array of {\"text\": ...} records");
    return arr.map((rec, i) => {
      if (!isRecord(rec)) throw new FormatError(name, `record ${i} has no string "text" field`);
      return rec.text;
    }).join("\n\n");
  }
  const out: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new FormatError(name, `line ${i + 1} is not valid JSON: ${(e as Error).message}`);
    }
    if (!isRecord(rec)) throw new FormatError(name, `line ${i + 1} has no string "text" field`);
    out.push(rec.text);
  }
  if (out.length === 0) throw new FormatError(name, "holds no JSON records");
  return out.join("\n\n");
}

/**
 * Reads a calibration file: a filesystem path in Node/Deno, or a URL (fetched) anywhere.
 * Returns the decoded text and the name used in messages.
 */
export async function readCalibrationFile(path: string | URL, format: CalibrationFormat = "auto"): Promise<{ text: string; name: string }> {
  const name = String(path);
  const isUrl = path instanceof URL || /^[a-z][a-z0-9+.-]*:\/\//i.test(name);
  let bytes: Uint8Array;
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (typeof p?.versions?.node === "string" && (!isUrl || name.startsWith("file:"))) {
    const fs = await import("node:fs/promises");
    try {
      const buf = await fs.readFile(path instanceof URL ? path : (name.startsWith("file:") ? new URL(name) : name));
      bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new ArgumentError("calib", `cannot read ${name}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`);
    }
  } else {
    const res = await fetch(path);
    if (!res.ok) throw new ArgumentError("calib", `cannot fetch ${name}: HTTP ${res.status}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  }
  return { text: parseCalibrationText(bytes, name, format), name };
}
