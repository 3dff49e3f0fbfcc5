export type Split = 'train' | 'val' | 'test';
export const SPLITS: readonly Split[] = ['train', 'val', 'test'];
export type PairStream = 'emoji' | 'icon' | 'flag' | 'clipart';

/** What the task builders know about an image, derived from its source metadata. */
export interface ItemMeta {
  /** emoji group / subgroup names (emojibase), e.g. 'smileys-emotion' / 'face-smiling'. */
  group?: string;
  subgroup?: string;
  /** 1..5 for the Fitzpatrick modifiers, 0 for the default (yellow) variant of a toned emoji. */
  skinTone?: number;
  gender?: 'man' | 'woman' | 'person';
  /** ISO country code (lowercase), country name and continent for flags. */
  countryCode?: string;
  country?: string;
  continent?: string;
  /** icon / clip art category. */
  category?: string;
  tags: string[];
  emoji?: string;
}

/** One image-text sample as a source reader yields it (before rasterization). */
export interface RawItem {
  /** Unique, filename-safe: [a-z0-9_-]. */
  key: string;
  stream: PairStream;
  source: string;
  /** Visual style, e.g. 'noto', 'twemoji', 'tabler-outline', 'flag-4x3'. */
  style: string;
  /** Names linking this item to others of the same identity (joined by union-find). */
  identityHints: string[];
  /** Reference captions, the most canonical name first. */
  captions: string[];
  meta: ItemMeta;
  /** Author credit where the source names one per image. */
  credit?: string;
  /** Loads the SVG markup. */
  svg: () => Promise<string>;
}

/** A deduplicated, rasterized image with its identity and split. */
export interface ImageRecord {
  key: string;
  /** Path of the PNG relative to the output directory. */
  image: string;
  stream: PairStream;
  sources: string[];
  styles: string[];
  identity: string;
  split: Split;
  captions: string[];
  meta: ItemMeta;
  credits?: string[];
  /** Keys of byte-identical images merged into this one. */
  merged?: string[];
}

export interface FashionRecord {
  key: string;
  image: string;
  split: Split;
  label: number;
  labelName: string;
  /** Index in the official file (train or t10k). */
  index: number;
}

export const FASHION_LABELS = [
  'T-shirt/top',
  'trouser',
  'pullover',
  'dress',
  'coat',
  'sandal',
  'shirt',
  'sneaker',
  'bag',
  'ankle boot',
] as const;
