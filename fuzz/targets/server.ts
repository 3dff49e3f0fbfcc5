import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as fc from 'fast-check';
import { type Beit3Server, createServer, resolveServedTasks } from '../../src/server/index.js';
import { packFiles, unpackFiles } from '../lib/bundle.js';
import { expect, type FuzzTarget } from '../lib/target.js';

const CONFIG = resolve('fixtures/beit3-ref/e2e/config.json');
const ROUTES = ['/v1/embeddings', '/v1/classify', '/v1/vqa', '/v1/nlvr2', '/v1/captions', '/v1/retrieval/rank', '/v1/search', '/v1/search/items', '/v2/models/beit3-retrieval/infer', '/v2/models/x/infer'];

let server: Promise<Beit3Server> | undefined;
/** One server over the e2e fixture models for the whole run (starting workers takes seconds). */
function app(): Promise<Beit3Server> {
  server ??= (async () => {
    // the CI pass serves one task (starting all six takes ~30 s on 2 cores); long runs serve all
    const only = process.env.BEIT3_FUZZ_SERVER_TASKS?.split(',').filter(Boolean);
    const s = await createServer({ tasks: resolveServedTasks({ config: CONFIG, tasks: only }), workers: 1, maxPixels: 1 << 20 } as never);
    await s.engine.warm;
    return s;
  })();
  return server;
}

const png = () => `data:image/png;base64,${readFileSync('fixtures/images/kinds/gray2bit.png').toString('base64')}`;

export const target: FuzzTarget = {
  name: 'server',
  entry: 'HTTP request bodies of `beit3 serve` (fastify schemas, JSON bodies, data-URL images) via app.inject',
  async run(input) {
    const files = unpackFiles(input);
    const route = new TextDecoder().decode(files.get('route') ?? new Uint8Array()).trim() || ROUTES[0];
    const ct = new TextDecoder().decode(files.get('ct') ?? new TextEncoder().encode('application/json')).trim();
    const s = await app();
    const res = await s.app.inject({ method: 'POST', url: route.startsWith('/') ? route : `/${route}`, payload: Buffer.from(files.get('body') ?? new Uint8Array()), headers: { 'content-type': ct } });
    // the contract over HTTP: a client error is 4xx with the documented error body; 5xx means the server broke
    expect(res.statusCode < 500 || res.statusCode === 503, `status ${res.statusCode}: ${res.body.slice(0, 300)}`);
    if (res.statusCode >= 400) {
      const e = (JSON.parse(res.body) as { error?: { message?: unknown; type?: unknown; code?: unknown } }).error;
      expect(e && typeof e.message === 'string' && typeof e.type === 'string' && typeof e.code === 'string', `error body ${res.body.slice(0, 200)}`);
    }
  },
  seeds: () => [
    packFiles({ route: '/v1/embeddings', body: JSON.stringify({ input: ['a red rocket', png()] }) }),
    packFiles({ route: '/v1/vqa', body: JSON.stringify({ image: png(), question: 'what colour?', topk: 2 }) }),
    packFiles({ route: '/v1/classify', body: JSON.stringify({ images: [png()], topk: 3 }) }),
    packFiles({ route: '/v1/captions', body: JSON.stringify({ images: [png()], max_len: 8 }) }),
    packFiles({ route: '/v1/retrieval/rank', body: JSON.stringify({ images: [png()], texts: ['a', 'b'] }) }),
    packFiles({ route: '/v1/nlvr2', body: JSON.stringify({ left: png(), right: png(), statement: 'two images' }) }),
  ],
  hostile: () =>
    fc
      .record({
        route: fc.constantFrom(...ROUTES),
        key: fc.constantFrom('topk', 'max_len', 'num_beams', 'k', 'input', 'images', 'question', 'dimensions'),
        value: fc.constantFrom(1e9, -1, 0, 0.5, 'x', null, [], {}, 'data:image/png;base64,AAAA', 'data:image/png;base64,' + 'A'.repeat(1 << 16), 2 ** 53),
      })
      .map((r) => packFiles({ route: r.route, body: JSON.stringify({ input: 'x', images: [png()], image: png(), question: 'q', texts: ['t'], [r.key]: r.value }) })),
  dict: ['\0@@route\n', '\0@@body\n', '\0@@ct\n', '"topk"', '"max_len"', '"num_beams"', '"images"', '"input"', 'data:image/png;base64,', 'multipart/form-data', '1e9', '-1'],
  maxLen: 8192,
  timeMs: 20000,
  async dispose() {
    const s = server;
    server = undefined;
    if (s) await (await s).close(1000);
  },
};
