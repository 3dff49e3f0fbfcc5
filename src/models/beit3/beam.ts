/**
 * Caption generation by beam search, following unilm's CaptioningHandler.eval_batch step by step
 * (see fixtures/beit3-ref/e2e/README.md §7): TOPN_PER_BEAM·num_beams candidates per sentence,
 * hypotheses closed by </s> or the length limit (the word itself not appended), scored
 * sum_logprobs / len(hyp)^length_penalty, no early stopping.
 */
import { Tensor } from '../../graph/tensor.js';
import { type CaptionDecoder, type HostCache, selectRows, takeRows, trimCache } from './decoder.js';

export interface BeamOptions {
  /** `<mask>` id of the tokenizer (len(spm) + 1; the fixtures use vocab_size − 1). */
  maskId: number;
  numBeams?: number;
  /** num_max_bpe_tokens (official default 64). */
  maxLen?: number;
  lengthPenalty?: number;
  topnPerBeam?: number;
  numKeepBest?: number;
  bosId?: number;
  eosId?: number;
  padId?: number;
}

/** utils.BeamHypotheses (n_hyp best, early_stopping=False). */
class BeamHypotheses {
  readonly hyps: { score: number; ids: number[] }[] = [];
  worstScore = 1e9;
  constructor(
    readonly nHyp: number,
    readonly maxLength: number,
    readonly lengthPenalty: number,
  ) {}
  add(ids: number[], sumLogprobs: number): void {
    const score = sumLogprobs / ids.length ** this.lengthPenalty;
    if (this.hyps.length < this.nHyp || score > this.worstScore) {
      this.hyps.push({ score, ids });
      if (this.hyps.length > this.nHyp) {
        const order = this.hyps
          .map((h, i) => [h.score, i] as const)
          .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        this.hyps.splice(order[0][1], 1);
        this.worstScore = order[1][0];
      } else this.worstScore = Math.min(score, this.worstScore);
    }
  }
  isDone(best: number): boolean {
    if (this.hyps.length < this.nHyp) return false;
    return this.worstScore >= best / this.maxLength ** this.lengthPenalty;
  }
}

export interface BeamResult {
  /** Per image: best hypothesis + </s>, padded with <pad> to maxLen (official `decoded` rows). */
  decoded: number[][];
  scores: number[];
}

/** Top-k (value desc, index asc on ties) of a row. */
function topk(row: Float32Array, k: number): { idx: number[]; val: number[] } {
  const idx: number[] = [];
  for (let i = 0; i < row.length; i++) {
    if (idx.length < k) {
      idx.push(i);
      if (idx.length === k) idx.sort((a, b) => row[b] - row[a] || a - b);
    } else if (row[i] > row[idx[k - 1]]) {
      let j = k - 1;
      while (j > 0 && row[idx[j - 1]] < row[i]) j--;
      idx.splice(j, 0, i);
      idx.pop();
    }
  }
  if (idx.length < k) idx.sort((a, b) => row[b] - row[a] || a - b);
  return { idx, val: idx.map((i) => row[i]) };
}

export async function captionBeamSearch(
  dec: CaptionDecoder,
  image: Tensor,
  opts: BeamOptions,
): Promise<BeamResult> {
  const nb = opts.numBeams ?? 3;
  const maxLen = opts.maxLen ?? 64;
  const lp = opts.lengthPenalty ?? 0.6;
  const topn = opts.topnPerBeam ?? 3;
  const { maskId: MASK } = opts;
  const BOS = opts.bosId ?? 0;
  const EOS = opts.eosId ?? 2;
  const PAD = opts.padId ?? 1;
  const B = image.shape[0];
  const rows = B * nb;
  const rowImage = takeRows(
    image,
    Array.from({ length: rows }, (_, r) => Math.floor(r / nb)),
  );
  let results = Array.from({ length: rows }, () => [BOS, ...Array(maxLen - 1).fill(MASK)] as number[]);
  let words = Array(rows).fill(BOS) as number[];
  const hyps = Array.from({ length: B }, () => new BeamHypotheses(opts.numKeepBest ?? 1, maxLen - 1, lp));
  let beamScores = new Float32Array(rows).map((_, r) => (r % nb === 0 ? 0 : -1e9));
  const done = Array(B).fill(false) as boolean[];
  let cache: HostCache[] = [];
  for (let curLen = 2; curLen <= maxLen; curLen++) {
    const ids = Tensor.i64(
      [rows, 2],
      words.flatMap((w) => (curLen === 2 ? [BOS, MASK] : [w, MASK])),
    );
    const out = curLen === 2 ? await dec.first(rowImage, ids) : await dec.step(ids, curLen, cache);
    const V = out.logits.shape[2];
    const logits = out.logits.data as Float32Array;
    const chosen: [number, number, number][] = [];
    for (let b = 0; b < B; b++) {
      // log_softmax of the <mask> position, plus the beam's score, over nb·V candidates (float32).
      const s = new Float32Array(nb * V);
      for (let k = 0; k < nb; k++) {
        const r = b * nb + k;
        const base = (r * 2 + 1) * V;
        let m = -Infinity;
        for (let c = 0; c < V; c++) m = Math.max(m, logits[base + c]);
        let z = 0;
        for (let c = 0; c < V; c++) z += Math.exp(logits[base + c] - m);
        const lse = m + Math.log(z);
        for (let c = 0; c < V; c++)
          s[k * V + c] = Math.fround(Math.fround(logits[base + c] - lse) + beamScores[r]);
      }
      const { idx, val } = topk(s, topn * nb);
      done[b] = done[b] || hyps[b].isDone(Math.max(...val));
      if (done[b]) {
        for (let k = 0; k < nb; k++) chosen.push([0, PAD, 0]);
        continue;
      }
      const beam: [number, number, number][] = [];
      for (let j = 0; j < idx.length; j++) {
        const beamId = Math.floor(idx[j] / V);
        const word = idx[j] % V;
        const src = b * nb + beamId;
        if ((word === EOS && curLen + 1 <= maxLen) || curLen + 1 === maxLen)
          hyps[b].add(results[src].slice(0, curLen), val[j]);
        else beam.push([val[j], word, src]);
        if (beam.length === nb) break;
      }
      if (!beam.length) for (let k = 0; k < nb; k++) beam.push([0, PAD, 0]);
      chosen.push(...beam);
    }
    beamScores = Float32Array.from(chosen.map((c) => c[0]));
    words = chosen.map((c) => c[1]);
    const src = chosen.map((c) => c[2]);
    results = src.map((r) => [...results[r]]);
    cache = trimCache(selectRows(out.caches, src));
    results.forEach((row, r) => (row[curLen - 1] = words[r]));
    if (done.every(Boolean)) break;
  }
  const decoded: number[][] = [];
  const scores: number[] = [];
  for (const h of hyps) {
    const best = h.hyps.reduce(
      (a, x) => (x.score > a.score ? x : a),
      h.hyps[0] ?? { score: -Infinity, ids: [BOS] },
    );
    const row = [...best.ids, EOS];
    while (row.length < maxLen) row.push(PAD);
    decoded.push(row);
    scores.push(best.score);
  }
  return { decoded, scores };
}
