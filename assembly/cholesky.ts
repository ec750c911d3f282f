// Dense f64 Cholesky factorisation and lower-triangular inversion, in place, row-major with row
// stride `lda` (elements). Only the lower triangle (diagonal included) is read and written; the
// upper triangle is left untouched. Both are blocked right-looking algorithms whose bulk work is a
// GEMM-like update split over rows; every element's arithmetic depends only on its position, never
// on how rows are split across threads, so results are bit-identical for any thread count.
//
// f64 because SparseGPT factors Hessians of d_in up to ~11008 whose condition numbers make f32
// pivots unreliable.

// @ts-ignore: decorator
@inline function madd2(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f64x2.relaxed_madd(a, b, c);
  return f64x2.add(f64x2.mul(a, b), c);
}

// Σ_{p<n} a[p]·b[p] in a fixed order (two vector accumulators, then the scalar tail).
// @ts-ignore: decorator
@inline function dot64(a: usize, b: usize, n: i32): f64 {
  let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
  let p = 0;
  for (; p + 4 <= n; p += 4) {
    const o = <usize>p << 3;
    s0 = madd2(v128.load(a + o), v128.load(b + o), s0);
    s1 = madd2(v128.load(a + o, 16), v128.load(b + o, 16), s1);
  }
  const s = f64x2.add(s0, s1);
  let r = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  for (; p < n; p++) r += load<f64>(a + (<usize>p << 3)) * load<f64>(b + (<usize>p << 3));
  return r;
}

// Unblocked Cholesky of the diagonal block A[k:k+b, k:k+b] (its trailing updates already applied).
// On a non-positive or non-finite pivot stores (global index + 1) at `info` and stops. One unit.
export function chol_diag_f64(A: usize, lda: i32, k: i32, b: i32, info: usize, r0: i32, r1: i32): void {
  if (r0 >= r1) return;
  const rs = <usize>lda << 3;
  const base = A + <usize>k * rs + (<usize>k << 3);
  for (let i = 0; i < b; i++) {
    const ri = base + <usize>i * rs;
    for (let j = 0; j <= i; j++) {
      const rj = base + <usize>j * rs;
      const s = load<f64>(ri + (<usize>j << 3)) - dot64(ri, rj, j);
      if (i == j) {
        if (!(s > 0.0) || !(s < Infinity)) {
          store<i32>(info, k + i + 1);
          return;
        }
        store<f64>(ri + (<usize>i << 3), Math.sqrt(s));
      } else {
        store<f64>(ri + (<usize>j << 3), s / load<f64>(rj + (<usize>j << 3)));
      }
    }
  }
}

// Panel solve: for rows i = k+b+u, u in [r0, r1), A[i, k:k+b] := A[i, k:k+b] · L_kk^-T (forward
// substitution against the factored diagonal block), and a transposed copy in 8-column tiles,
// Pt[((u >> 3) * b + p) * 8 + (u & 7)], so the trailing update reads each tile contiguously
// (a plain transpose with a row stride of n doubles maps every p to the same L1 set).
export function chol_panel_f64(A: usize, lda: i32, k: i32, b: i32, Pt: usize, r0: i32, r1: i32): void {
  const rs = <usize>lda << 3;
  const L = A + <usize>k * rs + (<usize>k << 3);
  for (let u = r0; u < r1; u++) {
    const row = A + <usize>(k + b + u) * rs + (<usize>k << 3);
    for (let p = 0; p < b; p++) {
      const lp = L + <usize>p * rs;
      const x = (load<f64>(row + (<usize>p << 3)) - dot64(row, lp, p)) / load<f64>(lp + (<usize>p << 3));
      store<f64>(row + (<usize>p << 3), x);
      store<f64>(Pt + ((((<usize>(u >> 3) * <usize>b + <usize>p) << 3) + <usize>(u & 7)) << 3), x);
    }
  }
}

// Row pairs of a trailing triangle of m rows: pair q holds relative rows 2q and 2q+1. Unit u owns
// pair u and its mirror P-1-u, so every unit has about the same triangular work.
// @ts-ignore: decorator
@inline function pairCount(m: i32): i32 { return (m + 1) >> 1; }

// Cholesky trailing update: for relative rows a, columns c <= a of the trailing triangle starting
// at t = k+b: A[t+a, t+c] -= Σ_p A[t+a, k+p] · Pt[p, c], Pt tiled as chol_panel_f64 writes it
// (the last tile's lanes beyond m are read but ignored). Units: ceil(ceil(m/2)/2).
export function chol_update_f64(A: usize, lda: i32, k: i32, b: i32, n: i32, Pt: usize, r0: i32, r1: i32): void {
  const t = k + b;
  const m = n - t;
  if (m <= 0) return;
  const P = pairCount(m);
  const rs = <usize>lda << 3;
  // Column chunks keep a b x 256 slice of Pt (128 KiB at b = 64) in L2 across all of this unit range.
  const JC = 256;
  for (let jc = 0; jc < m; jc += JC) {
    for (let u = r0; u < r1; u++) {
      cholPair(A, rs, k, b, t, m, Pt, u, jc, JC);
      const v = P - 1 - u;
      if (v != u) cholPair(A, rs, k, b, t, m, Pt, v, jc, JC);
    }
  }
}

// @ts-ignore: decorator
@inline function cholPair(A: usize, rs: usize, k: i32, b: i32, t: i32, m: i32, Pt: usize, q: i32, jc: i32, JC: i32): void {
  const a = q << 1;
  const two = a + 1 < m;
  const last = two ? a + 1 : a; // highest valid column of the pair
  if (jc > last) return;
  const cEnd = min(jc + JC, last + 1);
  const ra = A + <usize>(t + a) * rs;
  const rb = two ? ra + rs : ra;
  const pa = ra + (<usize>k << 3);
  const pb = rb + (<usize>k << 3);
  for (let c = jc; c < cEnd; c += 8) {
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
    let b0 = f64x2.splat(0), b1 = f64x2.splat(0), b2 = f64x2.splat(0), b3 = f64x2.splat(0);
    let pt = Pt + ((<usize>(c >> 3) * <usize>b) << 6);
    for (let p = 0; p < b; p++) {
      const o = <usize>p << 3;
      const xa = v128.load64_splat(pa + o);
      const xb = v128.load64_splat(pb + o);
      let v = v128.load(pt);
      a0 = madd2(xa, v, a0); b0 = madd2(xb, v, b0);
      v = v128.load(pt, 16);
      a1 = madd2(xa, v, a1); b1 = madd2(xb, v, b1);
      v = v128.load(pt, 32);
      a2 = madd2(xa, v, a2); b2 = madd2(xb, v, b2);
      v = v128.load(pt, 48);
      a3 = madd2(xa, v, a3); b3 = madd2(xb, v, b3);
      pt += 64;
    }
    subTile(ra + (<usize>(t + c) << 3), a0, a1, a2, a3, a - c + 1);
    if (two) subTile(rb + (<usize>(t + c) << 3), b0, b1, b2, b3, a + 1 - c + 1);
  }
}

// dst[0:8] -= acc lanes, only the first `valid` lanes (valid may exceed 8).
// @ts-ignore: decorator
@inline function subTile(dst: usize, v0: v128, v1: v128, v2: v128, v3: v128, valid: i32): void {
  if (valid >= 8) {
    v128.store(dst, f64x2.sub(v128.load(dst), v0));
    v128.store(dst, f64x2.sub(v128.load(dst, 16), v1), 16);
    v128.store(dst, f64x2.sub(v128.load(dst, 32), v2), 32);
    v128.store(dst, f64x2.sub(v128.load(dst, 48), v3), 48);
    return;
  }
  for (let l = 0; l < valid; l++) {
    const v = l < 2 ? v0 : l < 4 ? v1 : l < 6 ? v2 : v3;
    const x = (l & 1) == 0 ? f64x2.extract_lane(v, 0) : f64x2.extract_lane(v, 1);
    const p = dst + (<usize>l << 3);
    store<f64>(p, load<f64>(p) - x);
  }
}

// Triangular inverse, step 1 for the diagonal block [j, j+jb) (blocks are processed from the last
// to the first): copies the panel below it, L21 = A[j+jb:n, j:j+jb], into T in 8-column tiles
// (T[((c >> 3) * m + q) * 8 + (c & 7)], m = n-j-jb rows, each tile contiguous), inverts L11 in
// place, and copies inv(L11) into X11 (jb x jb, zeros above the diagonal). One unit.
export function trinv_diag_f64(A: usize, lda: i32, j: i32, jb: i32, n: i32, T: usize, X11: usize, r0: i32, r1: i32): void {
  if (r0 >= r1) return;
  const rs = <usize>lda << 3;
  const jOff = <usize>j << 3;
  const rowBytes = <usize>jb << 3;
  const m = n - j - jb;
  for (let q = 0; q < m; q++) {
    const src = A + <usize>(j + jb + q) * rs + jOff;
    for (let c = 0; c < jb; c += 8) {
      const dst = T + ((<usize>(c >> 3) * <usize>m + <usize>q) << 6);
      const o = <usize>c << 3;
      v128.store(dst, v128.load(src + o));
      v128.store(dst, v128.load(src + o, 16), 16);
      v128.store(dst, v128.load(src + o, 32), 32);
      v128.store(dst, v128.load(src + o, 48), 48);
    }
  }
  const D = A + <usize>j * rs + jOff;
  // Column by column, in increasing order: X[i][c] overwrites L[i][c], which no later column reads.
  for (let c = 0; c < jb; c++) {
    const dc = D + <usize>c * rs + (<usize>c << 3);
    const xcc = 1.0 / load<f64>(dc);
    store<f64>(dc, xcc);
    for (let i = c + 1; i < jb; i++) {
      const ri = D + <usize>i * rs;
      let s = 0.0;
      for (let q = c; q < i; q++) s += load<f64>(ri + (<usize>q << 3)) * load<f64>(D + <usize>q * rs + (<usize>c << 3));
      store<f64>(ri + (<usize>c << 3), -s / load<f64>(ri + (<usize>i << 3)));
    }
  }
  for (let i = 0; i < jb; i++) {
    const src = D + <usize>i * rs;
    const dst = X11 + <usize>i * rowBytes;
    for (let c = 0; c < jb; c++) store<f64>(dst + (<usize>c << 3), c <= i ? load<f64>(src + (<usize>c << 3)) : 0.0);
  }
}

// Triangular inverse, step 2: with X22 = A[t:n, t:n] already inverted (t = j+jb), sets
// A[t+a, j:j+jb] = -(Σ_{q<=a} X22[a][q] · T[q, :]) · X11 for every relative row a. jb must be a
// multiple of 8. Scratch: 2*jb f64 per thread at scr + tid*scrStride. Units: ceil(ceil(m/2)/2).
export function trinv_update_f64(
  A: usize, lda: i32, j: i32, jb: i32, n: i32, T: usize, X11: usize, scr: usize, scrStride: i32,
  r0: i32, r1: i32, tid: i32,
): void {
  const t = j + jb;
  const m = n - t;
  if (m <= 0) return;
  const P = pairCount(m);
  const rs = <usize>lda << 3;
  const y = scr + <usize>tid * <usize>scrStride;
  for (let u = r0; u < r1; u++) {
    trinvPair(A, rs, j, jb, t, m, T, X11, y, u);
    const v = P - 1 - u;
    if (v != u) trinvPair(A, rs, j, jb, t, m, T, X11, y, v);
  }
}

// @ts-ignore: decorator
@inline function trinvPair(A: usize, rs: usize, j: i32, jb: i32, t: i32, m: i32, T: usize, X11: usize, y: usize, q: i32): void {
  const a = q << 1;
  const two = a + 1 < m;
  const ra = A + <usize>(t + a) * rs;
  const rb = two ? ra + rs : ra;
  const xa = ra + (<usize>t << 3); // X22 row a
  const xb = rb + (<usize>t << 3);
  const tb = <usize>jb << 3;
  const ya = y, yb = y + tb;
  // y = X22[a, 0:a+1] · T (and row a+1 with one more term).
  for (let c = 0; c < jb; c += 8) {
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
    let b0 = f64x2.splat(0), b1 = f64x2.splat(0), b2 = f64x2.splat(0), b3 = f64x2.splat(0);
    let tp = T + ((<usize>(c >> 3) * <usize>m) << 6);
    for (let p = 0; p <= a; p++) {
      const o = <usize>p << 3;
      const sa = v128.load64_splat(xa + o);
      const sb = v128.load64_splat(xb + o);
      let v = v128.load(tp);
      a0 = madd2(sa, v, a0); b0 = madd2(sb, v, b0);
      v = v128.load(tp, 16);
      a1 = madd2(sa, v, a1); b1 = madd2(sb, v, b1);
      v = v128.load(tp, 32);
      a2 = madd2(sa, v, a2); b2 = madd2(sb, v, b2);
      v = v128.load(tp, 48);
      a3 = madd2(sa, v, a3); b3 = madd2(sb, v, b3);
      tp += 64;
    }
    if (two) {
      const sb = v128.load64_splat(xb + (<usize>(a + 1) << 3));
      b0 = madd2(sb, v128.load(tp), b0);
      b1 = madd2(sb, v128.load(tp, 16), b1);
      b2 = madd2(sb, v128.load(tp, 32), b2);
      b3 = madd2(sb, v128.load(tp, 48), b3);
    }
    const o = <usize>c << 3;
    v128.store(ya + o, a0); v128.store(ya + o, a1, 16); v128.store(ya + o, a2, 32); v128.store(ya + o, a3, 48);
    v128.store(yb + o, b0); v128.store(yb + o, b1, 16); v128.store(yb + o, b2, 32); v128.store(yb + o, b3, 48);
  }
  // Row := -y · X11.
  const da = ra + (<usize>j << 3);
  const db = rb + (<usize>j << 3);
  for (let c = 0; c < jb; c += 8) {
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
    let b0 = f64x2.splat(0), b1 = f64x2.splat(0), b2 = f64x2.splat(0), b3 = f64x2.splat(0);
    let xp = X11 + (<usize>c << 3);
    for (let p = 0; p < jb; p++) {
      const o = <usize>p << 3;
      const sa = v128.load64_splat(ya + o);
      const sb = v128.load64_splat(yb + o);
      let v = v128.load(xp);
      a0 = madd2(sa, v, a0); b0 = madd2(sb, v, b0);
      v = v128.load(xp, 16);
      a1 = madd2(sa, v, a1); b1 = madd2(sb, v, b1);
      v = v128.load(xp, 32);
      a2 = madd2(sa, v, a2); b2 = madd2(sb, v, b2);
      v = v128.load(xp, 48);
      a3 = madd2(sa, v, a3); b3 = madd2(sb, v, b3);
      xp += tb;
    }
    const o = <usize>c << 3;
    v128.store(da + o, f64x2.neg(a0)); v128.store(da + o, f64x2.neg(a1), 16);
    v128.store(da + o, f64x2.neg(a2), 32); v128.store(da + o, f64x2.neg(a3), 48);
    if (two) {
      v128.store(db + o, f64x2.neg(b0)); v128.store(db + o, f64x2.neg(b1), 16);
      v128.store(db + o, f64x2.neg(b2), 32); v128.store(db + o, f64x2.neg(b3), 48);
    }
  }
}
