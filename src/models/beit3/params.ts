import type { Module } from '../../nn/module.js';

/** Parameter groups of a BEiT-3 model (the paper's breakdown), in parameters. */
export interface ParamBreakdown {
  total: number;
  /** `.A.` modules inside the layers: vision experts (FFN + its LayerNorm; decoupled models: attention too). */
  vision_experts: number;
  /** `.B.` modules inside the layers: language experts. */
  language_experts: number;
  /** `.C.` modules inside the layers: vision-language experts (shared variant's top layers). */
  vl_experts: number;
  /** Non-multiway self-attention (shared variant): q/k/v/out projections, sub-LN, pre-LN. */
  shared_attention: number;
  /** text_embed, vision_embed (patch projection, cls/mask tokens), position tables A/B. */
  embeddings: number;
  /** encoder.layer_norm.A/B (normalize_output). */
  output_norm: number;
  /** Everything outside the backbone (task / pretraining heads, logit_scale). */
  heads: number;
}

export function paramBreakdown(model: Module): ParamBreakdown {
  const b: ParamBreakdown = {
    total: 0,
    vision_experts: 0,
    language_experts: 0,
    vl_experts: 0,
    shared_attention: 0,
    embeddings: 0,
    output_norm: 0,
    heads: 0,
  };
  for (const [k, p] of model.namedParameters()) {
    const n = p.numel;
    b.total += n;
    const bk = k.startsWith('beit3.') ? k.slice(6) : k;
    if (!/^(text_embed|vision_embed|encoder)\./.test(bk)) b.heads += n;
    else if (/^(text_embed|vision_embed|encoder\.embed_positions)\./.test(bk)) b.embeddings += n;
    else if (bk.startsWith('encoder.layer_norm.')) b.output_norm += n;
    else if (bk.includes('.A.')) b.vision_experts += n;
    else if (bk.includes('.B.')) b.language_experts += n;
    else if (bk.includes('.C.')) b.vl_experts += n;
    else b.shared_attention += n;
  }
  return b;
}
