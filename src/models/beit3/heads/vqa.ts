import { ops } from '../../../graph/index.js';
import * as F from '../../../graph/functional.js';
import { LayerNorm, Linear } from '../../../nn/layers.js';
import { Module, type ParamScope } from '../../../nn/module.js';
import type { Beit3Config } from '../config.js';
import { vqaBceLoss } from '../losses.js';
import { Beit3TaskModel, imageSpec, type InputSpec, need, textSpec, type Values } from './base.js';

class Pooler extends Module {
  readonly norm: LayerNorm;
  readonly dense: Linear;
  constructor(d: number) {
    super();
    this.norm = this.addModule('norm', new LayerNorm(d));
    this.dense = this.addModule('dense', new Linear(d, d));
  }
}

class VqaHead extends Module {
  readonly l0: Linear;
  readonly l1: LayerNorm;
  readonly l3: Linear;
  constructor(d: number, classes: number) {
    super();
    // nn.Sequential(Linear, LayerNorm, GELU, Linear): parameter names 0, 1, 3.
    this.l0 = this.addModule('0', new Linear(d, 2 * d));
    this.l1 = this.addModule('1', new LayerNorm(2 * d));
    this.l3 = this.addModule('3', new Linear(2 * d, classes));
  }
}

/** BEiT3ForVisualQuestionAnswering: pooled VISION cls token → MLP; normalize_output=False. */
export class Beit3ForVQA extends Beit3TaskModel {
  readonly task = 'vqav2' as const;
  readonly pooler: Pooler;
  readonly head: VqaHead;
  constructor(
    cfg: Beit3Config,
    readonly numClasses: number,
  ) {
    super(cfg);
    this.pooler = this.addModule('pooler', new Pooler(cfg.embedDim));
    this.head = this.addModule('head', new VqaHead(cfg.embedDim, numClasses));
  }
  inputs(batch: number | string, textLen: number): Record<string, InputSpec> {
    return {
      image: imageSpec(this.cfg, batch),
      question: textSpec(batch, textLen),
      padding_mask: textSpec(batch, textLen),
    };
  }
  forward(s: ParamScope, inp: Values): Values {
    const [image, question, padding] = need(inp, 'image', 'question', 'padding_mask');
    const x = this.beit3.forward(s, { image, textIds: question, textPadding: padding }).out.v!;
    const cls = ops.squeeze(ops.slice(x, [0], [1], [1]), [1]);
    const pooled = ops.tanh(this.pooler.dense.forward(s, this.pooler.norm.forward(s, cls)));
    const h = F.gelu(this.head.l1.forward(s, this.head.l0.forward(s, pooled)));
    return { logits: this.head.l3.forward(s, h) };
  }
  loss(s: ParamScope, inp: Values): Values {
    const [labels] = need(inp, 'labels');
    const { logits } = this.forward(s, inp);
    return { loss: vqaBceLoss(logits, labels), logits };
  }
}
