import { Beit3Error } from '../../util/errors.js';
/**
 * BEiT-3 configuration: the torchscale EncoderConfig fields that matter for BEiT-3, in camelCase,
 * plus the block variant. `fromEncoderConfig` reads the official snake_case JSON (as stored in the
 * fixtures and manifests).
 */
export interface Beit3Config {
  imgSize: number;
  patchSize: number;
  inChans: number;
  embedDim: number;
  heads: number;
  layers: number;
  ffnDim: number;
  vocabSize: number;
  /** Rows of the text position table (positions start at 2, so max text length is this − 2). */
  maxSourcePositions: number;
  /** Final multiway LayerNorm after the last layer (false for image classification and VQA). */
  normalizeOutput: boolean;
  layernormEps: number;
  /**
   * 'decoupled' = the released checkpoints: q/k/v/out projections, sub-LN and both LayerNorms are
   * per modality. 'shared' = the paper's description: one self-attention for all tokens, V/L FFN
   * experts, and vision-language FFN experts in the top `vlExpertLayers` layers for fused input.
   */
  variant: 'decoupled' | 'shared';
  vlExpertLayers: number;
  dropPathRate: number;
}

export class ConfigError extends Beit3Error {
  override name = 'ConfigError';
}

export function validateConfig(c: Beit3Config): Beit3Config {
  const bad: string[] = [];
  if (c.embedDim % c.heads) bad.push(`embedDim ${c.embedDim} not divisible by heads ${c.heads}`);
  if (c.imgSize % c.patchSize) bad.push(`imgSize ${c.imgSize} not divisible by patchSize ${c.patchSize}`);
  if (c.variant === 'decoupled' && c.vlExpertLayers) bad.push('vlExpertLayers needs variant "shared"');
  if (c.vlExpertLayers < 0 || c.vlExpertLayers > c.layers)
    bad.push(`vlExpertLayers ${c.vlExpertLayers} outside [0, ${c.layers}]`);
  for (const [k, max] of Object.entries(CONFIG_LIMITS) as [keyof typeof CONFIG_LIMITS, number][])
    if (!Number.isInteger(c[k]) || c[k] <= 0 || c[k] > max)
      bad.push(`${k} must be an integer in [1, ${max}], got ${c[k]}`);
  // checked up front: a negative eps makes every LayerNorm (and so every logit) NaN
  if (!(Number.isFinite(c.layernormEps) && c.layernormEps > 0 && c.layernormEps < 1))
    bad.push(`layernormEps must be in (0, 1), got ${c.layernormEps}`);
  if (!(c.dropPathRate >= 0 && c.dropPathRate < 1)) bad.push(`dropPathRate must be in [0, 1), got ${c.dropPathRate}`);
  if (!bad.length) {
    // each field in range can still multiply to an impossible model: bound the parameter count
    const perLayer = 2 * (4 * c.embedDim * c.embedDim + 2 * c.embedDim * c.ffnDim);
    const params = c.layers * perLayer + c.vocabSize * c.embedDim + c.patchSize ** 2 * c.inChans * c.embedDim;
    if (params > MAX_PARAMS)
      bad.push(`about ${params.toExponential(2)} parameters, more than the limit of ${MAX_PARAMS.toExponential(2)}`);
  }
  if (bad.length) throw new ConfigError(`invalid BEiT-3 config: ${bad.join('; ')}`);
  return c;
}

/** Upper bounds of the integer fields (documented in docs/reliability.md); all far above BEiT-3 giant. */
export const CONFIG_LIMITS = {
  imgSize: 8192,
  patchSize: 1024,
  inChans: 64,
  embedDim: 65536,
  heads: 1024,
  layers: 1024,
  ffnDim: 1 << 20,
  vocabSize: 1 << 24,
  maxSourcePositions: 1 << 20,
} as const;

/** 2^36 parameters (~69B; the giant model has 1.9B). */
export const MAX_PARAMS = 2 ** 36;

export const numPatches = (c: Beit3Config): number => (c.imgSize / c.patchSize) ** 2;
/** Vision tokens: patches + cls. */
export const numVisionTokens = (c: Beit3Config): number => numPatches(c) + 1;
export const headDim = (c: Beit3Config): number => c.embedDim / c.heads;

/** Official snake_case EncoderConfig JSON → config. Unknown-but-unsupported settings are rejected. */
export function fromEncoderConfig(e: Record<string, unknown>): Beit3Config {
  const num = (k: string, d?: number): number => {
    const v = e[k] ?? d;
    if (typeof v !== 'number')
      throw new ConfigError(`EncoderConfig.${k} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const unsupported: string[] = [];
  if (e.multiway === false) unsupported.push('multiway=false');
  if (e.subln === false) unsupported.push('subln=false');
  if (e.deepnorm === true) unsupported.push('deepnorm=true');
  if (num('rel_pos_buckets', 0) !== 0) unsupported.push('rel_pos_buckets');
  if (e.xpos_rel_pos === true) unsupported.push('xpos_rel_pos');
  if (num('moe_freq', 0) !== 0) unsupported.push('moe_freq');
  if (e.layernorm_embedding === true) unsupported.push('layernorm_embedding');
  if (e.no_scale_embedding === false) unsupported.push('no_scale_embedding=false');
  if (e.activation_fn !== undefined && e.activation_fn !== 'gelu')
    unsupported.push(`activation_fn=${String(e.activation_fn)}`);
  if (unsupported.length)
    throw new ConfigError(`unsupported EncoderConfig settings: ${unsupported.join(', ')}`);
  return validateConfig({
    imgSize: num('img_size'),
    patchSize: num('patch_size'),
    inChans: num('in_chans', 3),
    embedDim: num('encoder_embed_dim'),
    heads: num('encoder_attention_heads'),
    layers: num('encoder_layers'),
    ffnDim: num('encoder_ffn_embed_dim'),
    vocabSize: num('vocab_size'),
    maxSourcePositions: num('max_source_positions', 1024),
    normalizeOutput: e.normalize_output !== false,
    layernormEps: num('layernorm_eps', 1e-5),
    variant: 'decoupled',
    vlExpertLayers: 0,
    dropPathRate: num('drop_path_rate', 0),
  });
}

/** Config → official snake_case EncoderConfig fields (the ones BEiT-3 sets). */
export function toEncoderConfig(c: Beit3Config): Record<string, unknown> {
  return {
    img_size: c.imgSize,
    patch_size: c.patchSize,
    in_chans: c.inChans,
    encoder_embed_dim: c.embedDim,
    encoder_attention_heads: c.heads,
    encoder_layers: c.layers,
    encoder_ffn_embed_dim: c.ffnDim,
    vocab_size: c.vocabSize,
    max_source_positions: c.maxSourcePositions,
    normalize_output: c.normalizeOutput,
    layernorm_eps: c.layernormEps,
    multiway: true,
    subln: true,
    layernorm_embedding: false,
    no_output_layer: true,
    no_scale_embedding: true,
    drop_path_rate: c.dropPathRate,
    variant: c.variant,
    vl_expert_layers: c.vlExpertLayers,
  };
}

type SizeSpec = Pick<Beit3Config, 'embedDim' | 'heads' | 'layers' | 'ffnDim'> & Partial<Beit3Config>;

/** Architecture sizes (image size / patch / vocab chosen per registry entry). */
export const SIZES: Record<string, SizeSpec> = {
  // Test size: identical to the public fixture's tiny config.
  tiny: { embedDim: 32, heads: 4, layers: 2, ffnDim: 128, vocabSize: 100, maxSourcePositions: 24 },
  // The size `beit3 recipe mini` trains on the mini-corpus at 64 px (chosen by measured step time).
  mini: { embedDim: 128, heads: 4, layers: 4, ffnDim: 512, vocabSize: 4002, maxSourcePositions: 64 },
  small: { embedDim: 384, heads: 6, layers: 12, ffnDim: 1536 },
  base: { embedDim: 768, heads: 12, layers: 12, ffnDim: 3072 },
  large: { embedDim: 1024, heads: 16, layers: 24, ffnDim: 4096 },
  // The paper's 1.9B model: ViT-giant shaped, shared attention, V/L experts, VL experts in the top 3 layers.
  giant: { embedDim: 1408, heads: 16, layers: 40, ffnDim: 6144, variant: 'shared', vlExpertLayers: 3 },
};

export function makeConfig(
  size: string,
  imgSize: number,
  patchSize: number,
  overrides: Partial<Beit3Config> = {},
): Beit3Config {
  const s = SIZES[size];
  if (!s) throw new ConfigError(`unknown size "${size}" (known: ${Object.keys(SIZES).join(', ')})`);
  return validateConfig({
    imgSize,
    patchSize,
    inChans: 3,
    vocabSize: 64010,
    maxSourcePositions: 1024,
    normalizeOutput: true,
    layernormEps: 1e-5,
    variant: 'decoupled',
    vlExpertLayers: 0,
    dropPathRate: 0,
    ...s,
    ...overrides,
  });
}

/**
 * normalize_output as the official task models are registered: false for image classification
 * and VQA (their heads pool without the final multiway LayerNorm), true for every other task.
 */
export function defaultNormalizeOutput(task: string): boolean {
  return !(task === 'imageclassification' || task === 'vqav2');
}
