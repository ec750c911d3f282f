/**
 * `openModel`: format detection and opening from a path (Node/Deno) or from in-memory files (anywhere).
 */
import { ArgumentError, FormatError } from "../errors.js";
import { DiskSource, MemoryFile, MemorySource, nodeFs, nodePath, openFile, type MemoryFiles, type RandomAccessFile } from "./file.js";
import { readGGUF, type ReadGGUFOptions } from "./gguf.js";
import { readLlama2c } from "./llama2c.js";
import type { ModelFormat, ModelReader } from "./reader.js";
import { readHfFolder } from "./safetensors.js";

/** In-memory model files: one model file, or an HF folder's files keyed by name. */
export interface MemoryModel {
  files: MemoryFiles;
  /** Display name for messages. */
  name?: string;
}

/** Options of `openModel`. */
export interface OpenOptions {
  /** Skip detection and open as this format. */
  format?: ModelFormat;
}

/** Detects a single model file's format from its first bytes. */
export async function sniffFormat(file: RandomAccessFile): Promise<ModelFormat> {
  const head = await file.read(0, Math.min(8, file.size));
  if (head.byteLength >= 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46) return "gguf";
  if (/\.safetensors$/i.test(file.name)) return "safetensors";
  return "llama2c";
}

async function openSingle(file: RandomAccessFile, format: ModelFormat | undefined, openPart: ReadGGUFOptions["openPart"]): Promise<ModelReader> {
  let f: ModelFormat;
  try {
    f = format ?? (await sniffFormat(file));
  } catch (e) {
    await file.close();
    throw e;
  }
  if (f === "gguf") return readGGUF(file, { openPart });
  if (f === "llama2c") return readLlama2c(file);
  await file.close();
  throw new FormatError(file.name, "a safetensors file needs its config.json: open the model folder instead");
}

/**
 * Opens a model for streaming reads. A path may be a llama2.c `.bin`, a `.gguf`, or a Hugging Face folder
 * (or its config.json). In memory, pass `{files}`: an HF folder's files (must include config.json) or a single
 * model file.
 */
export async function openModel(source: string | MemoryModel, opts: OpenOptions = {}): Promise<ModelReader> {
  if (opts.format !== undefined && !["llama2c", "gguf", "safetensors"].includes(opts.format)) {
    throw new ArgumentError("format", `unknown format ${JSON.stringify(opts.format)}`);
  }
  if (typeof source === "string") {
    if (source === "") throw new ArgumentError("path", "empty path");
    const fs = await nodeFs();
    const path = await nodePath();
    let st;
    try {
      st = await fs.stat(source);
    } catch (e) {
      throw new FormatError(source, `cannot open: ${(e as Error).message}`);
    }
    if (st.isDirectory()) return readHfFolder(new DiskSource(source));
    if (path.basename(source) === "config.json") return readHfFolder(new DiskSource(path.dirname(source)));
    if (opts.format === "safetensors" || /\.safetensors(\.index\.json)?$/i.test(source)) {
      return readHfFolder(new DiskSource(path.dirname(source)));
    }
    return openSingle(await openFile(source), opts.format, (name) => openFile(path.join(path.dirname(source), name)));
  }
  if (!source || typeof source !== "object" || !source.files) throw new ArgumentError("source", "expected a path or {files}");
  const mem = new MemorySource(source.files, source.name ?? "<memory>");
  const names = mem.list();
  if (names.includes("config.json") || opts.format === "safetensors") return readHfFolder(mem);
  let candidates = names.filter((n) => !/\.(json|txt|model)$/i.test(n) && !/^tokenizer/i.test(n));
  // The parts of a split GGUF: the first one is the model.
  if (candidates.length > 1 && candidates.every((n) => /-\d{5}-of-\d{5}\.gguf$/i.test(n))) candidates = candidates.filter((n) => /-00001-of-\d{5}\.gguf$/i.test(n));
  if (candidates.length !== 1) {
    throw new ArgumentError("source", `cannot tell which of [${names.join(", ")}] is the model: pass one model file, or an HF folder with config.json`);
  }
  const f = await mem.open(candidates[0]);
  const openPart = async (name: string): Promise<RandomAccessFile> => {
    const part = await mem.open(name);
    if (!part) throw new Error("not among the files given");
    return part;
  };
  return openSingle(f ?? new MemoryFile(new Uint8Array(0), candidates[0]), opts.format, openPart);
}
