/**
 * VQA accuracy as the VQAv2 evaluation defines it: answers are normalized, then
 * acc = mean over the leave-one-out subsets of the ground-truth answers of min(1, matches / 3).
 * With 10 identical answers this is 1 for a match and 0 otherwise. Normalization here covers
 * the official rules that matter for short generated answers (case, punctuation, articles,
 * number words, a few contractions); it is a faithful subset, not the full table.
 */
const NUMBER_WORDS: Record<string, string> = {
  none: '0',
  zero: '0',
  one: '1',
  two: '2',
  three: '3',
  four: '4',
  five: '5',
  six: '6',
  seven: '7',
  eight: '8',
  nine: '9',
  ten: '10',
};
const ARTICLES = new Set(['a', 'an', 'the']);
const CONTRACTIONS: Record<string, string> = {
  dont: "don't",
  doesnt: "doesn't",
  isnt: "isn't",
  arent: "aren't",
  cant: "can't",
  wont: "won't",
};

export function normalizeAnswer(ans: string): string {
  const s = ans
    .toLowerCase()
    .replace(/\n|\t/g, ' ')
    .trim()
    // punctuation: dropped, except a period between digits or a comma inside a number
    .replace(/(?<=\d),(?=\d)/g, '')
    .replace(/(?!(?<=\d)\.(?=\d))[;/[\]"{}()=+\\_\-><@`,?!*#%^&$.:]/g, ' ');
  return s
    .split(/\s+/)
    .filter((w) => w && !ARTICLES.has(w))
    .map((w) => NUMBER_WORDS[w] ?? CONTRACTIONS[w] ?? w)
    .join(' ');
}

/** VQA score of one prediction against its ground-truth answers (usually 10). */
export function vqaScore(prediction: string, answers: readonly string[]): number {
  if (answers.length === 0) throw new RangeError('vqaScore: no ground-truth answers');
  const p = normalizeAnswer(prediction);
  const gts = answers.map(normalizeAnswer);
  if (gts.length === 1) return gts[0] === p ? 1 : 0;
  let total = 0;
  for (let i = 0; i < gts.length; i++) {
    let matches = 0;
    for (let j = 0; j < gts.length; j++) if (j !== i && gts[j] === p) matches++;
    total += Math.min(1, matches / 3);
  }
  return total / gts.length;
}

export function vqaAccuracy(predictions: readonly string[], answers: readonly (readonly string[])[]): number {
  if (predictions.length !== answers.length) {
    throw new RangeError(`vqaAccuracy: ${predictions.length} predictions for ${answers.length} questions`);
  }
  if (predictions.length === 0) return 0;
  return predictions.reduce((s, p, i) => s + vqaScore(p, answers[i]!), 0) / predictions.length;
}
