// Calibration data: text files, the spec's seeded generator, and window sampling.
export { mulberry32, type Uniform } from "./random.js";
export { parseCalibrationText, readCalibrationFile, type CalibrationFormat } from "./text.js";
export { sampleWindows, windowStarts, calibrationWindows, type CalibrationWindows, type SampleOptions } from "./sampler.js";
