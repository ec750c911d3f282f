// The benches draw their synthetic weights with the same seeded generator as calibration.
export { mulberry32 } from "../../src/calibration/random.js";
