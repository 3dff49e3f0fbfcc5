/**
 * Caption metrics, faithful to the coco-caption definitions (pycocoevalcap):
 * BLEU-n as computed by bleu_scorer.py (corpus level, "closest" reference length, the same
 * 1e-15 / 1e-9 smoothing constants) and CIDEr-D as computed by cider_scorer.py in the CIDEr-D
 * variant (document frequencies from the evaluated references, clipped tf-idf overlap,
 * Gaussian length penalty with sigma 6 on the bigram count, x10).
 * Hand-written: no maintained JavaScript package implements these exact definitions.
 */

/** Stand-in for coco-caption's PTB tokenizer: lowercase, drop punctuation, split on spaces. */
export function tokenize(s: string): string[] {
  return s
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s'-]/gu, ' ')
    .replace(/(^|\s)['-]+|['-]+(?=\s|$)/g, ' ')
    .split(/\s+/)
    .filter((t) => t.length > 0);
}

type Counts = Map<string, number>;

function ngramCounts(words: string[], maxN: number): Counts {
  const counts: Counts = new Map();
  for (let n = 1; n <= maxN; n++) {
    for (let i = 0; i + n <= words.length; i++) {
      const g = words.slice(i, i + n).join(' ');
      counts.set(g, (counts.get(g) ?? 0) + 1);
    }
  }
  return counts;
}
const order = (g: string): number => g.split(' ').length;

export interface CaptionExample {
  /** The generated caption. */
  hypothesis: string;
  /** One or more reference captions. */
  references: string[];
}

export interface BleuResult {
  /** bleu[k] = BLEU-(k+1). */
  bleu: number[];
  testLength: number;
  refLength: number;
}

const TINY = 1e-15;
const SMALL = 1e-9;

export function bleu(examples: readonly CaptionExample[], maxN = 4): BleuResult {
  let testLength = 0;
  let refLength = 0;
  const guess = new Array<number>(maxN).fill(0);
  const correct = new Array<number>(maxN).fill(0);
  for (const ex of examples) {
    if (ex.references.length === 0) throw new RangeError('bleu: an example has no references');
    const hyp = tokenize(ex.hypothesis);
    const refs = ex.references.map(tokenize);
    // max count of each n-gram over the references (clipping)
    const maxRef: Counts = new Map();
    for (const r of refs)
      for (const [g, c] of ngramCounts(r, maxN)) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, c));
    // "closest": the reference length nearest the hypothesis length, the shorter on ties
    let best = refs[0]!.length;
    for (const r of refs) {
      const d = Math.abs(r.length - hyp.length);
      const bd = Math.abs(best - hyp.length);
      if (d < bd || (d === bd && r.length < best)) best = r.length;
    }
    testLength += hyp.length;
    refLength += best;
    for (let k = 0; k < maxN; k++) guess[k] += Math.max(0, hyp.length - k);
    for (const [g, c] of ngramCounts(hyp, maxN)) correct[order(g) - 1] += Math.min(maxRef.get(g) ?? 0, c);
  }
  const out: number[] = [];
  let logProduct = 1;
  const ratio = (testLength + TINY) / (refLength + SMALL);
  for (let k = 0; k < maxN; k++) {
    logProduct *= (correct[k]! + TINY) / (guess[k]! + SMALL);
    let b = logProduct ** (1 / (k + 1));
    if (ratio < 1) b *= Math.exp(1 - 1 / ratio);
    out.push(b);
  }
  return { bleu: out, testLength, refLength };
}

export interface CiderResult {
  score: number;
  perExample: number[];
}

export function ciderD(
  examples: readonly CaptionExample[],
  opts: { n?: number; sigma?: number } = {},
): CiderResult {
  const N = opts.n ?? 4;
  const sigma = opts.sigma ?? 6;
  if (examples.length === 0) return { score: 0, perExample: [] };
  const cookedRefs = examples.map((ex) => {
    if (ex.references.length === 0) throw new RangeError('ciderD: an example has no references');
    return ex.references.map((r) => ngramCounts(tokenize(r), N));
  });
  const cookedTests = examples.map((ex) => ngramCounts(tokenize(ex.hypothesis), N));
  const df: Counts = new Map();
  for (const refs of cookedRefs) {
    const seen = new Set<string>();
    for (const r of refs) for (const g of r.keys()) seen.add(g);
    for (const g of seen) df.set(g, (df.get(g) ?? 0) + 1);
  }
  const refLen = Math.log(examples.length);
  const toVec = (c: Counts) => {
    const vec: Map<string, number>[] = Array.from({ length: N }, () => new Map());
    const norm = new Array<number>(N).fill(0);
    let length = 0;
    for (const [g, tf] of c) {
      const n = order(g) - 1;
      const w = tf * (refLen - Math.log(Math.max(1, df.get(g) ?? 0)));
      vec[n]!.set(g, w);
      norm[n] += w * w;
      if (n === 1) length += tf; // coco-caption's length is the bigram count
    }
    return { vec, norm: norm.map(Math.sqrt), length };
  };
  const perExample = cookedTests.map((test, i) => {
    const h = toVec(test);
    const score = new Array<number>(N).fill(0);
    for (const ref of cookedRefs[i]!) {
      const r = toVec(ref);
      const delta = h.length - r.length;
      for (let n = 0; n < N; n++) {
        let val = 0;
        for (const [g, w] of h.vec[n]!) {
          const rw = r.vec[n]!.get(g) ?? 0;
          val += Math.min(w, rw) * rw;
        }
        if (h.norm[n] !== 0 && r.norm[n] !== 0) val /= h.norm[n]! * r.norm[n]!;
        score[n] += val * Math.exp(-(delta * delta) / (2 * sigma * sigma));
      }
    }
    const mean = score.reduce((a, b) => a + b, 0) / N;
    return (mean / cookedRefs[i]!.length) * 10;
  });
  return { score: perExample.reduce((a, b) => a + b, 0) / perExample.length, perExample };
}

/** Fraction of hypotheses equal (after tokenization) to one of their references. */
export function exactMatch(examples: readonly CaptionExample[]): number {
  if (examples.length === 0) return 0;
  let hits = 0;
  for (const ex of examples) {
    const h = tokenize(ex.hypothesis).join(' ');
    if (ex.references.some((r) => tokenize(r).join(' ') === h)) hits++;
  }
  return hits / examples.length;
}
