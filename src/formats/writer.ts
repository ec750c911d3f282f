/**
 * Shared plumbing for the format writers: tensor sources, dtype conversion, the "don't overwrite the input"
 * guard, and atomic output (each file is written under a temporary name in the destination and renamed).
 */
import { AbortError, ArgumentError, throwIfAborted } from "../errors.js";
import { configProblem, dtypeSize, numel, type ModelConfig, type TensorDType, type TensorSpec } from "../model/config.js";
import { DiskFolder, hasNodeFs, nodeFs, nodePath, type FileWriter, type OutputFolder } from "./file.js";
import { decodeToF32, encodeFromF32 } from "./half.js";
import type { RawTensor } from "./reader.js";
import type { CompressSpec } from "../sparse/storage.js";

/** Tensor data handed to a writer: f32 values, or stored bytes with their dtype. */
export type TensorData = Float32Array | RawTensor;

/** Produces a canonical tensor on demand; writers call it once per tensor, in canonical order. */
export type TensorSource = (name: string) => Promise<TensorData>;

/** Options every writer accepts. */
export interface WriteOptions {
  /** Storage dtype, for all tensors or per canonical name. Default "f32". */
  dtype?: TensorDType | ((name: string) => TensorDType);
  /** Paths that must not be written over (the model being read). */
  inputPaths?: string[];
  /** File name to use when `out` is an OutputFolder (single-file formats). */
  fileName?: string;
  /**
   * Matrices to store compressed as N:M values + masks (src/sparse/storage.ts), by canonical name;
   * e.g. `compressForSave(pruneReport)`. Each must already follow its pattern (ArgumentError
   * "compress" otherwise). GGUF and safetensors only: llama2.c refuses it.
   */
  compress?: CompressSpec;
  signal?: AbortSignal;
}

/** Resolves the dtype option for one tensor. */
export function dtypeFor(opts: WriteOptions, name: string): TensorDType {
  const d = typeof opts.dtype === "function" ? opts.dtype(name) : opts.dtype ?? "f32";
  if (d !== "f32" && d !== "f16" && d !== "bf16") throw new ArgumentError("dtype", `unsupported dtype ${JSON.stringify(d)} for ${name}`);
  return d;
}

/** Throws ArgumentError("config") when the config is unusable. */
export function checkConfigArg(config: ModelConfig): void {
  const p = configProblem(config);
  if (p) throw new ArgumentError("config", p);
}

/**
 * Converts tensor data to the bytes of `dtype`, checking the element count. Raw data already in `dtype` is
 * passed through unchanged (bit-exact).
 */
export function tensorBytes(spec: TensorSpec, data: TensorData, dtype: TensorDType): Uint8Array {
  const n = numel(spec.shape);
  if (data instanceof Float32Array) {
    if (data.length !== n) throw new ArgumentError("tensors", `${spec.name}: got ${data.length} values, shape [${spec.shape}] needs ${n}`);
    return encodeFromF32(dtype, data);
  }
  if (!data || !(data.bytes instanceof Uint8Array)) throw new ArgumentError("tensors", `${spec.name}: source returned no data`);
  const size = dtypeSize(data.dtype);
  if (data.bytes.byteLength !== n * size) {
    throw new ArgumentError("tensors", `${spec.name}: got ${data.bytes.byteLength} bytes of ${data.dtype}, shape [${spec.shape}] needs ${n * size}`);
  }
  if (data.dtype === dtype) return data.bytes;
  return encodeFromF32(dtype, decodeToF32(data.dtype, data.bytes));
}

/** Where a single-file writer puts its file. */
export interface SingleTarget {
  folder: OutputFolder;
  fileName: string;
  /** Full path on disk, or a display name in memory. */
  display: string;
}

/** Resolves `out` for a single-file format and refuses to overwrite an input. */
export async function singleFileTarget(out: string | OutputFolder, opts: WriteOptions, defaultName: string): Promise<SingleTarget> {
  if (typeof out !== "string") {
    const fileName = opts.fileName ?? defaultName;
    return { folder: out, fileName, display: `${out.name}/${fileName}` };
  }
  if (out === "") throw new ArgumentError("out", "empty output path");
  const path = await nodePath();
  const full = path.resolve(out);
  await guardInputs(full, [full], opts.inputPaths);
  return { folder: new DiskFolder(path.dirname(full)), fileName: path.basename(full), display: full };
}

/** Resolves an output folder path and refuses it when it would overwrite an input. */
export async function folderTarget(out: string | OutputFolder, opts: WriteOptions, fileNames: string[]): Promise<OutputFolder> {
  if (typeof out !== "string") return out;
  if (out === "") throw new ArgumentError("out", "empty output path");
  const path = await nodePath();
  const full = path.resolve(out);
  await guardInputs(full, fileNames.map((f) => path.join(full, f)), opts.inputPaths);
  return new DiskFolder(full);
}

// An output conflicts with an input when it is the input, or when it lands inside an input folder: writing a
// model into the folder it is being read from would replace files that are still being streamed.
async function guardInputs(outPath: string, written: string[], inputs: string[] | undefined): Promise<void> {
  if (!inputs?.length || !hasNodeFs()) return;
  const path = await nodePath();
  const fs = await nodeFs();
  const real = async (p: string) => {
    const abs = path.resolve(p);
    try { return await fs.realpath(abs); } catch { return abs; }
  };
  const ins = await Promise.all(inputs.map(real));
  const outs = await Promise.all([outPath, ...written].map(real));
  for (const o of outs) {
    for (const i of ins) {
      if (o === i || path.dirname(o) === i) {
        throw new ArgumentError("out", `${outPath} would overwrite the input ${i}; choose another output path`);
      }
    }
  }
}

/** Writes `fill` into a new file of `folder`, committing on success and discarding the partial file on failure. */
export async function writeAtomically(
  folder: OutputFolder,
  fileName: string,
  signal: AbortSignal | undefined,
  fill: (w: FileWriter) => Promise<void>,
): Promise<void> {
  throwIfAborted(signal);
  const w = await folder.create(fileName);
  try {
    await fill(w);
    throwIfAborted(signal);
    await w.commit();
  } catch (e) {
    await w.abort();
    throw e;
  }
}

/** Fetches each tensor in order, converts it and hands its bytes to `emit`. */
export async function streamTensors(
  specs: { spec: TensorSpec; dtype: TensorDType }[],
  source: TensorSource,
  signal: AbortSignal | undefined,
  emit: (spec: TensorSpec, bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  for (const { spec, dtype } of specs) {
    if (signal?.aborted) throw new AbortError();
    const data = await source(spec.name);
    await emit(spec, tensorBytes(spec, data, dtype));
  }
}

/** Zero padding of the given length. */
export function zeros(n: number): Uint8Array {
  return new Uint8Array(n);
}
