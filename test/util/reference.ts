/**
 * The greedy story of `../shared/data/REFERENCE.md`: stories260K with tok512, prompt "Once upon a
 * time", 64 positions (prompt included), temperature 0.
 */

/** The printed text, byte for byte (prompt pieces, generated pieces, a final newline). */
export const REF_TEXT =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. " +
  "She wanted to play with it, but it was too high.\nLily\n";

/** The token ids of positions 0..63. */
export const REF_IDS: readonly number[] = (
  "403 407 261 378 432 383 286 261 376 298 315 421 395 317 426 338 401 396 267 337 410 408 419 292 411 322 265 282 295 433 426 385 " +
  "328 432 358 394 261 370 432 352 266 268 388 426 338 391 266 267 337 335 312 432 398 312 286 267 414 270 333 415 426 13 438 310"
).split(" ").map(Number);
