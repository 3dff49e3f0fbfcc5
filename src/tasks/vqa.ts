/** Visual question answering (BEiT3ForVisualQuestionAnswering): image + question → answer from the vocabulary. */
import type { Tensor } from '../graph/tensor.js';
import { type ImageInput, Pipeline, type PipelineOptions, row, topkIndices } from './base.js';
import { TaskInputError } from './errors.js';
import { vqaSpec } from './graphs.js';
import type { LoadedModel } from './model.js';

export interface VqaInput {
  image: ImageInput;
  question: string;
}

export interface VqaAnswer {
  answer: string;
  index: number;
  /** sigmoid of the logit: VQAv2 heads are trained with binary cross-entropy per answer. */
  score: number;
  logit: number;
}

export interface VqaResult extends VqaAnswer {
  topk: VqaAnswer[];
}

export class VqaPipeline extends Pipeline {
  static async create(loaded: LoadedModel, options: PipelineOptions = {}): Promise<VqaPipeline> {
    const p = new VqaPipeline(loaded, options);
    p.labels(); // fail early without a vocabulary
    return p;
  }

  private session() {
    return this.compile(vqaSpec(this.loaded.model, this.config));
  }

  /** Raw logits (N, C). */
  async logits(image: Tensor, question: Tensor, paddingMask: Tensor): Promise<Tensor> {
    return (await (await this.session()).run({ image, question, padding_mask: paddingMask })).logits;
  }

  async run(items: readonly VqaInput[], opts: { topk?: number } = {}): Promise<VqaResult[]> {
    if (!items.length) throw new TaskInputError('no questions given');
    const labels = this.labels();
    const tok = await this.tokenizer();
    const k = opts.topk ?? this.config.topk;
    return this.batched(
      items,
      async (b) => ({
        image: await this.preprocess(b.map((x) => x.image)),
        text: tok.batch(
          b.map((x) => x.question),
          this.config.textLen,
        ),
      }),
      async ({ image, text }) => {
        const logits = await this.logits(image, text.languageTokens, text.paddingMask);
        return Array.from({ length: logits.shape[0] }, (_, i) => {
          const l = row(logits, i);
          const top = topkIndices(l, k).map((c) => ({
            answer: labels[c],
            index: c,
            logit: l[c],
            score: 1 / (1 + Math.exp(-l[c])),
          }));
          return { ...top[0], topk: top };
        });
      },
    );
  }
}
