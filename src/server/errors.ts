/**
 * Every failure the HTTP service reports is a `ServerError`: an HTTP status plus the OpenAI-style
 * body `{"error": {"message", "type", "code"}}` (the shape JavaScript clients of /v1 already
 * parse). Errors from below (task input errors, image decode errors, fastify's own body and
 * content-type errors) are mapped here in one place, so every route answers the same way.
 */
import { Beit3Error } from '../util/errors.js';

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'unavailable_error'
  | 'timeout_error';

export class ServerError extends Beit3Error {
  override name = 'ServerError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly type: ErrorType = status >= 500 ? 'server_error' : 'invalid_request_error',
    /** Seconds for a Retry-After header (429, 503). */
    readonly retryAfter?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  body(): { error: { message: string; type: ErrorType; code: string } } {
    return { error: { message: this.message, type: this.type, code: this.code } };
  }
}

export const badRequest = (code: string, message: string) => new ServerError(400, code, message);
export const unauthorized = (message: string) =>
  new ServerError(401, 'invalid_api_key', message, 'authentication_error');
export const notFound = (code: string, message: string) =>
  new ServerError(404, code, message, 'not_found_error');
export const tooLarge = (message: string) => new ServerError(413, 'payload_too_large', message);
export const unsupportedMedia = (message: string) => new ServerError(415, 'unsupported_media_type', message);
export const unprocessableImage = (message: string) => new ServerError(422, 'invalid_image', message);
export const queueFull = (message: string, retryAfter: number) =>
  new ServerError(429, 'queue_full', message, 'rate_limit_error', retryAfter);
export const unavailable = (code: 'not_ready' | 'shutting_down', message: string) =>
  new ServerError(503, code, message, 'unavailable_error', code === 'not_ready' ? 1 : undefined);
export const queueTimeout = (message: string) =>
  new ServerError(504, 'queue_timeout', message, 'timeout_error');

/** Fastify error codes → our errors (body limit, content type, multipart limits, bad JSON). */
const FASTIFY_CODES: Record<string, (m: string) => ServerError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: tooLarge,
  FST_REQ_FILE_TOO_LARGE: tooLarge,
  FST_PARTS_LIMIT: tooLarge,
  FST_FILES_LIMIT: tooLarge,
  FST_FIELDS_LIMIT: tooLarge,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: unsupportedMedia,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: (m) => badRequest('invalid_content_length', m),
  FST_ERR_CTP_EMPTY_JSON_BODY: (m) => badRequest('invalid_json', m),
  FST_ERR_CTP_INVALID_JSON_BODY: (m) => badRequest('invalid_json', m),
  FST_INVALID_MULTIPART_CONTENT_TYPE: unsupportedMedia,
};

/** Task-layer errors that mean "your input is wrong" (400), by error name. */
const INPUT_ERRORS = new Set(['TaskInputError', 'SizeMismatchError', 'SearchIndexError', 'TokenizerError']);

/** Maps anything thrown while serving a request to a ServerError. */
export function toServerError(e: unknown): ServerError {
  if (e instanceof ServerError) return e;
  const err = e as Error & { code?: string; statusCode?: number; validation?: unknown };
  if (err && typeof err === 'object') {
    if (err.validation) return badRequest('invalid_request', err.message);
    const mapped = err.code ? FASTIFY_CODES[err.code] : undefined;
    if (mapped) return mapped(err.message);
    if (err.name === 'ImageDecodeError') return unprocessableImage(err.message);
    if (INPUT_ERRORS.has(err.name)) return badRequest('invalid_input', err.message);
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500)
      return new ServerError(err.statusCode, 'invalid_request', err.message);
  }
  return new ServerError(500, 'internal_error', err?.message ?? String(e), 'server_error', undefined, {
    cause: e,
  });
}
