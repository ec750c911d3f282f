/**
 * Writing a pruned model in its input's format (llama2.c checkpoint, GGUF file, or Hugging Face
 * safetensors folder), the way `dass prune` does:
 *
 * - **Streaming**: tensors are fetched one at a time in the writer's order. The pruned matrices come
 *   from the model (`getLinearWeights`), every other tensor from the reader as its stored bytes
 *   (bit-exact, same dtype). Nothing holds the whole model.
 * - **Same storage**: each tensor keeps the input's dtype (pruned f16/bf16 matrices are encoded back
 *   to it; magnitude, Wanda and DaSS only zero weights, so that is exact; SparseGPT's updated
 *   weights are rounded to the stored dtype). A GGUF's Q8_0, Q4_0 and Q6_K matrices are quantised back
 *   to their type (a pruned zero stays exactly zero); other quantised types are written dequantised.
 *   The RoPE layout is the input's, since the model's weights are in it.
 * - **Atomic**: a single file is written under a temporary name beside `out` and renamed when
 *   complete; a folder is filled as a temporary folder and renamed. On error or abort nothing is left.
 * - **Never over an input**: `out` may not be the model (same real path or hard link), contain it,
 *   or be any path listed in `inputs` (tokenizer, calibration text).
 * - **Deterministic**: the bytes depend only on the input and the pruned weights, which prune()
 *   makes identical across runs and thread counts. No timestamps, no paths.
 *
 * What is not carried over: a GGUF's metadata besides the vocabulary (`tokenizer.ggml.tokens`,
 * scores, types, merges, pre-tokenizer, BOS/EOS/UNK ids) and `general.name` (the same as
 * `dass convert`); a sharded safetensors model is written as one
 * `model.safetensors` (config.json and tokenizer side files are copied).
 *
 * Node and Deno only (the atomic helpers use node:fs, loaded lazily).
 */
import { ArgumentError } from "../errors.js";
import { DiskFolder, type FileWriter, type OutputFolder } from "../formats/file.js";
import { ggufVocab, storedBlocks, writeGGUF, type GGUFValue } from "../formats/gguf.js";
import { GGML_WRITE_TYPES, keptQuantType, type GgmlWriteType } from "../formats/ggml-quantize.js";
import { writeLlama2c } from "../formats/llama2c.js";
import { readerInputPaths, type ModelFormat, type ModelReader } from "../formats/reader.js";
import { HF_SIDE_FILES, writeSafetensors } from "../formats/safetensors.js";
import type { TensorData, TensorSource, WriteOptions } from "../formats/writer.js";
import { expectedTensors, type TensorDType } from "../model/config.js";
import { linearOfSuffix, type LinearName } from "../model/linear.js";
import { assertNotInput, withAtomicDir, withAtomicFile, type AtomicFile } from "../util/atomic-write.js";
import type { OnProgress } from "../util/progress.js";

/** A pruned matrix, as `PruneReport.matrices` lists it: block index and canonical suffix ("mlp.down"). */
export interface PrunedMatrixRef {
  block: number;
  name: string;
}

/** Where the pruned weights are read from: a pruned `Transformer` (or any PrunableModel) fits. */
export interface PrunedWeightsSource {
  getLinearWeights(layer: number, name: LinearName): Promise<Float32Array>;
}

/** Options of savePrunedModel(). */
export interface SavePrunedOptions {
  /** Other files read to make this model (tokenizer, calibration text): `out` may not be any of them. */
  inputs?: readonly (string | undefined)[];
  /**
   * Extra options handed to the format writer unchanged (e.g. `compress`, the compressed N:M
   * storage of src/sparse/storage.ts). The dtype, input guard, file name and signal are set here.
   */
  writeOptions?: Readonly<Record<string, unknown>>;
  /**
   * Storage dtype of every tensor written (GGUF keeps 1-D tensors in f32, as llama.cpp expects);
   * default each tensor's input dtype, which for a quantised GGUF's tensors is f32 (dass reads them
   * dequantised). llama2.c holds f32 only.
   */
  dtype?: TensorDType;
  /**
   * GGUF only: matrices to store quantised (those whose rows are whole blocks: 32 elements, 256 for
   * Q6_K). Default: a matrix the input stores as Q8_0, Q4_0 or Q6_K keeps its type, unless `dtype` is
   * given; null: none. Pruned zeros stay exact in all three types.
   */
  quantize?: GgmlWriteType | null;
  /** Cancels the write: the temporary output is removed and AbortError is thrown. */
  signal?: AbortSignal;
  /** Phase "write": tensors written of all tensors. */
  onProgress?: OnProgress;
}

/** What savePrunedModel() wrote. */
export interface SavedModel {
  /** Absolute path of the file or folder written. */
  path: string;
  format: ModelFormat;
  /** Bytes written (all files of a folder). */
  bytes: number;
  /** Tensors written, and how many of them came from the pruned model. */
  tensors: number;
  pruned: number;
}


// Files a Hugging Face model folder may hold; an existing `out` folder is only replaced when it
// holds nothing else (so a typo such as `--out ~` cannot delete a folder of unrelated files).
const MODEL_FOLDER_FILE = /^(config\.json|generation_config\.json|tokenizer(_config)?\.json|special_tokens_map\.json|tokenizer\.model|chat_template\.jinja|.*\.safetensors(\.index\.json)?|README\.md|\..*)$/;

/**
 * Checks that `out` can receive the pruned form of the model `reader` reads, before any work: not an
 * input (the model, or one of `inputs`), not containing one, and of the right kind (a file path for
 * llama2.c and GGUF; for a Hugging Face folder, a new path or an existing model folder, which is then
 * replaced). Throws ArgumentError("out", ...).
 */
export async function checkSaveTarget(
  reader: Pick<ModelReader, "format" | "path"> & { metadata?: Record<string, unknown> }, out: string, inputs: readonly (string | undefined)[] = [],
): Promise<void> {
  if (typeof out !== "string" || out === "") throw new ArgumentError("out", "empty output path");
  const folder = reader.format === "safetensors";
  const all = [...readerInputPaths(reader), ...inputs].filter((p): p is string => typeof p === "string" && p !== "" && !p.startsWith("<"));
  await assertNotInput(out, all, { arg: "out", folder });
  const fs = await import("node:fs/promises");
  const path = await import("node:path");
  let st: import("node:fs").Stats | null = null;
  try {
    st = await fs.stat(out);
  } catch {
    st = null;
  }
  if (!st) return;
  if (!folder) {
    if (st.isDirectory()) throw new ArgumentError("out", `${out} is a folder; a ${reader.format === "gguf" ? "GGUF" : "llama2.c"} model is written as one file (give a file path)`);
    return;
  }
  if (!st.isDirectory()) throw new ArgumentError("out", `${out} is a file; a Hugging Face model is written as a folder (give a folder path)`);
  const names = await fs.readdir(out);
  const foreign = names.filter((n) => !MODEL_FOLDER_FILE.test(n));
  if (names.length > 0 && (!names.includes("config.json") || foreign.length > 0)) {
    throw new ArgumentError(
      "out",
      `${path.resolve(out)} is a folder that does not hold just a model (${(foreign.length ? foreign : names).slice(0, 3).join(", ")}${names.length > 3 ? ", ..." : ""}); ` +
        "refusing to replace it (give a new folder path)",
    );
  }
}

function refs(pruned: readonly PrunedMatrixRef[] | { matrices: readonly PrunedMatrixRef[] }): readonly PrunedMatrixRef[] {
  const list = Array.isArray(pruned) ? pruned : (pruned as { matrices?: readonly PrunedMatrixRef[] } | null)?.matrices;
  if (!Array.isArray(list)) throw new ArgumentError("pruned", "expected a pruning report or a list of {block, name} matrices");
  return list;
}

/**
 * Writes the pruned model: the reader's model with the listed matrices taken from `model`, in the
 * reader's format, to `out` (a file for llama2.c and GGUF, a folder for Hugging Face safetensors).
 * See the module comment. Throws ArgumentError for a bad `out` (see checkSaveTarget) or `pruned`
 * list, AbortError when `signal` fires (nothing is left behind).
 */
export async function savePrunedModel(
  reader: ModelReader,
  model: PrunedWeightsSource,
  pruned: readonly PrunedMatrixRef[] | { matrices: readonly PrunedMatrixRef[] },
  out: string,
  options: SavePrunedOptions = {},
): Promise<SavedModel> {
  const { signal, onProgress } = options;
  const config = reader.config;
  const fromModel = new Map<string, { layer: number; name: LinearName }>();
  for (const m of refs(pruned)) {
    const name = typeof m?.name === "string" ? linearOfSuffix(m.name) : null;
    if (!name || !Number.isInteger(m.block) || m.block < 0 || m.block >= config.nLayers) {
      throw new ArgumentError("pruned", `${JSON.stringify(m)} is not a block linear of this ${config.nLayers}-block model`);
    }
    const tensor = `layers.${m.block}.${m.name}`;
    if (!reader.tensors.has(tensor)) throw new ArgumentError("pruned", `the model has no tensor ${tensor}`);
    fromModel.set(tensor, { layer: m.block, name });
  }
  if (typeof model?.getLinearWeights !== "function" && fromModel.size > 0) throw new ArgumentError("model", "must provide getLinearWeights()");
  if (options.quantize && reader.format !== "gguf") throw new ArgumentError("quantize", `only GGUF outputs hold quantised matrices; this model is ${reader.format}`);
  if (options.quantize && !GGML_WRITE_TYPES.includes(options.quantize)) throw new ArgumentError("quantize", `${JSON.stringify(options.quantize)} is not one of ${GGML_WRITE_TYPES.join(", ")}`);
  await checkSaveTarget(reader, out, options.inputs ?? []);

  const total = expectedTensors(config).length;
  let done = 0;
  const source: TensorSource = async (name: string): Promise<TensorData> => {
    const linear = fromModel.get(name);
    const data = linear ? await model.getLinearWeights(linear.layer, linear.name) : await reader.readRaw(name);
    done++;
    onProgress?.({ phase: "write", done, total, message: name });
    return data;
  };
  const dtype = (name: string): TensorDType => options.dtype ?? reader.tensors.get(name)?.dtype ?? "f32";
  // Writer options from the caller first, so that the essentials below cannot be overridden.
  const extra = (options.writeOptions ?? {}) as Partial<WriteOptions>;
  const fs = await import("node:fs/promises");
  const path = await import("node:path");
  const finalPath = path.resolve(out);
  onProgress?.({ phase: "write", done: 0, total });

  if (reader.format === "safetensors") {
    const extraFiles: Record<string, Uint8Array> = {};
    for (const f of HF_SIDE_FILES) {
      const b = await reader.readAuxFile(f);
      if (b) extraFiles[f] = b;
    }
    const hfConfig = reader.metadata.hfConfig as Record<string, unknown> | undefined;
    await withAtomicDir(
      finalPath,
      (tmp) => writeSafetensors(new DiskFolder(tmp), config, source, { ...extra, dtype, extraFiles, hfConfig, signal }),
      { inputs: [], signal },
    );
    let bytes = 0;
    for (const f of await fs.readdir(finalPath)) bytes += (await fs.stat(path.join(finalPath, f))).size;
    return { path: finalPath, format: "safetensors", bytes, tensors: done, pruned: fromModel.size };
  }

  await withAtomicFile(
    finalPath,
    async (file) => {
      const folder = atomicFileFolder(file);
      if (reader.format === "llama2c") {
        await writeLlama2c(folder, config, source, { ...extra, ...(options.dtype ? { dtype: options.dtype } : {}), fileName: path.basename(finalPath), signal });
      } else {
        const kv = reader.metadata.kv as Map<string, GGUFValue> | undefined;
        const name = kv?.get("general.name");
        await writeGGUF(folder, config, source, {
          ...extra,
          dtype,
          // Unless a storage is asked for, the quantised matrices pruning left alone go over as stored.
          copyBlocks: options.dtype === undefined && options.quantize === undefined
            ? storedBlocks(reader, (n) => !fromModel.has(n), (n) => { done++; onProgress?.({ phase: "write", done, total, message: n }); })
            : undefined,
          quantize: options.quantize !== undefined ? options.quantize ?? undefined
            : options.dtype !== undefined ? undefined : (name: string) => keptQuantType(reader, name),
          vocab: ggufVocab(reader) ?? undefined,
          ...(typeof name === "string" ? { name } : {}),
          fileName: path.basename(finalPath),
          signal,
        });
      }
    },
    { inputs: [], signal },
  );
  const bytes = (await fs.stat(finalPath)).size;
  return { path: finalPath, format: reader.format, bytes, tensors: done, pruned: fromModel.size };
}

// Writers emit many small chunks (padding, norms); one write call each would dominate.
const WRITE_BUFFER = 4 << 20;

/**
 * An OutputFolder over one AtomicFile, for the single-file writers: the writer's own commit just
 * flushes, and withAtomicFile does the fsync, rename, and cleanup on failure.
 */
function atomicFileFolder(file: AtomicFile): OutputFolder {
  let created = false;
  return {
    name: file.path,
    async create(): Promise<FileWriter> {
      if (created) throw new ArgumentError("out", "internal: a single-file writer asked for a second file");
      created = true;
      let buf = new Uint8Array(WRITE_BUFFER);
      let used = 0;
      let position = 0;
      const flush = async (): Promise<void> => {
        if (used > 0) await file.write(buf.subarray(0, used));
        used = 0;
      };
      return {
        get position() {
          return position;
        },
        async write(chunk: Uint8Array): Promise<void> {
          position += chunk.byteLength;
          if (chunk.byteLength >= WRITE_BUFFER) {
            await flush();
            await file.write(chunk);
            return;
          }
          if (used + chunk.byteLength > WRITE_BUFFER) await flush();
          buf.set(chunk, used);
          used += chunk.byteLength;
        },
        async commit(): Promise<void> {
          await flush();
        },
        async abort(): Promise<void> {
          used = 0;
          buf = new Uint8Array(0);
        },
      };
    },
  };
}
