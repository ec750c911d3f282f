// SparseGPT (docs/methods.md): preparation of the damped Hessian, the upper Cholesky factor U of
// H^-1, and the column-block pruning loop with its lazy batch update. W is f32 row-major
// [dOut, ldw]; U is f32 row-major upper triangular with row stride ldu. Rows of W are independent
// in every kernel here except the unstructured block selection, which is one unit.
import { madd } from "./simd";

// U is obtained without a second factorisation: if P reverses the index order and
// P H P = L' L'^T (lower Cholesky), then H = V V^T with V = P L' P upper, so H^-1 = U^T U with
// U = V^-1 = P L'^-1 P. That is exactly the upper Cholesky factor of H^-1 (unique, positive
// diagonal), at the cost of one factorisation and one triangular inverse.

// A[i][j] = H[n-1-i][n-1-j] in f64, with dead inputs (H_jj == 0) set to 1 and `lambda` added to
// the diagonal. H is f32 (hF64 = 0) or f64 (hF64 = 1), row stride n. bad[i] = 1 when row n-1-i of
// H holds NaN or Inf. Units: rows of A.
export function sgpt_prepare(H: usize, hF64: i32, A: usize, n: i32, lambda: f64, bad: usize, r0: i32, r1: i32): void {
  const nn = <usize>n;
  for (let i = r0; i < r1; i++) {
    const src = <usize>(n - 1 - i) * nn;
    const dst = A + <usize>i * (nn << 3);
    let chk = 0.0;
    if (hF64 != 0) {
      for (let j = 0; j < n; j++) {
        const v = load<f64>(H + ((src + <usize>(n - 1 - j)) << 3));
        chk += v - v;
        store<f64>(dst + (<usize>j << 3), v);
      }
    } else {
      for (let j = 0; j < n; j++) {
        const v = <f64>load<f32>(H + ((src + <usize>(n - 1 - j)) << 2));
        chk += v - v;
        store<f64>(dst + (<usize>j << 3), v);
      }
    }
    store<u8>(bad + <usize>i, chk == 0.0 ? 0 : 1);
    const d = dst + (<usize>i << 3);
    let h = load<f64>(d);
    if (h == 0.0) h = 1.0;
    store<f64>(d, h + lambda);
  }
}

// U[i][j] = X[n-1-i][n-1-j] (j >= i, X = L'^-1 in the lower triangle of A), 0 below the diagonal,
// as f32. bad[i] = 1 when row i holds a non-finite value or a non-positive diagonal. Units: rows.
export function sgpt_to_u(A: usize, n: i32, U: usize, ldu: i32, bad: usize, r0: i32, r1: i32): void {
  const nn = <usize>n;
  for (let i = r0; i < r1; i++) {
    const src = A + <usize>(n - 1 - i) * (nn << 3);
    const dst = U + <usize>i * (<usize>ldu << 2);
    let ok = true;
    for (let j = 0; j < i; j++) store<f32>(dst + (<usize>j << 2), 0);
    for (let j = i; j < n; j++) {
      const v = <f32>load<f64>(src + (<usize>(n - 1 - j) << 3));
      ok = ok && (v - v == 0);
      store<f32>(dst + (<usize>j << 2), v);
    }
    const d = load<f32>(dst + (<usize>i << 2));
    if (!(d > 0)) ok = false;
    store<u8>(bad + <usize>i, ok ? 0 : 1);
  }
}

// Score of one weight: W^2 / U_jj^2 in f64, so that squares never underflow to ties.
// @ts-ignore: decorator
@inline function score(w: f32, d: f32): f64 {
  const x = <f64>w, y = <f64>d;
  return (x * x) / (y * y);
}

// Unstructured mask of block [i1, i1+bw): prunes exactly k of the dOut*bw weights with the smallest
// W^2/U_jj^2 (current W), ties to the lower row-major index. Scores are non-negative f64, whose bit
// patterns order like the values, so an exact 4-pass radix select over 16-bit digits finds the
// k-th key. keys: dOut*bw u64; hist: 65536 u32. mask[r*ldm + i1 + c] = 1 for pruned. One unit.
export function sgpt_select(
  W: usize, ldw: i32, U: usize, ldu: i32, mask: usize, ldm: i32, i1: i32, bw: i32, dOut: i32, k: i32,
  keys: usize, hist: usize, r0: i32, r1: i32,
): void {
  if (r0 >= r1) return;
  const total = dOut * bw;
  for (let r = 0; r < dOut; r++) {
    const w = W + (<usize>r * <usize>ldw + <usize>i1) * 4;
    const kr = keys + (<usize>r * <usize>bw) * 8;
    for (let c = 0; c < bw; c++) {
      const d = load<f32>(U + (<usize>(i1 + c) * <usize>ldu + <usize>(i1 + c)) * 4);
      store<u64>(kr + (<usize>c << 3), reinterpret<u64>(score(load<f32>(w + (<usize>c << 2)), d)));
    }
  }
  // Find the key T of rank k-1 (0-based) and how many keys are below it.
  let prefix: u64 = 0;
  let below: i32 = 0; // keys strictly below the current prefix range
  let rank = k - 1; // rank still to find within the prefix range
  let T: u64 = 0;
  if (k > 0 && k < total) {
    for (let pass = 0; pass < 4; pass++) {
      const shift = <u64>(48 - pass * 16);
      const hiShift = shift + 16;
      memory.fill(hist, 0, 65536 * 4);
      for (let e = 0; e < total; e++) {
        const key = load<u64>(keys + (<usize>e << 3));
        if (pass > 0 && (key >> hiShift) != (prefix >> hiShift)) continue;
        const dgt = <usize>((key >> shift) & 0xffff);
        store<u32>(hist + (dgt << 2), load<u32>(hist + (dgt << 2)) + 1);
      }
      let acc: i32 = 0;
      let dsel: u64 = 0;
      for (let dgt = 0; dgt < 65536; dgt++) {
        const h = <i32>load<u32>(hist + (<usize>dgt << 2));
        if (acc + h > rank) { dsel = <u64>dgt; break; }
        acc += h;
      }
      below += acc;
      rank -= acc;
      prefix |= dsel << shift;
    }
    T = prefix;
  }
  // Mark: every key < T, then the first (k - below) keys equal to T in row-major order.
  let ties = k - below;
  for (let r = 0; r < dOut; r++) {
    const mr = mask + <usize>r * <usize>ldm + <usize>i1;
    const kr = keys + (<usize>r * <usize>bw) * 8;
    for (let c = 0; c < bw; c++) {
      let p: u8 = 0;
      if (k >= total) p = 1;
      else if (k > 0) {
        const key = load<u64>(kr + (<usize>c << 3));
        if (key < T) p = 1;
        else if (key == T && ties > 0) { p = 1; ties--; }
      }
      store<u8>(mr + <usize>c, p);
    }
  }
}

// The column block [i1, i1+bw) for rows [r0, r1):
//  - N:M (M > 0): at each group start (c % M == 0) prunes the N smallest W^2/U_jj^2 of the group
//    with the current W (ties: lower column first); a trailing partial group of g < M columns
//    prunes floor(N*g/M). Unstructured (M == 0): the mask was set by sgpt_select.
//  - Per column j: q = W[:,j] with pruned entries zeroed, err = (w - q)/U_jj,
//    W[r, j+1:i2] -= err * U[j, j+1:i2], W[r, j] = q, Err[r, c] = err, loss[r] += (w-q)^2/U_jj^2/2.
//  - Then the lazy batch update W[r, i2:dIn] -= Err[r, 0:bw] · U[i1:i2, i2:dIn].
// Err: f32 [dOut, ldE]; loss: f64 [dOut]. Scratch per thread: 256 bytes of scores, then the packed
// U panel, bw * LAZY_NC floats. U must be readable 8 floats past its last row (the column tail
// computes whole vectors and stores only the valid lanes).
// grain must be 4 (row tiles); a thread's rows are then tiled identically for any split.
export function sgpt_block(
  W: usize, ldw: i32, U: usize, ldu: i32, mask: usize, ldm: i32, Err: usize, ldE: i32, loss: usize,
  i1: i32, bw: i32, dIn: i32, N: i32, M: i32, scr: usize, scrStride: i32,
  r0: i32, r1: i32, tid: i32,
): void {
  const s = scr + <usize>tid * <usize>scrStride;
  const i2 = i1 + bw;
  const uRow = <usize>ldu << 2;
  for (let r = r0; r < r1; r++) {
    const w = W + <usize>r * (<usize>ldw << 2);
    const mr = mask + <usize>r * <usize>ldm;
    const e = Err + <usize>r * (<usize>ldE << 2);
    let lsum = 0.0;
    for (let c = 0; c < bw; c++) {
      const j = i1 + c;
      if (M > 0 && c % M == 0) selectGroup(w, U, uRow, mr, j, min(M, bw - c), N, M, s);
      const wj = load<f32>(w + (<usize>j << 2));
      const uj = U + <usize>j * uRow;
      const d = load<f32>(uj + (<usize>j << 2));
      if (load<u8>(mr + <usize>j) != 0) {
        const err = wj / d;
        lsum += score(wj, d) * 0.5;
        store<f32>(w + (<usize>j << 2), 0);
        store<f32>(e + (<usize>c << 2), err);
        // mul + sub (not fused) so the vector body and scalar tail round alike.
        const ev = f32x4.splat(err);
        let x = j + 1;
        for (; x + 4 <= i2; x += 4) {
          const p = w + (<usize>x << 2);
          v128.store(p, f32x4.sub(v128.load(p), f32x4.mul(ev, v128.load(uj + (<usize>x << 2)))));
        }
        for (; x < i2; x++) {
          const p = w + (<usize>x << 2);
          store<f32>(p, load<f32>(p) - err * load<f32>(uj + (<usize>x << 2)));
        }
      } else {
        store<f32>(e + (<usize>c << 2), 0);
      }
    }
    store<f64>(loss + (<usize>r << 3), load<f64>(loss + (<usize>r << 3)) + lsum);
  }
  if (i2 < dIn && r0 < r1) lazyUpdate(W, ldw, U, ldu, Err, ldE, i1, bw, i2, dIn, s + 256, r0, r1);
}

// N:M selection of one group [j, j+g) of one row; writes mask bytes for the group.
// @ts-ignore: decorator
@inline function selectGroup(w: usize, U: usize, uRow: usize, mr: usize, j: i32, g: i32, N: i32, M: i32, s: usize): void {
  const cnt = g == M ? N : (N * g) / M;
  for (let t = 0; t < g; t++) {
    const jt = j + t;
    store<f64>(s + (<usize>t << 3), score(load<f32>(w + (<usize>jt << 2)), load<f32>(U + <usize>jt * uRow + (<usize>jt << 2))));
  }
  for (let t = 0; t < g; t++) {
    const st = load<f64>(s + (<usize>t << 3));
    let rank = 0;
    for (let v = 0; v < g; v++) {
      const sv = load<f64>(s + (<usize>v << 3));
      if (sv < st || (sv == st && v < t)) rank++;
    }
    store<u8>(mr + <usize>(j + t), rank < cnt ? 1 : 0);
  }
}

// Columns of the lazy update per packed chunk: a bw x 512 panel of U (256 KiB) stays in L2 while
// all of a thread's rows pass over it.
// @ts-ignore: decorator
@inline const LAZY_NC: i32 = 512;

// W[r, i2:dIn] -= Err[r, 0:bw] · U[i1:i2, i2:dIn], 4-row x 8-column register tiles. Each column
// chunk of U is first packed tile by tile (pk[(tile * bw + k) * 8 + lane]): read in place, the
// bw rows of a tile sit one U row apart, all in the same L1 set.
// @ts-ignore: decorator
@inline function lazyUpdate(W: usize, ldw: i32, U: usize, ldu: i32, Err: usize, ldE: i32, i1: i32, bw: i32, i2: i32, dIn: i32, pk: usize, r0: i32, r1: i32): void {
  const NC = LAZY_NC;
  const wRow = <usize>ldw << 2;
  const eRow = <usize>ldE << 2;
  const uRow = <usize>ldu << 2;
  const u0 = U + <usize>i1 * uRow;
  const tileBytes = <usize>bw << 5;
  for (let cc = i2; cc < dIn; cc += NC) {
    const cEnd = min(cc + NC, dIn);
    for (let c = cc; c < cEnd; c += 8) {
      let src = u0 + (<usize>c << 2);
      let dst = pk + <usize>((c - cc) >> 3) * tileBytes;
      for (let k = 0; k < bw; k++) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        src += uRow;
        dst += 32;
      }
    }
    let r = r0;
    for (; r + 4 <= r1; r += 4) {
      const w0 = W + <usize>r * wRow;
      const e0 = Err + <usize>r * eRow;
      for (let c = cc; c < cEnd; c += 8) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
        let c0 = f32x4.splat(0), c1 = f32x4.splat(0), d0 = f32x4.splat(0), d1 = f32x4.splat(0);
        let up = pk + <usize>((c - cc) >> 3) * tileBytes;
        let ep = e0;
        for (let k = 0; k < bw; k++) {
          const x0 = v128.load(up), x1 = v128.load(up, 16);
          let sp = v128.load32_splat(ep);
          a0 = madd(sp, x0, a0); a1 = madd(sp, x1, a1);
          sp = v128.load32_splat(ep + eRow);
          b0 = madd(sp, x0, b0); b1 = madd(sp, x1, b1);
          sp = v128.load32_splat(ep + 2 * eRow);
          c0 = madd(sp, x0, c0); c1 = madd(sp, x1, c1);
          sp = v128.load32_splat(ep + 3 * eRow);
          d0 = madd(sp, x0, d0); d1 = madd(sp, x1, d1);
          up += 32;
          ep += 4;
        }
        const valid = cEnd - c;
        const p = w0 + (<usize>c << 2);
        subRow(p, a0, a1, valid);
        subRow(p + wRow, b0, b1, valid);
        subRow(p + 2 * wRow, c0, c1, valid);
        subRow(p + 3 * wRow, d0, d1, valid);
      }
    }
    for (; r < r1; r++) {
      const w0 = W + <usize>r * wRow;
      const e0 = Err + <usize>r * eRow;
      for (let c = cc; c < cEnd; c += 8) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
        let up = pk + <usize>((c - cc) >> 3) * tileBytes;
        let ep = e0;
        for (let k = 0; k < bw; k++) {
          const sp = v128.load32_splat(ep);
          a0 = madd(sp, v128.load(up), a0);
          a1 = madd(sp, v128.load(up, 16), a1);
          up += 32;
          ep += 4;
        }
        subRow(w0 + (<usize>c << 2), a0, a1, cEnd - c);
      }
    }
  }
}

// dst[0:8] -= acc, only the first `valid` lanes (valid may exceed 8).
// @ts-ignore: decorator
@inline function subRow(dst: usize, v0: v128, v1: v128, valid: i32): void {
  if (valid >= 8) {
    v128.store(dst, f32x4.sub(v128.load(dst), v0));
    v128.store(dst, f32x4.sub(v128.load(dst, 16), v1), 16);
    return;
  }
  for (let l = 0; l < valid; l++) {
    const v = l < 4 ? v0 : v1;
    let x: f32;
    switch (l & 3) {
      case 0: x = f32x4.extract_lane(v, 0); break;
      case 1: x = f32x4.extract_lane(v, 1); break;
      case 2: x = f32x4.extract_lane(v, 2); break;
      default: x = f32x4.extract_lane(v, 3);
    }
    const p = dst + (<usize>l << 2);
    store<f32>(p, load<f32>(p) - x);
  }
}
