// Unigram SentencePiece training, following the official algorithm (Kudo 2018; unigram_model_trainer.cc):
// normalize lines, keep the characters that cover `characterCoverage` of the text (the rest become
// unknown), split into whitespace-prefixed words, seed with frequent substrings, then alternate EM
// (expected piece counts by forward-backward over each word's lattice; digamma M-step) with pruning
// the pieces whose removal loses the least likelihood, until vocabSize × 1.1 remain; finally keep
// the best vocabSize pieces plus every required character. Output is an official-format model.
import { TrainerError } from '../errors.js';
import {
  ModelType,
  PieceType,
  type ModelPiece,
  type ModelProtoData,
  type NormalizerSpec,
} from '../model-proto.js';
import { Normalizer } from '../normalizer.js';
import { nmtNfkcCharsmap } from '../nmt-nfkc-charsmap.js';
import { scriptOf } from './unicode-script.js';
import type { ProgressCallback, ProgressEvent } from '../../util/progress.js';

const WS = 0x2581; // '▁'
const UNK_CHAR = 0x2585; // stands for characters outside the covered set during training
const UNK_PENALTY = 10;
const EXPECTED_FREQUENCY_THRESHOLD = 0.5;
const MIN_SCORE_PENALTY_DELTA = 0.0001;

export interface UnigramTrainerOptions {
  vocabSize: number;
  /** Fraction of characters (by count) the alphabet must cover; the rest are unknown. Default 0.9995. */
  characterCoverage?: number;
  /** Longest piece in characters. Default 16. */
  maxPieceLength?: number;
  /** Number of seed pieces. Default 1,000,000. */
  seedSize?: number;
  /** Fraction of pieces kept by each pruning round. Default 0.75. */
  shrinkingFactor?: number;
  /** EM iterations between pruning rounds. Default 2. */
  numSubIterations?: number;
  /** Lines longer than this many UTF-8 bytes are skipped. Default 4192. */
  maxSentenceLength?: number;
  /** Normalizer; default nmt_nfkc (the official default) with dummy prefix and whitespace clean-up. */
  normalizerSpec?: NormalizerSpec;
  /**
   * Progress as util ProgressEvents of stage 'train': 'start' once the corpus is loaded
   * (metrics.sentences), 'progress' after seeding, each EM sub-iteration and each pruning
   * (message 'seed' | 'em' | 'prune'; metrics pieces, words, objective), 'done' (metrics.pieces).
   */
  onProgress?: ProgressCallback;
}

/** A progress event of the trainer (see UnigramTrainerOptions.onProgress). */
export type TrainProgress = ProgressEvent;

interface WordTable {
  words: Int32Array[]; // code points
  freqs: Float64Array;
}

/** Pieces of the model being trained, with a code-point trie for building lattices. */
class TrainerModel {
  readonly pieces: string[];
  readonly scores: Float64Array;
  readonly minScore: number;
  private readonly edges = new Map<number, number>();
  private readonly values: number[] = [-1];

  constructor(pieces: [string, number][]) {
    if (pieces.length === 0) throw new TrainerError('no pieces left during training');
    this.pieces = pieces.map((p) => p[0]);
    this.scores = Float64Array.from(pieces, (p) => p[1]);
    let min = Infinity;
    pieces.forEach(([piece, score], id) => {
      min = Math.min(min, score);
      let node = 0;
      for (const ch of piece) {
        const key = node * 0x110000 + ch.codePointAt(0)!;
        let next = this.edges.get(key);
        if (next === undefined) {
          next = this.values.length;
          this.values.push(-1);
          this.edges.set(key, next);
        }
        node = next;
      }
      this.values[node] = id;
    });
    this.minScore = min;
  }

  /** Appends the lattice nodes of `word` (begin-ordered) to `lat`; unknown single chars get id -1. */
  populate(word: Int32Array, lat: Lattice, exclude = -1): void {
    lat.reset(word.length);
    const unkScore = this.minScore - UNK_PENALTY;
    for (let b = 0; b < word.length; b++) {
      let node = 0;
      let hasSingle = false;
      for (let e = b; e < word.length; e++) {
        const next = this.edges.get(node * 0x110000 + word[e]);
        if (next === undefined) break;
        node = next;
        const id = this.values[node];
        if (id < 0) continue;
        if (e === b) hasSingle = true;
        if (id === exclude) continue;
        lat.add(b, e + 1, id, this.scores[id]);
      }
      if (!hasSingle) lat.add(b, b + 1, -1, unkScore);
    }
  }
}

/** Nodes of one word's segmentation lattice, stored column-wise and reused between words. */
class Lattice {
  n = 0;
  size = 0;
  begin = new Int32Array(256);
  end = new Int32Array(256);
  id = new Int32Array(256);
  score = new Float64Array(256);
  alpha = new Float64Array(64);
  beta = new Float64Array(64);
  back = new Int32Array(64);

  reset(length: number): void {
    this.n = length;
    this.size = 0;
    if (this.alpha.length < length + 1) {
      this.alpha = new Float64Array(2 * (length + 1));
      this.beta = new Float64Array(2 * (length + 1));
      this.back = new Int32Array(2 * (length + 1));
    }
  }

  add(b: number, e: number, id: number, score: number): void {
    if (this.size === this.begin.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T): T => {
        const next = new (a.constructor as new (n: number) => T)(a.length * 2);
        next.set(a);
        return next;
      };
      this.begin = grow(this.begin);
      this.end = grow(this.end);
      this.id = grow(this.id);
      this.score = grow(this.score);
    }
    const k = this.size++;
    this.begin[k] = b;
    this.end[k] = e;
    this.id[k] = id;
    this.score[k] = score;
  }

  /** Adds freq × marginal of every node to `expected`; returns log Z. */
  marginals(freq: number, expected: Float64Array): number {
    const { n, size, begin, end, score, alpha, beta } = this;
    alpha.fill(-Infinity, 0, n + 1);
    beta.fill(-Infinity, 0, n + 1);
    alpha[0] = 0;
    beta[n] = 0;
    for (let k = 0; k < size; k++) alpha[end[k]] = logAddExp(alpha[end[k]], alpha[begin[k]] + score[k]);
    for (let k = size - 1; k >= 0; k--) beta[begin[k]] = logAddExp(beta[begin[k]], score[k] + beta[end[k]]);
    const z = alpha[n];
    for (let k = 0; k < size; k++) {
      const id = this.id[k];
      if (id >= 0) expected[id] += freq * Math.exp(alpha[begin[k]] + score[k] + beta[end[k]] - z);
    }
    return z;
  }

  /** Best path as node indices (in order), or null when the lattice has no complete path. */
  viterbi(): number[] | null {
    const { n, size, begin, end, score, alpha, back } = this;
    alpha.fill(-Infinity, 0, n + 1);
    alpha[0] = 0;
    for (let k = 0; k < size; k++) {
      const s = alpha[begin[k]] + score[k];
      if (s > alpha[end[k]]) {
        alpha[end[k]] = s;
        back[end[k]] = k;
      }
    }
    if (alpha[n] === -Infinity) return null;
    const path: number[] = [];
    for (let pos = n; pos > 0; pos = begin[back[pos]]) path.push(back[pos]);
    return path.reverse();
  }
}

function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/** ψ(x), the same series the official trainer uses for the Bayesian M-step. */
function digamma(x: number): number {
  let result = 0;
  for (; x < 7; ++x) result -= 1 / x;
  x -= 0.5;
  const xx = 1 / x;
  const xx2 = xx * xx;
  const xx4 = xx2 * xx2;
  return (
    result + Math.log(x) + xx2 / 24 - (7 / 960) * xx4 + (31 / 8064) * xx4 * xx2 - (127 / 30720) * xx4 * xx4
  );
}

/** Sort by value desc, then key asc (the official `Sorted`, which makes training deterministic). */
function sortedByValue<K extends string | number>(entries: Iterable<[K, number]>): [K, number][] {
  return [...entries].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

export class UnigramTrainer {
  private readonly o: Required<Omit<UnigramTrainerOptions, 'onProgress' | 'normalizerSpec'>>;
  private readonly normalizerSpec: NormalizerSpec;
  private readonly progress: ProgressCallback;
  private requiredChars: [number, number][] = [];

  constructor(options: UnigramTrainerOptions) {
    this.o = {
      vocabSize: options.vocabSize,
      characterCoverage: options.characterCoverage ?? 0.9995,
      maxPieceLength: options.maxPieceLength ?? 16,
      seedSize: options.seedSize ?? 1_000_000,
      shrinkingFactor: options.shrinkingFactor ?? 0.75,
      numSubIterations: options.numSubIterations ?? 2,
      maxSentenceLength: options.maxSentenceLength ?? 4192,
    };
    const { vocabSize, characterCoverage, shrinkingFactor } = this.o;
    if (!Number.isInteger(vocabSize) || vocabSize < 4)
      throw new TrainerError(`vocabSize must be an integer ≥ 4, got ${vocabSize}`);
    if (!(characterCoverage > 0 && characterCoverage <= 1))
      throw new TrainerError(`characterCoverage must be in (0, 1], got ${characterCoverage}`);
    if (!(shrinkingFactor > 0 && shrinkingFactor < 1))
      throw new TrainerError(`shrinkingFactor must be in (0, 1), got ${shrinkingFactor}`);
    this.normalizerSpec = options.normalizerSpec ?? {
      name: 'nmt_nfkc',
      precompiledCharsmap: nmtNfkcCharsmap(),
    };
    this.progress = options.onProgress ?? (() => {});
  }

  train(lines: Iterable<string>): ModelProtoData {
    const table = this.loadWords(lines);
    let pieces = this.seedPieces(table);
    this.progress({ status: 'progress', stage: 'train', message: 'seed', metrics: { pieces: pieces.length, words: table.words.length } });
    const desired = Math.floor(this.o.vocabSize * 1.1);
    const lattice = new Lattice();
    let model = new TrainerModel(pieces);
    for (;;) {
      for (let iter = 0; iter < this.o.numSubIterations; iter++) {
        const { expected, objective } = this.eStep(model, table, lattice);
        pieces = this.mStep(model, expected);
        model = new TrainerModel(pieces);
        this.progress({ status: 'progress', stage: 'train', message: 'em', metrics: { pieces: pieces.length, objective } });
      }
      if (pieces.length <= desired) break;
      const before = pieces.length;
      pieces = this.prune(model, table, lattice, desired);
      model = new TrainerModel(pieces);
      // Nothing left to prune (e.g. the alphabet alone exceeds the vocabulary): stop, finalize reports it.
      if (pieces.length >= before) break;
      this.progress({ status: 'progress', stage: 'train', message: 'prune', metrics: { pieces: pieces.length } });
    }
    const result = this.finalize(model);
    this.progress({ status: 'done', stage: 'train', metrics: { pieces: result.pieces.length } });
    return result;
  }

  /** Normalizes lines, fixes the alphabet by character coverage, and counts '▁'-prefixed words. */
  private loadWords(lines: Iterable<string>): WordTable {
    const normalizer = new Normalizer(this.normalizerSpec);
    const encoder = new TextEncoder();
    const sentences: string[] = [];
    const charCount = new Map<number, number>();
    let total = 0;
    for (const line of lines) {
      if (line.length === 0) continue;
      if (
        line.length * 3 > this.o.maxSentenceLength &&
        encoder.encode(line).length > this.o.maxSentenceLength
      )
        continue;
      const norm = normalizer.normalize(line);
      if (norm.length === 0) continue;
      sentences.push(norm);
      for (const ch of norm) {
        const cp = ch.codePointAt(0)!;
        charCount.set(cp, (charCount.get(cp) ?? 0) + 1);
        total++;
      }
    }
    if (sentences.length === 0) throw new TrainerError('the corpus has no non-empty lines');
    this.progress({ status: 'start', stage: 'train', metrics: { sentences: sentences.length } });

    const required = new Map<number, number>();
    let covered = 0;
    for (const [cp, count] of sortedByValue(charCount)) {
      if (covered / total >= this.o.characterCoverage) break;
      covered += count;
      required.set(cp, count);
    }
    this.requiredChars = sortedByValue(required);

    const wordFreq = new Map<string, number>();
    for (const s of sentences) {
      let word = '';
      for (const ch of s) {
        const cp = ch.codePointAt(0)!;
        if (cp === WS && word.length > 0) {
          wordFreq.set(word, (wordFreq.get(word) ?? 0) + 1);
          word = '';
        }
        word += required.has(cp) ? ch : String.fromCodePoint(UNK_CHAR);
      }
      if (word.length > 0) wordFreq.set(word, (wordFreq.get(word) ?? 0) + 1);
    }
    const sorted = sortedByValue(wordFreq);
    return {
      words: sorted.map(([w]) => Int32Array.from(w, (c) => c.codePointAt(0)!)),
      freqs: Float64Array.from(sorted, ([, f]) => f),
    };
  }

  /**
   * Seeds: every character, then the most frequent valid substrings scored by frequency × length
   * (the official trainer gets the same counts from a suffix array over the whole corpus; valid pieces
   * never cross a word boundary, so counting within weighted words is equivalent).
   */
  private seedPieces({ words, freqs }: WordTable): [string, number][] {
    const chars = new Map<number, number>();
    const substrings = new Map<string, number>();
    const maxLen = this.o.maxPieceLength;
    words.forEach((w, wi) => {
      const f = freqs[wi];
      for (const cp of w) if (cp !== UNK_CHAR) chars.set(cp, (chars.get(cp) ?? 0) + f);
      const s = String.fromCodePoint(...w);
      const offsets = codeUnitOffsets(w);
      for (let b = 0; b < w.length; b++) {
        let prevScript = '';
        for (let e = b; e < w.length && e - b < maxLen; e++) {
          const cp = w[e];
          if (cp === UNK_CHAR || (cp === WS && e > b)) break;
          if (cp !== WS) {
            const script = scriptOf(cp);
            if (script !== 'Inherited' && prevScript && prevScript !== script) break;
            if (script !== 'Inherited') prevScript = script;
          }
          if (e > b) {
            const key = s.slice(offsets[b], offsets[e + 1]);
            substrings.set(key, (substrings.get(key) ?? 0) + f);
          }
        }
      }
    });
    const seeds: [string, number][] = sortedByValue(chars).map(([cp, f]) => [String.fromCodePoint(cp), f]);
    const scored: [string, number][] = [];
    for (const [piece, freq] of substrings) if (freq >= 2) scored.push([piece, freq * [...piece].length]);
    substrings.clear();
    for (const [piece, score] of sortedByValue(scored)) {
      if (seeds.length >= this.o.seedSize) break;
      seeds.push([piece, score]);
    }
    const logSum = Math.log(seeds.reduce((a, [, s]) => a + s, 0));
    return seeds.map(([p, s]) => [p, Math.log(s) - logSum]);
  }

  private eStep(
    model: TrainerModel,
    { words, freqs }: WordTable,
    lat: Lattice,
  ): { expected: Float64Array; objective: number } {
    const expected = new Float64Array(model.pieces.length);
    let objective = 0;
    let total = 0;
    words.forEach((w, i) => {
      model.populate(w, lat);
      const z = lat.marginals(freqs[i], expected);
      if (Number.isNaN(z)) throw new TrainerError('likelihood is NaN during training');
      objective -= freqs[i] * z;
      total += freqs[i];
    });
    return { expected, objective: objective / total };
  }

  /** Bayesian-smoothed re-estimation; drops pieces expected less than half a time. */
  private mStep(model: TrainerModel, expected: Float64Array): [string, number][] {
    const kept: [string, number][] = [];
    let sum = 0;
    model.pieces.forEach((piece, id) => {
      const freq = expected[id];
      if (freq < EXPECTED_FREQUENCY_THRESHOLD) return;
      kept.push([piece, freq]);
      sum += freq;
    });
    const logSum = digamma(sum);
    return kept.map(([p, f]) => [p, digamma(f) - logSum]);
  }

  /** Removes the pieces whose loss (likelihood drop when replaced by their second-best split) is smallest. */
  private prune(
    model: TrainerModel,
    { words, freqs }: WordTable,
    lat: Lattice,
    desired: number,
  ): [string, number][] {
    const n = model.pieces.length;
    const alwaysKeep = new Uint8Array(n).fill(1);
    const alternatives: (number[] | undefined)[] = new Array(n);
    model.pieces.forEach((piece, id) => {
      const cps = Int32Array.from(piece, (c) => c.codePointAt(0)!);
      model.populate(cps, lat);
      const best = lat.viterbi();
      if (!best || best.length >= 2) {
        alwaysKeep[id] = best ? 0 : 1; // never used whole: safe to drop
        return;
      }
      // Best path is the piece itself: the second best is the best path without it.
      model.populate(cps, lat, id);
      const second = lat.viterbi();
      if (second) alternatives[id] = second.map((k) => lat.id[k]);
    });

    const freq = new Float64Array(n);
    const sentenceFreq = new Float64Array(n); // Σ frequency of the words whose best path uses the piece
    let vsum = 0;
    words.forEach((w, i) => {
      vsum += freqs[i];
      model.populate(w, lat);
      for (const k of lat.viterbi() ?? []) {
        const id = lat.id[k];
        if (id < 0) continue;
        freq[id] += freqs[i];
        sentenceFreq[id] += freqs[i];
      }
    });
    const sum = freq.reduce((a, b) => a + b, 0);
    const logSum = Math.log(sum);

    const kept: [string, number][] = [];
    const candidates: [number, number][] = [];
    for (let id = 0; id < n; id++) {
      if (freq[id] === 0 || !alwaysKeep[id]) continue;
      const alts = alternatives[id];
      if (!alts || alts.length === 0 || alts.some((a) => a < 0)) {
        kept.push([model.pieces[id], model.scores[id]]);
        continue;
      }
      const f = sentenceFreq[id] / vsum;
      const logProbSp = Math.log(freq[id]) - logSum;
      const logSumAlt = Math.log(sum + freq[id] * (alts.length - 1));
      let logProbAlt = 0;
      for (const a of alts) logProbAlt += Math.log(freq[a] + freq[id]) - logSumAlt;
      candidates.push([id, f * (logProbSp - logProbAlt)]);
    }
    const prunedSize = Math.max(desired, Math.floor(this.o.shrinkingFactor * n));
    for (const [id] of sortedByValue(candidates)) {
      if (kept.length >= prunedSize) break;
      kept.push([model.pieces[id], model.scores[id]]);
    }
    return kept;
  }

  /** The best vocabSize − 3 pieces, every required character included, plus <unk> <s> </s>. */
  private finalize(model: TrainerModel): ModelProtoData {
    const meta: ModelPiece[] = [
      { piece: '<unk>', score: 0, type: PieceType.UNKNOWN },
      { piece: '<s>', score: 0, type: PieceType.CONTROL },
      { piece: '</s>', score: 0, type: PieceType.CONTROL },
    ];
    const target = this.o.vocabSize - meta.length;
    const scoreOf = new Map<string, number>();
    model.pieces.forEach((p, id) => scoreOf.set(p, model.scores[id]));
    const final = new Map<string, number>();
    let penalty = 0;
    for (const [cp] of this.requiredChars) {
      const ch = String.fromCodePoint(cp);
      const s = scoreOf.get(ch);
      if (s !== undefined) final.set(ch, s);
      else {
        final.set(ch, model.minScore + penalty);
        penalty += MIN_SCORE_PENALTY_DELTA;
      }
    }
    if (final.size > target)
      throw new TrainerError(
        `vocabSize ${this.o.vocabSize} is too small: the corpus needs ${final.size} characters plus 3 special pieces (lower characterCoverage or raise vocabSize)`,
      );
    for (const [piece, score] of sortedByValue(scoreOf)) {
      if (final.size >= target) break;
      if (!final.has(piece)) final.set(piece, score);
    }
    const pieces = meta.concat(
      sortedByValue(final).map(([piece, score]) => ({
        piece,
        score: Math.fround(score),
        type: PieceType.NORMAL,
      })),
    );
    return {
      pieces,
      trainerSpec: {
        modelType: ModelType.UNIGRAM,
        vocabSize: this.o.vocabSize,
        characterCoverage: this.o.characterCoverage,
        maxSentencepieceLength: this.o.maxPieceLength,
        seedSentencepieceSize: this.o.seedSize,
        shrinkingFactor: this.o.shrinkingFactor,
        numSubIterations: this.o.numSubIterations,
        maxSentenceLength: this.o.maxSentenceLength,
        unkId: 0,
        bosId: 1,
        eosId: 2,
        padId: -1,
      },
      normalizerSpec: {
        name: this.normalizerSpec.name ?? 'nmt_nfkc',
        precompiledCharsmap: this.normalizerSpec.precompiledCharsmap,
        addDummyPrefix: this.normalizerSpec.addDummyPrefix ?? true,
        removeExtraWhitespaces: this.normalizerSpec.removeExtraWhitespaces ?? true,
        escapeWhitespaces: this.normalizerSpec.escapeWhitespaces ?? true,
      },
    };
  }
}

function codeUnitOffsets(cps: Int32Array): Int32Array {
  const off = new Int32Array(cps.length + 1);
  for (let i = 0; i < cps.length; i++) off[i + 1] = off[i] + (cps[i] > 0xffff ? 2 : 1);
  return off;
}

/** Trains a Unigram model on corpus lines (one sentence per line). */
export function trainUnigram(lines: Iterable<string>, options: UnigramTrainerOptions): ModelProtoData {
  return new UnigramTrainer(options).train(lines);
}
