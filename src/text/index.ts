// Text front end: SentencePiece (exact), the BEiT-3 / XLM-R tokenizer convention, and a Unigram trainer.
export { SentencePieceProcessor, type EncodedPiece } from './sentencepiece.js';
export {
  Beit3Tokenizer,
  TEXT_MAX_LEN,
  BOS_ID,
  PAD_ID,
  EOS_ID,
  UNK_ID,
  collateSegments,
  cleanUpTokenization,
  type TextTask,
  type TextSegment,
  type TextBatch,
  type TokenDecodeOptions,
} from './beit3-tokenizer.js';
export {
  trainUnigram,
  UnigramTrainer,
  type UnigramTrainerOptions,
  type TrainProgress,
} from './trainer/unigram-trainer.js';
export {
  decodeModelProto,
  encodeModelProto,
  PieceType,
  ModelType,
  type ModelPiece,
  type ModelProtoData,
  type NormalizerSpec,
  type TrainerSpec,
} from './model-proto.js';
export { Normalizer } from './normalizer.js';
export { nmtNfkcCharsmap } from './nmt-nfkc-charsmap.js';
export { SentencePieceModelError, TokenizerError, TrainerError } from './errors.js';
