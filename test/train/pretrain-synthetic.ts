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

export const COLOUR_NAMES = ['black', 'red', 'green', 'blue', 'yellow', 'magenta', 'cyan', 'white'];

/**
 * A corpus folder laid out like `beit3 corpus build` output (OUT/images/*.png,
 * OUT/pretrain/{images.jsonl, texts.txt, pairs.jsonl}) plus WebDataset shards of the same pairs.
 */
export async function writeSyntheticCorpus(dir: string, n = 12): Promise<void> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { pngBytes, tarBytes } = await import('../data/helpers.js');
  await mkdir(join(dir, 'images'), { recursive: true });
  await mkdir(join(dir, 'pretrain'), { recursive: true });
  const images: string[] = [];
  const pairs: string[] = [];
  const shard: { name: string; data: Buffer | string }[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 8;
    const png = await pngBytes(36 + (i % 3) * 4, 40, COLOURS[c]);
    const rel = `images/img${i}.png`;
    await writeFile(join(dir, rel), png);
    images.push(JSON.stringify({ key: `img${i}`, image: rel }));
    pairs.push(JSON.stringify({ key: `img${i}`, image: rel, text: `a ${COLOUR_NAMES[c]} square` }));
    shard.push({ name: `img${i}.png`, data: png }, { name: `img${i}.txt`, data: `a ${COLOUR_NAMES[c]} square` });
  }
  const texts = Array.from({ length: n + 3 }, (_, i) => Array(3 + (i % 4)).fill(COLOUR_NAMES[i % 8]).join(' '));
  await writeFile(join(dir, 'pretrain', 'images.jsonl'), images.join('\n') + '\n');
  await writeFile(join(dir, 'pretrain', 'pairs.jsonl'), pairs.join('\n') + '\n');
  await writeFile(join(dir, 'pretrain', 'texts.txt'), texts.join('\n') + '\n');
  await writeFile(join(dir, 'pairs-000000.tar'), await tarBytes(shard));
}
