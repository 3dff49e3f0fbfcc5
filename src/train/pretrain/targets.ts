/**
 * Visual-token targets for masked image modeling.
 *  - `vqkdTargets`: the BEiT v2 VQ-KD `VisualTokenizer` (models/vqkd) — [0, 1] images → encoder →
 *    task layer → nearest l2-normalised code, all in ORT — seen through `VisualTokenizerLike`.
 *  - `PatchColourTokenizer`: a fixed, parameter-free extractor (each patch's mean colour quantised
 *    to levels³ codes). Not a substitute for VQ-KD; it makes smoke runs and tests of the MIM path
 *    possible without a trained tokenizer, with targets that are a known function of the pixels.
 */
import { Tensor } from '../../graph/tensor.js';
import { createVqkd, VisualTokenizer } from '../../models/vqkd/index.js';
import type { VisualTokenizerLike } from './batch.js';
import { PretrainError } from './errors.js';

/** A VQ-KD VisualTokenizer as the batch builder's target source. */
export function vqkdTargets(tok: VisualTokenizer): VisualTokenizerLike & { imgSize: number; grid: number; release(): Promise<void> } {
  return {
    vocabSize: tok.config.nCode,
    imgSize: tok.imgSize,
    grid: tok.grid,
    encode: async (images: Tensor) => (await tok.encode(images)).codes,
    release: () => tok.release(),
  };
}

/**
 * A registered VQ-KD size with seeded random weights and a random codebook marked initialised:
 * the tokenizer's full cost without a trained checkpoint (benchmarks, the cached-vs-online
 * measurement). Its codes carry no meaning.
 */
export async function untrainedVqkd(name: string, seed = 0, threads?: number): Promise<VisualTokenizer> {
  const m = createVqkd(name);
  m.quantize.embedding.weight.init = { kind: 'normal', std: 1 };
  m.initialize(seed);
  const state = m.stateDict();
  state.set('quantize.embedding.initted', Tensor.f32([1], [1]));
  return VisualTokenizer.fromCheckpoint(state, { model: name, threads });
}

export class PatchColourTokenizer implements VisualTokenizerLike {
  readonly vocabSize: number;
  constructor(
    readonly patchSize: number,
    readonly levels = 4,
  ) {
    if (!Number.isInteger(levels) || levels < 2) throw new PretrainError(`colour levels must be an integer ≥ 2, got ${levels}`);
    this.vocabSize = levels ** 3;
  }

  async encode(images: Tensor): Promise<Tensor> {
    const [B, C, H, W] = images.shape;
    const p = this.patchSize;
    if (C !== 3 || H % p || W % p) throw new PretrainError(`patch-colour tokenizer: images must be (B, 3, H, W) with H, W multiples of ${p}, got [${images.shape}]`);
    const x = images.data as Float32Array;
    const gh = H / p;
    const gw = W / p;
    const out = new Array<number>(B * gh * gw);
    for (let b = 0; b < B; b++)
      for (let i = 0; i < gh; i++)
        for (let j = 0; j < gw; j++) {
          let code = 0;
          for (let c = 0; c < 3; c++) {
            let sum = 0;
            const base = (b * 3 + c) * H * W;
            for (let y = i * p; y < (i + 1) * p; y++) for (let xx = j * p; xx < (j + 1) * p; xx++) sum += x[base + y * W + xx];
            const level = Math.min(this.levels - 1, Math.max(0, Math.floor((sum / (p * p)) * this.levels)));
            code = code * this.levels + level;
          }
          out[(b * gh + i) * gw + j] = code;
        }
    return Tensor.i64([B, gh * gw], out);
  }
}
