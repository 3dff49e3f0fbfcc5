import { ops } from '../../../graph/index.js';
import * as F from '../../../graph/functional.js';
import { Inits } from '../../../nn/init.js';
import { Linear } from '../../../nn/layers.js';
import type { Parameter, ParamScope } from '../../../nn/module.js';
import type { Beit3Config } from '../config.js';
import { clipLoss } from '../losses.js';
import { Beit3TaskModel, imageSpec, type InputSpec, need, textSpec, type Values } from './base.js';

/** BEiT3ForRetrieval: dual encoder (separate backbone calls), normalized cls embeddings, ClipLoss. */
export class Beit3ForRetrieval extends Beit3TaskModel {
  readonly task = 'retrieval' as const;
  readonly logitScale: Parameter;
  readonly languageHead: Linear;
  readonly visionHead: Linear;
  constructor(cfg: Beit3Config) {
    super(cfg);
    const D = cfg.embedDim;
    this.logitScale = this.addParameter('logit_scale', [], Inits.constant(Math.log(1 / 0.07)));
    this.languageHead = this.addModule('language_head', new Linear(D, D, { bias: false }));
    this.visionHead = this.addModule('vision_head', new Linear(D, D, { bias: false }));
  }
  inputs(batch: number | string, textLen: number): Record<string, InputSpec> {
    return {
      image: imageSpec(this.cfg, batch),
      text_description: textSpec(batch, textLen),
      padding_mask: textSpec(batch, textLen),
    };
  }
  /** Image → vision_cls (B, D), normalized. */
  encodeImage(s: ParamScope, image: ReturnType<typeof ops.add>) {
    const x = this.beit3.forward(s, { image }).out.v!;
    return F.l2Normalize(this.visionHead.forward(s, ops.squeeze(ops.slice(x, [0], [1], [1]), [1])));
  }
  /** Text → language_cls (B, D), normalized. */
  encodeText(s: ParamScope, text: ReturnType<typeof ops.add>, padding?: ReturnType<typeof ops.add>) {
    const x = this.beit3.forward(s, { textIds: text, textPadding: padding }).out.t!;
    return F.l2Normalize(this.languageHead.forward(s, ops.squeeze(ops.slice(x, [0], [1], [1]), [1])));
  }
  /** Whatever is given: image → vision_cls, text → language_cls, both → also the ClipLoss. */
  forward(s: ParamScope, inp: Values): Values {
    const out: Values = {};
    if (inp.image) out.vision_cls = this.encodeImage(s, inp.image);
    if (inp.text_description) out.language_cls = this.encodeText(s, inp.text_description, inp.padding_mask);
    if (out.vision_cls && out.language_cls)
      out.loss = clipLoss(out.vision_cls, out.language_cls, s.get(this.logitScale));
    return out;
  }
  loss(s: ParamScope, inp: Values): Values {
    need(inp, 'image', 'text_description');
    return this.forward(s, inp);
  }
}
