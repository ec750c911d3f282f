/** Model file formats: streamed readers, atomic writers, conversion between llama2.c, GGUF and HF folders. */
export {
  MemoryFile, MemoryFolder, MemorySource, DiskFolder, DiskSource, openFile, hasNodeFs,
  type RandomAccessFile, type FileWriter, type OutputFolder, type FileSource, type MemoryFiles,
} from "./file.js";
export { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16, decodeToF32, encodeFromF32 } from "./half.js";
export { readAllTensors, type ModelFormat, type ModelReader, type RawTensor, type TensorInfo } from "./reader.js";
export type { TensorData, TensorSource, WriteOptions } from "./writer.js";
export {
  readLlama2c, writeLlama2c, parseLlama2cHeader, llama2cConfig, llama2cUnsupported, LLAMA2C_FIXED, type Llama2cHeader,
} from "./llama2c.js";
export {
  readGGUF, writeGGUF, parseGGUFHeader, ggufVocab, ggufUnsupported, ggufArchName, ggufRopeLayout, ggufToCanonical,
  canonicalToGGUF, GGUFType, type GGUFHeader, type GGUFTensorInfo, type GGUFValue, type GGUFVocab, type GGUFWriteOptions,
} from "./gguf.js";
export {
  readHfFolder, writeSafetensors, parseSafetensorsHeader, safetensorsHeader, hfConfigToModelConfig, modelConfigToHf,
  hfToCanonical, canonicalToHf, hfUnsupported,
  type SafetensorsEntry, type SafetensorsHeader, type SafetensorsWriteOptions,
} from "./safetensors.js";
export { permuteQK, ropeRowOrder, type PermuteDirection } from "./rope-permute.js";
export { convertModel, convertedContext, convertingSource, isPhi3Source, targetConfig, type ConvertOptions } from "./convert.js";
export { openModel, sniffFormat, type MemoryModel, type OpenOptions } from "./open.js";
