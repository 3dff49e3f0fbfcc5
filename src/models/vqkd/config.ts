/**
 * BEiT v2 VQ-KD configuration: the two ViTs of `modeling_vqkd.VQKD` (encoder over the image,
 * decoder over the code map with patch size 1) plus the quantizer. Both ViTs use the official
 * `get_model_default_params()` (mlp ratio 4, q/v bias, LayerNorm eps 1e-6, no layer scale,
 * absolute positions, mean-pooling layout: `fc_norm` present, `norm` Identity).
 */
import { Beit3Error } from '../../util/errors.js';

export interface VitConfig {
  imgSize: number;
  patchSize: number;
  inChans: number;
  embedDim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  layernormEps: number;
}

export interface VqkdConfig {
  encoder: VitConfig;
  /** imgSize = encoder grid, patchSize 1, inChans = codeDim. */
  decoder: VitConfig;
  /** Codebook rows (n_embed / n_code). */
  nCode: number;
  /** Code vector size (embed_dim / code_dim). */
  codeDim: number;
  /** Width of decode_task_layer's output = the teacher's feature size (CLIP ViT-B/16: 512). */
  decoderOutDim: number;
  /** EMA decay of the codebook and of the usage statistic. */
  decay: number;
  /** Commitment-loss weight (the official quantizer is built with beta 1.0). */
  beta: number;
  /** 'default': x ≤ 1 batches scaled by 255, then x/127.5 − 1. 'imagenet_norm': (x − mean)/std. */
  processType: 'default' | 'imagenet_norm';
}

export class VqkdConfigError extends Beit3Error {
  override name = 'VqkdConfigError';
}

export const gridSize = (c: VqkdConfig): number => c.encoder.imgSize / c.encoder.patchSize;
export const numTokens = (c: VqkdConfig): number => gridSize(c) ** 2;

function checkVit(where: string, v: VitConfig, bad: string[]): void {
  for (const k of ['imgSize', 'patchSize', 'inChans', 'embedDim', 'depth', 'heads'] as const)
    if (!Number.isInteger(v[k]) || v[k] <= 0) bad.push(`${where}.${k} must be a positive integer, got ${v[k]}`);
  if (v.embedDim % v.heads) bad.push(`${where}.embedDim ${v.embedDim} not divisible by heads ${v.heads}`);
  if (v.imgSize % v.patchSize) bad.push(`${where}.imgSize ${v.imgSize} not divisible by patchSize ${v.patchSize}`);
  if (!(v.mlpRatio > 0)) bad.push(`${where}.mlpRatio must be > 0`);
}

export function validateVqkdConfig(c: VqkdConfig): VqkdConfig {
  const bad: string[] = [];
  checkVit('encoder', c.encoder, bad);
  checkVit('decoder', c.decoder, bad);
  for (const k of ['nCode', 'codeDim', 'decoderOutDim'] as const)
    if (!Number.isInteger(c[k]) || c[k] <= 0) bad.push(`${k} must be a positive integer, got ${c[k]}`);
  if (c.decoder.patchSize !== 1) bad.push(`decoder.patchSize must be 1, got ${c.decoder.patchSize}`);
  if (c.decoder.inChans !== c.codeDim) bad.push(`decoder.inChans ${c.decoder.inChans} must equal codeDim ${c.codeDim}`);
  if (c.encoder.patchSize > 0 && c.decoder.imgSize !== c.encoder.imgSize / c.encoder.patchSize)
    bad.push(`decoder.imgSize ${c.decoder.imgSize} must equal the encoder grid ${c.encoder.imgSize / c.encoder.patchSize}`);
  if (!(c.decay > 0 && c.decay < 1)) bad.push(`decay must be in (0, 1), got ${c.decay}`);
  if (bad.length) throw new VqkdConfigError(`invalid VQ-KD config: ${bad.join('; ')}`);
  return c;
}

/** The official registered layout: encoder ViT over `imgSize`, decoder = same ViT on the code grid. */
export function makeVqkdConfig(o: {
  imgSize?: number;
  patchSize?: number;
  embedDim?: number;
  depth?: number;
  heads?: number;
  decoderDepth: number;
  decoderEmbedDim?: number;
  decoderHeads?: number;
  nCode?: number;
  codeDim?: number;
  decoderOutDim?: number;
  decay?: number;
}): VqkdConfig {
  const imgSize = o.imgSize ?? 224;
  const patchSize = o.patchSize ?? 16;
  const codeDim = o.codeDim ?? 32;
  const vit = (p: Partial<VitConfig>): VitConfig => ({
    imgSize,
    patchSize,
    inChans: 3,
    embedDim: 768,
    depth: 12,
    heads: 12,
    mlpRatio: 4,
    layernormEps: 1e-6,
    ...Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)),
  });
  return validateVqkdConfig({
    encoder: vit({ embedDim: o.embedDim, depth: o.depth, heads: o.heads }),
    decoder: vit({
      imgSize: imgSize / patchSize,
      patchSize: 1,
      inChans: codeDim,
      embedDim: o.decoderEmbedDim ?? o.embedDim ?? 768,
      depth: o.decoderDepth,
      heads: o.decoderHeads ?? o.heads ?? 12,
    }),
    nCode: o.nCode ?? 8192,
    codeDim,
    decoderOutDim: o.decoderOutDim ?? 512,
    decay: o.decay ?? 0.99,
    beta: 1,
    processType: 'default',
  });
}

/** Official snake_case ViT config (as in vqkd-ref/vqkd.json) → VitConfig. */
function vitFromJson(where: string, e: Record<string, unknown>): VitConfig {
  const num = (k: string, d?: number): number => {
    const v = e[k] ?? d;
    if (typeof v !== 'number') throw new VqkdConfigError(`${where}.${k} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const unsupported: string[] = [];
  if (num('init_values', 0) !== 0) unsupported.push('init_values (layer scale)');
  if (e.use_rel_pos_bias === true || e.use_shared_rel_pos_bias === true) unsupported.push('relative position bias');
  if (e.use_abs_pos_emb === false) unsupported.push('use_abs_pos_emb=false');
  if (e.use_mean_pooling === false) unsupported.push('use_mean_pooling=false');
  if (e.qkv_bias === false) unsupported.push('qkv_bias=false');
  if (e.qk_scale !== undefined && e.qk_scale !== null) unsupported.push('qk_scale');
  if (num('num_classes', 0) !== 0) unsupported.push('num_classes > 0');
  if (unsupported.length) throw new VqkdConfigError(`${where}: unsupported settings: ${unsupported.join(', ')}`);
  const eps = /eps=([0-9.e-]+)/.exec(String(e.norm_layer ?? ''))?.[1];
  return {
    imgSize: num('img_size'),
    patchSize: num('patch_size'),
    inChans: num('in_chans', 3),
    embedDim: num('embed_dim'),
    depth: num('depth'),
    heads: num('num_heads'),
    mlpRatio: num('mlp_ratio', 4),
    layernormEps: eps ? Number(eps) : 1e-6,
  };
}

/** A fixture/recipe JSON (`encoder_config`, `decoder_config`, `n_code`, `code_dim`, `decoder_out_dim`) → config. */
export function vqkdConfigFromJson(j: Record<string, unknown>): VqkdConfig {
  const obj = (k: string): Record<string, unknown> => {
    const v = j[k];
    if (!v || typeof v !== 'object') throw new VqkdConfigError(`VQ-KD config JSON: "${k}" missing`);
    return v as Record<string, unknown>;
  };
  const n = (k: string, alt?: string): number => {
    const v = j[k] ?? (alt ? j[alt] : undefined);
    if (typeof v !== 'number') throw new VqkdConfigError(`VQ-KD config JSON: "${k}" must be a number`);
    return v;
  };
  return validateVqkdConfig({
    encoder: vitFromJson('encoder_config', obj('encoder_config')),
    decoder: vitFromJson('decoder_config', obj('decoder_config')),
    nCode: n('n_code', 'n_embed'),
    codeDim: n('code_dim', 'embed_dim'),
    decoderOutDim: n('decoder_out_dim'),
    decay: typeof j.decay === 'number' ? j.decay : 0.99,
    beta: 1,
    processType: 'default',
  });
}
