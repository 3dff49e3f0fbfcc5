/**
 * Caption generation by beam search, following unilm's CaptioningHandler.eval_batch step by step
 * (see fixtures/beit3-ref/e2e/README.md §7): every call feeds [previous word, <mask>] and reads
 * the prediction at the <mask>; TOPN_PER_BEAM·num_beams candidates per image, hypotheses closed
 * by </s> or the length limit (the word itself not appended, so they end in the <mask>
 * placeholder), scored sum_logprobs / len(hyp)^length_penalty, no early stopping, num_keep_best 1.
 * `numBeams: 1` is the handler run with --num_beams 1 (greedy: the best word each step).
 *
 * The numbers (log-softmax, beam scores, top-k over beams × vocab, cache reordering) run inside
 * the decoder's step graph (decoder.ts); this loop only does the beam bookkeeping. The first call
 * runs each image once (not once per beam): beams other than 0 start at −1e9, so step 0's top-k
 * only ever picks from beam 0 and the official result is unchanged.
 */
import { Tensor } from '../../graph/tensor.js';
import { type CaptionPrograms, pastFeeds } from './decoder.js';
import { Beit3Error } from '../../util/errors.js';

export interface BeamOptions {
  /** `<mask>` id of the tokenizer (len(spm) + 1; the fixtures use vocab_size − 1). */
  maskId: number;
  numBeams?: number;
  /** num_max_bpe_tokens (official default 64). */
  maxLen?: number;
  lengthPenalty?: number;
  topnPerBeam?: number;
  bosId?: number;
  eosId?: number;
  padId?: number;
}

export interface BeamResult {
  /** The official `decoded` row: <s> words… <mask> </s> <pad>… (maxLen ids). */
  decodedIds: number[];
  /** Best hypothesis' length-penalized score (sum_logprobs / len ** length_penalty). */
  score: number;
  sumLogprobs: number;
}

export class BeamSearchError extends Beit3Error {
  override name = 'BeamSearchError';
}

/** utils.BeamHypotheses (n_hyp = num_keep_best, early_stopping = False). */
export class BeamHypotheses {
  readonly hyps: { score: number; ids: number[]; sumLogprobs: number }[] = [];
  worstScore = 1e9;
  constructor(
    readonly nHyp: number,
    readonly maxLength: number,
    readonly lengthPenalty: number,
  ) {}
  add(ids: number[], sumLogprobs: number): void {
    const score = sumLogprobs / ids.length ** this.lengthPenalty;
    if (this.hyps.length < this.nHyp || score > this.worstScore) {
      this.hyps.push({ score, ids, sumLogprobs });
      if (this.hyps.length > this.nHyp) {
        const sorted = this.hyps
          .map((h, i) => [h.score, i] as const)
          .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        this.hyps.splice(sorted[0][1], 1);
        this.worstScore = sorted[1][0];
      } else this.worstScore = Math.min(score, this.worstScore);
    }
  }
  isDone(bestSumLogprobs: number): boolean {
    if (this.hyps.length < this.nHyp) return false;
    return this.worstScore >= bestSumLogprobs / this.maxLength ** this.lengthPenalty;
  }
  best(): { score: number; ids: number[]; sumLogprobs: number } | undefined {
    return this.hyps.reduce<(typeof this.hyps)[number] | undefined>(
      (a, h) => (!a || h.score > a.score ? h : a),
      undefined,
    );
  }
}

/** Indices of the k largest values, largest first, lower index first on ties (partial selection). */
function topk(v: Float32Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < v.length; i++) {
    if (best.length === k && v[i] <= v[best[k - 1]]) continue;
    let j = best.length < k ? best.length : k - 1;
    if (best.length < k) best.push(i);
    while (j > 0 && v[best[j - 1]] < v[i]) {
      best[j] = best[j - 1];
      j--;
    }
    best[j] = i;
  }
  return best;
}

/** text_ids (rows, 2) = [word, <mask>] per row. */
function wordAndMask(words: readonly number[], mask: number): Tensor {
  return Tensor.i64(
    [words.length, 2],
    words.flatMap((w) => [w, mask]),
  );
}

/** Beam search over preprocessed images (B, 3, S, S); one result per image. */
export async function captionBeamSearch(
  programs: CaptionPrograms,
  images: Tensor,
  opts: BeamOptions,
): Promise<BeamResult[]> {
  const nb = opts.numBeams ?? 3;
  const maxLen = opts.maxLen ?? 64;
  const topn = opts.topnPerBeam ?? 3;
  const { maskId: MASK } = opts;
  const BOS = opts.bosId ?? 0;
  const EOS = opts.eosId ?? 2;
  const PAD = opts.padId ?? 1;
  if (!Number.isInteger(nb) || nb < 1)
    throw new BeamSearchError(`numBeams must be a positive integer, got ${nb}`);
  if (!Number.isInteger(maxLen) || maxLen < 3)
    throw new BeamSearchError(`maxLen must be an integer ≥ 3, got ${maxLen}`);
  const B = images.shape[0];
  const R = B * nb;
  const K = topn * nb;
  const hyps = Array.from({ length: B }, () => new BeamHypotheses(1, maxLen - 1, opts.lengthPenalty ?? 0.6));
  const done = new Array<boolean>(B).fill(false);
  let results = Array.from({ length: R }, () => [BOS, ...new Array<number>(maxLen - 1).fill(MASK)]);
  let beamScores = new Float32Array(R);
  let words = new Array<number>(R).fill(BOS);
  let srcRows: number[] = [];
  let past: Record<string, Tensor> = {};
  let V = 0;
  const [firstProg, stepProg] = await Promise.all([programs.first(), programs.step(nb, K)]);
  for (let cur = 2; cur <= maxLen; cur++) {
    const first = cur === 2;
    let nextScores: Float32Array;
    let nextWords: BigInt64Array | number[];
    if (first) {
      const out = await firstProg.run({ image: images, text_ids: wordAndMask(words.slice(0, B), MASK) });
      V = out.logprobs.shape[1];
      if (K > V) throw new BeamSearchError(`topn_per_beam × numBeams = ${K} exceeds the vocabulary (${V})`);
      // beams > 0 start at −1e9: step 0's top-k comes from beam 0 (word index = idx, beam 0)
      const lp = out.logprobs.data as Float32Array;
      nextScores = new Float32Array(B * K);
      nextWords = new Array<number>(B * K);
      for (let b = 0; b < B; b++) {
        const rowLp = lp.subarray(b * V, (b + 1) * V);
        topk(rowLp, K).forEach((w, j) => {
          nextScores[b * K + j] = rowLp[w];
          (nextWords as number[])[b * K + j] = w;
        });
      }
      past = pastFeeds(out);
    } else {
      const out = await stepProg.run({
        text_ids: wordAndMask(words, MASK),
        text_len: Tensor.scalar(cur, 'int64'),
        src: Tensor.i64([R], srcRows),
        beam_scores: new Tensor('float32', [R], beamScores),
        ...past,
      });
      nextScores = out.next_scores.data as Float32Array;
      nextWords = out.next_words.data as BigInt64Array;
      past = pastFeeds(out);
    }
    const chosen: [number, number, number][] = [];
    for (let b = 0; b < B; b++) {
      const sc = nextScores.subarray(b * K, (b + 1) * K);
      let best = -Infinity;
      for (const v of sc) best = Math.max(best, v);
      done[b] = done[b] || hyps[b].isDone(best);
      if (done[b]) {
        for (let i = 0; i < nb; i++) chosen.push([0, PAD, 0]);
        continue;
      }
      const beam: [number, number, number][] = [];
      for (let j = 0; j < K; j++) {
        const idx = Number(nextWords[b * K + j]);
        const beamId = Math.floor(idx / V);
        const word = idx % V;
        if ((word === EOS && cur + 1 <= maxLen) || cur + 1 === maxLen)
          hyps[b].add(results[b * nb + beamId].slice(0, cur), sc[j]);
        else beam.push([sc[j], word, b * nb + beamId]);
        if (beam.length === nb) break;
      }
      if (!beam.length) for (let i = 0; i < nb; i++) beam.push([0, PAD, 0]);
      chosen.push(...beam);
    }
    beamScores = Float32Array.from(chosen, (c) => c[0]);
    words = chosen.map((c) => c[1]);
    const src = chosen.map((c) => c[2]);
    results = src.map((r) => results[r].slice());
    results.forEach((row, r) => (row[cur - 1] = words[r]));
    // cache rows: the first call ran one row per image, later calls one row per beam
    srcRows = first ? src.map((r) => Math.floor(r / nb)) : src;
    if (done.every(Boolean)) break;
  }
  return hyps.map((h) => {
    const best = h.best();
    if (!best) throw new BeamSearchError(`beam search produced no hypothesis (maxLen ${maxLen} too small?)`);
    const decodedIds = [...best.ids, EOS];
    while (decodedIds.length < maxLen) decodedIds.push(PAD);
    return { decodedIds, score: best.score, sumLogprobs: best.sumLogprobs };
  });
}
