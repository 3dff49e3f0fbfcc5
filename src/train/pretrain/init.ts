/**
 * BEiT initialisation for pretraining from scratch (BEiT / BEiT v2 `_init_weights` +
 * `fix_init_weight`, which BEiT-3 follows): every Linear weight trunc_normal(std 0.02) with zero
 * bias, LayerNorms 1/0, cls/mask tokens and both position tables trunc_normal(0.02); then each
 * layer's residual output projections (attention out_proj and FFN fc2, every expert) are divided
 * by √(2·layer), layer counted from 1. The patch projection and the text embedding keep their
 * BEiT-3 module initialisers (PyTorch Conv2d default and normal(0, D^-½)).
 */
import { Inits } from '../../nn/init.js';
import type { Module } from '../../nn/module.js';

/** Sets the BEiT init on the parameters of a BEiT-3 model (keys `beit3.*` or bare); returns how many were rescaled. */
export function applyBeitInit(model: Module, std = 0.02): { rescaled: number } {
  let rescaled = 0;
  for (const [name, p] of model.namedParameters()) {
    const bare = name.replace(/^beit3\./, '');
    if (/\.(weight|bias)$/.test(name) && /(layer_?norm|_ln)\b|layernorm/.test(name)) {
      p.init = name.endsWith('.weight') ? Inits.ones : Inits.zeros;
      p.initScale = 1;
      continue;
    }
    if (/^vision_embed\.(cls|mask)_token$/.test(bare) || /^encoder\.embed_positions\.[AB]\.weight$/.test(bare)) {
      p.init = Inits.truncNormal(std);
      p.initScale = 1;
      continue;
    }
    if (bare.startsWith('vision_embed.proj.') || bare.startsWith('text_embed.')) continue;
    if (p.shape.length === 2 && name.endsWith('.weight')) {
      p.init = Inits.truncNormal(std);
      const m = /^encoder\.layers\.(\d+)\.(?:self_attn\.out_proj|ffn\.(?:[ABC]\.)?fc2)\.(?:[ABC]\.)?weight$/.exec(bare);
      const isOut = m !== null;
      p.initScale = m ? 1 / Math.sqrt(2 * (Number(m[1]) + 1)) : 1;
      if (isOut) rescaled++;
    } else if (name.endsWith('.bias')) {
      p.init = Inits.zeros;
      p.initScale = 1;
    }
  }
  return { rescaled };
}
