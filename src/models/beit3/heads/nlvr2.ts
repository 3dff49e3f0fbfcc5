import { ops } from '../../../graph/index.js';
import * as F from '../../../graph/functional.js';
import { LayerNorm, Linear } from '../../../nn/layers.js';
import { Module, type ParamScope } from '../../../nn/module.js';
import type { Beit3Config } from '../config.js';
import { Beit3TaskModel, imageSpec, type InputSpec, need, textSpec, type Values } from './base.js';

/** TwoLayerMLP: dense2(gelu(norm2(dense1(norm1(x))))); dense layers scaled by 0.001 at init. */
export class TwoLayerMLP extends Module {
  readonly norm1: LayerNorm;
  readonly dense1: Linear;
  readonly norm2: LayerNorm;
  readonly dense2: Linear;
  constructor(inF: number, hidden: number, out: number) {
    super();
    this.norm1 = this.addModule('norm1', new LayerNorm(inF));
    this.dense1 = this.addModule('dense1', new Linear(inF, hidden, { initScale: 0.001 }));
    this.norm2 = this.addModule('norm2', new LayerNorm(hidden));
    this.dense2 = this.addModule('dense2', new Linear(hidden, out, { initScale: 0.001 }));
  }
  forward(s: ParamScope, x: ReturnType<typeof ops.add>): ReturnType<typeof ops.add> {
    return this.dense2.forward(
      s,
      F.gelu(this.norm2.forward(s, this.dense1.forward(s, this.norm1.forward(s, x)))),
    );
  }
}

/** BEiT3ForVisualReasoning: both images in one batched call; [cls_v, cls_t] of a and b → MLP. */
export class Beit3ForNLVR2 extends Beit3TaskModel {
  readonly task = 'nlvr2' as const;
  readonly head: TwoLayerMLP;
  constructor(
    cfg: Beit3Config,
    readonly numClasses = 2,
  ) {
    super(cfg);
    const D = cfg.embedDim;
    this.head = this.addModule('head', new TwoLayerMLP(4 * D, 2 * D, numClasses));
  }
  inputs(batch: number | string, textLen: number): Record<string, InputSpec> {
    return {
      image_a: imageSpec(this.cfg, batch),
      image_b: imageSpec(this.cfg, batch),
      text_description: textSpec(batch, textLen),
      padding_mask: textSpec(batch, textLen),
    };
  }
  forward(s: ParamScope, inp: Values): Values {
    const [a, b, text, padding] = need(inp, 'image_a', 'image_b', 'text_description', 'padding_mask');
    const D = this.cfg.embedDim;
    const r = this.beit3.forward(s, {
      image: ops.concat([a, b], 0),
      textIds: ops.concat([text, text], 0),
      textPadding: ops.concat([padding, padding], 0),
    });
    const first = (x: ReturnType<typeof ops.add>) => ops.squeeze(ops.slice(x, [0], [1], [1]), [1]);
    const rep = ops.concat([first(r.out.v!), first(r.out.t!)], -1); // (2B, 2D)
    // rows [a_0..a_{B-1}, b_0..b_{B-1}] → (B, 4D) = [a_i, b_i]
    const paired = ops.reshape(ops.transpose(ops.reshape(rep, [2, -1, 2 * D]), [1, 0, 2]), [-1, 4 * D]);
    return { logits: this.head.forward(s, paired) };
  }
  loss(s: ParamScope, inp: Values): Values {
    const [label] = need(inp, 'label');
    const { logits } = this.forward(s, inp);
    const acc = ops.reduceMean(ops.cast(ops.equal(ops.argMax(logits, -1), label), 'float32'), [0]);
    return { loss: F.crossEntropy(logits, label), acc, logits };
  }
}
