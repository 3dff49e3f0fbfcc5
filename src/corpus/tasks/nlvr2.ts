import type { FashionRecord, ImageRecord, Split } from '../types.js';
import { rng } from '../util.js';

export interface Nlvr2Example {
  id: string;
  left: string;
  right: string;
  left_key: string;
  right_key: string;
  statement: string;
  label: boolean;
  template: string;
}

type Img = { key: string; image: string };
const FOOTWEAR = new Set([5, 7, 9]); // sandal, sneaker, ankle boot

/**
 * Two images from one split and a statement about them, half true and half false per template.
 * Every pair is drawn from images of the same split, so no identity leaks across splits.
 */
export function buildNlvr2(
  images: readonly ImageRecord[],
  fashion: readonly FashionRecord[],
  split: Split,
  perTemplate: number,
): Nlvr2Example[] {
  const rand = rng(`nlvr2:${split}`);
  const pickOne = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const out: Nlvr2Example[] = [];
  const emit = (template: string, statement: string, a: Img, b: Img, label: boolean) =>
    out.push({
      id: `${split}-${template}-${out.length}`,
      left: a.image,
      right: b.image,
      left_key: a.key,
      right_key: b.key,
      statement,
      label,
      template,
    });

  /** Balanced same/different pairs over a grouping of images. */
  const sameDifferent = (
    template: string,
    statement: string,
    groups: Map<string, ImageRecord[]>,
    sameNeedsTwo: boolean,
  ) => {
    const keys = [...groups.keys()].sort();
    const withTwo = keys.filter((k) => groups.get(k)!.length >= 2);
    if ((sameNeedsTwo ? withTwo.length : keys.length) < 1 || keys.length < 2 || withTwo.length < 1) return;
    // about one true and one false pair per image in the pool, up to the cap
    const poolSize = keys.reduce((a, k) => a + groups.get(k)!.length, 0);
    const n = Math.min(perTemplate, Math.floor(poolSize / 2));
    for (let i = 0; i < n; i++) {
      const g = groups.get(pickOne(withTwo))!;
      const a = pickOne(g);
      let b = pickOne(g);
      for (let t = 0; b === a && t < 10; t++) b = pickOne(g);
      if (b === a) continue;
      emit(template, statement, a, b, true);
      const k1 = pickOne(keys);
      let k2 = pickOne(keys);
      for (let t = 0; k2 === k1 && t < 10; t++) k2 = pickOne(keys);
      if (k1 === k2) {
        out.pop();
        continue;
      }
      emit(template, statement, pickOne(groups.get(k1)!), pickOne(groups.get(k2)!), false);
    }
  };
  const groupBy = (xs: readonly ImageRecord[], f: (x: ImageRecord) => string | undefined) => {
    const m = new Map<string, ImageRecord[]>();
    for (const x of xs) {
      const k = f(x);
      if (k === undefined) continue;
      m.set(k, [...(m.get(k) ?? []), x]);
    }
    return m;
  };

  const emoji = images.filter((x) => x.stream === 'emoji');
  sameDifferent(
    'same-emoji',
    'both images show the same emoji.',
    groupBy(emoji, (x) => x.identity),
    true,
  );
  const flags = images.filter((x) => x.stream === 'flag' && x.meta.continent);
  // continents: "same" pairs must be two different countries
  sameDifferent(
    'same-continent',
    'both flags are from the same continent.',
    groupBy(flags, (x) => x.meta.continent),
    true,
  );
  const icons = images.filter((x) => x.stream === 'icon' && x.meta.category);
  sameDifferent(
    'same-icon-category',
    'both icons are from the same category.',
    groupBy(icons, (x) => x.meta.category),
    true,
  );

  // darker skin tone on the left: two tones of one emoji in one style
  const toned = groupBy(
    emoji.filter((x) => x.meta.skinTone !== undefined),
    (x) => `${x.identity}|${x.styles[0]}`,
  );
  const tonedKeys = [...toned.keys()]
    .sort()
    .filter((k) => new Set(toned.get(k)!.map((x) => x.meta.skinTone)).size >= 2);
  const tonedPool = tonedKeys.reduce((a, k) => a + toned.get(k)!.length, 0);
  for (let i = 0; tonedKeys.length && i < Math.min(perTemplate, tonedPool); i++) {
    const g = toned.get(pickOne(tonedKeys))!;
    const a = pickOne(g);
    const others = g.filter((x) => x.meta.skinTone !== a.meta.skinTone);
    const b = pickOne(others);
    const wantTrue = i % 2 === 0;
    const [l, r] = a.meta.skinTone! > b.meta.skinTone! === wantTrue ? [a, b] : [b, a];
    emit('darker-skin-left', 'the left image shows a darker skin tone than the right image.', l, r, wantTrue);
  }

  // both items are footwear (Fashion-MNIST)
  const shoes = fashion.filter((f) => FOOTWEAR.has(f.label));
  const clothes = fashion.filter((f) => !FOOTWEAR.has(f.label));
  if (shoes.length >= 2 && clothes.length >= 1) {
    for (let i = 0; i < Math.min(perTemplate, shoes.length); i++) {
      emit('both-footwear', 'both items are footwear.', pickOne(shoes), pickOne(shoes), true);
      const s = pickOne(shoes);
      const c = pickOne(clothes);
      const [l, r] = rand() < 0.5 ? [s, c] : [c, s];
      emit('both-footwear', 'both items are footwear.', l, r, false);
    }
  }
  return out;
}
