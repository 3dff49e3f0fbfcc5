/**
 * Images arriving over HTTP: data URLs, bare base64, uploaded file bytes, and (only when the
 * server was started with --allow-remote-urls) http(s) URLs. They are decoded here, on the HTTP
 * thread (sharp decodes on libuv's pool, asynchronously), with size and pixel limits, so a bad
 * image is a 413 / 415 / 422 before it takes a place in a queue. Never a local path: a string
 * that is not a data URL, base64 or an allowed URL is refused.
 */
import { decodeImage } from '../vision/decode.js';
import type { RgbImage } from '../vision/image.js';
import { badRequest, tooLarge, unprocessableImage, unsupportedMedia } from './errors.js';

export interface ImageLimits {
  /** Encoded bytes per image. */
  maxImageBytes: number;
  /** Decoded pixels per image (decompression bombs). */
  maxPixels: number;
  allowRemoteUrls: boolean;
  remoteTimeoutMs?: number;
}

const DATA_URL = /^data:([^;,]*)((?:;[^;,]*)*),/;
/** The alphabet of (standard or URL-safe) base64, whitespace allowed; checked on a prefix. */
const BASE64 = /^[A-Za-z0-9+/\-_\s]+={0,2}\s*$/;

/** Media types the decoder reads (octet-stream: let the decoder tell from the bytes). */
export function acceptedImageType(mime: string | undefined): boolean {
  if (!mime) return true;
  const m = mime.toLowerCase().split(';')[0].trim();
  return m === '' || m.startsWith('image/') || m === 'application/octet-stream';
}

/** True for strings that are meant as images rather than text (`data:image/...`). */
export function looksLikeImageDataUrl(s: string): boolean {
  return /^data:image\//i.test(s);
}

async function fetchRemote(url: string, limits: ImageLimits, what: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, {
      signal: AbortSignal.timeout(limits.remoteTimeoutMs ?? 10_000),
      redirect: 'follow',
    });
  } catch (e) {
    throw unprocessableImage(`${what}: cannot fetch ${url} (${(e as Error).message})`);
  }
  if (!res.ok) throw unprocessableImage(`${what}: fetching ${url} gave HTTP ${res.status}`);
  if (!acceptedImageType(res.headers.get('content-type') ?? undefined))
    throw unsupportedMedia(`${what}: ${url} is ${res.headers.get('content-type')}, not an image`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > limits.maxImageBytes)
    throw tooLarge(`${what}: ${url} is ${declared} bytes (limit ${limits.maxImageBytes})`);
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += c.length;
    if (n > limits.maxImageBytes) throw tooLarge(`${what}: ${url} is over ${limits.maxImageBytes} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** The encoded bytes an image string stands for. */
export async function imageBytes(s: unknown, limits: ImageLimits, what: string): Promise<Uint8Array> {
  if (typeof s !== 'string' || !s.trim())
    throw badRequest('invalid_image', `${what}: expected an image as a data URL or base64 string`);
  const m = DATA_URL.exec(s);
  let bytes: Uint8Array;
  if (m) {
    if (!acceptedImageType(m[1])) throw unsupportedMedia(`${what}: data URL of type ${m[1]}, not an image`);
    const payload = s.slice(m[0].length);
    bytes = /;base64/i.test(m[2])
      ? Buffer.from(payload, 'base64')
      : Buffer.from(decodeURIComponent(payload), 'latin1');
  } else if (/^https?:\/\//i.test(s)) {
    if (!limits.allowRemoteUrls)
      throw badRequest(
        'remote_url_not_allowed',
        `${what}: this server does not fetch remote URLs (start it with --allow-remote-urls); send the image as a data URL or base64`,
      );
    bytes = await fetchRemote(s, limits, what);
  } else if (BASE64.test(s.slice(0, 4096))) {
    bytes = Buffer.from(s, 'base64');
    // Buffer.from skips characters outside the alphabet: a short result means it was not base64
    // (checked this way rather than by a regex over megabytes of text)
    if (bytes.length !== Math.floor((s.replace(/[\s=]+/g, '').length * 3) / 4))
      throw badRequest('invalid_image', `${what}: not a data URL, base64 or http(s) URL`);
  } else throw badRequest('invalid_image', `${what}: not a data URL, base64 or http(s) URL`);
  if (bytes.length > limits.maxImageBytes)
    throw tooLarge(`${what}: ${bytes.length} bytes, the limit is ${limits.maxImageBytes}`);
  return bytes;
}

/** Decodes image bytes to RGB within the pixel limit (422 when undecodable or too large). */
export async function decodeUpload(bytes: Uint8Array, limits: ImageLimits, what: string): Promise<RgbImage> {
  if (bytes.length > limits.maxImageBytes)
    throw tooLarge(`${what}: ${bytes.length} bytes, the limit is ${limits.maxImageBytes}`);
  try {
    return await decodeImage(bytes, { name: what, maxPixels: limits.maxPixels });
  } catch (e) {
    const err = e as Error;
    if (err.name === 'ImageDecodeError') throw unprocessableImage(err.message);
    throw unprocessableImage(`${what}: ${err.message}`);
  }
}

export async function decodeImageString(s: unknown, limits: ImageLimits, what: string): Promise<RgbImage> {
  return decodeUpload(await imageBytes(s, limits, what), limits, what);
}
