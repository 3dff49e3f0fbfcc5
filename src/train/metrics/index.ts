export { bleu, ciderD, exactMatch, tokenize as captionTokenize } from './caption.js';
export type { CaptionExample, BleuResult, CiderResult } from './caption.js';
export { recallAtK, retrievalRecall } from './retrieval.js';
export type { RecallResult } from './retrieval.js';
export { vqaScore, vqaAccuracy, normalizeAnswer } from './vqa.js';
export { accuracy, top1FromScores } from './accuracy.js';
