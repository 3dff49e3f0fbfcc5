/** Top-1 accuracy (classification, NLVR2). */
export function accuracy<T>(predictions: readonly T[], labels: readonly T[]): number {
  if (predictions.length !== labels.length) {
    throw new RangeError(`accuracy: ${predictions.length} predictions for ${labels.length} labels`);
  }
  if (labels.length === 0) return 0;
  let hits = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) hits++;
  return hits / labels.length;
}

/** Top-1 accuracy from a row-major [n, classes] score matrix. */
export function top1FromScores(
  scores: ArrayLike<number>,
  nClasses: number,
  labels: readonly number[],
): number {
  if (scores.length !== labels.length * nClasses) {
    throw new RangeError(`top1FromScores: ${scores.length} scores for ${labels.length}x${nClasses}`);
  }
  const preds = labels.map((_, i) => {
    let best = 0;
    for (let c = 1; c < nClasses; c++) if (scores[i * nClasses + c]! > scores[i * nClasses + best]!) best = c;
    return best;
  });
  return accuracy(preds, labels);
}
