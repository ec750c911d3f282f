/**
 * The SentencePiece-BPE encoder of llama2.c's `encode()`, shared by llama2.c tokenizer.bin and GGUF
 * vocabularies: one token per code point (byte fallback, or <unk> when the vocabulary has no byte tokens),
 * then repeatedly merge the adjacent pair whose concatenation is a piece with the highest score, leftmost on
 * ties.
 *
 * llama2.c rescans all pairs after each merge (quadratic). Here each line is merged separately with a heap
 * of candidate pairs, which gives the same result: the newline token never merges (checked per vocabulary at
 * construction; if it could, whole-text merging is used), and merges in separate segments commute.
 */
import { ArgumentError } from "../errors.js";
import type { EncodeOptions, Tokenizer } from "./types.js";

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/** Construction options of a SentencePiece-BPE vocabulary. */
export interface SentencePieceOptions {
  /** Implementation tag reported by `Tokenizer.kind`. */
  kind: "llama2c" | "gguf";
  bosId: number;
  eosId: number;
  /** Id used for characters that are neither pieces nor byte-encodable. Default 0. */
  unkId?: number;
  /** Ids printed as "" by decodePiece/decode (BOS, EOS, other control tokens). */
  controlIds?: Iterable<number>;
  /** Pieces that text may be matched against (default all). GGUF excludes control/byte/unknown tokens. */
  matchable?: (id: number) => boolean;
  /** Tokens whose text `encode(text, { parseSpecial: true })` reads as the token (GGUF: control and user-defined). */
  specialIds?: Iterable<number>;
  /**
   * Text starts with a space before encoding (SentencePiece's dummy prefix), which decoding after BOS
   * drops again. Default true, as llama2.c and Llama do; Gemma's vocabularies have none.
   */
  addSpacePrefix?: boolean;
}

/** A SentencePiece-BPE tokenizer over pieces whose spaces are plain " " (not "▁"). */
export class SentencePieceTokenizer implements Tokenizer {
  readonly kind: "llama2c" | "gguf";
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  /** Piece text by id; byte tokens keep their `<0xXX>` spelling. */
  readonly pieces: readonly string[];
  readonly scores: Float32Array;
  /** Token id of each byte value, when the vocabulary has all 256 byte tokens; null otherwise. */
  readonly byteIds: Int32Array | null;
  /** True when per-line merging is exactly equivalent to whole-text merging for this vocabulary. */
  readonly lineSplitExact: boolean;
  private readonly lookup = new Map<string, number>();
  private readonly byteOf: Int16Array; // byte value of a byte token, -1 otherwise
  private readonly control: Uint8Array;
  private readonly pairCache = new Map<number, number>();
  private readonly pieceBytes: (Uint8Array | null)[];
  private readonly newlineId: number;
  private readonly prefixIds: number[]; // the dummy-prefix space the text starts with, or none
  /** Text starts with a space before encoding (see SentencePieceOptions.addSpacePrefix). */
  readonly addSpacePrefix: boolean;
  /** Texts of the special tokens (SentencePieceOptions.specialIds) with their ids, by first character, longest first. */
  private readonly specials = new Map<string, [string, number][]>();

  constructor(pieces: string[], scores: ArrayLike<number>, opts: SentencePieceOptions) {
    const n = pieces.length;
    if (n === 0) throw new ArgumentError("pieces", "empty vocabulary");
    if (scores.length !== n) throw new ArgumentError("scores", `${scores.length} scores for ${n} pieces`);
    this.kind = opts.kind;
    this.vocabSize = n;
    this.pieces = pieces;
    this.scores = Float32Array.from(scores);
    this.bosId = inRange(opts.bosId, n);
    this.eosId = inRange(opts.eosId, n);
    this.unkId = inRange(opts.unkId ?? 0, n);
    this.control = new Uint8Array(n);
    for (const id of [this.bosId, this.eosId, ...(opts.controlIds ?? [])]) if (id >= 0 && id < n) this.control[id] = 1;
    this.byteOf = new Int16Array(n).fill(-1);
    const byteIds = new Int32Array(256).fill(-1);
    for (let i = 0; i < n; i++) {
      const m = BYTE_PIECE.exec(pieces[i]);
      if (m) {
        const b = parseInt(m[1], 16);
        this.byteOf[i] = b;
        if (byteIds[b] < 0) byteIds[b] = i;
      }
    }
    this.byteIds = byteIds.every((x) => x >= 0) ? byteIds : null;
    const matchable = opts.matchable ?? (() => true);
    for (let i = 0; i < n; i++) if (matchable(i) && !this.lookup.has(pieces[i])) this.lookup.set(pieces[i], i);
    this.pieceBytes = new Array(n).fill(null);
    this.newlineId = this.charIds("\n")[0];
    this.addSpacePrefix = opts.addSpacePrefix !== false;
    this.prefixIds = this.addSpacePrefix ? this.charIds(" ") : [];
    this.lineSplitExact = this.checkLineSplit();
    for (const id of new Set(opts.specialIds ?? [])) {
      if (!(id >= 0 && id < n && pieces[id].length > 0)) continue;
      const list = this.specials.get(pieces[id][0]) ?? [];
      list.push([pieces[id], id]);
      this.specials.set(pieces[id][0], list);
    }
    for (const list of this.specials.values()) list.sort((a, b) => b[0].length - a[0].length || a[1] - b[1]);
  }

  /** Token ids of one code point: its piece, else its UTF-8 bytes as byte tokens, else <unk>. */
  private charIds(ch: string): number[] {
    const id = this.lookup.get(ch);
    if (id !== undefined) return [id];
    if (this.byteIds) {
      const bytes = new TextEncoder().encode(ch);
      return Array.from(bytes, (b) => this.byteIds![b]);
    }
    return [this.unkId];
  }

  private checkLineSplit(): boolean {
    const p = this.pieces[this.newlineId];
    for (const [s] of this.lookup) {
      if (s === "" || (s !== p && (s.startsWith(p) || s.endsWith(p)))) return false;
    }
    return true;
  }

  /** Id of the piece that is the concatenation of pieces a and b, or -1. */
  private pair(a: number, b: number): number {
    const key = a * this.vocabSize + b;
    let v = this.pairCache.get(key);
    if (v === undefined) {
      v = this.lookup.get(this.pieces[a] + this.pieces[b]) ?? -1;
      this.pairCache.set(key, v);
    }
    return v;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== "string") throw new ArgumentError("text", "expected a string");
    const out: number[] = [];
    if (opts.bos && this.bosId >= 0) out.push(this.bosId);
    if (opts.parseSpecial && this.specials.size > 0) {
      // As llama.cpp: text between special tokens is encoded on its own, with the dummy prefix when it
      // starts the text or follows a special token.
      let afterSpecial = true, from = 0;
      for (let at = 0; at < text.length;) {
        const hit = this.specials.get(text[at])?.find(([t]) => text.startsWith(t, at));
        if (!hit) { at++; continue; }
        if (at > from) this.encodeText(text.slice(from, at), afterSpecial, out);
        out.push(hit[1]);
        afterSpecial = true;
        at += hit[0].length;
        from = at;
      }
      if (from < text.length) this.encodeText(text.slice(from), afterSpecial, out);
    } else if (text.length > 0) this.encodeText(text, true, out);
    if (opts.eos && this.eosId >= 0) out.push(this.eosId);
    return out;
  }

  /** Appends the tokens of plain text to `out`, starting with the dummy prefix if asked (and the vocabulary has one). */
  private encodeText(text: string, prefix: boolean, out: number[]): void {
    const segments = this.lineSplitExact ? text.split("\n") : [text];
    const ids: number[] = prefix ? [...this.prefixIds] : [];
    const merger = new Merger(this);
    for (let s = 0; s < segments.length; s++) {
      if (s > 0) ids.length = 0;
      for (const ch of segments[s]) {
        const id = this.lookup.get(ch);
        if (id !== undefined) ids.push(id);
        else for (const x of this.charIds(ch)) ids.push(x);
      }
      merger.merge(ids, out);
      if (s < segments.length - 1) out.push(this.newlineId);
    }
  }

  /** Internal: merge candidate for the heap. */
  pairFor(a: number, b: number): number {
    return this.pair(a, b);
  }

  private bytesOf(id: number): Uint8Array {
    let b = this.pieceBytes[id];
    if (!b) {
      const byte = this.byteOf[id];
      b = byte >= 0 ? Uint8Array.of(byte) : new TextEncoder().encode(this.pieces[id]);
      this.pieceBytes[id] = b;
    }
    return b;
  }

  /** The raw bytes a token prints after `prevToken` (see `decodePiece`). */
  decodePieceBytes(prevToken: number, token: number): Uint8Array {
    if (!Number.isInteger(token) || token < 0 || token >= this.vocabSize) throw new ArgumentError("token", `id ${token} out of range [0, ${this.vocabSize})`);
    if (this.control[token]) return new Uint8Array(0);
    const b = this.bytesOf(token);
    if (prevToken === this.bosId && this.prefixIds.length && this.byteOf[token] < 0 && b[0] === 0x20) return b.subarray(1);
    return b;
  }

  decodePiece(prevToken: number, token: number): string {
    return new TextDecoder().decode(this.decodePieceBytes(prevToken, token));
  }

  /** Decodes ids; the start of the sequence counts as BOS, so the dummy-prefix space is removed. */
  decode(ids: ArrayLike<number>): string {
    const parts: Uint8Array[] = [];
    let total = 0;
    let prev = this.bosId;
    for (let i = 0; i < ids.length; i++) {
      const b = this.decodePieceBytes(prev, ids[i]);
      parts.push(b);
      total += b.byteLength;
      // Control tokens print nothing, so they don't end the "start of text" state either.
      if (!this.control[ids[i]]) prev = ids[i];
    }
    const all = new Uint8Array(total);
    let p = 0;
    for (const b of parts) { all.set(b, p); p += b.byteLength; }
    return new TextDecoder().decode(all);
  }
}

function inRange(id: number, n: number): number {
  return Number.isInteger(id) && id >= 0 && id < n ? id : -1;
}

/**
 * Greedy highest-score merging with a binary heap of candidate pairs keyed by (score desc, position asc).
 * Nodes keep their original index as identity and list order equals index order, so "smallest index" is
 * "leftmost", matching llama2.c's strict-greater scan. Stale heap entries are detected by version stamps.
 */
class Merger {
  private next = new Int32Array(0);
  private prev = new Int32Array(0);
  private tok = new Int32Array(0);
  private ver = new Int32Array(0);
  // Heap entries in parallel arrays.
  private hScore = new Float64Array(0);
  private hLeft = new Int32Array(0);
  private hRight = new Int32Array(0);
  private hId = new Int32Array(0);
  private hVerL = new Int32Array(0);
  private hVerR = new Int32Array(0);
  private size = 0;

  constructor(private readonly t: SentencePieceTokenizer) {}

  private ensure(n: number): void {
    if (this.next.length >= n) return;
    const cap = Math.max(n, 16);
    this.next = new Int32Array(cap);
    this.prev = new Int32Array(cap);
    this.tok = new Int32Array(cap);
    this.ver = new Int32Array(cap);
    // Each merge adds at most 2 entries on top of the initial n-1.
    const h = 3 * cap;
    this.hScore = new Float64Array(h);
    this.hLeft = new Int32Array(h);
    this.hRight = new Int32Array(h);
    this.hId = new Int32Array(h);
    this.hVerL = new Int32Array(h);
    this.hVerR = new Int32Array(h);
  }

  private less(i: number, j: number): boolean {
    // "i before j" in pop order: higher score first, then smaller left index.
    const a = this.hScore[i], b = this.hScore[j];
    return a > b || (a === b && this.hLeft[i] < this.hLeft[j]);
  }

  private swap(i: number, j: number): void {
    let f = this.hScore[i]; this.hScore[i] = this.hScore[j]; this.hScore[j] = f;
    let x = this.hLeft[i]; this.hLeft[i] = this.hLeft[j]; this.hLeft[j] = x;
    x = this.hRight[i]; this.hRight[i] = this.hRight[j]; this.hRight[j] = x;
    x = this.hId[i]; this.hId[i] = this.hId[j]; this.hId[j] = x;
    x = this.hVerL[i]; this.hVerL[i] = this.hVerL[j]; this.hVerL[j] = x;
    x = this.hVerR[i]; this.hVerR[i] = this.hVerR[j]; this.hVerR[j] = x;
  }

  private push(left: number, right: number): void {
    const id = this.t.pairFor(this.tok[left], this.tok[right]);
    if (id < 0) return;
    const score = this.t.scores[id];
    // llama2.c starts its best-score search at -1e10, so pieces scored at or below it never merge.
    if (!(score > -1e10)) return;
    let i = this.size++;
    this.hScore[i] = score;
    this.hLeft[i] = left;
    this.hRight[i] = right;
    this.hId[i] = id;
    this.hVerL[i] = this.ver[left];
    this.hVerR[i] = this.ver[right];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private pop(): void {
    this.size--;
    if (this.size === 0) return;
    this.swap(0, this.size);
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < this.size && this.less(l, m)) m = l;
      if (r < this.size && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }

  /** Merges `ids` in place semantics and appends the result to `out`. */
  merge(ids: number[], out: number[]): void {
    const n = ids.length;
    if (n === 0) return;
    if (n === 1) { out.push(ids[0]); return; }
    this.ensure(n);
    for (let i = 0; i < n; i++) {
      this.tok[i] = ids[i];
      this.prev[i] = i - 1;
      this.next[i] = i + 1 < n ? i + 1 : -1;
      this.ver[i] = 0;
    }
    this.size = 0;
    for (let i = 0; i + 1 < n; i++) this.push(i, i + 1);
    while (this.size > 0) {
      const left = this.hLeft[0], right = this.hRight[0], id = this.hId[0];
      const valid = this.ver[left] === this.hVerL[0] && this.ver[right] === this.hVerR[0] && this.next[left] === right;
      this.pop();
      if (!valid) continue;
      // Merge right into left.
      this.tok[left] = id;
      this.ver[left]++;
      this.ver[right] = -1 - this.ver[right]; // dead: never matches a stored stamp again
      const nr = this.next[right];
      this.next[left] = nr;
      if (nr >= 0) this.prev[nr] = left;
      const pl = this.prev[left];
      if (pl >= 0) this.push(pl, left);
      if (nr >= 0) this.push(left, nr);
    }
    for (let i = 0; i >= 0; i = this.next[i]) out.push(this.tok[i]);
  }
}
