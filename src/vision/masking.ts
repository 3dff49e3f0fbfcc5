import { Tensor } from '../graph/tensor.js';
import { Rng, toRng } from '../util/random.js';
import { Beit3Error } from '../util/errors.js';

/**
 * Masking for masked data modeling: BEiT's block-wise image masking, BERT-style text masking, and
 * the official BEiT-3 captioning masking. All take a seed or an Rng; the same seed gives the same mask.
 */

export class MaskingError extends Beit3Error {
  override name = 'MaskingError';
}

// ---------------------------------------------------------------------------------------------
// Block-wise image masking (BEiT / BEiT v2 `MaskingGenerator`)

export interface BlockMaskingOptions {
  /** Patch grid rows (e.g. 14 for 224/16). */
  height: number;
  /** Patch grid columns; default = height. */
  width?: number;
  /** Exact number of patches to mask per image (BEiT-3 pretraining: 40% of the grid, e.g. 75 of 196). */
  numMaskingPatches: number;
  /** Smallest block area drawn (default 16, as BEiT pretraining uses). */
  minNumPatches?: number;
  /** Largest block area drawn (default numMaskingPatches). */
  maxNumPatches?: number;
  /** Aspect ratio range of blocks: [minAspect, maxAspect], default [0.3, 1/0.3]; drawn log-uniformly. */
  minAspect?: number;
  maxAspect?: number;
}

/** A rectangle placed by the block sampler (top-left corner, size, the drawn area and aspect). */
export interface MaskBlock {
  top: number;
  left: number;
  h: number;
  w: number;
  targetArea: number;
  aspect: number;
}

export interface BlockMask {
  /** Row-major (height × width), 1 = masked. Exactly `numMaskingPatches` ones. */
  mask: Uint8Array;
  /** Blocks that added patches, in order. */
  blocks: MaskBlock[];
  /** Patches masked one by one at the end because no block fitted the remaining count (BEiT v2 top-up). */
  toppedUp: number;
}

/**
 * BEiT's block-wise masking: repeatedly draw a block with area uniform in [minNumPatches, remaining]
 * and log-uniform aspect ratio, place it uniformly, accept it if it adds between 1 and `remaining`
 * new patches (10 attempts per block); stop when the count is reached or no block fits. As in
 * BEiT v2, any shortfall is then filled with uniformly chosen single patches so every mask has
 * exactly `numMaskingPatches` patches.
 */
export class BlockMaskingGenerator {
  readonly height: number;
  readonly width: number;
  readonly numMaskingPatches: number;
  readonly minNumPatches: number;
  readonly maxNumPatches: number;
  readonly logAspect: [number, number];

  constructor(opts: BlockMaskingOptions) {
    this.height = opts.height;
    this.width = opts.width ?? opts.height;
    this.numMaskingPatches = opts.numMaskingPatches;
    this.minNumPatches = opts.minNumPatches ?? 16;
    this.maxNumPatches = opts.maxNumPatches ?? opts.numMaskingPatches;
    const minAspect = opts.minAspect ?? 0.3;
    const maxAspect = opts.maxAspect ?? 1 / minAspect;
    for (const [k, v] of [['height', this.height], ['width', this.width]] as const)
      if (!Number.isInteger(v) || v <= 0) throw new MaskingError(`BlockMaskingGenerator: ${k} must be a positive integer, got ${v}`);
    const n = this.height * this.width;
    if (!Number.isInteger(this.numMaskingPatches) || this.numMaskingPatches < 0 || this.numMaskingPatches > n)
      throw new MaskingError(`BlockMaskingGenerator: numMaskingPatches must be an integer in [0, ${n}], got ${this.numMaskingPatches}`);
    if (!(minAspect > 0 && maxAspect >= minAspect))
      throw new MaskingError(`BlockMaskingGenerator: bad aspect range [${minAspect}, ${maxAspect}]`);
    this.logAspect = [Math.log(minAspect), Math.log(maxAspect)];
  }

  /** A generator masking `round(ratio × patches)` patches (BEiT-3 pretraining: ratio 0.4). */
  static forRatio(height: number, ratio: number, opts: Partial<BlockMaskingOptions> = {}): BlockMaskingGenerator {
    const width = opts.width ?? height;
    if (!(ratio >= 0 && ratio <= 1)) throw new MaskingError(`BlockMaskingGenerator.forRatio: ratio must be in [0, 1], got ${ratio}`);
    return new BlockMaskingGenerator({ ...opts, height, width, numMaskingPatches: Math.round(ratio * height * width) });
  }

  /**
   * Masks for a batch as the backbone's `vision_masked_position`: bool (batch, height·width),
   * true = masked. Sample i uses its own stream derived from the seed, so a sample's mask does not
   * depend on the batch size.
   */
  generateBatch(batch: number, seed: number | string): Tensor {
    const n = this.height * this.width;
    const out = new Uint8Array(batch * n);
    for (let i = 0; i < batch; i++) out.set(this.generate(new Rng(`${seed}/${i}`)).mask, i * n);
    return new Tensor('bool', [batch, n], out);
  }

  /** One mask; `seed` is a number/string seed or a shared Rng (advanced by the call). */
  generate(seed: number | string | Rng): BlockMask {
    const rng = toRng(seed);
    const { height: H, width: W } = this;
    const mask = new Uint8Array(H * W);
    const blocks: MaskBlock[] = [];
    let count = 0;
    while (count < this.numMaskingPatches) {
      const maxPatches = Math.min(this.numMaskingPatches - count, this.maxNumPatches);
      const delta = this.placeBlock(mask, maxPatches, rng, blocks);
      if (delta === 0) break;
      count += delta;
    }
    let toppedUp = 0;
    if (count < this.numMaskingPatches) {
      const free: number[] = [];
      for (let i = 0; i < mask.length; i++) if (!mask[i]) free.push(i);
      for (const j of rng.sample(free.length, this.numMaskingPatches - count)) mask[free[j]] = 1;
      toppedUp = this.numMaskingPatches - count;
    }
    return { mask, blocks, toppedUp };
  }

  private placeBlock(mask: Uint8Array, maxPatches: number, rng: Rng, blocks: MaskBlock[]): number {
    const { height: H, width: W } = this;
    let delta = 0;
    for (let attempt = 0; attempt < 10; attempt++) {
      const targetArea = rng.uniform(this.minNumPatches, maxPatches);
      const aspect = Math.exp(rng.uniform(this.logAspect[0], this.logAspect[1]));
      const h = pyRound(Math.sqrt(targetArea * aspect));
      const w = pyRound(Math.sqrt(targetArea / aspect));
      if (w < W && h < H) {
        const top = rng.randint(0, H - h);
        const left = rng.randint(0, W - w);
        let already = 0;
        for (let i = top; i < top + h; i++) for (let j = left; j < left + w; j++) already += mask[i * W + j];
        const added = h * w - already;
        if (added > 0 && added <= maxPatches) {
          for (let i = top; i < top + h; i++) for (let j = left; j < left + w; j++) mask[i * W + j] = 1;
          delta += added;
          blocks.push({ top, left, h, w, targetArea, aspect });
        }
        if (delta > 0) break;
      }
    }
    return delta;
  }
}

/** Python 3 round() for non-negative values (half to even). */
function pyRound(x: number): number {
  const r = Math.round(x);
  return x % 1 === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---------------------------------------------------------------------------------------------
// Text masking for masked language modeling

export interface TextMaskingOptions {
  /** Fraction of eligible tokens to mask: BEiT-3 uses 0.15 for monomodal text, 0.5 for image–text pairs. */
  maskProb: number;
  /** Id of `<mask>`. */
  maskTokenId: number;
  /** Tokenizer vocabulary size (random replacements are drawn below it). */
  vocabSize: number;
  /** Ids never masked (default: 0 `<s>`, 1 `<pad>`, 2 `</s>`, 3 `<unk>` stays maskable). */
  specialIds?: readonly number[];
  /** BERT replacement split for chosen tokens; default {mask 0.8, random 0.1, keep 0.1}. */
  replace?: { mask: number; random: number; keep: number };
  /** Random replacements are uniform in [lo, hi) minus specialIds and maskTokenId; default [4, vocabSize). */
  randomIdRange?: [number, number];
  /** 'exact': exactly round(maskProb × eligible) positions (at least 1 when any is eligible); 'bernoulli': each eligible independently. */
  count?: 'exact' | 'bernoulli';
}

export interface TextMask {
  /** Input ids after replacement. */
  tokens: number[];
  /** 1 at every chosen position (the positions the loss predicts), 0 elsewhere. */
  maskedPositions: Uint8Array;
  /** Original ids at chosen positions, -100 elsewhere (PyTorch's ignore_index convention). */
  labels: number[];
}

export const PAIR_TEXT_MASK_PROB = 0.5;
export const MONOMODAL_TEXT_MASK_PROB = 0.15;

/**
 * BERT-style masking of one token row. `paddingMask` (1 = padding) excludes padding; special ids are
 * never chosen. Deterministic for a given seed.
 */
export function maskTextTokens(
  ids: readonly number[],
  opts: TextMaskingOptions,
  seed: number | string | Rng,
  paddingMask?: readonly number[],
): TextMask {
  const rng = toRng(seed);
  const { maskProb, maskTokenId, vocabSize } = opts;
  if (!(maskProb >= 0 && maskProb <= 1)) throw new MaskingError(`maskTextTokens: maskProb must be in [0, 1], got ${maskProb}`);
  const replace = opts.replace ?? { mask: 0.8, random: 0.1, keep: 0.1 };
  const total = replace.mask + replace.random + replace.keep;
  if (!(Math.abs(total - 1) < 1e-9) || replace.mask < 0 || replace.random < 0 || replace.keep < 0)
    throw new MaskingError(`maskTextTokens: replace probabilities must be >= 0 and sum to 1, got ${JSON.stringify(replace)}`);
  if (paddingMask && paddingMask.length !== ids.length)
    throw new MaskingError(`maskTextTokens: paddingMask has ${paddingMask.length} entries for ${ids.length} ids`);
  const special = new Set(opts.specialIds ?? [0, 1, 2]);
  const [lo, hi] = opts.randomIdRange ?? [4, vocabSize];
  const randomPool = hi - lo;
  if (replace.random > 0 && !(randomPool > 0)) throw new MaskingError(`maskTextTokens: empty random id range [${lo}, ${hi})`);

  const eligible: number[] = [];
  for (let i = 0; i < ids.length; i++) if (!special.has(ids[i]) && !(paddingMask && paddingMask[i])) eligible.push(i);

  let chosen: number[];
  if ((opts.count ?? 'exact') === 'exact') {
    const k = eligible.length === 0 ? 0 : Math.min(eligible.length, Math.max(1, Math.trunc(eligible.length * maskProb + 0.5)));
    chosen = rng.sample(eligible.length, k).map((j) => eligible[j]).sort((a, b) => a - b);
  } else chosen = eligible.filter(() => rng.next() < maskProb);

  const tokens = ids.slice();
  const labels = new Array<number>(ids.length).fill(-100);
  const maskedPositions = new Uint8Array(ids.length);
  for (const i of chosen) {
    maskedPositions[i] = 1;
    labels[i] = ids[i];
    const p = rng.next();
    if (p < replace.mask) tokens[i] = maskTokenId;
    else if (p < replace.mask + replace.random) {
      let r: number;
      let tries = 0;
      do r = lo + rng.int(randomPool);
      while ((special.has(r) || r === maskTokenId) && ++tries < 100);
      tokens[i] = r;
    }
  }
  return { tokens, maskedPositions, labels };
}

// ---------------------------------------------------------------------------------------------
// Captioning masking (unilm beit3 `CaptioningDataset._masking_on_text_tokens`)

export interface CaptioningMaskOptions {
  /** Official default `captioning_mask_prob` = 0.6. */
  maskProb?: number;
  maskTokenId: number;
  /** Tokenizer vocab size; random replacements are randint(3, vocabSize - 1) as in the official code. */
  vocabSize: number;
}

/**
 * The official captioning masking of one text segment: `n` = real length including `<s>`/`</s>`;
 * `max(min(int(n·p + 0.5), n − 1), 1)` distinct positions drawn from [1, n − 1] (so `</s>` may be
 * masked, `<s>` never); each becomes `<mask>` (p 0.8), stays (0.1) or a random id in
 * [3, vocabSize − 1] (0.1). Returns the masked tokens and `language_masked_pos` (1 = chosen).
 */
export function captioningMask(
  tokens: readonly number[],
  numTokens: number,
  opts: CaptioningMaskOptions,
  seed: number | string | Rng,
): { maskedTokens: number[]; languageMaskedPos: number[] } {
  const rng = toRng(seed);
  const p = opts.maskProb ?? 0.6;
  if (!Number.isInteger(numTokens) || numTokens < 2 || numTokens > tokens.length)
    throw new MaskingError(`captioningMask: numTokens must be in [2, ${tokens.length}], got ${numTokens}`);
  const out = tokens.slice();
  const pos = new Array<number>(tokens.length).fill(0);
  const toMask = Math.max(Math.min(Math.trunc(numTokens * p + 0.5), numTokens - 1), 1);
  let masked = 0;
  while (masked < toMask) {
    const i = rng.randint(1, numTokens - 1);
    if (pos[i] === 0) {
      pos[i] = 1;
      const r = rng.next();
      out[i] = r < 0.8 ? opts.maskTokenId : r < 0.9 ? out[i] : rng.randint(3, opts.vocabSize - 1);
      masked++;
    }
  }
  return { maskedTokens: out, languageMaskedPos: pos };
}
