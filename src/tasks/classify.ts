/** Image classification (BEiT3ForImageClassification): ImageNet eval transform, logits → top-k labels. */
import type { Tensor } from '../graph/tensor.js';
import { type ImageInput, Pipeline, type PipelineOptions, row, softmax, topkIndices } from './base.js';
import type { LoadedModel } from './model.js';
import { classifySpec } from './graphs.js';

export interface ClassLabel {
  index: number;
  label: string;
  /** softmax probability */
  score: number;
  logit: number;
}

export interface ClassifyResult {
  topk: ClassLabel[];
  logits: Float32Array;
}

export class ImageClassificationPipeline extends Pipeline {
  static async create(
    loaded: LoadedModel,
    options: PipelineOptions = {},
  ): Promise<ImageClassificationPipeline> {
    const p = new ImageClassificationPipeline(loaded, options);
    await p.session();
    return p;
  }

  private session() {
    return this.compile(classifySpec(this.loaded.model, this.config));
  }

  /** Raw logits (N, C) of a preprocessed batch. */
  async logits(images: Tensor): Promise<Tensor> {
    return (await (await this.session()).run({ image: images })).logits;
  }

  async run(images: readonly ImageInput[], opts: { topk?: number } = {}): Promise<ClassifyResult[]> {
    const labels = this.config.labels;
    const k = opts.topk ?? this.config.topk;
    return this.batched(
      images,
      (b) => this.preprocess(b),
      async (x) => {
        const logits = await this.logits(x);
        return Array.from({ length: logits.shape[0] }, (_, i) => {
          const l = Float32Array.from(row(logits, i));
          const p = softmax(l);
          return {
            logits: l,
            topk: topkIndices(l, k).map((c) => ({
              index: c,
              label: labels?.[c] ?? String(c),
              score: p[c],
              logit: l[c],
            })),
          };
        });
      },
    );
  }
}
