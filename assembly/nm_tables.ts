// Per-call lookup tables of the input-axis 2:4 and 4:8 kernels (generated code: one shuffle per code).
// An "octet" is 8 consecutive inputs holding exactly 4 kept weights: two 2:4 groups, or one 4:8
// group. Its code enumerates which 4 of the 8 positions are kept:
//   2:4: code = 6 * a + b, a and b indexing the kept pair of each group in the order
//        (0,1) (0,2) (0,3) (1,2) (1,3) (2,3);
//   4:8: code = rank of the 4-subset of 0..7 in lexicographic order (0..69).
// Table entry `code` of an octet holds x at those 4 positions, so a kernel multiplies an octet's 4
// stored values by one table load: no gather of x per weight.

// Entries (36 x 16 bytes) of one octet for 2:4, from xa = x[0..3], xb = x[4..7] of the octet.
// @ts-ignore: decorator
@inline export function tab24_octet(t: usize, xa: v128, xb: v128): void {
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 4, 5), 0);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 4, 6), 16);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 4, 7), 32);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 5, 6), 48);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 5, 7), 64);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 6, 7), 80);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 4, 5), 96);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 4, 6), 112);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 4, 7), 128);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 5, 6), 144);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 5, 7), 160);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 6, 7), 176);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 3, 4, 5), 192);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 3, 4, 6), 208);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 3, 4, 7), 224);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 3, 5, 6), 240);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 3, 5, 7), 256);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 3, 6, 7), 272);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 4, 5), 288);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 4, 6), 304);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 4, 7), 320);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 5, 6), 336);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 5, 7), 352);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 6, 7), 368);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 3, 4, 5), 384);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 3, 4, 6), 400);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 3, 4, 7), 416);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 3, 5, 6), 432);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 3, 5, 7), 448);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 3, 6, 7), 464);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 3, 4, 5), 480);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 3, 4, 6), 496);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 3, 4, 7), 512);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 3, 5, 6), 528);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 3, 5, 7), 544);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 3, 6, 7), 560);
}

// Entries (70 x 16 bytes) of one octet for 4:8.
// @ts-ignore: decorator
@inline export function tab48_octet(t: usize, xa: v128, xb: v128): void {
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 2, 3), 0);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 2, 4), 16);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 2, 5), 32);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 2, 6), 48);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 2, 7), 64);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 3, 4), 80);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 3, 5), 96);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 3, 6), 112);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 3, 7), 128);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 4, 5), 144);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 4, 6), 160);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 4, 7), 176);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 5, 6), 192);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 5, 7), 208);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 1, 6, 7), 224);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 3, 4), 240);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 3, 5), 256);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 3, 6), 272);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 3, 7), 288);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 4, 5), 304);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 4, 6), 320);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 4, 7), 336);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 5, 6), 352);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 5, 7), 368);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 2, 6, 7), 384);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 3, 4, 5), 400);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 3, 4, 6), 416);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 3, 4, 7), 432);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 3, 5, 6), 448);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 3, 5, 7), 464);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 3, 6, 7), 480);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 4, 5, 6), 496);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 4, 5, 7), 512);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 4, 6, 7), 528);
  v128.store(t, v128.shuffle<f32>(xa, xb, 0, 5, 6, 7), 544);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 3, 4), 560);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 3, 5), 576);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 3, 6), 592);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 3, 7), 608);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 4, 5), 624);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 4, 6), 640);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 4, 7), 656);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 5, 6), 672);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 5, 7), 688);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 2, 6, 7), 704);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 3, 4, 5), 720);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 3, 4, 6), 736);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 3, 4, 7), 752);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 3, 5, 6), 768);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 3, 5, 7), 784);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 3, 6, 7), 800);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 4, 5, 6), 816);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 4, 5, 7), 832);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 4, 6, 7), 848);
  v128.store(t, v128.shuffle<f32>(xa, xb, 1, 5, 6, 7), 864);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 3, 4, 5), 880);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 3, 4, 6), 896);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 3, 4, 7), 912);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 3, 5, 6), 928);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 3, 5, 7), 944);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 3, 6, 7), 960);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 4, 5, 6), 976);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 4, 5, 7), 992);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 4, 6, 7), 1008);
  v128.store(t, v128.shuffle<f32>(xa, xb, 2, 5, 6, 7), 1024);
  v128.store(t, v128.shuffle<f32>(xa, xb, 3, 4, 5, 6), 1040);
  v128.store(t, v128.shuffle<f32>(xa, xb, 3, 4, 5, 7), 1056);
  v128.store(t, v128.shuffle<f32>(xa, xb, 3, 4, 6, 7), 1072);
  v128.store(t, v128.shuffle<f32>(xa, xb, 3, 5, 6, 7), 1088);
  v128.store(t, v128.shuffle<f32>(xa, xb, 4, 5, 6, 7), 1104);
}
