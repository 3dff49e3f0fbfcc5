import { ops } from '../../../graph/index.js';
import type { ParamScope } from '../../../nn/module.js';
import { joinStreams } from '../backbone.js';
import { Beit3TaskModel, imageSpec, type InputSpec, need, textSpec, type Values } from './base.js';

/**
 * The pretrained backbone checkpoint layout (BEiT3Wrapper: keys `beit3.*`, normalize_output=True).
 * forward: vision, text or vision+language input → `encoder_out`.
 */
export class Beit3Backbone extends Beit3TaskModel {
  readonly task = 'backbone' as const;
  inputs(batch: number | string, textLen: number): Record<string, InputSpec> {
    return {
      image: imageSpec(this.cfg, batch),
      text_ids: textSpec(batch, textLen),
      padding_mask: textSpec(batch, textLen),
    };
  }
  forward(s: ParamScope, inp: Values): Values {
    const r = this.beit3.forward(s, {
      image: inp.image,
      textIds: inp.text_ids,
      textPadding: inp.padding_mask,
      visionMaskedPosition: inp.vision_masked_position,
    });
    return { encoder_out: joinStreams(r.out) };
  }
  /** Synthetic loss Σ encoder_out ⊙ R (the backbone fixture's gradient check). */
  loss(s: ParamScope, inp: Values): Values {
    const [R] = need(inp, 'R');
    const out = this.forward(s, inp).encoder_out;
    return { loss: ops.reduceSum(ops.mul(out, R), [0, 1, 2]) };
  }
}
