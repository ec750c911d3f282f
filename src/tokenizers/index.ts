/** Tokenizers: llama2.c tokenizer.bin, GGUF vocabularies, HF tokenizer.json; `loadTokenizer` picks by input. */
import { FormatError } from "../errors.js";
import { MemoryFile, nodeFs, nodePath, openFile, readSmallFile, type RandomAccessFile } from "../formats/file.js";
import { ggufVocab, parseGGUFHeader } from "../formats/gguf.js";
import type { ModelReader } from "../formats/reader.js";
import { ggufTokenizer } from "./gguf.js";
import { loadHFTokenizer } from "./hf.js";
import { loadLlama2cTokenizer } from "./llama2c.js";
import type { Tokenizer } from "./types.js";

export * from "./types.js";
export * from "./sentencepiece.js";
export * from "./llama2c.js";
export * from "./gguf.js";
export * from "./hf.js";
export * from "./tokenizer-json.js";

/** Options of `loadTokenizer`. */
export interface LoadTokenizerOptions {
  /** Vocabulary size of the model (llama2.c tokenizer.bin does not store it); checked when given. */
  vocabSize?: number;
  /** Name for error messages when loading from bytes. */
  name?: string;
  /** tokenizer_config.json bytes for an HF tokenizer given as bytes. */
  tokenizerConfig?: Uint8Array;
  /** BOS/EOS overrides for HF tokenizers. */
  bosId?: number;
  eosId?: number;
}

function isGGUF(b: Uint8Array): boolean {
  return b.byteLength >= 4 && b[0] === 0x47 && b[1] === 0x47 && b[2] === 0x55 && b[3] === 0x46;
}

function isJson(b: Uint8Array): boolean {
  for (let i = 0; i < b.byteLength && i < 64; i++) {
    const c = b[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0xef || c === 0xbb || c === 0xbf) continue;
    return c === 0x7b; // "{"
  }
  return false;
}

async function fromGGUFFile(file: RandomAccessFile): Promise<Tokenizer> {
  try {
    const h = await parseGGUFHeader(file);
    const v = ggufVocab(h.kv);
    if (!v) throw new FormatError(file.name, "GGUF file has no tokenizer.ggml.tokens vocabulary");
    return ggufTokenizer(v, file.name);
  } finally {
    await file.close();
  }
}

async function fromReader(reader: ModelReader, opts: LoadTokenizerOptions): Promise<Tokenizer> {
  if (reader.format === "gguf") {
    const v = ggufVocab(reader);
    if (!v) throw new FormatError(reader.path, "GGUF file has no tokenizer.ggml.tokens vocabulary");
    return ggufTokenizer(v, reader.path);
  }
  if (reader.format === "safetensors") {
    const json = await reader.readAuxFile("tokenizer.json");
    if (!json) throw new FormatError(reader.path, "model folder has no tokenizer.json");
    const cfg = await reader.readAuxFile("tokenizer_config.json");
    return loadHFTokenizer(json, cfg, {
      name: `${reader.path}/tokenizer.json`,
      bosId: opts.bosId,
      eosId: opts.eosId,
    });
  }
  throw new FormatError(reader.path, "llama2.c checkpoints carry no tokenizer: load its tokenizer.bin with loadTokenizer(path, {vocabSize})");
}

/**
 * Loads a tokenizer from:
 * - a ModelReader (GGUF vocabulary, or tokenizer.json beside an HF model),
 * - a path: llama2.c tokenizer.bin, tokenizer.json, a .gguf file, or an HF folder,
 * - bytes of any of those files (detected by content).
 */
export async function loadTokenizer(source: string | Uint8Array | ModelReader, opts: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  if (source instanceof Uint8Array) {
    const name = opts.name ?? "<memory tokenizer>";
    if (isGGUF(source)) return fromGGUFFile(new MemoryFile(source, name));
    if (isJson(source)) return loadHFTokenizer(source, opts.tokenizerConfig, { name, bosId: opts.bosId, eosId: opts.eosId });
    return loadLlama2cTokenizer(source, opts.vocabSize, name);
  }
  if (typeof source !== "string") return fromReader(source, opts);
  const fs = await nodeFs();
  const path = await nodePath();
  let st;
  try {
    st = await fs.stat(source);
  } catch (e) {
    throw new FormatError(source, `cannot open: ${(e as Error).message}`);
  }
  const readOpt = async (p: string) => { try { return new Uint8Array(await fs.readFile(p)); } catch { return null; } };
  if (st.isDirectory()) {
    const json = await readOpt(path.join(source, "tokenizer.json"));
    if (!json) throw new FormatError(source, "folder has no tokenizer.json");
    return loadHFTokenizer(json, await readOpt(path.join(source, "tokenizer_config.json")), {
      name: path.join(source, "tokenizer.json"), bosId: opts.bosId, eosId: opts.eosId,
    });
  }
  const file = await openFile(source);
  let head: Uint8Array;
  try {
    head = await file.read(0, Math.min(64, file.size));
  } catch (e) {
    await file.close();
    throw e;
  }
  if (isGGUF(head)) return fromGGUFFile(file);
  let bytes: Uint8Array;
  try {
    bytes = await readSmallFile(file);
  } finally {
    await file.close();
  }
  if (isJson(head)) {
    const cfg = path.basename(source) === "tokenizer.json" ? await readOpt(path.join(path.dirname(source), "tokenizer_config.json")) : null;
    return loadHFTokenizer(bytes, opts.tokenizerConfig ?? cfg, { name: source, bosId: opts.bosId, eosId: opts.eosId });
  }
  return loadLlama2cTokenizer(bytes, opts.vocabSize, source);
}
