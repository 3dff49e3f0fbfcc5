/**
 * The ViT of unilm `beit2/modeling_finetune.py` (VisionTransformer) in the configuration VQ-KD
 * uses for its encoder and decoder: keys `cls_token`, `pos_embed`, `patch_embed.proj.*`,
 * `blocks.<i>.{norm1, attn.{q_bias, v_bias, qkv.weight, proj}, norm2, mlp.{fc1, fc2}}`, `fc_norm.*`
 * (mean-pooling layout: `norm` is Identity, no head since num_classes = 0).
 */
import { F, ops } from '../../graph/index.js';
import type { Value } from '../../graph/ir.js';
import { Tensor } from '../../graph/tensor.js';
import { Inits } from '../../nn/init.js';
import { LayerNorm, Linear, ModuleList } from '../../nn/layers.js';
import { Module, type Parameter, type ParamScope } from '../../nn/module.js';
import { type VitConfig, VqkdConfigError } from './config.js';

/** timm `trunc_normal_(std=.02)`: truncated at ±2 (absolute), i.e. practically a plain normal. */
export const TRUNC_02 = Inits.truncNormal(0.02, -2, 2);

class Conv2dPatch extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(inChans: number, dim: number, patch: number, bias = true) {
    super();
    // PyTorch Conv2d default init: kaiming_uniform(a=√5) → U(±1/√fan_in) for weight and bias.
    const bound = 1 / Math.sqrt(inChans * patch * patch);
    this.weight = this.addParameter('weight', [dim, inChans, patch, patch], Inits.uniform(bound));
    this.bias = bias ? this.addParameter('bias', [dim], Inits.uniform(bound)) : null;
  }

  /** Conv2d(kernel = stride = p) as patches (row-major y, x) flattened (c, ky, kx) times Wᵀ: (B, C, H, W) → (B, g², D). */
  forward(s: ParamScope, image: Value): Value {
    const [dim, c, p] = this.weight.shape;
    const [b, ch, h, w] = image.shape;
    if (ch !== c || typeof h !== 'number' || typeof w !== 'number' || h % p || w % p)
      throw new VqkdConfigError(
        `patch embedding: input must be (B, ${c}, H, W) with H, W multiples of ${p}, got [${image.shape.join(', ')}]`,
      );
    const [gh, gw] = [h / p, w / p];
    let x = image;
    if (p === 1) x = ops.transpose(ops.reshape(image, [b, c, gh * gw]), [0, 2, 1]);
    else {
      x = ops.reshape(image, [b, c, gh, p, gw, p]);
      x = ops.transpose(x, [0, 2, 4, 1, 3, 5]);
      x = ops.reshape(x, [b, gh * gw, c * p * p]);
    }
    const wmat = ops.reshape(s.get(this.weight), [dim, c * p * p]);
    return F.linear(x, wmat, this.bias ? s.get(this.bias) : null);
  }
}

class PatchEmbed extends Module {
  readonly proj: Conv2dPatch;
  constructor(cfg: VitConfig) {
    super();
    this.proj = this.addModule('proj', new Conv2dPatch(cfg.inChans, cfg.embedDim, cfg.patchSize));
  }
}

/** One `qkv` Linear without bias; the bias is cat(q_bias, 0, v_bias) (no key bias). */
export class Attention extends Module {
  readonly qBias: Parameter;
  readonly vBias: Parameter;
  readonly qkv: Linear;
  readonly proj: Linear;
  constructor(
    readonly dim: number,
    readonly heads: number,
    layerId: number,
  ) {
    super();
    this.qBias = this.addParameter('q_bias', [dim], Inits.zeros);
    this.vBias = this.addParameter('v_bias', [dim], Inits.zeros);
    this.qkv = this.addModule('qkv', new Linear(dim, 3 * dim, { bias: false, init: TRUNC_02 }));
    // fix_init_weight: proj.weight divided by √(2·layer_id).
    this.proj = this.addModule('proj', new Linear(dim, dim, { init: TRUNC_02 }));
    this.proj.weight.initScale = 1 / Math.sqrt(2 * (layerId + 1));
  }

  forward(s: ParamScope, x: Value): Value {
    const D = this.dim;
    const zeros = x.graph.constant(Tensor.zeros(x.dtype, [D]), 'k_bias');
    const bias = ops.concat([s.get(this.qBias), zeros, s.get(this.vBias)], 0);
    const qkv = F.linear(x, s.get(this.qkv.weight), bias);
    const flat = ops.split(qkv, [D, D, D], 2);
    // ORT's fused MultiHeadAttention for inference (scale 1/√d as the official qk_scale=None);
    // training graphs keep the primitive chain below. Built first: its inputs precede the chain.
    const fused = F.attentionFusion(flat[0], flat[1], flat[2], this.heads);
    const [q, k, v] = flat.map((t) => F.splitHeads(t, this.heads));
    const o = F.mergeHeads(F.attention(ops.mul(q, (D / this.heads) ** -0.5), k, v));
    if (fused) o.graph.fusions.set(o, fused);
    return this.proj.forward(s, o);
  }
}

class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(dim: number, hidden: number, layerId: number) {
    super();
    this.fc1 = this.addModule('fc1', new Linear(dim, hidden, { init: TRUNC_02 }));
    this.fc2 = this.addModule('fc2', new Linear(hidden, dim, { init: TRUNC_02 }));
    this.fc2.weight.initScale = 1 / Math.sqrt(2 * (layerId + 1));
  }
  forward(s: ParamScope, x: Value): Value {
    return this.fc2.forward(s, F.gelu(this.fc1.forward(s, x)));
  }
}

/** Pre-LN block without layer scale (init_values 0): x + attn(norm1(x)), then x + mlp(norm2(x)). */
export class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  constructor(cfg: VitConfig, layerId: number) {
    super();
    const D = cfg.embedDim;
    this.norm1 = this.addModule('norm1', new LayerNorm(D, cfg.layernormEps));
    this.attn = this.addModule('attn', new Attention(D, cfg.heads, layerId));
    this.norm2 = this.addModule('norm2', new LayerNorm(D, cfg.layernormEps));
    this.mlp = this.addModule('mlp', new Mlp(D, Math.floor(D * cfg.mlpRatio), layerId));
  }
  forward(s: ParamScope, x: Value): Value {
    const y = ops.add(x, this.attn.forward(s, this.norm1.forward(s, x)));
    return ops.add(y, this.mlp.forward(s, this.norm2.forward(s, y)));
  }
}

export class VisionTransformer extends Module {
  readonly clsToken: Parameter;
  readonly posEmbed: Parameter;
  readonly patchEmbed: PatchEmbed;
  readonly blocks: ModuleList<Block>;
  readonly fcNorm: LayerNorm;
  constructor(readonly cfg: VitConfig) {
    super();
    const n = (cfg.imgSize / cfg.patchSize) ** 2;
    this.clsToken = this.addParameter('cls_token', [1, 1, cfg.embedDim], TRUNC_02);
    this.posEmbed = this.addParameter('pos_embed', [1, n + 1, cfg.embedDim], TRUNC_02);
    this.patchEmbed = this.addModule('patch_embed', new PatchEmbed(cfg));
    this.blocks = this.addModule('blocks', new ModuleList<Block>());
    for (let i = 0; i < cfg.depth; i++) this.blocks.push(new Block(cfg, i));
    this.fcNorm = this.addModule('fc_norm', new LayerNorm(cfg.embedDim, cfg.layernormEps));
  }

  /** `forward(x, return_patch_tokens=True)`: (B, C, H, W) → fc_norm of the patch tokens (B, N, D). */
  patchTokens(s: ParamScope, image: Value): Value {
    const { imgSize } = this.cfg;
    const [, , h, w] = image.shape;
    if (h !== imgSize || w !== imgSize)
      throw new VqkdConfigError(
        `ViT: input must be ${imgSize}×${imgSize} (no position interpolation), got [${image.shape.join(', ')}]`,
      );
    const x = this.patchEmbed.proj.forward(s, image);
    let h0 = ops.concat([F.expandBatch(s.get(this.clsToken), x), x], 1);
    h0 = ops.add(h0, s.get(this.posEmbed));
    for (const blk of this.blocks.items) h0 = blk.forward(s, h0);
    const n = h0.shape[1] as number;
    return this.fcNorm.forward(s, ops.slice(h0, [1], [n], [1]));
  }
}
