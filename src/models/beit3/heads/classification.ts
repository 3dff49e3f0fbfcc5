import * as F from '../../../graph/functional.js';
import { ops } from '../../../graph/index.js';
import { LayerNorm, Linear } from '../../../nn/layers.js';
import type { ParamScope } from '../../../nn/module.js';
import type { Beit3Config } from '../config.js';
import { numVisionTokens } from '../config.js';
import { Beit3TaskModel, imageSpec, type InputSpec, need, type Values } from './base.js';

/** BEiT3ForImageClassification: head(fc_norm(mean of patch tokens)); normalize_output=False. */
export class Beit3ForImageClassification extends Beit3TaskModel {
  readonly task = 'imageclassification' as const;
  readonly fcNorm: LayerNorm;
  readonly head: Linear;
  constructor(
    cfg: Beit3Config,
    readonly numClasses: number,
    readonly labelSmoothing = 0.1,
  ) {
    super(cfg);
    this.fcNorm = this.addModule('fc_norm', new LayerNorm(cfg.embedDim));
    this.head = this.addModule('head', new Linear(cfg.embedDim, numClasses, { initScale: 0.001 }));
  }
  inputs(batch: number | string): Record<string, InputSpec> {
    return { image: imageSpec(this.cfg, batch) };
  }
  forward(s: ParamScope, inp: Values): Values {
    const [image] = need(inp, 'image');
    const x = this.beit3.forward(s, { image }).out.v!;
    const patches = ops.slice(x, [1], [numVisionTokens(this.cfg)], [1]);
    return { logits: this.head.forward(s, this.fcNorm.forward(s, ops.reduceMean(patches, [1]))) };
  }
  loss(s: ParamScope, inp: Values): Values {
    const [label] = need(inp, 'label');
    const { logits } = this.forward(s, inp);
    return {
      // timm LabelSmoothingCrossEntropy is F.crossEntropy with labelSmoothing (same formula).
      loss: F.crossEntropy(logits, label, { labelSmoothing: this.labelSmoothing }),
      loss_plain_ce: F.crossEntropy(logits, label),
      logits,
    };
  }
}
