/** NLVR2 (BEiT3ForVisualReasoning): two images + a statement → true / false with probability. */
import type { Tensor } from '../graph/tensor.js';
import { type ImageInput, Pipeline, type PipelineOptions, row, softmax } from './base.js';
import { TaskInputError } from './errors.js';
import { nlvr2Spec } from './graphs.js';
import type { LoadedModel } from './model.js';

export interface Nlvr2Input {
  left: ImageInput;
  right: ImageInput;
  statement: string;
}

export interface Nlvr2Result {
  /** Official label: 1 = True (class index of the argmax). */
  label: number;
  answer: boolean;
  /** softmax probability of `answer`. */
  probability: number;
  /** softmax probability that the statement is true. */
  probabilityTrue: number;
  logits: [number, number];
}

export class Nlvr2Pipeline extends Pipeline {
  static async create(loaded: LoadedModel, options: PipelineOptions = {}): Promise<Nlvr2Pipeline> {
    return new Nlvr2Pipeline(loaded, options);
  }

  private session() {
    return this.compile(nlvr2Spec(this.loaded.model, this.config));
  }

  async logits(imageA: Tensor, imageB: Tensor, text: Tensor, paddingMask: Tensor): Promise<Tensor> {
    return (
      await (
        await this.session()
      ).run({ image_a: imageA, image_b: imageB, text_description: text, padding_mask: paddingMask })
    ).logits;
  }

  async run(items: readonly Nlvr2Input[]): Promise<Nlvr2Result[]> {
    if (!items.length) throw new TaskInputError('no statements given');
    if (this.config.numClasses !== undefined && this.config.numClasses !== 2)
      throw new TaskInputError(`NLVR2 head must have 2 classes, has ${this.config.numClasses}`);
    const tok = await this.tokenizer();
    return this.batched(
      items,
      async (b) => ({
        a: await this.preprocess(b.map((x) => x.left)),
        b: await this.preprocess(b.map((x) => x.right)),
        text: tok.batch(
          b.map((x) => x.statement),
          this.config.textLen,
        ),
      }),
      async ({ a, b, text }) => {
        const logits = await this.logits(a, b, text.languageTokens, text.paddingMask);
        return Array.from({ length: logits.shape[0] }, (_, i) => {
          const l = row(logits, i);
          // torch max(-1) returns the first maximal index on ties
          const label = l[1] > l[0] ? 1 : 0;
          const p = softmax(l);
          return {
            label,
            answer: label === 1,
            probability: p[label],
            probabilityTrue: p[1],
            logits: [l[0], l[1]] as [number, number],
          };
        });
      },
    );
  }
}
