/** A SentencePiece model file that cannot be read or is inconsistent (names the problem). */
export class SentencePieceModelError extends Error {
  override name = 'SentencePieceModelError';
}

/** Bad input to a tokenizer call (e.g. an id outside the vocabulary, an empty text segment). */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

/** Invalid trainer options or a corpus that cannot produce the requested vocabulary. */
export class TrainerError extends Error {
  override name = 'TrainerError';
}
