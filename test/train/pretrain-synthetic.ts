/**
 * A tiny structured synthetic corpus for pretraining tests: every target is a known function of
 * what stays visible, so a model that learns anything beats chance.
 *  - images: one flat colour out of 8 (PatchColourTokenizer with 2 levels ⇒ 8 codes): a masked
 *    patch's code equals every visible patch's code;
 *  - texts: one word repeated ("a a a a a a"): a masked token equals the visible ones;
 *  - pairs: an image of colour c and the single word w_c: the word is always masked, so only the
 *    image can tell it.
 */
import type { RgbImage } from '../../src/vision/image.js';
import { Rng } from '../../src/util/random.js';
import type { TextVocab } from '../../src/train/pretrain.js';

export const VOCAB: TextVocab = { bosId: 0, padId: 1, eosId: 2, maskId: 99, vocabSize: 99 };
export const COLOURS: [number, number, number][] = [
  [20, 20, 20], [230, 20, 20], [20, 230, 20], [20, 20, 230], [230, 230, 20], [230, 20, 230], [20, 230, 230], [230, 230, 230],
];
export const WORDS = [10, 11, 12, 13, 14, 15, 16, 17];

export function flatImage(c: number, size = 40): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) data.set(COLOURS[c], 3 * i);
  return { width: size, height: size, data };
}

/** <s> ids </s> padded to T. */
export function row(ids: number[], T: number): { tokens: number[]; padding: number[] } {
  const tokens = [0, ...ids, 2];
  const padding = tokens.map(() => 0);
  while (tokens.length < T) {
    tokens.push(1);
    padding.push(1);
  }
  return { tokens, padding };
}

export interface SyntheticSample {
  colour: number;
  word: number;
  textLen: number;
}

export function sample(seed: number): SyntheticSample {
  const r = new Rng(seed);
  return { colour: r.int(8), word: 20 + r.int(16), textLen: 3 + r.int(5) };
}
