/**
 * Visual-token targets for masked image modeling.
 *  - `VqkdTokenizer`: the BEiT v2 VQ-KD tokenizer (models/vqkd) compiled once as an inference
 *    program: [0, 1] images → encoder → task layer → nearest l2-normalised code, all in ORT.
 *  - `PatchColourTokenizer`: a fixed, parameter-free extractor (each patch's mean colour quantised
 *    to levels³ codes). Not a substitute for VQ-KD; it makes smoke runs and tests of the MIM path
 *    possible without a trained tokenizer, with targets that are a known function of the pixels.
 */
import { Graph } from '../../graph/ir.js';
import { Tensor } from '../../graph/tensor.js';
import { loadCheckpoint } from '../../io/checkpoint.js';
import { createVqkd, filterVqkdCheckpoint, type VQKD } from '../../models/vqkd/index.js';
import { ParamScope } from '../../nn/module.js';
import { Program } from '../../runtime/session.js';
import type { VisualTokenizerLike } from './batch.js';
import { PretrainError } from './errors.js';

export class VqkdTokenizer implements VisualTokenizerLike {
  private constructor(
    readonly model: VQKD,
    private readonly program: Program,
  ) {}

  get vocabSize(): number {
    return this.model.cfg.nCode;
  }
  get imgSize(): number {
    return this.model.cfg.encoder.imgSize;
  }

  static async create(model: VQKD, opts: { threads?: number } = {}): Promise<VqkdTokenizer> {
    const g = new Graph('vqkd_encode');
    const s = new ParamScope(g, model);
    const { imgSize } = model.cfg.encoder;
    const image = g.input('image', 'float32', ['batch', 3, imgSize, imgSize]);
    g.output(model.encode(s, image).codes, 'codes');
    const program = await Program.compile(g, { bind: s.bindings(), ...(opts.threads ? { threads: opts.threads } : {}) });
    return new VqkdTokenizer(model, program);
  }

  /** A registered VQ-KD (`vqkd_encoder_base_decoder_3x768x12_clip`, `vqkd_tiny`) from a checkpoint (or seeded random weights). */
  static async load(name: string, checkpoint?: string, opts: { seed?: number; threads?: number } = {}): Promise<VqkdTokenizer> {
    const model = createVqkd(name);
    if (checkpoint) {
      const { state } = filterVqkdCheckpoint(await loadCheckpoint(checkpoint, { modelKey: 'model|module' }));
      model.loadStateDict(state, { strict: false });
    } else model.initialize(opts.seed ?? 0);
    return VqkdTokenizer.create(model, opts);
  }

  async encode(images: Tensor): Promise<Tensor> {
    const r = await this.program.run({ image: images });
    return r.codes;
  }

  release(): Promise<void> {
    return this.program.release();
  }
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
