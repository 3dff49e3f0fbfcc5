import { Beit3Error } from '../util/errors.js';

/** A browser-side failure: a model file that cannot be fetched, bad meta, an unusable image or input. */
export class WebError extends Beit3Error {
  override name = 'WebError';
}
