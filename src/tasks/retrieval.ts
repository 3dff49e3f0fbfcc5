/**
 * Image–text retrieval (BEiT3ForRetrieval, a dual encoder): images and texts are embedded
 * separately (L2-normalized cls features), scored by dot product, ranked both ways; `evaluate`
 * computes the official recall@1/5/10 (engine_for_finetuning.RetrievalHandler.after_eval).
 */
import { Tensor } from '../graph/tensor.js';
import type { Beit3ForRetrieval } from '../models/beit3/heads/retrieval.js';
import { type ImageInput, Pipeline, type PipelineOptions, topkIndices } from './base.js';
import { TaskInputError } from './errors.js';
import { retrievalImageSpec, retrievalTextSpec } from './graphs.js';
import type { LoadedModel } from './model.js';

export interface Ranked {
  index: number;
  score: number;
}

export interface RetrievalResult {
  /** (n_images, n_texts) cosine similarities. */
  scores: Tensor;
  /** Per image: texts best first (top-k). */
  textsPerImage: Ranked[][];
  /** Per text: images best first (top-k). */
  imagesPerText: Ranked[][];
}

export interface RetrievalRecalls {
  tr_r1: number;
  tr_r5: number;
  tr_r10: number;
  ir_r1: number;
  ir_r5: number;
  ir_r10: number;
  average_score: number;
}

export class RetrievalPipeline extends Pipeline {
  static async create(loaded: LoadedModel, options: PipelineOptions = {}): Promise<RetrievalPipeline> {
    return new RetrievalPipeline(loaded, options);
  }

  private get m(): Beit3ForRetrieval {
    return this.loaded.model as Beit3ForRetrieval;
  }

  private images() {
    return this.compile(retrievalImageSpec(this.m, this.config));
  }

  private texts() {
    return this.compile(retrievalTextSpec(this.m, this.config));
  }

  /** Image features (N, D), L2-normalized. */
  async embedImages(images: readonly ImageInput[]): Promise<Tensor> {
    const sess = await this.images();
    const rows = await this.batched(
      images,
      (b) => this.preprocess(b),
      async (x) => {
        const f = (await sess.run({ image: x })).vision_cls;
        return splitRows(f);
      },
    );
    return stackRows(rows);
  }

  /** Text features (M, D), L2-normalized. */
  async embedTexts(texts: readonly string[]): Promise<Tensor> {
    if (!texts.length) throw new TaskInputError('no texts given');
    const tok = await this.tokenizer();
    const sess = await this.texts();
    const rows = await this.batched(
      texts,
      async (b) => tok.batch(b, this.config.textLen),
      async (t) =>
        splitRows(
          (await sess.run({ text_description: t.languageTokens, padding_mask: t.paddingMask })).language_cls,
        ),
    );
    return stackRows(rows);
  }

  /** scores = image_feats @ text_feats.T  (n_images, n_texts). */
  static scores(imageFeats: Tensor, textFeats: Tensor): Tensor {
    const [n, d] = imageFeats.shape;
    const [m, d2] = textFeats.shape;
    if (d !== d2) throw new TaskInputError(`feature sizes differ: images ${d}, texts ${d2}`);
    const a = imageFeats.data as Float32Array;
    const b = textFeats.data as Float32Array;
    const out = new Float32Array(n * m);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < m; j++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += a[i * d + k] * b[j * d + k];
        out[i * m + j] = s;
      }
    return new Tensor('float32', [n, m], out);
  }

  /** Full rankings: texts per image (rows of scores) and images per text (columns). */
  static rankings(scores: Tensor): { textRankPerImage: number[][]; imageRankPerText: number[][] } {
    const [n, m] = scores.shape;
    const s = scores.data as Float32Array;
    const textRankPerImage = Array.from({ length: n }, (_, i) =>
      topkIndices(s.subarray(i * m, (i + 1) * m), m),
    );
    const imageRankPerText = Array.from({ length: m }, (_, j) =>
      topkIndices(
        Array.from({ length: n }, (_, i) => s[i * m + j]),
        n,
      ),
    );
    return { textRankPerImage, imageRankPerText };
  }

  /** Official recalls (×100): `iids` = image id of each score row, `tiids` = image id of each text. */
  static evaluate(scores: Tensor, iids: readonly number[], tiids: readonly number[]): RetrievalRecalls {
    const { textRankPerImage, imageRankPerText } = RetrievalPipeline.rankings(scores);
    const tr = (k: number) =>
      (100 * textRankPerImage.filter((r, i) => r.slice(0, k).some((t) => tiids[t] === iids[i])).length) /
      iids.length;
    const ir = (k: number) =>
      (100 * imageRankPerText.filter((r, j) => r.slice(0, k).some((i) => iids[i] === tiids[j])).length) /
      tiids.length;
    const r = { tr_r1: tr(1), tr_r5: tr(5), tr_r10: tr(10), ir_r1: ir(1), ir_r5: ir(5), ir_r10: ir(10) };
    return { ...r, average_score: (r.tr_r1 + r.tr_r5 + r.tr_r10 + r.ir_r1 + r.ir_r5 + r.ir_r10) / 6 };
  }

  async run(
    input: { images: readonly ImageInput[]; texts: readonly string[] },
    opts: { topk?: number } = {},
  ): Promise<RetrievalResult> {
    const vi = await this.embedImages(input.images);
    const vt = await this.embedTexts(input.texts);
    const scores = RetrievalPipeline.scores(vi, vt);
    const k = opts.topk ?? this.config.topk;
    const { textRankPerImage, imageRankPerText } = RetrievalPipeline.rankings(scores);
    const m = scores.shape[1];
    const s = scores.data as Float32Array;
    return {
      scores,
      textsPerImage: textRankPerImage.map((r, i) =>
        r.slice(0, k).map((j) => ({ index: j, score: s[i * m + j] })),
      ),
      imagesPerText: imageRankPerText.map((r, j) =>
        r.slice(0, k).map((i) => ({ index: i, score: s[i * m + j] })),
      ),
    };
  }
}

export function splitRows(t: Tensor): Float32Array[] {
  const d = t.shape[1];
  return Array.from({ length: t.shape[0] }, (_, i) => (t.data as Float32Array).slice(i * d, (i + 1) * d));
}

export function stackRows(rows: readonly Float32Array[]): Tensor {
  const d = rows[0]?.length ?? 0;
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => out.set(r, i * d));
  return new Tensor('float32', [rows.length, d], out);
}
