/**
 * The masks of one pretraining sample. Images: BEiT's block-wise generator (vision/masking.ts)
 * at 40% of the patch grid, exact count. Texts: 15% of monomodal text tokens, 50% of pair text
 * tokens (the paper's ratios), counted exactly per row (round(ratio · real tokens), at least 1).
 *
 * Where the paper is silent — what a chosen text token becomes — the rule is a flag:
 *  - 'bert' (default): BERT's 80% <mask> / 10% random id / 10% unchanged, as BEiT-3's own
 *    released captioning masking does; the model cannot tell chosen-but-kept tokens apart, so it
 *    must model every token;
 *  - 'mask': every chosen token becomes <mask> (the plain "masked tokens" reading of the paper;
 *    no train/test mismatch noise, but fine-tuning never sees <mask>).
 */
import { BlockMaskingGenerator, maskTextTokens } from '../../vision/masking.js';
import { PretrainError } from './errors.js';

export type TextMaskRule = 'bert' | 'mask';
export const TEXT_MASK_RULES: readonly TextMaskRule[] = ['bert', 'mask'];

/** The ids text masking needs (Beit3Tokenizer has them all). */
export interface TextVocab {
  maskId: number;
  /** Ids the tokenizer can produce: random replacements are drawn from [4, vocabSize) minus specials. */
  vocabSize: number;
  bosId: number;
  eosId: number;
  padId: number;
}

export interface MaskedText {
  /** Input ids after replacement (length T). */
  ids: number[];
  /** 1 = padding (length T). */
  padding: number[];
  /** Positions (0..T−1) whose original ids are predicted, ascending. */
  positions: number[];
  /** The original ids at `positions`. */
  targets: number[];
}

export const IMAGE_MASK_RATIO = 0.4;

/** BEiT's generator for `ratio` of a `grid`×`grid` patch grid (min block 16 patches, aspect 0.3–1/0.3). */
export function imageMasker(grid: number, ratio = IMAGE_MASK_RATIO, minBlock = 16): BlockMaskingGenerator {
  if (!(ratio > 0 && ratio <= 1)) throw new PretrainError(`image mask ratio must be in (0, 1], got ${ratio}`);
  const n = Math.round(ratio * grid * grid);
  if (n < 1) throw new PretrainError(`image mask ratio ${ratio} masks no patch of a ${grid}×${grid} grid`);
  // A grid smaller than the minimum block (tiny test models) caps the block size at the count.
  return new BlockMaskingGenerator({ height: grid, numMaskingPatches: n, minNumPatches: Math.min(minBlock, n) });
}

/** Masks one padded token row (`tokens`, `padding` as Beit3Tokenizer.textSegment gives them). */
export function maskTextRow(
  tokens: readonly number[],
  padding: readonly number[],
  ratio: number,
  rule: TextMaskRule,
  vocab: TextVocab,
  seed: number,
): MaskedText {
  if (!TEXT_MASK_RULES.includes(rule)) throw new PretrainError(`text mask rule must be one of ${TEXT_MASK_RULES.join(', ')}, got "${rule}"`);
  const m = maskTextTokens(
    tokens,
    {
      maskProb: ratio,
      maskTokenId: vocab.maskId,
      vocabSize: vocab.vocabSize,
      specialIds: [vocab.bosId, vocab.eosId, vocab.padId],
      replace: rule === 'bert' ? { mask: 0.8, random: 0.1, keep: 0.1 } : { mask: 1, random: 0, keep: 0 },
      count: 'exact',
    },
    seed,
    padding,
  );
  const positions: number[] = [];
  const targets: number[] = [];
  m.maskedPositions.forEach((x, i) => {
    if (x) {
      positions.push(i);
      targets.push(tokens[i]);
    }
  });
  return { ids: m.tokens, padding: [...padding], positions, targets };
}
