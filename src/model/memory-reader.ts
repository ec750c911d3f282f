/** A ModelReader over f32 tensors already in memory (synthetic models, models built in code). */
import { ArgumentError } from "../errors.js";
import type { ModelReader, TensorInfo } from "../formats/reader.js";
import { configProblem, expectedTensors, numel, type ModelConfig } from "./config.js";

/**
 * Wraps canonical tensors (see `expectedTensors(config)`) as a ModelReader, so Transformer.load
 * and the writers accept them. Tensors are checked against the config; reads return copies.
 */
export function tensorReader(config: ModelConfig, tensors: Map<string, Float32Array>, name = "<tensors>"): ModelReader {
  const problem = configProblem(config);
  if (problem) throw new ArgumentError("config", problem);
  const infos = new Map<string, TensorInfo>();
  for (const spec of expectedTensors(config)) {
    const t = tensors.get(spec.name);
    if (!(t instanceof Float32Array)) throw new ArgumentError("tensors", `missing ${spec.name}`);
    if (t.length !== numel(spec.shape)) throw new ArgumentError("tensors", `${spec.name} has ${t.length} floats, shape [${spec.shape}] needs ${numel(spec.shape)}`);
    infos.set(spec.name, { name: spec.name, dtype: "f32", shape: spec.shape, byteLength: 4 * t.length });
  }
  let closed = false;
  const get = (n: string): Float32Array => {
    if (closed) throw new ArgumentError("reader", "is closed");
    const t = infos.has(n) ? tensors.get(n) : undefined;
    if (!t) throw new ArgumentError("name", `no tensor named ${JSON.stringify(n)}`);
    return t;
  };
  return {
    format: "safetensors",
    path: name,
    config,
    tensors: infos,
    metadata: {},
    async readTensor(n: string) { return get(n).slice(); },
    async readRaw(n: string) { const t = get(n); return { dtype: "f32", bytes: new Uint8Array(t.slice().buffer) }; },
    async readAuxFile() { return null; },
    async close() { closed = true; },
  };
}
