// The two segmentation algorithms over normalized text, following the official encoders:
// Unigram = Viterbi best path (unigram_model.cc EncodeOptimized, float32 scores, same tie-breaking);
// BPE = greedy highest-score merge with a priority queue (bpe_model.cc).
import { ByteTrie } from './byte-trie.js';
import { PieceType, type ModelPiece } from './model-proto.js';
import { utf8CharLength, utf8Encode } from './utf8.js';

/** One output piece as a byte range [start, end) of the normalized UTF-8 text, with its id. */
export type Segment = [start: number, end: number, id: number];

const UNK_PENALTY = 10.0;
const FLT_MAX = 3.4028234663852886e38;
const FLT_MIN = 1.1754943508222875e-38; // C++ FLT_MIN: the smallest normal float, not the most negative
const f32 = Math.fround;

export class UnigramSegmenter {
  private readonly trie = new ByteTrie();
  private readonly scores: Float32Array;
  private readonly userDefined: Uint8Array;
  private readonly unused: Uint8Array;
  private readonly unkScore: number;
  private readonly maxScore: number;

  constructor(
    pieces: readonly ModelPiece[],
    private readonly unkId: number,
  ) {
    this.scores = Float32Array.from(pieces, (p) => p.score);
    this.userDefined = Uint8Array.from(pieces, (p) => (p.type === PieceType.USER_DEFINED ? 1 : 0));
    this.unused = Uint8Array.from(pieces, (p) => (p.type === PieceType.UNUSED ? 1 : 0));
    let minScore = FLT_MAX;
    let maxScore = FLT_MIN;
    pieces.forEach((p, id) => {
      if (p.type === PieceType.NORMAL) {
        minScore = Math.min(minScore, p.score);
        maxScore = Math.max(maxScore, p.score);
      }
      if (p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED || p.type === PieceType.UNUSED)
        this.trie.insert(utf8Encode(p.piece), id);
    });
    this.unkScore = f32(minScore - UNK_PENALTY);
    this.maxScore = maxScore;
  }

  /** Best segmentation; time O(length × longest piece). */
  encode(norm: Uint8Array): Segment[] {
    const len = norm.length;
    if (len === 0) return [];
    const best = new Float32Array(len + 1);
    const startsAt = new Int32Array(len + 1).fill(-1);
    const ids = new Int32Array(len + 1).fill(-1);
    const { trie, scores, userDefined, unused } = this;

    for (let start = 0; start < len;) {
      const tillHere = best[start];
      const mblen = Math.min(utf8CharLength(norm[start]), len - start);
      let hasSingleNode = false;
      let node = 0;
      for (let pos = start; pos < len; pos++) {
        node = trie.child(node, norm[pos]);
        if (node < 0) break;
        const id = trie.value(node);
        if (id < 0 || unused[id]) continue;
        const length = pos + 1 - start;
        // As in the C++ (`auto` over a ternary with a double branch): the candidate is computed and
        // compared in double precision, then stored as float. This decides exact ties.
        const score = userDefined[id] ? f32(length * this.maxScore) - 0.1 : scores[id];
        const candidate = score + tillHere;
        const end = pos + 1;
        if (startsAt[end] === -1 || candidate > best[end]) {
          best[end] = candidate; // Float32Array rounds
          startsAt[end] = start;
          ids[end] = id;
        }
        if (length === mblen) hasSingleNode = true;
      }
      if (!hasSingleNode) {
        const end = start + mblen;
        const candidate = f32(this.unkScore + tillHere); // float + float in the C++
        if (startsAt[end] === -1 || candidate > best[end]) {
          best[end] = candidate;
          startsAt[end] = start;
          ids[end] = this.unkId;
        }
      }
      start += mblen;
    }

    const out: Segment[] = [];
    for (let end = len; end > 0; end = startsAt[end]) out.push([startsAt[end], end, ids[end]]);
    return out.reverse();
  }
}

interface BpeSymbol {
  prev: number;
  next: number;
  freeze: boolean;
  start: number; // code-unit range in the normalized string
  end: number;
}

interface BpePair {
  left: number;
  right: number;
  score: number;
  size: number;
}

/** Max-heap on (score desc, left asc), the order of the official priority queue. */
class PairHeap {
  private readonly items: BpePair[] = [];
  get size(): number {
    return this.items.length;
  }
  private before(a: BpePair, b: BpePair): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }
  push(p: BpePair): void {
    const a = this.items;
    a.push(p);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(a[i], a[parent])) break;
      [a[i], a[parent]] = [a[parent], a[i]];
      i = parent;
    }
  }
  pop(): BpePair {
    const a = this.items;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.before(a[l], a[m])) m = l;
        if (r < a.length && this.before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

export class BpeSegmenter {
  private readonly userSymbolLengths: number[];

  constructor(
    private readonly pieces: readonly ModelPiece[],
    /** piece → id for NORMAL, USER_DEFINED and UNUSED pieces (the ones merges may produce). */
    private readonly mergeable: ReadonlyMap<string, number>,
    private readonly userSymbols: ReadonlySet<string>,
    private readonly pieceToId: (piece: string) => number,
  ) {
    this.userSymbolLengths = [...new Set([...userSymbols].map((s) => s.length))].sort((a, b) => b - a);
  }

  /** Returns [piece, id] pairs in order (unknown pieces get the unk id). O(n log n). */
  encode(norm: string): [string, number][] {
    if (norm.length === 0) return [];
    const symbols: BpeSymbol[] = [];
    // Split into characters; user-defined symbols are single frozen symbols.
    for (let i = 0; i < norm.length;) {
      let n = 0;
      let freeze = false;
      for (const l of this.userSymbolLengths) {
        if (this.userSymbols.has(norm.slice(i, i + l))) {
          n = l;
          freeze = true;
          break;
        }
      }
      if (n === 0) n = norm.codePointAt(i)! > 0xffff ? 2 : 1;
      const index = symbols.length;
      symbols.push({
        prev: index - 1,
        next: i + n < norm.length ? index + 1 : -1,
        freeze,
        start: i,
        end: i + n,
      });
      i += n;
    }

    const heap = new PairHeap();
    const revMerge = new Map<string, [string, string]>();
    const maybeAdd = (left: number, right: number): void => {
      if (left === -1 || right === -1 || symbols[left].freeze || symbols[right].freeze) return;
      const piece = norm.slice(symbols[left].start, symbols[right].end);
      const id = this.mergeable.get(piece);
      if (id === undefined) return;
      heap.push({ left, right, score: this.pieces[id].score, size: piece.length });
      if (this.pieces[id].type === PieceType.UNUSED)
        revMerge.set(piece, [
          norm.slice(symbols[left].start, symbols[left].end),
          norm.slice(symbols[right].start, symbols[right].end),
        ]);
    };
    for (let i = 1; i < symbols.length; i++) maybeAdd(i - 1, i);

    while (heap.size > 0) {
      const top = heap.pop();
      const l = symbols[top.left];
      const r = symbols[top.right];
      const lSize = l.end - l.start;
      const rSize = r.end - r.start;
      // Stale entry: one side was merged away or has grown since the pair was queued.
      if (lSize === 0 || rSize === 0 || lSize + rSize !== top.size) continue;
      l.end = r.end;
      l.next = r.next;
      if (r.next >= 0) symbols[r.next].prev = top.left;
      r.start = r.end; // empty
      maybeAdd(l.prev, top.left);
      maybeAdd(top.left, l.next);
    }

    const out: [string, number][] = [];
    const resegment = (w: string): void => {
      const id = this.pieceToId(w);
      const split = this.pieces[id]?.type === PieceType.UNUSED ? revMerge.get(w) : undefined;
      if (!split) {
        out.push([w, id]);
        return;
      }
      resegment(split[0]);
      resegment(split[1]);
    };
    for (let i = 0; i !== -1; i = symbols[i].next) resegment(norm.slice(symbols[i].start, symbols[i].end));
    return out;
  }
}
