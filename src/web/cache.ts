// Model files fetched once and kept in the Cache API (falls back to plain fetch where `caches` is
// missing, e.g. in Node or on insecure origins).
import { WebError } from './errors.js';

export const DEFAULT_CACHE = 'beit3-models-v1';

/** The bytes of `url`, from the cache when present, else fetched and stored. */
export async function fetchCached(
  url: string,
  cacheName: string | false = DEFAULT_CACHE,
): Promise<Uint8Array> {
  const cache = cacheName && typeof caches !== 'undefined' ? await caches.open(cacheName) : undefined;
  let res = await cache?.match(url);
  if (!res) {
    try {
      res = await fetch(url);
    } catch (e) {
      throw new WebError(`cannot fetch ${url}: ${(e as Error).message}`, { cause: e });
    }
    if (!res.ok) throw new WebError(`cannot fetch ${url}: HTTP ${res.status}`);
    if (cache)
      try {
        await cache.put(url, res.clone());
      } catch {
        // quota exceeded (large models, small or private-mode profiles): the file still loads, uncached
      }
  }
  return new Uint8Array(await res.arrayBuffer());
}

export async function fetchJson<T>(url: string, cacheName: string | false = DEFAULT_CACHE): Promise<T> {
  const bytes = await fetchCached(url, cacheName);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (e) {
    throw new WebError(`${url} is not JSON: ${(e as Error).message}`, { cause: e });
  }
}
