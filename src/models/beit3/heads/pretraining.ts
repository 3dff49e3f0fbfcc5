import { ops } from '../../../graph/index.js';
import * as F from '../../../graph/functional.js';
import { Linear } from '../../../nn/layers.js';
import type { ParamScope } from '../../../nn/module.js';
import type { Beit3Config } from '../config.js';
import { numVisionTokens } from '../config.js';
import { Beit3TaskModel, imageSpec, type InputSpec, textSpec, type Values } from './base.js';

/**
 * Masked data modeling heads (the paper's pretraining; not in the official release, so the head
 * key names `mlm_head` / `mim_head` are ours): MLM predicts SentencePiece ids of masked text
 * tokens, MIM predicts visual-token ids (BEiT v2 VQ-KD codebook) of masked patches.
 */
export class Beit3ForPretraining extends Beit3TaskModel {
  readonly task = 'pretraining' as const;
  readonly mlmHead: Linear;
  readonly mimHead: Linear;
  constructor(
    cfg: Beit3Config,
    readonly visualVocabSize = 8192,
  ) {
    super(cfg);
    this.mlmHead = this.addModule('mlm_head', new Linear(cfg.embedDim, cfg.vocabSize));
    this.mimHead = this.addModule('mim_head', new Linear(cfg.embedDim, visualVocabSize));
  }
  inputs(batch: number | string, textLen: number): Record<string, InputSpec> {
    const P = numVisionTokens(this.cfg) - 1;
    return {
      image: imageSpec(this.cfg, batch),
      vision_masked_position: { dtype: 'bool', shape: [batch, P] },
      text_ids: textSpec(batch, textLen),
      padding_mask: textSpec(batch, textLen),
      language_masked_pos: textSpec(batch, textLen),
    };
  }
  /** Any of image (+ vision_masked_position) / text (+ language_masked_pos): logits at masked positions. */
  forward(s: ParamScope, inp: Values): Values {
    const D = this.cfg.embedDim;
    const r = this.beit3.forward(s, {
      image: inp.image,
      visionMaskedPosition: inp.vision_masked_position,
      textIds: inp.text_ids,
      textPadding: inp.padding_mask,
    });
    const out: Values = {};
    if (r.out.v && inp.vision_masked_position) {
      const patches = ops.slice(r.out.v, [1], [numVisionTokens(this.cfg)], [1]);
      const rows = ops.gather(ops.reshape(patches, [-1, D]), F.nonzeroFlat(inp.vision_masked_position), 0);
      out.mim_logits = this.mimHead.forward(s, rows);
    }
    if (r.out.t && inp.language_masked_pos) {
      const rows = ops.gather(ops.reshape(r.out.t, [-1, D]), F.nonzeroFlat(inp.language_masked_pos), 0);
      out.mlm_logits = this.mlmHead.forward(s, rows);
    }
    return out;
  }
  /** Cross entropy of masked text tokens (`text_labels` (B,T)) and masked patches (`visual_tokens` (B,P)). */
  loss(s: ParamScope, inp: Values): Values {
    const out = this.forward(s, inp);
    const terms: Values = {};
    if (out.mlm_logits)
      terms.mlm_loss = F.crossEntropy(
        out.mlm_logits,
        ops.gather(ops.reshape(inp.text_labels, [-1]), F.nonzeroFlat(inp.language_masked_pos), 0),
      );
    if (out.mim_logits)
      terms.mim_loss = F.crossEntropy(
        out.mim_logits,
        ops.gather(ops.reshape(inp.visual_tokens, [-1]), F.nonzeroFlat(inp.vision_masked_position), 0),
      );
    const parts = Object.values(terms);
    if (!parts.length) throw new Error('pretraining loss: needs masked text or masked image inputs');
    return { loss: parts.length === 2 ? ops.add(parts[0], parts[1]) : parts[0], ...terms, ...out };
  }
}
