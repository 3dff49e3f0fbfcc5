import { Beit3Error } from '../../util/errors.js';

/** Bad pretraining input or configuration (the message names the stream, flag or file). */
export class PretrainError extends Beit3Error {
  override name = 'PretrainError';
}
