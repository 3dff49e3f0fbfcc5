/** Typed errors of the task layer: each names the file / key and what was expected vs. found. */
export class TaskError extends Error {
  override name = 'TaskError';
}
/** The JSON config is unreadable, malformed or inconsistent. */
export class TaskConfigError extends TaskError {
  override name = 'TaskConfigError';
}
/** The weights carry another task's head (e.g. retrieval weights given to a VQA pipeline). */
export class WrongTaskHeadError extends TaskError {
  override name = 'WrongTaskHeadError';
  constructor(
    readonly expected: string,
    readonly found: string | undefined,
    detail: string,
  ) {
    super(detail);
  }
}
/** A labels / answers vocabulary is missing or does not match the head's size. */
export class MissingVocabularyError extends TaskError {
  override name = 'MissingVocabularyError';
}
/** A tensor or setting has a different size than the model expects. */
export class SizeMismatchError extends TaskError {
  override name = 'SizeMismatchError';
}
/** Bad call input (empty text, no images, k out of range...). */
export class TaskInputError extends TaskError {
  override name = 'TaskInputError';
}
