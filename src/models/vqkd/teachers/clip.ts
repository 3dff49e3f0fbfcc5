/**
 * The CLIP vision tower of unilm `beit2/vqkd_teacher/clip/model.py` (VisionTransformer, as
 * `CLIP.visual`), the official VQ-KD teacher: conv1 (no bias) patches, class embedding,
 * positions, ln_pre, residual blocks with nn.MultiheadAttention (`in_proj_weight` [3W, W],
 * `out_proj`) and a QuickGELU MLP (`c_fc`, `c_proj`), then `ln_post(x)[:, 1:] @ proj`.
 * All LayerNorms eps 1e-5. Keys: `teacher_model.visual.*`, as in VQ-KD training checkpoints.
 */
import { F, ops } from '../../../graph/index.js';
import type { Value } from '../../../graph/ir.js';
import type { Tensor } from '../../../graph/tensor.js';
import { Inits } from '../../../nn/init.js';
import { LayerNorm, Linear, ModuleList } from '../../../nn/layers.js';
import { Module, type Parameter, type ParamScope } from '../../../nn/module.js';
import { Container } from '../modules.js';
import { CLIP_SCALE, CLIP_SHIFT, type FeatureTeacher, patchify, scalingLayer, TeacherError } from './teacher.js';

export interface ClipVisionConfig {
  inputResolution: number;
  patchSize: number;
  width: number;
  layers: number;
  heads: number;
  outputDim: number;
}

class MultiheadAttention extends Module {
  readonly inProjWeight: Parameter;
  readonly inProjBias: Parameter;
  readonly outProj: Linear;
  constructor(
    readonly width: number,
    readonly heads: number,
  ) {
    super();
    const bound = Math.sqrt(6 / (width + 3 * width));
    this.inProjWeight = this.addParameter('in_proj_weight', [3 * width, width], Inits.uniform(bound));
    this.inProjBias = this.addParameter('in_proj_bias', [3 * width], Inits.zeros);
    this.outProj = this.addModule('out_proj', new Linear(width, width));
  }
  forward(s: ParamScope, x: Value): Value {
    const W = this.width;
    const qkv = F.linear(x, s.get(this.inProjWeight), s.get(this.inProjBias));
    const [q, k, v] = ops.split(qkv, [W, W, W], 2).map((t) => F.splitHeads(t, this.heads));
    const o = F.attention(ops.mul(q, (W / this.heads) ** -0.5), k, v);
    return this.outProj.forward(s, F.mergeHeads(o));
  }
}

class ResidualAttentionBlock extends Module {
  readonly attn: MultiheadAttention;
  readonly ln1: LayerNorm;
  readonly cFc: Linear;
  readonly cProj: Linear;
  readonly ln2: LayerNorm;
  constructor(width: number, heads: number) {
    super();
    this.attn = this.addModule('attn', new MultiheadAttention(width, heads));
    this.ln1 = this.addModule('ln_1', new LayerNorm(width, 1e-5));
    const mlp = this.addModule('mlp', new Container());
    this.cFc = mlp.add('c_fc', new Linear(width, 4 * width));
    this.cProj = mlp.add('c_proj', new Linear(4 * width, width));
    this.ln2 = this.addModule('ln_2', new LayerNorm(width, 1e-5));
  }
  forward(s: ParamScope, x: Value): Value {
    const y = ops.add(x, this.attn.forward(s, this.ln1.forward(s, x)));
    const h = this.cFc.forward(s, this.ln2.forward(s, y));
    const quickGelu = ops.mul(h, ops.sigmoid(ops.mul(h, 1.702)));
    return ops.add(y, this.cProj.forward(s, quickGelu));
  }
}

export class ClipVisionTransformer extends Module {
  readonly classEmbedding: Parameter;
  readonly positionalEmbedding: Parameter;
  readonly proj: Parameter;
  readonly conv1: Parameter;
  readonly lnPre: LayerNorm;
  readonly blocks: ResidualAttentionBlock[] = [];
  readonly lnPost: LayerNorm;
  constructor(readonly cfg: ClipVisionConfig) {
    super();
    const { width: W, patchSize: p } = cfg;
    const n = (cfg.inputResolution / p) ** 2 + 1;
    this.classEmbedding = this.addParameter('class_embedding', [W], Inits.normal(W ** -0.5));
    this.positionalEmbedding = this.addParameter('positional_embedding', [n, W], Inits.normal(W ** -0.5));
    this.proj = this.addParameter('proj', [W, cfg.outputDim], Inits.normal(W ** -0.5));
    const conv = this.addModule('conv1', new Container());
    this.conv1 = conv.param('weight', [W, 3, p, p], Inits.uniform(1 / Math.sqrt(3 * p * p)));
    this.lnPre = this.addModule('ln_pre', new LayerNorm(W, 1e-5));
    const tr = this.addModule('transformer', new Container());
    const list = tr.add('resblocks', new ModuleList<ResidualAttentionBlock>());
    for (let i = 0; i < cfg.layers; i++) this.blocks.push(list.push(new ResidualAttentionBlock(W, cfg.heads)));
    this.lnPost = this.addModule('ln_post', new LayerNorm(W, 1e-5));
  }

  /** CLIP-normalised images (B, 3, R, R) → ln_post(x)[:, 1:] @ proj, (B, g², outputDim). */
  forward(s: ParamScope, x: Value): Value {
    const { width: W, patchSize: p, inputResolution: R } = this.cfg;
    const [, c, h, w] = x.shape;
    if (c !== 3 || h !== R || w !== R)
      throw new TeacherError(`CLIP teacher: input must be (B, 3, ${R}, ${R}), got [${x.shape.join(', ')}]`);
    const patches = F.linear(patchify(x, p), ops.reshape(s.get(this.conv1), [W, 3 * p * p]));
    const cls = F.expandBatch(ops.reshape(s.get(this.classEmbedding), [1, 1, W]), patches);
    let t = ops.add(ops.concat([cls, patches], 1), s.get(this.positionalEmbedding));
    t = this.lnPre.forward(s, t);
    for (const b of this.blocks) t = b.forward(s, t);
    const n = t.shape[1] as number;
    const out = this.lnPost.forward(s, ops.slice(t, [1], [n], [1]));
    return ops.matmul(out, s.get(this.proj));
  }
}

/** The official CLIP teacher: ScalingLayerForClip, then `encode_image(x, return_all_tokens=True) @ visual.proj`. */
export class ClipTeacher implements FeatureTeacher {
  readonly module: Container;
  readonly visual: ClipVisionTransformer;
  readonly name: string;
  readonly outDim: number;
  constructor(readonly cfg: ClipVisionConfig) {
    if (cfg.width % cfg.heads) throw new TeacherError(`CLIP teacher: width ${cfg.width} not divisible by ${cfg.heads} heads`);
    this.module = new Container();
    this.visual = this.module.add('teacher_model', new Container()).add('visual', new ClipVisionTransformer(cfg));
    this.name = `clip-vit (width ${cfg.width}, ${cfg.layers} layers, patch ${cfg.patchSize})`;
    this.outDim = cfg.outputDim;
  }

  /**
   * Builds the tower from checkpoint tensors keyed `teacher_model.visual.*` (a VQ-KD training
   * checkpoint) or `visual.*` (a CLIP state dict); sizes come from the shapes. The head count is
   * not in the weights: CLIP uses width / 64, pass `heads` otherwise.
   */
  static fromState(state: ReadonlyMap<string, Tensor>, opts: { heads?: number } = {}): ClipTeacher {
    const prefix = state.has('teacher_model.visual.proj') ? 'teacher_model.visual.' : state.has('visual.proj') ? 'visual.' : null;
    if (!prefix) throw new TeacherError('CLIP teacher: no teacher_model.visual.proj / visual.proj tensor in the checkpoint');
    const get = (k: string) => {
      const t = state.get(prefix + k);
      if (!t) throw new TeacherError(`CLIP teacher: missing ${prefix}${k}`);
      return t;
    };
    const [W, , p] = get('conv1.weight').shape;
    const n = get('positional_embedding').shape[0];
    let layers = 0;
    while (state.has(`${prefix}transformer.resblocks.${layers}.attn.in_proj_weight`)) layers++;
    const heads = opts.heads ?? (W % 64 === 0 ? W / 64 : undefined);
    if (!heads) throw new TeacherError(`CLIP teacher: width ${W} is not a multiple of 64; give the head count`);
    const teacher = new ClipTeacher({
      inputResolution: Math.round(Math.sqrt(n - 1)) * p,
      patchSize: p,
      width: W,
      layers,
      heads,
      outputDim: get('proj').shape[1],
    });
    const own = new Map<string, Tensor>();
    for (const [k] of teacher.module.namedParameters()) own.set(k, get(k.slice('teacher_model.visual.'.length)));
    teacher.module.loadStateDict(own);
    return teacher;
  }

  grid(imgSize: number): number {
    if (imgSize !== this.cfg.inputResolution)
      throw new TeacherError(`CLIP teacher takes ${this.cfg.inputResolution}px inputs, the student ${imgSize}px`);
    return imgSize / this.cfg.patchSize;
  }

  targets(s: ParamScope | null, pre: Value): Value {
    if (!s) throw new TeacherError('CLIP teacher: needs a parameter scope over its module');
    return this.visual.forward(s, scalingLayer(pre, CLIP_SHIFT, CLIP_SCALE));
  }
}
