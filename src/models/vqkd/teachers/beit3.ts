/**
 * A BEiT-3 backbone as the VQ-KD teacher: the vision stream of a (frozen) BEiT-3 checkpoint,
 * final hidden states of the patch tokens (cls dropped) as targets, so a tokenizer can be
 * distilled from a model trained here. BEiT-3's input normalisation (ToTensor + Normalize 0.5/0.5)
 * is exactly VQ-KD's `pre_process` output, so the preprocessed batch goes in as it is.
 * Keys: `beit3.*` (the released backbone layout); a bare torchscale state dict is prefixed.
 */
import { ops } from '../../../graph/index.js';
import type { Value } from '../../../graph/ir.js';
import type { Tensor } from '../../../graph/tensor.js';
import type { ParamScope } from '../../../nn/module.js';
import { BEiT3 } from '../../beit3/backbone.js';
import type { Beit3Config } from '../../beit3/config.js';
import { Container } from '../modules.js';
import { type FeatureTeacher, TeacherError } from './teacher.js';

export class Beit3Teacher implements FeatureTeacher {
  readonly module = new Container();
  readonly beit3: BEiT3;
  readonly name: string;
  readonly outDim: number;
  constructor(readonly cfg: Beit3Config) {
    this.beit3 = this.module.add('beit3', new BEiT3(cfg));
    this.name = `beit3 (dim ${cfg.embedDim}, ${cfg.layers} layers, patch ${cfg.patchSize})`;
    this.outDim = cfg.embedDim;
  }

  /** Loads `beit3.*` keys (or bare `vision_embed.*`/`encoder.*` ones); text-only and head keys are ignored. */
  static fromState(cfg: Beit3Config, state: ReadonlyMap<string, Tensor>): Beit3Teacher {
    const t = new Beit3Teacher(cfg);
    const bare = !state.has('beit3.vision_embed.proj.weight') && state.has('vision_embed.proj.weight');
    const own = new Map<string, Tensor>();
    for (const [k, v] of state) {
      const key = bare ? `beit3.${k}` : k;
      if (key.startsWith('beit3.')) own.set(key, v);
    }
    const missing = [...t.module.namedParameters()].map(([k]) => k).filter((k) => !own.has(k));
    if (missing.length)
      throw new TeacherError(`BEiT-3 teacher: checkpoint lacks ${missing.length} backbone keys, e.g. ${missing.slice(0, 3).join(', ')}`);
    t.module.loadStateDict(own, { strict: false });
    return t;
  }

  grid(imgSize: number): number {
    if (imgSize !== this.cfg.imgSize)
      throw new TeacherError(`BEiT-3 teacher takes ${this.cfg.imgSize}px inputs, the student ${imgSize}px`);
    return this.cfg.imgSize / this.cfg.patchSize;
  }

  targets(s: ParamScope | null, pre: Value): Value {
    if (!s) throw new TeacherError('BEiT-3 teacher: needs a parameter scope over its module');
    const v = this.beit3.forward(s, { image: pre }).out.v!;
    const n = v.shape[1] as number;
    return ops.slice(v, [1], [n], [1]);
  }
}
