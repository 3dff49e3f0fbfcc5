// fetchCached: the Cache API first, the network once, and a full cache never stops a load.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fetchCached, fetchJson } from '../../src/web/cache.js';
import { WebError } from '../../src/web/errors.js';

/** A Cache API stand-in over a Map; `failPut` makes put throw as a quota error does. */
function fakeCaches(failPut = false) {
  const store = new Map<string, Response>();
  const cache = {
    match: async (u: string) => store.get(u)?.clone(),
    put: async (u: string, r: Response) => {
      if (failPut) throw new DOMException('Quota exceeded', 'QuotaExceededError');
      store.set(u, r);
    },
  };
  return { store, caches: { open: async () => cache } };
}

afterEach(() => vi.unstubAllGlobals());

describe('fetchCached', () => {
  it('fetches once, then answers from the cache', async () => {
    const c = fakeCaches();
    const fetch = vi.fn(async () => new Response(new Uint8Array([1, 2, 3])));
    vi.stubGlobal('caches', c.caches);
    vi.stubGlobal('fetch', fetch);
    expect([...(await fetchCached('http://x/m.onnx'))]).toEqual([1, 2, 3]);
    expect([...(await fetchCached('http://x/m.onnx'))]).toEqual([1, 2, 3]);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(c.store.has('http://x/m.onnx')).toBe(true);
  });

  it('a cache that refuses the file (quota) still gives its bytes', async () => {
    vi.stubGlobal('caches', fakeCaches(true).caches);
    vi.stubGlobal('fetch', async () => new Response(new Uint8Array([7, 8])));
    expect([...(await fetchCached('http://x/big.onnx'))]).toEqual([7, 8]);
  });

  it('cache false skips the Cache API', async () => {
    const c = fakeCaches();
    vi.stubGlobal('caches', c.caches);
    vi.stubGlobal('fetch', async () => new Response('{"a":1}'));
    expect(await fetchJson('http://x/site.json', false)).toEqual({ a: 1 });
    expect(c.store.size).toBe(0);
  });
});

describe('fetchCached rejects', () => {
  it('an HTTP error, a network error, a file that is not JSON: WebError naming the URL', async () => {
    vi.stubGlobal('fetch', async () => new Response('nope', { status: 404 }));
    await expect(fetchCached('http://x/missing.onnx', false)).rejects.toThrow(/missing\.onnx: HTTP 404/);
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(fetchCached('http://x/m.onnx', false)).rejects.toBeInstanceOf(WebError);
    vi.stubGlobal('fetch', async () => new Response('not json'));
    await expect(fetchJson('http://x/meta.json', false)).rejects.toThrow(/meta\.json is not JSON/);
  });
});
