/**
 * Image captioning (BEiT3ForCaptioning) with the official masked decoding loop
 * (unilm engine_for_finetuning.CaptioningHandler.eval_batch): every call feeds
 * [previous word, <mask>] and reads the prediction at the <mask>; beam search with
 * TOPN_PER_BEAM candidates per beam, BeamHypotheses with length penalty, hypotheses ending in the
 * <mask> placeholder, and the final row `hyp + </s> + <pad>…` decoded with HF batch_decode.
 * `numBeams: 1` is the handler run with --num_beams 1 (greedy: the best word each step).
 *
 * Two compiled graphs. `first`: image + [<s>, <mask>] → log-probs at the mask + key/value caches.
 * `step`: reorders the previous caches by beam source row and drops their <mask> entry (Gather +
 * Slice inside ORT, no host copies), runs one step, adds the running beam scores and takes the
 * top-k over (beams × vocab) — so the host loop only does the beam bookkeeping. The first call
 * runs each image once (not once per beam): beams other than 0 start at −1e9, so step 0's top-k
 * only ever picks from beam 0 and the official result is unchanged.
 */
import { Tensor } from '../graph/tensor.js';
import type { Beit3ForCaptioning } from '../models/beit3/heads/captioning.js';
import { EOS_ID, PAD_ID } from '../text/beit3-tokenizer.js';
import { type ImageInput, Pipeline, type PipelineOptions } from './base.js';
import type { GenerationSettings } from './config.js';
import { TaskInputError } from './errors.js';
import { captionFirstSpec, captionStepSpec } from './graphs.js';
import { compileSpec, type LoadedModel } from './model.js';
import type { TaskSession } from './session.js';

export interface CaptionResult {
  caption: string;
  /** Caption without HF's clean_up_tokenization step. */
  captionNoCleanup: string;
  /** The official `decoded` row: <s> words… <mask> </s> <pad>… (max_len ids). */
  decodedIds: number[];
  /** Best hypothesis' length-penalized score (sum_logprobs / len ** length_penalty). */
  score: number;
  sumLogprobs: number;
}

export type CaptionOptions = Partial<GenerationSettings>;

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

export class CaptioningPipeline extends Pipeline {
  private firstSess?: Promise<TaskSession>;
  private readonly stepSess = new Map<string, Promise<TaskSession>>();

  static async create(loaded: LoadedModel, options: PipelineOptions = {}): Promise<CaptioningPipeline> {
    return new CaptioningPipeline(loaded, options);
  }

  private get m(): Beit3ForCaptioning {
    return this.loaded.model as Beit3ForCaptioning;
  }

  private track(p: Promise<TaskSession>): Promise<TaskSession> {
    return p.then((s) => (this.sessions.push(s), s));
  }

  private first(): Promise<TaskSession> {
    this.firstSess ??= this.track(compileSpec(this.m, captionFirstSpec(this.m, this.config), this.options));
    return this.firstSess;
  }

  /** The step graph for `numBeams` beams and k = topn·numBeams candidates per image. */
  private step(numBeams: number, k: number): Promise<TaskSession> {
    const key = `${numBeams}/${k}`;
    let p = this.stepSess.get(key);
    if (!p) {
      p = this.track(compileSpec(this.m, captionStepSpec(this.m, this.config, numBeams, k), this.options));
      this.stepSess.set(key, p);
    }
    return p;
  }

  /** Step-0 logits at the <mask> position (N, V): what the e2e reference stores as step0.logits. */
  async firstLogits(images: Tensor): Promise<Tensor> {
    const B = images.shape[0];
    const ids = new BigInt64Array(2 * B);
    const mask = (await this.tokenizer()).maskId;
    for (let b = 0; b < B; b++) ids[2 * b + 1] = BigInt(mask);
    return (await (await this.first()).run({ image: images, text_ids: new Tensor('int64', [B, 2], ids) }))
      .logits;
  }

  async run(images: readonly ImageInput[], opts: CaptionOptions = {}): Promise<CaptionResult[]> {
    const tok = await this.tokenizer();
    const gen: GenerationSettings = {
      ...this.config.generation,
      ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
    };
    if (!Number.isInteger(gen.numBeams) || gen.numBeams < 1)
      throw new TaskInputError(`numBeams must be a positive integer, got ${gen.numBeams}`);
    if (!Number.isInteger(gen.maxLen) || gen.maxLen < 3)
      throw new TaskInputError(`maxLen must be an integer ≥ 3, got ${gen.maxLen}`);
    if (gen.maxLen + 2 > this.config.model.maxSourcePositions)
      throw new TaskInputError(
        `maxLen ${gen.maxLen} needs ${gen.maxLen + 2} text positions; the model has ${this.config.model.maxSourcePositions}`,
      );
    return this.batched(
      images,
      (b) => this.preprocess(b),
      async (x) => {
        const rows = await this.generate(x, gen);
        return rows.map((r) => ({
          ...r,
          caption: tok.decode(
            r.decodedIds.filter((i) => i < tok.vocabSize),
            { skipSpecialTokens: true },
          ),
          captionNoCleanup: tok.decode(
            r.decodedIds.filter((i) => i < tok.vocabSize),
            { skipSpecialTokens: true, cleanUpTokenizationSpaces: false },
          ),
        }));
      },
    );
  }

  /** The official generation loop over a preprocessed batch; returns decoded id rows and scores. */
  async generate(
    images: Tensor,
    gen: GenerationSettings,
  ): Promise<{ decodedIds: number[]; score: number; sumLogprobs: number }[]> {
    const B = images.shape[0];
    const nb = gen.numBeams;
    const R = B * nb;
    const V = this.config.model.vocabSize;
    // <mask> = len(spm) + 1 in the XLM-R id convention (8001 for an 8000-piece model, 64001 for beit3.spm)
    const MASK = (await this.tokenizer()).maskId;
    const maxLen = gen.maxLen;
    const K = gen.topnPerBeam * nb;
    if (K > V) throw new TaskInputError(`topn_per_beam × numBeams = ${K} exceeds the vocabulary (${V})`);
    const hyps = Array.from({ length: B }, () => new BeamHypotheses(1, maxLen - 1, gen.lengthPenalty));
    const done = new Array<boolean>(B).fill(false);
    let results = Array.from({ length: R }, () => [0, ...new Array<number>(maxLen - 1).fill(MASK)]);
    let beamScores = new Float32Array(R);
    let words = new Array<number>(R).fill(0);
    let srcRows: number[] = [];
    let caches: Record<string, Tensor> = {};
    let first = true;
    const stepSess = nb > 0 ? await this.step(nb, K) : undefined;
    for (let cur = 2; cur <= maxLen; cur++) {
      let nextScores: Float32Array;
      let nextWords: BigInt64Array | Int32Array | number[];
      if (first) {
        const ids = new BigInt64Array(2 * B);
        for (let b = 0; b < B; b++) ids[2 * b + 1] = BigInt(MASK);
        const out = await (
          await this.first()
        ).run({ image: images, text_ids: new Tensor('int64', [B, 2], ids) });
        // beams > 0 start at −1e9: step 0's top-k comes from beam 0 (word index = idx, beam 0)
        const lp = out.logprobs.data as Float32Array;
        nextScores = new Float32Array(B * K);
        nextWords = new Array<number>(B * K);
        for (let b = 0; b < B; b++) {
          const rowLp = lp.subarray(b * V, (b + 1) * V);
          const top = topk(rowLp, K);
          top.forEach((w, j) => {
            nextScores[b * K + j] = rowLp[w];
            (nextWords as number[])[b * K + j] = w;
          });
        }
        caches = pickCaches(out);
      } else {
        const ids = new BigInt64Array(2 * R);
        for (let r = 0; r < R; r++) {
          ids[2 * r] = BigInt(words[r]);
          ids[2 * r + 1] = BigInt(MASK);
        }
        const out = await stepSess!.run({
          text_ids: new Tensor('int64', [R, 2], ids),
          text_len: Tensor.scalar(cur, 'int64'),
          src: new Tensor('int64', [R], BigInt64Array.from(srcRows, BigInt)),
          beam_scores: new Tensor('float32', [R], beamScores),
          ...prefixed(caches, 'past.'),
        });
        nextScores = out.next_scores.data as Float32Array;
        nextWords = out.next_words.data as BigInt64Array;
        caches = pickCaches(out);
      }
      const chosen: [number, number, number][] = [];
      for (let b = 0; b < B; b++) {
        const sc = nextScores.subarray(b * K, (b + 1) * K);
        let best = -Infinity;
        for (const v of sc) best = Math.max(best, v);
        done[b] = done[b] || hyps[b].isDone(best);
        if (done[b]) {
          for (let i = 0; i < nb; i++) chosen.push([0, PAD_ID, 0]);
          continue;
        }
        const beam: [number, number, number][] = [];
        for (let j = 0; j < K; j++) {
          const idx = Number(nextWords[b * K + j]);
          const beamId = Math.floor(idx / V);
          const word = idx % V;
          if ((word === EOS_ID && cur + 1 <= maxLen) || cur + 1 === maxLen)
            hyps[b].add(results[b * nb + beamId].slice(0, cur), sc[j]);
          else beam.push([sc[j], word, b * nb + beamId]);
          if (beam.length === nb) break;
        }
        if (!beam.length) for (let i = 0; i < nb; i++) beam.push([0, PAD_ID, 0]);
        chosen.push(...beam);
      }
      beamScores = Float32Array.from(chosen, (c) => c[0]);
      words = chosen.map((c) => c[1]);
      const src = chosen.map((c) => c[2]);
      results = src.map((r) => results[r].slice());
      results.forEach((row, r) => (row[cur - 1] = words[r]));
      // cache rows: the first call ran one row per image, later calls one row per beam
      srcRows = first ? src.map((r) => Math.floor(r / nb)) : src;
      first = false;
      if (done.every(Boolean)) break;
    }
    return hyps.map((h) => {
      const best = h.best();
      if (!best) throw new TaskInputError('captioning produced no hypothesis (maxLen too small?)');
      const decodedIds = [...best.ids, EOS_ID];
      while (decodedIds.length < maxLen) decodedIds.push(PAD_ID);
      return { decodedIds, score: best.score, sumLogprobs: best.sumLogprobs };
    });
  }
}

function pickCaches(out: Record<string, Tensor>): Record<string, Tensor> {
  return Object.fromEntries(
    Object.entries(out)
      .filter(([k]) => k.startsWith('cache.'))
      .map(([k, v]) => [k.slice('cache.'.length), v]),
  );
}

function prefixed(t: Record<string, Tensor>, p: string): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [p + k, v]));
}

/** Indices of the k largest values, largest first (partial selection). */
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
