/**
 * The VQ-KD checkpoint contract (timm-style, like models/beit3/pretrained.ts): preprocessing of
 * the released tokenizers, the official load-time filter, and the optimizer groups that
 * `beit2/optim_factory.create_optimizer` builds for VQ-KD training.
 */
import type { Tensor } from '../../graph/tensor.js';
import type { Module } from '../../nn/module.js';
import type { VQKD } from './model.js';

export interface VqkdPretrainedCfg {
  /** Square input side the encoder was trained at (no position interpolation). */
  imgSize: number;
  /** Resize to imgSize (shorter side) then center crop, bicubic (TOKENIZER.md's eval transform). */
  interpolation: 'bicubic';
  /** Pixel range fed to the tokenizer: [0, 1] (ToTensor); `pre_process` maps it to [−1, 1]. */
  inputRange: [0, 1];
  /** Teacher the codebook was distilled from, and its feature size. */
  teacher: 'clip' | 'dino';
  decoderOutDim: number;
}

export const VQKD_PRETRAINED: Readonly<Record<string, VqkdPretrainedCfg>> = {
  vqkd_encoder_base_decoder_1x768x12_clip: {
    imgSize: 224,
    interpolation: 'bicubic',
    inputRange: [0, 1],
    teacher: 'clip',
    decoderOutDim: 512,
  },
  vqkd_encoder_base_decoder_3x768x12_clip: {
    imgSize: 224,
    interpolation: 'bicubic',
    inputRange: [0, 1],
    teacher: 'clip',
    decoderOutDim: 512,
  },
  vqkd_encoder_base_decoder_1x768x12_dino: {
    imgSize: 224,
    interpolation: 'bicubic',
    inputRange: [0, 1],
    teacher: 'dino',
    decoderOutDim: 768,
  },
  vqkd_encoder_base_decoder_3x768x12_dino: {
    imgSize: 224,
    interpolation: 'bicubic',
    inputRange: [0, 1],
    teacher: 'dino',
    decoderOutDim: 768,
  },
};

/** Prefixes the official tokenizer loader deletes before its strict load_state_dict. */
export const VQKD_DROPPED_PREFIXES: readonly string[] = ['loss', 'teacher', 'scaling'];

/**
 * The official loader after `weights = checkpoint['model']` (else `['state_dict']`, which
 * loadCheckpoint's modelKey 'model|state_dict' does): keys starting with loss / teacher /
 * scaling are dropped; everything else must then load strictly.
 */
export function filterVqkdCheckpoint(state: ReadonlyMap<string, Tensor>): {
  state: Map<string, Tensor>;
  dropped: string[];
} {
  const out = new Map<string, Tensor>();
  const dropped: string[] = [];
  for (const [k, t] of state)
    if (VQKD_DROPPED_PREFIXES.some((p) => k.startsWith(p))) dropped.push(k);
    else out.set(k, t);
  return { state: out, dropped };
}

/** VQKD.no_weight_decay(). */
export const VQKD_NO_WEIGHT_DECAY: readonly string[] = [
  'quantize.embedding.weight',
  'decoder.cls_token',
  'decoder.pos_embed',
  'encoder.cls_token',
  'encoder.pos_embed',
];

/**
 * The group rule of beit2's create_optimizer without layer decay: no decay for `ndim <= 1`,
 * `.bias` and no_weight_decay(); groups `no_decay` / `decay` with lr scale 1. Structurally a
 * `train/param-groups.GroupRule` (models do not import train/).
 */
export function vqkdGroupRule(): { skipList: readonly string[]; noDecayZeroDim: boolean } {
  return { skipList: VQKD_NO_WEIGHT_DECAY, noDecayZeroDim: true };
}

/** (name, shape) of the parameters the optimizer trains: everything but the quantizer's frozen tensors and buffers. */
export function vqkdTrainableShapes(model: VQKD | Module): [string, readonly number[]][] {
  return [...model.namedParameters()]
    .filter(([n]) => !n.startsWith('quantize.'))
    .map(([n, p]) => [n, p.shape]);
}
