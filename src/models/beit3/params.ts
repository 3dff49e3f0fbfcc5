import type { Module } from '../../nn/module.js';

/** Parameter groups of a BEiT-3 model (the paper's breakdown). */
export interface ParamBreakdown {
  total: number;
  /** `.A.` modules: vision experts (FFN, and for decoupled models attention/LN too). */
  vision_experts: number;
  /** `.B.` modules: language experts. */
  language_experts: number;
  /** `.C.` modules: vision-language experts (shared variant's top layers). */
  vl_experts: number;
  /** Non-multiway self-attention (shared variant): q/k/v/out projections, sub-LN, pre-LN. */
  shared_attention: number;
  /** text_embed, vision_embed (patch projection, cls/mask tokens). */
  embeddings: number;
  /** Everything outside `beit3.` (task / pretraining heads, logit_scale). */
  heads: number;
  other: number;
}

export function paramBreakdown(model: Module): ParamBreakdown {
  const b: ParamBreakdown = { total: 0, vision_experts: 0, language_experts: 0, vl_experts: 0, shared_attention: 0, embeddings: 0, heads: 0, other: 0 };
  for (const [k, p] of model.namedParameters()) {
    const n = p.numel;
    b.total += n;
    const bk = k.startsWith('beit3.') ? k.slice(6) : k;
    if (!/^(text_embed|vision_embed|encoder)\./.test(bk)) b.heads += n;
    else if (k.includes('.A.')) b.vision_experts += n;
    else if (k.includes('.B.')) b.language_experts += n;
    else if (k.includes('.C.')) b.vl_experts += n;
    else if (/\.self_attn\.|\.self_attn_layer_norm\./.test(k)) b.shared_attention += n;
    else if (/(text_embed|vision_embed)\./.test(k)) b.embeddings += n;
    else b.other += n;
  }
  return b;
}
