// The Wasm ggml dequantisers against the TypeScript reference (src/formats/ggml-quants.ts): random
// blocks (every byte random, so NaN / Inf / subnormal scales too), odd block counts, one and two
// threads, bit for bit; and argument errors.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ArgumentError, createRuntime, type Runtime } from "../src/index.js";
import { dequantizeGgml, WASM_DEQUANT_TYPES } from "../src/kernels/dequant.js";
import { dequantize } from "../src/formats/ggml-quants.js";
import { mulberry32 } from "./util/random.js";

const dq = suite("dequant: ggml blocks on the Wasm kernels");
const rts: Runtime[] = [];

dq.before(async () => { rts.push(await createRuntime({ threads: 1 }), await createRuntime({ threads: 2, minParallelWork: 0 })); });
dq.after(() => { for (const rt of rts) rt.close(); });

dq("every type, 1 / 3 / 17 / 130 blocks, 1 and 2 threads: the reference's bits", async () => {
  const r = mulberry32(7);
  for (const [type, t] of Object.entries(WASM_DEQUANT_TYPES)) {
    for (const blocks of [1, 3, 17, 130]) {
      const bytes = new Uint8Array(blocks * t.blockBytes);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
      const want = dequantize(type, bytes, blocks * t.blockElems);
      for (const rt of rts) {
        const s = rt.heap.scope();
        try {
          const dst = s.alloc("f32", blocks * t.blockElems);
          await dequantizeGgml(rt, type, s.from("u8", bytes), dst, blocks);
          const got = dst.read();
          for (let i = 0; i < want.length; i++) {
            if (!Object.is(got[i], want[i])) assert.unreachable(`${type} x${blocks} (${rt.threads} threads) [${i}]: got ${got[i]}, want ${want[i]}`);
          }
        } finally {
          s.release();
        }
      }
    }
  }
});

dq("argument errors: an unknown type, short buffers, overlap", async () => {
  const rt = rts[0];
  const s = rt.heap.scope();
  try {
    const src = s.alloc("u8", 34), dst = s.alloc("f32", 32);
    const throwsArg = async (p: () => Promise<void>, arg: string, re: RegExp) => {
      try {
        await p();
        assert.unreachable(`expected ArgumentError(${arg})`);
      } catch (e) {
        assert.ok(e instanceof ArgumentError && e.arg === arg && re.test(e.message), String(e));
      }
    };
    await throwsArg(() => dequantizeGgml(rt, "Q3_K", src, dst, 1), "type", /no Wasm dequantiser for "Q3_K"/);
    await throwsArg(() => dequantizeGgml(rt, "Q8_0", src, dst, 2), "src", /needs 68 elements for 2 Q8_0 blocks/);
    await throwsArg(() => dequantizeGgml(rt, "Q8_0", s.alloc("u8", 68), dst, 2), "dst", /needs 64 elements/);
    await throwsArg(() => dequantizeGgml(rt, "Q8_0", src, dst, -1), "blocks", /non-negative integer/);
  } finally {
    s.release();
  }
});

dq.run();
