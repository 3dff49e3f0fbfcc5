import { Beit3Error } from '../util/errors.js';
export class CliError extends Beit3Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}
