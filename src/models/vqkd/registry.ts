/**
 * VQ-KD tokenizers under the official names of unilm `beit2/modeling_vqkd.py`
 * (`vqkd_encoder_base_decoder_{1,3}x768x12_{clip,dino}`: ViT-B/16 encoder, a 1- or 3-block
 * decoder, 8192 codes of 32 dims; CLIP teachers give 512-d targets, DINO 768-d), plus the
 * `vqkd_tiny` size of the reference fixtures for tests and experiments.
 */
import { Beit3Error } from '../../util/errors.js';
import { makeVqkdConfig, type VqkdConfig } from './config.js';
import { VQKD } from './model.js';

export interface VqkdRegistryEntry {
  name: string;
  teacher: 'clip' | 'dino' | 'none';
  official: boolean;
  config: () => VqkdConfig;
}

export class UnknownVqkdModelError extends Beit3Error {
  override name = 'UnknownVqkdModelError';
  constructor(readonly model: string) {
    super(`unknown VQ-KD tokenizer "${model}"; known: ${listVqkdModels().join(', ')}`);
  }
}

function official(depth: 1 | 3, teacher: 'clip' | 'dino'): VqkdRegistryEntry {
  return {
    name: `vqkd_encoder_base_decoder_${depth}x768x12_${teacher}`,
    teacher,
    official: true,
    config: () => makeVqkdConfig({ decoderDepth: depth, decoderOutDim: teacher === 'clip' ? 512 : 768 }),
  };
}

const ENTRIES: VqkdRegistryEntry[] = [
  official(1, 'clip'),
  official(3, 'clip'),
  official(1, 'dino'),
  official(3, 'dino'),
  {
    name: 'vqkd_tiny',
    teacher: 'none',
    official: false,
    // The reference fixtures' size (vqkd-ref README "tiny").
    config: () =>
      makeVqkdConfig({
        imgSize: 32,
        patchSize: 8,
        embedDim: 32,
        depth: 2,
        heads: 4,
        decoderDepth: 3,
        nCode: 64,
        codeDim: 8,
        decoderOutDim: 16,
      }),
  },
  {
    name: 'vqkd_mini',
    teacher: 'none',
    official: false,
    // The tokenizer `beit3 recipe mini` trains at 64 px, patch 8 (the grid of beit3_mini_patch8_64).
    config: () =>
      makeVqkdConfig({
        imgSize: 64,
        patchSize: 8,
        embedDim: 96,
        depth: 3,
        heads: 4,
        decoderDepth: 1,
        nCode: 1024,
        codeDim: 16,
        decoderOutDim: 128,
      }),
  },
];

export const VQKD_REGISTRY: ReadonlyMap<string, VqkdRegistryEntry> = new Map(ENTRIES.map((e) => [e.name, e]));

export function listVqkdModels(): string[] {
  return [...VQKD_REGISTRY.keys()];
}

export function vqkdConfigFor(name: string): VqkdConfig {
  const e = VQKD_REGISTRY.get(name);
  if (!e) throw new UnknownVqkdModelError(name);
  return e.config();
}

/** `createVqkd('vqkd_encoder_base_decoder_3x768x12_clip')`: parameters declared, not yet loaded. */
export function createVqkd(name: string, overrides: Partial<VqkdConfig> = {}): VQKD {
  return new VQKD({ ...vqkdConfigFor(name), ...overrides });
}
