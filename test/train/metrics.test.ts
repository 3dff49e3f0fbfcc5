import { describe, expect, it } from 'vitest';
import { bleu, ciderD, exactMatch, tokenize as captionTokenize } from '../../src/train/metrics/caption.js';
import { recallAtK, retrievalRecall } from '../../src/train/metrics/retrieval.js';
import { normalizeAnswer, vqaAccuracy, vqaScore } from '../../src/train/metrics/vqa.js';
import { accuracy, top1FromScores } from '../../src/train/metrics/accuracy.js';

// Expected values are worked out by hand from the coco-caption definitions (bleu_scorer.py,
// cider_scorer.py in the CIDEr-D variant); the arithmetic is spelled out next to each.

describe('BLEU (coco-caption bleu_scorer)', () => {
  it('applies the brevity penalty with the reference length', () => {
    // hyp 3 words, ref 4: p1 = 3/3, p2 = 2/2, BP = exp(1 - 4/3)
    const r = bleu([{ hypothesis: 'the cat sat', references: ['the cat sat on'] }], 2);
    expect(r.bleu[0]).toBeCloseTo(Math.exp(-1 / 3), 8);
    expect(r.bleu[1]).toBeCloseTo(Math.exp(-1 / 3), 8);
    expect(r.testLength).toBe(3);
    expect(r.refLength).toBe(4);
  });

  it('clips n-gram counts by the max count in any reference and takes the closest (shorter on ties) length', () => {
    // hyp "the the the": 'the' x3 clipped to 2 (second ref) -> p1 = 2/3;
    // 'the the' x2 clipped to 1 -> p2 = 1/2; ref lengths 2 and 4 tie at distance 1 -> 2, no BP
    const r = bleu([{ hypothesis: 'the the the', references: ['the cat', 'a the the mat'] }], 2);
    expect(r.refLength).toBe(2);
    expect(r.bleu[0]).toBeCloseTo(2 / 3, 8);
    expect(r.bleu[1]).toBeCloseTo(Math.sqrt(1 / 3), 8);
  });

  it('is a corpus-level score (counts summed before the ratio)', () => {
    // correct/guess: unigrams (3+2)/(3+3), bigrams (2+1)/(2+2); lengths 6 vs 4+2 -> no BP
    const r = bleu(
      [
        { hypothesis: 'the cat sat', references: ['the cat sat on'] },
        { hypothesis: 'the the the', references: ['the cat', 'a the the mat'] },
      ],
      2,
    );
    expect(r.bleu[0]).toBeCloseTo(5 / 6, 8);
    expect(r.bleu[1]).toBeCloseTo(Math.sqrt((5 / 6) * (3 / 4)), 8);
  });

  it('is ~0 when nothing matches, 1 for an exact match', () => {
    expect(bleu([{ hypothesis: 'dog', references: ['cat'] }], 1).bleu[0]).toBeLessThan(1e-6);
    expect(bleu([{ hypothesis: 'red heart', references: ['Red heart.'] }], 2).bleu[1]).toBeCloseTo(1, 8);
  });
});

describe('CIDEr-D (coco-caption cider_scorer, CIDEr-D variant)', () => {
  const L = Math.log(2); // log(number of images) in a two-image corpus

  it('scores an exact match 10 * mean over n of cosine, with idf from the references', () => {
    // image 1: "red heart" vs ref "red heart": idf(red)=L, idf(heart)=L-log2=0, idf(red heart)=L
    //   n=1 cos 1, n=2 cos 1, n=3,4 empty -> 0 -> mean 0.5 -> x10 = 5
    // image 2: "red heart" vs ref "blue heart": no weighted overlap -> 0
    const r = ciderD([
      { hypothesis: 'red heart', references: ['red heart'] },
      { hypothesis: 'red heart', references: ['blue heart'] },
    ]);
    expect(r.perExample[0]).toBeCloseTo(5, 10);
    expect(r.perExample[1]).toBeCloseTo(0, 10);
    expect(r.score).toBeCloseTo(2.5, 10);
    void L;
  });

  it('clips the hypothesis tf-idf by the reference and penalizes the bigram-length gap (sigma 6)', () => {
    // hyp "red heart red heart" vs ref "red heart":
    //   n=1: hyp {red: 2L, heart: 0}, ref {red: L}; sum min(2L,L)*L = L^2; norms 2L, L -> 1/2
    //   n=2: hyp {red heart: 2L, heart red: 1*(L-log 1)=L}, ref {red heart: L}; L^2 / (sqrt5 L * L) = 1/sqrt5
    //   n=3,4: reference has none -> 0; bigram lengths 3 vs 1 -> delta 2 -> exp(-4/72)
    const r = ciderD([
      { hypothesis: 'red heart red heart', references: ['red heart'] },
      { hypothesis: 'red heart', references: ['blue heart'] },
    ]);
    const expected = ((0.5 + 1 / Math.sqrt(5)) * Math.exp(-4 / 72) * 10) / 4;
    expect(r.perExample[0]).toBeCloseTo(expected, 10);
    expect(r.score).toBeCloseTo(expected / 2, 10);
  });

  it('averages over references, and a one-image corpus scores 0 (idf is log 1)', () => {
    // image 1 refs ["red heart", "blue heart"], image 2 ref "green apple": every n-gram has df 1,
    // so every weight is L = log 2.
    //   vs "red heart": n=1 cos 1, n=2 cos 1 -> [1, 1, 0, 0]
    //   vs "blue heart": n=1 {red,heart}.{blue,heart} = L^2 / (sqrt2 L)^2 = 1/2, n=2 0 -> [0.5, 0, 0, 0]
    //   sum [1.5, 1, 0, 0] -> mean 0.625 -> / 2 refs -> x10 = 3.125
    const r = ciderD([
      { hypothesis: 'red heart', references: ['red heart', 'blue heart'] },
      { hypothesis: 'green apple', references: ['green apple'] },
    ]);
    expect(r.perExample[0]).toBeCloseTo(3.125, 10);
    expect(r.perExample[1]).toBeCloseTo(5, 10);
    expect(ciderD([{ hypothesis: 'a b', references: ['a b'] }]).score).toBe(0);
  });

  it('tokenizes like the PTB tokenizer for plain captions (lowercase, punctuation dropped)', () => {
    expect(captionTokenize('Flag: Côte d’Ivoire!')).toEqual(['flag', 'côte', 'd', 'ivoire']);
    expect(captionTokenize("man's   hat-trick.")).toEqual(["man's", 'hat-trick']);
    expect(
      exactMatch([
        { hypothesis: 'Red Heart', references: ['red heart', 'love'] },
        { hypothesis: 'x', references: ['y'] },
      ]),
    ).toBe(0.5);
  });
});

describe('retrieval recall@K with several positives (COCO style)', () => {
  it('counts a query as a hit when any positive is in the top K, both directions', () => {
    // image 0 has texts 0 and 1, image 1 has text 2
    const sim = [
      [0.9, 0.1, 0.5],
      [0.2, 0.8, 0.3],
    ];
    const r = retrievalRecall(sim, [[0, 1], [2]]);
    // i2t: image 0 best positive (0.9) is first; image 1's positive (0.3) is beaten by 0.8
    expect(r.imageToText).toEqual({ r1: 0.5, r5: 1, r10: 1 });
    // t2i: text 0 -> image 0 first; text 1 -> image 1 (0.8) beats image 0 (0.1); text 2 -> image 0 (0.5) beats image 1
    expect(r.textToImage.r1).toBeCloseTo(1 / 3, 12);
    expect(r.textToImage.r5).toBe(1);
  });

  it('separates R@1, R@5 and R@10 by rank, and ties go against the query', () => {
    const row = Array.from({ length: 12 }, (_, i) => 1 - i / 100); // candidate i has rank i
    expect(recallAtK([row], [[7]])).toEqual([0, 0, 1]);
    expect(recallAtK([row], [[4]])).toEqual([0, 1, 1]);
    expect(recallAtK([[0.5, 0.5]], [[1]])).toEqual([0, 1, 1]);
    expect(() => recallAtK([[1]], [[]])).toThrow(/no positive/);
  });
});

describe('VQA score (VQAv2 definition)', () => {
  it('averages min(1, matches/3) over leave-one-out subsets of the 10 answers', () => {
    expect(vqaScore('Yes.', Array(10).fill('yes'))).toBe(1);
    // 2 of 10 say red: left-out red -> 1 match (1/3) x2; left-out other -> 2 matches (2/3) x8 -> 0.6
    expect(vqaScore('red', ['red', 'red', ...Array(8).fill('blue')])).toBeCloseTo(0.6, 12);
    // 3 matches: left-out match -> 2/3 x3, others -> 1 x7 -> 0.9
    expect(vqaScore('red', [...Array(3).fill('red'), ...Array(7).fill('blue')])).toBeCloseTo(0.9, 12);
    expect(vqaScore('green', Array(10).fill('blue'))).toBe(0);
    expect(vqaAccuracy(['yes', 'no'], [Array(10).fill('yes'), Array(10).fill('yes')])).toBe(0.5);
  });

  it('normalizes case, punctuation, articles and number words', () => {
    expect(normalizeAnswer('The Two dogs!')).toBe('2 dogs');
    expect(normalizeAnswer('  A T-shirt/top ')).toBe('t shirt top');
    expect(normalizeAnswer('3.5')).toBe('3.5');
    expect(normalizeAnswer('1,000')).toBe('1000');
  });
});

describe('accuracy', () => {
  it('top-1 from labels and from a score matrix', () => {
    expect(accuracy([true, false, true, true], [true, true, true, false])).toBe(0.5);
    expect(top1FromScores([0.1, 0.9, 0.8, 0.2, 0.3, 0.3], 2, [1, 0, 0])).toBeCloseTo(1, 12);
    expect(() => accuracy([1], [1, 2])).toThrow(/1 predictions for 2 labels/);
  });
});
