// Output-axis 2:4 and 4:8 sparse GEMM on the class-sorted "cls" layout (src/sparse/layout.ts).
// Up to 64 tokens per call, in passes of 16. Lanes hold tokens: per pass each thread copies its
// 16 tokens of X into a token-minor Xt[position][token] (positions and zero slots as the GEMV's
// x; tokens padded with zeros to a multiple of 8). Per entry of a unit, each of the 4 kept weights
// is splatted against the entry's two Xt quads: 4 rows x 8 tokens = 8 accumulators, 8
// multiply-adds per entry. A unit's entries (about 1 KiB) are walked once per block of 8 tokens
// while they sit in L1; panels are the outer loop so that a panel's Xt stays in L2 while every
// group of the thread runs through it. Passes of 16 tokens keep that Xt at 257 KiB: with all 64
// tokens at once it was 1 MiB, read from L3 once per group, and the kernel ran 10-30% slower
// although the weights came from memory only once per call (now up to 4 times).
// Work units are rows, split at multiples of 8. Each (row, token) sum is fixed by the data alone:
// per (panel, class) unit in order, one chain over the unit's entries in order, added to the
// row's sum. Padded rows and tokens are dropped.
// Scratch per thread: Xt (panels x 4112 positions x 64 bytes), then the row sums of the thread's
// groups (8 rows per group, 64 tokens per row).
import { madd } from "./simd";

// Fixed layout constants (CLS_PANEL, CLS_RUN, CLS_PANEL_POS in layout.ts).
// @ts-ignore: decorator
@inline const PANEL: i32 = 4096;
// @ts-ignore: decorator
@inline const RUN: i32 = 252;
// @ts-ignore: decorator
@inline const PP: i32 = 4112;
// Tokens per pass over the weights, and log2 of Xt's bytes per position.
// @ts-ignore: decorator
@inline const SB: i32 = 16;
// @ts-ignore: decorator
@inline const SBSH: usize = 6;
// Bytes per row of sums (64 tokens).
// @ts-ignore: decorator
@inline const YSH: usize = 8;

// @ts-ignore: decorator
@inline function addTo(p: usize, a: v128, b: v128): void {
  v128.store(p, f32x4.add(v128.load(p), a));
  v128.store(p, f32x4.add(v128.load(p, 16), b), 16);
}

// The products of every unit of the groups [g0, g1) with Xt, whose positions are 1 << XSH bytes
// apart (32 bytes per 8-token block, rounded up to a power of two: a wider stride leaves cache
// sets idle, and Xt fell out of L2 at 8 tokens in a 256-byte stride). Called with a constant XSH
// so that each width gets its own loop with a constant shift (a variable one ties up the count
// register in the inner loop).
// @ts-ignore: decorator
@inline function units(XSH: usize, vals: usize, deltas: usize, counts: usize, starts: usize, rowsAt: usize, P: i32, E: i32, nb: i32, xt: usize, ya: usize, g0: i32, g1: i32): void {
  for (let p = 0; p < P; p++) {
    const xp = xt + (<usize>(p * PP) << XSH);
    for (let g = g0; g < g1; g++) {
      const sp = starts + (<usize>(g * P + p) << 4);
      let dp = deltas + <usize>load<u32>(sp);
      let v0 = vals + (<usize>load<u32>(sp) << 4), v1 = vals + (<usize>load<u32>(sp, 4) << 4);
      let v2 = vals + (<usize>load<u32>(sp, 8) << 4), v3 = vals + (<usize>load<u32>(sp, 12) << 4);
      const cn = counts + (<usize>((g * P + p) * E) << 1);
      const yg = ya + (<usize>((g - g0) << 3) << YSH);
      for (let c = 0; c < E; c++) {
        const n = <usize>load<u16>(cn + (<usize>c << 1));
        if (n == 0) continue;
        const rw = load<u32>(rowsAt + (<usize>c << 2));
        const ya0 = yg + (<usize>(rw & 255) << YSH), ya1 = yg + (<usize>((rw >> 8) & 255) << YSH);
        const ya2 = yg + (<usize>((rw >> 16) & 255) << YSH), ya3 = yg + (<usize>(rw >> 24) << YSH);
        const de = dp + n;
        for (let tb: usize = 0; tb < <usize>(nb << 5); tb += 32) {
          let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
          // Entry i of the unit: delta at dp + i, values in sub-stream i % 4 at index i / 4; the
          // four stream pointers rotate. One entry per iteration: V8 hoists the loads of an
          // unrolled body above its multiply-adds and spills.
          let xa = xp + tb, w0 = v0, w1 = v1, w2 = v2, w3 = v3;
          for (let d = dp; d < de; d++) {
            xa += <usize>load<u8>(d) << XSH;
            const x0 = v128.load(xa), x1 = v128.load(xa, 16);
            let w = v128.load32_splat(w0);
            a0 = madd(w, x0, a0); a1 = madd(w, x1, a1);
            w = v128.load32_splat(w0, 4);
            b0 = madd(w, x0, b0); b1 = madd(w, x1, b1);
            w = v128.load32_splat(w0, 8);
            c0 = madd(w, x0, c0); c1 = madd(w, x1, c1);
            w = v128.load32_splat(w0, 12);
            d0 = madd(w, x0, d0); d1 = madd(w, x1, d1);
            const t = w0 + 16;
            w0 = w1; w1 = w2; w2 = w3; w3 = t;
          }
          addTo(ya0 + tb, a0, a1); addTo(ya1 + tb, b0, b1);
          addTo(ya2 + tb, c0, c1); addTo(ya3 + tb, d0, d1);
        }
        dp += n;
        v0 += ((n + 3) >> 2) << 4; v1 += ((n + 2) >> 2) << 4;
        v2 += ((n + 1) >> 2) << 4; v3 += (n >> 2) << 4;
      }
    }
  }
}

// Y[t0 + t, r] for tokens t < Tc (<= 64) and the 8-row groups of rows [r0, r1). E = classes.
export function gemm_sparse_cls(vals: usize, deltas: usize, counts: usize, starts: usize, lut: usize, X: usize, Y: usize, rows: i32, cols: i32, E: i32, t0: i32, Tc: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const P = (cols + PANEL - 1) / PANEL;
  const xt = scratch + <usize>tid * <usize>stride;
  const g0 = r0 >> 3, g1 = (r1 + 7) >> 3;
  const ya = xt + (<usize>(P * PP) << SBSH);
  memory.fill(ya, 0, <usize>((g1 - g0) << 3) << YSH);
  const rowsAt = lut + (<usize>E << 5);
  for (let ts = 0; ts < Tc; ts += SB) {
    const nb = (min(SB, Tc - ts) + 7) >> 3;
    const sh: usize = nb == 1 ? 5 : SBSH;
    // Xt, one run of columns at a time (its 253 positions stay in cache while the tokens fill them).
    for (let j0 = 0, q0 = 0; j0 < cols; j0 += PANEL, q0 += PP) {
      const w = min(PANEL, cols - j0);
      for (let c = 0; c < w; c += RUN) {
        const n = min(RUN, w - c);
        const dst = xt + (<usize>(q0 + c + c / RUN) << sh);
        for (let t = 0; t < nb << 3; t++) {
          const d = dst + (<usize>t << 2);
          if (ts + t < Tc) {
            const src = X + ((<usize>(t0 + ts + t) * <usize>cols + <usize>(j0 + c)) << 2);
            for (let i = 0; i < n; i++) store<f32>(d + (<usize>i << sh), load<f32>(src + (<usize>i << 2)));
          } else {
            for (let i = 0; i < n; i++) store<f32>(d + (<usize>i << sh), 0);
          }
          if (n == RUN) store<f32>(d + (<usize>RUN << sh), 0);
        }
      }
    }
    const yt = ya + (<usize>ts << 2);
    if (sh == 5) units(5, vals, deltas, counts, starts, rowsAt, P, E, nb, xt, yt, g0, g1);
    else units(SBSH, vals, deltas, counts, starts, rowsAt, P, E, nb, xt, yt, g0, g1);
  }
  for (let r = g0 << 3; r < min(g1 << 3, rows); r++) {
    const src = ya + (<usize>(r - (g0 << 3)) << YSH);
    for (let t = 0; t < Tc; t++) store<f32>(Y + ((<usize>(t0 + t) * <usize>rows + <usize>r) << 2), load<f32>(src + (<usize>t << 2)));
  }
}
