import { Beit3Error } from '../util/errors.js';
/** A SentencePiece model file that cannot be read or is inconsistent (names the problem). */
export class SentencePieceModelError extends Beit3Error {
  override name = 'SentencePieceModelError';
}

/** Bad input to a tokenizer call (e.g. an id outside the vocabulary, an empty text segment). */
export class TokenizerError extends Beit3Error {
  override name = 'TokenizerError';
}

/** Invalid trainer options or a corpus that cannot produce the requested vocabulary. */
export class TrainerError extends Beit3Error {
  override name = 'TrainerError';
}
