import type { FashionRecord, ImageRecord, Split } from '../types.js';
import { rng } from '../util.js';

export interface VqaQuestion {
  question_id: string;
  key: string;
  image: string;
  question: string;
  question_type: string;
  answer_type: 'yes/no' | 'other';
  /** The main answer. */
  answer: string;
  /** Ten ground-truth answers as in VQAv2 (valid answers repeated round-robin). */
  answers: string[];
}

const TONE_NAMES = ['none', 'light', 'medium-light', 'medium', 'medium-dark', 'dark'];
const spaced = (s: string) => s.replace(/[-_]+/g, ' ');

function tenAnswers(valid: string[]): string[] {
  return Array.from({ length: 10 }, (_, i) => valid[i % valid.length]!);
}

/** Questions whose answers come from source metadata; yes/no tag questions get a balanced negative. */
export function buildVqa(
  images: readonly ImageRecord[],
  fashion: readonly FashionRecord[],
  split: Split,
): VqaQuestion[] {
  const rand = rng(`vqa:${split}`);
  const out: VqaQuestion[] = [];
  const tagsByStream = new Map<string, string[]>();
  for (const im of images) {
    const all = tagsByStream.get(im.stream) ?? [];
    all.push(...im.meta.tags);
    tagsByStream.set(im.stream, all);
  }
  for (const [s, tags] of tagsByStream) tagsByStream.set(s, [...new Set(tags)].sort());
  const add = (
    im: { key: string; image: string },
    type: string,
    question: string,
    valid: string[],
    answerType: VqaQuestion['answer_type'] = 'other',
  ) => {
    out.push({
      question_id: `${im.key}__${type}`,
      key: im.key,
      image: im.image,
      question,
      question_type: type,
      answer_type: answerType,
      answer: valid[0]!,
      answers: tenAnswers(valid),
    });
  };
  for (const im of images) {
    const m = im.meta;
    const isEmoji = im.stream === 'emoji' || (im.stream === 'flag' && m.group !== undefined);
    if (m.group) add(im, 'group', 'which group does this emoji belong to?', [spaced(m.group)]);
    if (m.subgroup) add(im, 'subgroup', 'which subgroup does this emoji belong to?', [spaced(m.subgroup)]);
    if (m.skinTone !== undefined)
      add(im, 'skin-tone', 'which skin tone does this emoji show?', [TONE_NAMES[m.skinTone]!]);
    if (m.gender) add(im, 'gender', 'is this a man, a woman or a person?', [m.gender]);
    if (m.country) add(im, 'country', 'which country does this flag belong to?', [m.country.toLowerCase()]);
    if (m.continent) add(im, 'continent', 'on which continent is this country?', [m.continent.toLowerCase()]);
    if (isEmoji) add(im, 'style', 'which emoji style is this?', im.styles.map(spaced));
    if (m.category && im.stream !== 'emoji') {
      add(
        im,
        'category',
        im.stream === 'clipart'
          ? 'which category is this clip art in?'
          : 'which category does this icon belong to?',
        [spaced(m.category)],
      );
    }
    const pool = tagsByStream.get(im.stream) ?? [];
    if (m.tags.length > 0 && pool.length > m.tags.length) {
      const yesTag = m.tags[Math.floor(rand() * m.tags.length)]!;
      let noTag: string;
      do noTag = pool[Math.floor(rand() * pool.length)]!;
      while (m.tags.includes(noTag));
      const q = (t: string) => `is this ${im.stream === 'clipart' ? 'picture' : im.stream} about "${t}"?`;
      out.push({ ...base(im, 'tag-yes'), question: q(yesTag), answer: 'yes', answers: tenAnswers(['yes']) });
      out.push({ ...base(im, 'tag-no'), question: q(noTag), answer: 'no', answers: tenAnswers(['no']) });
    }
  }
  for (const f of fashion) add(f, 'fashion-item', 'what clothing item is this?', [f.labelName.toLowerCase()]);
  return out;
}

function base(
  im: { key: string; image: string },
  type: string,
): Omit<VqaQuestion, 'question' | 'answer' | 'answers'> {
  return {
    question_id: `${im.key}__${type}`,
    key: im.key,
    image: im.image,
    question_type: type,
    answer_type: 'yes/no',
  };
}

/** The fixed answer vocabulary: every answer seen in training, most frequent first (ties alphabetical). */
export function answerVocabulary(train: readonly VqaQuestion[]): string[] {
  const counts = new Map<string, number>();
  for (const q of train) counts.set(q.answer, (counts.get(q.answer) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([a]) => a);
}
