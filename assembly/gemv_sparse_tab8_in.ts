// Input-axis 2:4 and 4:8 sparse GEMV: one body, instantiated per pattern with constant panel and
// table sizes.
import { madd, hsum } from "./simd";
import { tab24_octet, tab48_octet } from "./nm_tables";

// part[i] = s (first panel) or part[i] + s.
// @ts-ignore: decorator
@inline function addPart(part: usize, i: i32, p: i32, s: v128): void {
  const pp = part + (<usize>i << 4);
  v128.store(pp, p == 0 ? s : f32x4.add(v128.load(pp), s));
}

// Pointer to octet o's 8 inputs; the last octet of a row whose width is not a multiple of 8 is
// copied zero-padded into tmp, so padded positions multiply 0, never memory past x.
// @ts-ignore: decorator
@inline function octetX(x: usize, o: i32, cols: i32, tmp: usize): usize {
  const j = o << 3;
  if (j + 8 <= cols) return x + (<usize>j << 2);
  v128.store(tmp, f32x4.splat(0));
  v128.store(tmp, f32x4.splat(0), 16);
  for (let i = 0; j + i < cols; i++) store<f32>(tmp + (<usize>i << 2), load<f32>(x + (<usize>(j + i) << 2)));
  return tmp;
}

// y = W x for an input-axis 2:4 or 4:8 matrix in the "tab8" layout (see src/sparse/layout.ts):
// panels of PO octets (8 inputs, 4 kept weights each); per panel, every row's octets as 16 bytes of
// values + 1 code byte. Per panel, each thread builds the octets' lookup tables (nm_tables.ts, TS
// bytes per octet) in its scratch; they stay in L1 while all of its rows stream past, so each 4 kept
// weights cost one code byte, one table load, one value load and one multiply-add.
// Scratch per thread: PO * TS bytes of table, 32 bytes for a zero-padded tail octet, 16 * rows bytes
// of per-row partial sums. Each row's arithmetic is the same whatever rows a thread gets.
// @ts-ignore: decorator
@inline function gemvTab8(PO: i32, TS: usize, vals: usize, codes: usize, x: usize, y: usize, rows: i32, cols: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  const tab = scratch + <usize>tid * <usize>stride;
  const tmp = tab + <usize>PO * TS;
  const part = tmp + 32;
  const O = (cols + 7) >> 3;
  for (let p = 0, o0 = 0; o0 < O; p++, o0 += PO) {
    const w = min(PO, O - o0);
    for (let k = 0; k < w; k++) {
      const xp = octetX(x, o0 + k, cols, tmp);
      if (PO == 32) tab24_octet(tab + <usize>k * TS, v128.load(xp), v128.load(xp, 16));
      else tab48_octet(tab + <usize>k * TS, v128.load(xp), v128.load(xp, 16));
    }
    const vbase = vals + (<usize>o0 * <usize>rows << 4);
    const cbase = codes + <usize>o0 * <usize>rows;
    // Four rows at once, from four memory streams (one sequential stream leaves the prefetcher
    // idle at page boundaries). In a full panel, rows r, r+L, r+2L, r+3L (L = 256) lie at fixed
    // distances (L * PO * 16 bytes of values, L * PO of codes), so one pointer with immediate
    // offsets serves all four (computed offsets cost 3-5%, hence a loop per pattern); the rest
    // of the range uses its four quarters. One accumulator per row keeps the live vectors at 12
    // (more spill in V8); a row's arithmetic is one chain over its octets in order on every path.
    let rs = r0;
    if (w == PO) {
      for (; rs + 1024 <= r1; rs += 1024) {
        for (let i = 0; i < 256; i++) {
          const ra = rs + i;
          let vp = vbase + <usize>ra * <usize>PO * 16, cp = cbase + <usize>ra * <usize>PO, tp = tab;
          const te = tab + <usize>PO * TS;
          let a = f32x4.splat(0), b = a, c = a, d = a;
          if (PO == 32) {
            while (tp < te) {
              a = madd(v128.load(vp), v128.load(tp + (<usize>load<u8>(cp) << 4)), a);
              b = madd(v128.load(vp, 131072), v128.load(tp + (<usize>load<u8>(cp, 8192) << 4)), b);
              c = madd(v128.load(vp, 262144), v128.load(tp + (<usize>load<u8>(cp, 16384) << 4)), c);
              d = madd(v128.load(vp, 393216), v128.load(tp + (<usize>load<u8>(cp, 24576) << 4)), d);
              vp += 16; cp += 1; tp += TS;
            }
          } else {
            while (tp < te) {
              a = madd(v128.load(vp), v128.load(tp + (<usize>load<u8>(cp) << 4)), a);
              b = madd(v128.load(vp, 65536), v128.load(tp + (<usize>load<u8>(cp, 4096) << 4)), b);
              c = madd(v128.load(vp, 131072), v128.load(tp + (<usize>load<u8>(cp, 8192) << 4)), c);
              d = madd(v128.load(vp, 196608), v128.load(tp + (<usize>load<u8>(cp, 12288) << 4)), d);
              vp += 16; cp += 1; tp += TS;
            }
          }
          addPart(part, ra - r0, p, a);
          addPart(part, ra + 256 - r0, p, b);
          addPart(part, ra + 512 - r0, p, c);
          addPart(part, ra + 768 - r0, p, d);
        }
      }
    }
    const q = (r1 - rs + 3) >> 2;
    for (let i = 0; i < q; i++) {
      const ra = rs + i, rb = ra + q, rc = rb + q, rd = rc + q;
      if (rd < r1) {
        let va = vbase + (<usize>ra * <usize>w << 4), vb = vbase + (<usize>rb * <usize>w << 4);
        let vc = vbase + (<usize>rc * <usize>w << 4), vd = vbase + (<usize>rd * <usize>w << 4);
        let ca = cbase + <usize>ra * <usize>w, cb = cbase + <usize>rb * <usize>w;
        let cc = cbase + <usize>rc * <usize>w, cd = cbase + <usize>rd * <usize>w;
        let tp = tab;
        const te = tab + <usize>w * TS;
        let a = f32x4.splat(0), b = a, c = a, d = a;
        while (tp < te) {
          a = madd(v128.load(va), v128.load(tp + (<usize>load<u8>(ca) << 4)), a);
          b = madd(v128.load(vb), v128.load(tp + (<usize>load<u8>(cb) << 4)), b);
          c = madd(v128.load(vc), v128.load(tp + (<usize>load<u8>(cc) << 4)), c);
          d = madd(v128.load(vd), v128.load(tp + (<usize>load<u8>(cd) << 4)), d);
          va += 16; vb += 16; vc += 16; vd += 16; ca += 1; cb += 1; cc += 1; cd += 1; tp += TS;
        }
        addPart(part, ra - r0, p, a);
        addPart(part, rb - r0, p, b);
        addPart(part, rc - r0, p, c);
        addPart(part, rd - r0, p, d);
      } else {
        for (let r = ra; r < r1; r += q) {
          let vp = vbase + (<usize>r * <usize>w << 4);
          let cp = cbase + <usize>r * <usize>w;
          let tp = tab;
          const te = tab + <usize>w * TS;
          let a = f32x4.splat(0);
          while (tp < te) {
            a = madd(v128.load(vp), v128.load(tp + (<usize>load<u8>(cp) << 4)), a);
            vp += 16; cp += 1; tp += TS;
          }
          addPart(part, r - r0, p, a);
        }
      }
    }
  }
  for (let r = r0; r < r1; r++) store<f32>(y + (<usize>r << 2), hsum(v128.load(part + (<usize>(r - r0) << 4))));
}

/** 2:4: panels of 32 octets, 36 table entries per octet. */
export function gemv_sparse24_in(vals: usize, codes: usize, x: usize, y: usize, rows: i32, cols: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  gemvTab8(32, 576, vals, codes, x, y, rows, cols, scratch, stride, r0, r1, tid);
}

/** 4:8: panels of 16 octets, 70 table entries per octet. */
export function gemv_sparse48_in(vals: usize, codes: usize, x: usize, y: usize, rows: i32, cols: i32, scratch: usize, stride: i32, r0: i32, r1: i32, tid: i32): void {
  gemvTab8(16, 1120, vals, codes, x, y, rows, cols, scratch, stride, r0, r1, tid);
}
