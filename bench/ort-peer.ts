// The peer: onnxruntime-web's wasm MatMul, the dense engine users would otherwise pick. The bench
// builds a one-node ONNX graph Y[T, dOut] = X[T, dIn] · B[dIn, dOut] with B a constant initializer
// (as in an exported model), encoding the protobuf by hand: five message types, a few fields.

type Field = [number, "varint", number] | [number, "bytes", Uint8Array] | [number, "string", string];

function varint(n: number, out: number[]): void {
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
}

function message(fields: Field[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (const [no, kind, value] of fields) {
    const head: number[] = [];
    if (kind === "varint") {
      varint(no << 3, head); varint(value, head);
      parts.push(Uint8Array.from(head)); size += head.length;
    } else {
      const body = kind === "string" ? new TextEncoder().encode(value) : value;
      varint((no << 3) | 2, head); varint(body.length, head);
      parts.push(Uint8Array.from(head), body); size += head.length + body.length;
    }
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

const FLOAT = 1;

function valueInfo(name: string, dims: number[]): Uint8Array {
  const shape = message(dims.map((d): Field => [1, "bytes", message([[1, "varint", d]])]));
  const tensorType = message([[1, "varint", FLOAT], [2, "bytes", shape]]);
  return message([[1, "string", name], [2, "bytes", message([[1, "bytes", tensorType]])]]);
}

/** ONNX bytes of MatMul(X[T, dIn], B[dIn, dOut]) with B = transpose of the row-major W [dOut, dIn]. */
export function matmulModel(W: Float32Array, dOut: number, dIn: number, T: number): Uint8Array {
  const B = new Float32Array(dIn * dOut);
  for (let o = 0; o < dOut; o++) for (let i = 0; i < dIn; i++) B[i * dOut + o] = W[o * dIn + i];
  const init = message([
    [1, "varint", dIn], [1, "varint", dOut], [2, "varint", FLOAT], [8, "string", "B"],
    [9, "bytes", new Uint8Array(B.buffer)],
  ]);
  const node = message([[1, "string", "X"], [1, "string", "B"], [2, "string", "Y"], [3, "string", "mm"], [4, "string", "MatMul"]]);
  const graph = message([
    [1, "bytes", node], [2, "string", "matmul"], [5, "bytes", init],
    [11, "bytes", valueInfo("X", [T, dIn])], [12, "bytes", valueInfo("Y", [T, dOut])],
  ]);
  const opset = message([[1, "string", ""], [2, "varint", 17]]);
  return message([[1, "varint", 8], [8, "bytes", opset], [7, "bytes", graph]]);
}

/** A MatMul session of onnxruntime-web on `threads` threads, ready to run on X. */
export interface OrtMatMul {
  run(): Promise<void>;
  release(): Promise<void>;
}

export async function createOrtMatMul(W: Float32Array, dOut: number, dIn: number, T: number, X: Float32Array, threads: number): Promise<OrtMatMul> {
  const ort = await import("onnxruntime-web");
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.simd = true;
  ort.env.logLevel = "error";
  const session = await ort.InferenceSession.create(matmulModel(W, dOut, dIn, T), {
    executionProviders: ["wasm"], graphOptimizationLevel: "all",
  });
  const feeds = { X: new ort.Tensor("float32", X, [T, dIn]) };
  return {
    run: async () => { const r = await session.run(feeds); (r.Y as { dispose?: () => void }).dispose?.(); },
    release: () => session.release(),
  };
}
