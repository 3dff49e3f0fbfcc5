/**
 * Image captioning (BEiT3ForCaptioning) with the official masked decoding loop
 * (unilm engine_for_finetuning.CaptioningHandler.eval_batch): the beam search itself and its two
 * graphs live in models/beit3 (beam.ts, decoder.ts); this pipeline compiles those graphs as task
 * sessions (fp32 or int8, exactly what `beit3 export` writes), checks the generation settings,
 * and decodes the final rows `hyp + </s> + <pad>…` with HF batch_decode conventions.
 */
import { Tensor } from '../graph/tensor.js';
import { type BeamResult, captionBeamSearch } from '../models/beit3/beam.js';
import { type CaptionPrograms, captionFirstSpec, captionStepSpec } from '../models/beit3/decoder.js';
import type { Beit3ForCaptioning } from '../models/beit3/heads/captioning.js';
import { EOS_ID, PAD_ID } from '../text/beit3-tokenizer.js';
import { type ImageInput, Pipeline, type PipelineOptions } from './base.js';
import type { GenerationSettings } from './config.js';
import { TaskInputError } from './errors.js';
import type { LoadedModel } from './model.js';
import type { TaskSession } from './session.js';

export interface CaptionResult extends BeamResult {
  caption: string;
  /** Caption without HF's clean_up_tokenization step. */
  captionNoCleanup: string;
}

export type CaptionOptions = Partial<GenerationSettings>;

export class CaptioningPipeline extends Pipeline implements CaptionPrograms {
  static async create(loaded: LoadedModel, options: PipelineOptions = {}): Promise<CaptioningPipeline> {
    return new CaptioningPipeline(loaded, options);
  }

  private get m(): Beit3ForCaptioning {
    return this.loaded.model as Beit3ForCaptioning;
  }

  first(): Promise<TaskSession> {
    return this.compile(captionFirstSpec(this.m));
  }

  /** The step graph for `numBeams` beams and k = topn·numBeams candidates per image. */
  step(numBeams: number, k: number): Promise<TaskSession> {
    return this.compile(captionStepSpec(this.m, numBeams, k), `caption_step/${numBeams}/${k}`);
  }

  /** Step-0 logits at the <mask> position (N, V): what the e2e reference stores as step0.logits. */
  async firstLogits(images: Tensor): Promise<Tensor> {
    const mask = (await this.tokenizer()).maskId;
    const ids = Tensor.i64(
      [images.shape[0], 2],
      Array.from({ length: images.shape[0] }, () => [0, mask]).flat(),
    );
    return (await (await this.first()).run({ image: images, text_ids: ids })).logits;
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
    const K = gen.topnPerBeam * gen.numBeams;
    if (K > this.config.model.vocabSize)
      throw new TaskInputError(
        `topn_per_beam × numBeams = ${K} exceeds the vocabulary (${this.config.model.vocabSize})`,
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
  async generate(images: Tensor, gen: GenerationSettings): Promise<BeamResult[]> {
    return captionBeamSearch(this, images, {
      ...gen,
      maskId: (await this.tokenizer()).maskId,
      eosId: EOS_ID,
      padId: PAD_ID,
    });
  }
}
