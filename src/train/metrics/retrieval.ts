/**
 * Recall@K for image-text retrieval with several positives per query, as COCO evaluation does:
 * a query counts as a hit at K when any of its positives ranks within the top K.
 */
export interface RecallResult {
  r1: number;
  r5: number;
  r10: number;
}

/**
 * scores[q][c]: similarity of query q to candidate c (higher is better).
 * positives[q]: indices of the candidates that match query q (at least one).
 * Ties are broken against the query (a positive tied with a negative ranks below it).
 */
export function recallAtK(
  scores: ArrayLike<number>[],
  positives: readonly (readonly number[])[],
  ks = [1, 5, 10],
): number[] {
  if (scores.length !== positives.length) {
    throw new RangeError(`recallAtK: ${scores.length} score rows but ${positives.length} positive lists`);
  }
  const hits = ks.map(() => 0);
  scores.forEach((row, q) => {
    const pos = positives[q]!;
    if (pos.length === 0) throw new RangeError(`recallAtK: query ${q} has no positive`);
    const posSet = new Set(pos);
    const bestPos = Math.max(...pos.map((c) => row[c]!));
    // rank of the best positive = number of negatives scoring >= it
    let rank = 0;
    for (let c = 0; c < row.length; c++) if (!posSet.has(c) && row[c]! >= bestPos) rank++;
    ks.forEach((k, i) => {
      if (rank < k) hits[i]!++;
    });
  });
  return hits.map((h) => (scores.length ? h / scores.length : 0));
}

/**
 * Both directions from one image-by-text similarity matrix.
 * textsOfImage[i]: the indices of the texts that describe image i.
 */
export function retrievalRecall(
  sim: ArrayLike<number>[],
  textsOfImage: readonly (readonly number[])[],
): {
  imageToText: RecallResult;
  textToImage: RecallResult;
} {
  const nImages = sim.length;
  const nTexts = nImages ? sim[0]!.length : 0;
  const imagesOfText: number[][] = Array.from({ length: nTexts }, () => []);
  textsOfImage.forEach((ts, i) => ts.forEach((t) => imagesOfText[t]!.push(i)));
  const transposed = Array.from({ length: nTexts }, (_, t) =>
    Float64Array.from({ length: nImages }, (_, i) => sim[i]![t]!),
  );
  const [a1, a5, a10] = recallAtK(sim, textsOfImage);
  const [b1, b5, b10] = recallAtK(transposed, imagesOfText);
  return { imageToText: { r1: a1!, r5: a5!, r10: a10! }, textToImage: { r1: b1!, r5: b5!, r10: b10! } };
}
