import { AtomicWriteError, Beit3Error } from '../util/errors.js';
/** Typed errors of the task layer: each names the file / key and what was expected vs. found. */
export class TaskError extends Beit3Error {
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
/** An output file could not be written (folder missing, a directory in the way, no permission...). */
export class OutputWriteError extends TaskError {
  override name = 'OutputWriteError';
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`cannot write ${path}: ${describeWriteFailure(cause)}`, { cause });
  }
}

function describeWriteFailure(e: unknown): string {
  if (e instanceof AtomicWriteError) return e.reason;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'its folder does not exist';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'ENOTDIR') return 'a component of the path is not a folder';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EROFS') return 'read-only file system';
  if (code === 'ENOSPC') return 'no space left on device';
  return e instanceof Error ? e.message : String(e);
}
